"""What the account pages share: the blueprint (the views and the admin's user pages join it), the
wording of the roles and of each refused account change in the reader's language, and the demo
accounts' password."""

from __future__ import annotations

from flask import Blueprint
from flask_babel import lazy_gettext as _l

import i18n
from consular import validation
from consular.auth.models import Role

DEMO_PASSWORD = "demo-pass-2026"  # noqa: S105  (printed on purpose: demo installs only)

# Named after the package, so its templates are consular/auth/templates.
bp = Blueprint("auth", "consular.auth", template_folder="templates")

ACCOUNT_ERRORS = {
    "too_short": _l("The password must have at least 10 characters."),
    "too_long": _l("The password is too long."),
    "contains_username": _l("The password must not contain the username."),
    "too_simple": _l("This password is too easy to guess. Use a longer phrase or more varied "
                     "characters."),
    "bad_username": _l("Letters, digits, dot, dash and underscore only."),
    "username_taken": _l("This username is already taken."),
    "name_too_long": _l("The name is too long (at most 120 characters)."),
    "bad_email": _l("Enter a valid email address."),
    "bad_locale": _l("Choose one of the offered languages."),
    "bad_phone": _l("This is not a valid phone number. Use the international format, e.g. "
                    "+86 139 0577 0000."),
    "liaison_point_required": _l("A liaison officer must belong to a liaison point."),
    "station_required": _l("A station volunteer must belong to a service station."),
    "unknown_liaison_point": _l("Choose an active liaison point."),
    "unknown_station": _l("Choose an active service station."),
    "self_deactivate": _l("You cannot deactivate your own account. Ask another administrator."),
    "self_demote": _l("You cannot remove your own administrator role. Ask another "
                      "administrator."),
    "last_admin": _l("This is the last active administrator. Make someone else an administrator "
                     "first."),
    "bad_token_name": _l("Give the token a short name."),
    "bad_characters": validation.MESSAGE,
}


account_error_text = i18n.label_lookup(ACCOUNT_ERRORS)


ROLE_LABELS = {
    Role.admin: _l("Administrator"),
    Role.coordinator: _l("Coordinator"),
    Role.liaison_officer: _l("Liaison officer"),
    Role.station_volunteer: _l("Station volunteer"),
}


def role_label(role: Role | str) -> str:
    return str(ROLE_LABELS.get(Role(role), role))
