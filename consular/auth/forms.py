"""Account forms. Labels are lazy so they render in the reader's language."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Email, EqualTo, Length, Optional, Regexp

USERNAME_RE = r"^[A-Za-z0-9._-]+$"


class LoginForm(FlaskForm):
    username = StringField(_l("Username"), validators=[DataRequired(), Length(max=64)],
                           render_kw={"autocomplete": "username", "autocapitalize": "none"})
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=256)],
                             render_kw={"autocomplete": "current-password"})


class CodeForm(FlaskForm):
    code = StringField(_l("Six-digit code from your authenticator app"),
                       validators=[DataRequired(), Regexp(r"^\s*\d{3}\s?\d{3}\s*$",
                                                          message=_l("Enter the six digits."))],
                       render_kw={"autocomplete": "one-time-code", "inputmode": "numeric"})


class PasswordChangeForm(FlaskForm):
    current = PasswordField(_l("Current password"), validators=[DataRequired(), Length(max=256)],
                            render_kw={"autocomplete": "current-password"})
    new = PasswordField(_l("New password"), validators=[DataRequired(), Length(min=10, max=256)],
                        render_kw={"autocomplete": "new-password"})
    confirm = PasswordField(_l("Repeat the new password"),
                            validators=[DataRequired(), EqualTo("new", message=_l(
                                "The two passwords differ."))],
                            render_kw={"autocomplete": "new-password"})


class TokenForm(FlaskForm):
    name = StringField(_l("What the token is for"), validators=[DataRequired(), Length(max=100)])


class UserForm(FlaskForm):
    username = StringField(_l("Username"), validators=[
        DataRequired(), Length(max=64),
        Regexp(USERNAME_RE, message=_l("Letters, digits, dot, dash and underscore only."))])
    display_name = StringField(_l("Full name"), validators=[DataRequired(), Length(max=120)])
    email = EmailField(_l("Email"), validators=[Optional(), Email(), Length(max=200)])
    phone = StringField(_l("Mobile phone"), validators=[Optional(), Length(max=32)],
                        description=_l("International format, e.g. +86 139 0577 0000"))
    role = SelectField(_l("Role"), validators=[DataRequired()])
    liaison_point_id = SelectField(_l("Liaison point"), coerce=int, validators=[Optional()])
    station_id = SelectField(_l("Service station"), coerce=int, validators=[Optional()])
    password = PasswordField(_l("Initial password"),
                             validators=[Optional(), Length(min=10, max=256)],
                             render_kw={"autocomplete": "new-password"})
    active = BooleanField(_l("Active"), default=True)
