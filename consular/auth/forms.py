"""Account forms. Labels are lazy so they render in the reader's language."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import EmailField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Email, EqualTo, Length, Optional, Regexp

from consular.validation import CheckedForm

USERNAME_RE = r"^[A-Za-z0-9._-]+$"


class LoginForm(CheckedForm):
    username = StringField(_l("Username"), validators=[DataRequired(), Length(max=64)],
                           render_kw={"autocomplete": "username", "autocapitalize": "none"})
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=256)],
                             render_kw={"autocomplete": "current-password"})


class CodeForm(CheckedForm):
    code = StringField(_l("Six-digit code from your authenticator app"),
                       validators=[DataRequired(), Regexp(r"^\s*[0-9]{3} ?[0-9]{3}\s*$",
                                                          message=_l("Enter the six digits."))],
                       render_kw={"autocomplete": "one-time-code", "inputmode": "numeric"})


def _new_password_fields() -> tuple[PasswordField, PasswordField]:
    """A new password and its repetition (``new`` and ``confirm``), in that order on the form."""
    new = PasswordField(_l("New password"), validators=[DataRequired(), Length(max=256)],
                        render_kw={"autocomplete": "new-password"})
    confirm = PasswordField(_l("Repeat the new password"),
                            validators=[DataRequired(), EqualTo("new", message=_l(
                                "The two passwords differ."))],
                            render_kw={"autocomplete": "new-password"})
    return new, confirm


class PasswordChangeForm(CheckedForm):
    current = PasswordField(_l("Current password"), validators=[DataRequired(), Length(max=256)],
                            render_kw={"autocomplete": "current-password"})
    new, confirm = _new_password_fields()


class TokenForm(CheckedForm):
    name = StringField(_l("What the token is for"), validators=[DataRequired(), Length(max=100)])


class UserEditForm(CheckedForm):
    """What an admin may change about a user. Choices are filled in by the view (they depend on
    the active liaison points and stations, and on the reader's language)."""

    display_name = StringField(_l("Full name"), validators=[DataRequired(), Length(max=120)])
    email = EmailField(_l("Email"), validators=[
        Optional(), Length(max=200), Email(message=_l("Enter a valid email address."))])
    phone = StringField(_l("Mobile phone"), validators=[Optional(), Length(max=32)],
                        description=_l("International format, e.g. +86 139 0577 0000"))
    role = SelectField(_l("Role"), validators=[DataRequired()])
    liaison_point_id = SelectField(_l("Liaison point"), coerce=int, default=0,
                                   description=_l("Required for a liaison officer."))
    station_id = SelectField(_l("Service station"), coerce=int, default=0,
                             description=_l("Required for a station volunteer."))
    locale = SelectField(_l("Interface language"), default="")


class UserForm(UserEditForm):
    """A new user: the edit fields, plus the username and an initial password."""

    username = StringField(_l("Username"), validators=[
        DataRequired(), Length(max=64),
        Regexp(USERNAME_RE, message=_l("Letters, digits, dot, dash and underscore only."))],
        render_kw={"autocomplete": "off", "autocapitalize": "none"})
    password = PasswordField(_l("Initial password"),
                             validators=[DataRequired(), Length(max=256)],
                             description=_l("At least 10 characters. Give it to the person by a "
                                            "safe channel; they can change it on their account "
                                            "page."),
                             render_kw={"autocomplete": "new-password"})


class AdminPasswordForm(CheckedForm):
    """An admin sets a new password for someone who lost theirs."""

    new, confirm = _new_password_fields()
