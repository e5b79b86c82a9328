"""Account operations: passwords (argon2), throttling, TOTP, API tokens, user management.

Operations flush, never commit: the request or CLI command that calls them commits once. They raise
:class:`AccountError` with a short code *before* changing anything, so a refused request leaves
nothing half-written.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

import pyotp
import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from flask import current_app
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.attributes import set_committed_value

from config import current_settings
from consular import phones
from consular.audit.operations import record
from consular.auth.models import ApiToken, LoginAttempt, Role, User
from consular.db import db, utcnow
from consular.network.models import LiaisonPoint, ServiceStation
from consular.validation import clean_text
from i18n import UI_LOCALES


def _hasher() -> PasswordHasher:
    """The app's argon2 hasher (cost from PASSWORD_HASH_* settings), built once per app."""
    hasher: PasswordHasher | None = current_app.extensions.get("consular.hasher")
    if hasher is None:
        settings = current_settings()
        hasher = PasswordHasher(time_cost=settings.password_hash_time_cost,
                                memory_cost=settings.password_hash_memory_kib, parallelism=4)
        current_app.extensions["consular.hasher"] = hasher
        # Verified against when the username is unknown, so both paths cost the same time.
        current_app.extensions["consular.dummy_hash"] = hasher.hash(
            "not-a-real-password-but-constant-time")
    return hasher


MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 256
USERNAME_MAX = 64
DISPLAY_NAME_MAX = 120
EMAIL_MAX = 200

# Passwords that pass the length rule but are the first ones any guesser tries.
_COMMON_PASSWORDS = frozenset({
    "1234567890", "0123456789", "12345678910", "1234567890a", "a1234567890", "qwertyuiop",
    "1qaz2wsx3edc", "qwerty1234", "qwerty12345", "password12", "password123", "password1234",
    "passw0rd123", "iloveyou123", "abcdefghij", "abc1234567", "abcd123456", "woaini1314",
    "woaini520", "admin12345", "admin123456", "administrator", "changeme123",
})


class AccountError(ValueError):
    """A request about an account that cannot be done; ``str(exc)`` is a short code that views map
    to a translated message (see ``consular.auth.common.ACCOUNT_ERRORS``)."""


def _record(action: str, object_type: str, object_id: object = "",
            detail: dict[str, Any] | None = None) -> None:
    record(action, object_type, object_id, detail)  # as the acting user, or audit_actor's name


def hash_password(password: str) -> str:
    return _hasher().hash(password)


# What a password must not be, in the order asked: the reason code, and whether (password,
# username) is refused for it.
_PASSWORD_RULES: tuple[tuple[str, Callable[[str, str], bool]], ...] = (
    ("too_short", lambda password, _username: len(password) < MIN_PASSWORD_LENGTH),
    ("too_long", lambda password, _username: len(password) > MAX_PASSWORD_LENGTH),
    ("contains_username", lambda password, username: bool(username)
     and username.lower() in password.lower()),
    ("too_simple", lambda password, _username: len(set(password)) < 5
     or password.lower() in _COMMON_PASSWORDS),
)


def check_password_strength(password: str, username: str = "") -> str | None:
    """Returns an untranslated reason code (the first rule that refuses it), or None when acceptable."""
    return next((code for code, refused in _PASSWORD_RULES if refused(password, username)), None)


def normalise_phone(raw: str) -> str:
    """A user's phone number in E.164 (``+8613905770000``); national numbers are read as Chinese."""
    cleaned = clean_text(raw)
    if cleaned is None:
        raise AccountError("bad_characters")
    number = phones.parse(cleaned, phones.HOME_REGION)
    if number is None:
        raise AccountError("bad_phone")
    return phones.e164(number)


def _check_username(username: str) -> str:
    username = username.strip().lower()
    # ASCII only: look-alike letters from other scripts would allow impersonating a username.
    if not username or len(username) > USERNAME_MAX or not all(
        c.isascii() and (c.isalnum() or c in "._-") for c in username
    ):
        raise AccountError("bad_username")
    return username


def _check_profile(display_name: str, email: str, locale: str | None) -> tuple[str, str]:
    """The display name and email as stored (the text rule of ``consular.validation``)."""
    name, address = clean_text(display_name), clean_text(email)
    if name is None or address is None:
        raise AccountError("bad_characters")
    if len(name) > DISPLAY_NAME_MAX:
        raise AccountError("name_too_long")
    if len(address) > EMAIL_MAX or (address and "@" not in address):
        raise AccountError("bad_email")
    if locale and locale not in UI_LOCALES:
        raise AccountError("bad_locale")
    return name, address


_Place = TypeVar("_Place", LiaisonPoint, ServiceStation)


def _check_binding(role: Role, liaison_point_id: int | None, station_id: int | None,
                   current: User | None = None) -> tuple[int | None, int | None]:
    """The (point, station) a user of ``role`` is bound to: the one the role needs, the other None.
    A new binding must be to an active place; an existing one may stay when the place closed."""
    if role == Role.liaison_officer:
        _check_place(LiaisonPoint, liaison_point_id, current.liaison_point_id if current else None,
                     "liaison_point")
        return liaison_point_id, None
    if role == Role.station_volunteer:
        _check_place(ServiceStation, station_id, current.station_id if current else None, "station")
        return None, station_id
    return None, None


def _check_place(model: type[_Place], place_id: int | None,
                 current_id: int | None, what: str) -> None:
    """A user's role needs a place: one given, active, or the one they are bound to already."""
    if not place_id:
        raise AccountError(f"{what}_required")
    place = db.session.get(model, place_id)
    keeps = current_id == place_id
    if place is None or not (place.active or keeps):
        raise AccountError(f"unknown_{what}")


def _other_active_admins(user: User) -> int:
    return db.session.scalar(
        sa.select(sa.func.count()).select_from(User)
        .where(User.role == Role.admin, User.active.is_(True), User.id != user.id)
    ) or 0


def verify_password(user: User | None, password: str) -> bool:
    hasher = _hasher()
    dummy: str = current_app.extensions["consular.dummy_hash"]
    stored = user.password_hash if user is not None else dummy
    ok: bool
    try:
        ok = hasher.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        ok = False
    if ok and user is not None and hasher.check_needs_rehash(stored):
        user.password_hash = hasher.hash(password)
    return ok and user is not None


def find_user(username: str) -> User | None:
    return db.session.scalar(sa.select(User).where(User.username == username.strip().lower()))


def create_user(
    *,
    username: str,
    display_name: str,
    password: str,
    role: Role,
    liaison_point_id: int | None = None,
    station_id: int | None = None,
    email: str = "",
    phone: str | None = None,
    locale: str | None = None,
) -> User:
    """A new active user. The phone is stored in E.164, encrypted, with its keyed search hash."""
    username = _check_username(username)
    role = Role(role)
    display_name, email = _check_profile(display_name, email, locale)
    if find_user(username) is not None:
        raise AccountError("username_taken")
    point_id, bound_station_id = _check_binding(role, liaison_point_id, station_id)
    e164 = normalise_phone(phone) if phone and phone.strip() else None
    reason = check_password_strength(password, username)
    if reason:
        raise AccountError(reason)
    user = User(
        username=username,
        display_name=display_name or username,
        password_hash=hash_password(password),
        role=role,
        liaison_point_id=point_id,
        station_id=bound_station_id,
        email=email,
        phone=e164,
        phone_hash=phones.search_hash(e164) if e164 else None,
        locale=locale or None,
    )
    db.session.add(user)
    db.session.flush()
    _record("user.create", "user", user.id, {"username": username, "role": str(role)})
    return user


def update_user(
    user: User,
    *,
    display_name: str,
    email: str,
    phone: str | None,
    role: Role,
    liaison_point_id: int | None,
    station_id: int | None,
    locale: str | None,
    actor: User | None = None,
) -> list[str]:
    """Change a user's profile, role and binding. Returns the names of the fields that changed.

    An admin cannot take away their own admin role, and the last active admin stays one. A role
    change ends the user's sessions: the new role may need a second step at login.
    """
    role = Role(role)
    display_name, email = _check_profile(display_name, email, locale)
    if user.role == Role.admin and role != Role.admin:
        if actor is not None and actor.id == user.id:
            raise AccountError("self_demote")
        if user.active and _other_active_admins(user) == 0:
            raise AccountError("last_admin")
    point_id, bound_station_id = _check_binding(role, liaison_point_id, station_id, current=user)
    e164 = normalise_phone(phone) if phone and phone.strip() else None
    new_values: dict[str, Any] = {
        "display_name": display_name or user.username,
        "email": email,
        "phone": e164,
        "role": role,
        "liaison_point_id": point_id,
        "station_id": bound_station_id,
        "locale": locale or None,
    }
    changed = [name for name, value in new_values.items() if getattr(user, name) != value]
    if not changed:
        return []
    detail: dict[str, Any] = {"changed": changed}
    if "role" in changed:
        detail["role"] = [str(user.role), str(role)]
        user.session_epoch += 1
    for name in changed:
        setattr(user, name, new_values[name])
    if "phone" in changed:
        user.phone_hash = phones.search_hash(e164) if e164 else None
    _record("user.update", "user", user.id, detail)  # field names only, never the values
    return changed


def set_password(user: User, password: str, *, by_admin: bool = False) -> None:
    """A new password; every session of the user ends (the caller renews its own if it is theirs)."""
    reason = check_password_strength(password, user.username)
    if reason:
        raise AccountError(reason)
    user.password_hash = hash_password(password)
    user.session_epoch += 1
    _record("user.password_reset" if by_admin else "user.password_change", "user", user.id)


def deactivate_user(user: User, actor: User | None = None) -> None:
    """The user can no longer log in; their sessions end at once and their API tokens are revoked."""
    if actor is not None and actor.id == user.id:
        raise AccountError("self_deactivate")
    if not user.active:
        return
    if user.role == Role.admin and _other_active_admins(user) == 0:
        raise AccountError("last_admin")
    user.active = False
    user.session_epoch += 1
    for token in user.api_tokens:
        if token.revoked_at is None:
            token.revoked_at = utcnow()
    _record("user.deactivate", "user", user.id)


def reactivate_user(user: User) -> None:
    """The user may log in again. Tokens revoked at deactivation stay revoked."""
    if user.active:
        return
    user.active = True
    _record("user.reactivate", "user", user.id)


# --- throttling -------------------------------------------------------------------------------


def note_attempt(username: str, ip: str, ok: bool) -> None:
    db.session.add(LoginAttempt(username=username[:64], ip=ip[:45], ok=ok))


def is_throttled(username: str, ip: str, max_failures: int, window: timedelta) -> bool:
    """Too many recent failures for this account, or from this address (x4, it may be an office
    NAT shared by many officers)."""
    since = utcnow() - window
    account_failures = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(LoginAttempt)
        .where(LoginAttempt.username == username[:64], LoginAttempt.at >= since,
               LoginAttempt.ok.is_(False))
    ) or 0
    ip_failures = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(LoginAttempt)
        .where(LoginAttempt.ip == ip[:45], LoginAttempt.at >= since, LoginAttempt.ok.is_(False))
    ) or 0
    return account_failures >= max_failures or ip_failures >= max_failures * 4


def clear_failures(username: str) -> None:
    db.session.execute(
        sa.delete(LoginAttempt).where(LoginAttempt.username == username[:64],
                                      LoginAttempt.ok.is_(False))
    )


def purge_old_attempts(older_than: timedelta = timedelta(days=7)) -> int:
    result = db.session.execute(
        sa.delete(LoginAttempt).where(LoginAttempt.at < utcnow() - older_than)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def purge_expired_revocations() -> int:
    from consular.auth.models import RevokedSession

    result = db.session.execute(sa.delete(RevokedSession).where(RevokedSession.expires_at < utcnow()))
    return int(getattr(result, "rowcount", 0) or 0)


# --- TOTP -------------------------------------------------------------------------------------

TOTP_ISSUER = "Consular"


def new_totp_secret() -> str:
    return pyotp.random_base32()


def totp_uri(user: User, secret: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=user.username, issuer_name=TOTP_ISSUER)


def _matching_step(secret: str, code: str, at: datetime | None = None) -> int | None:
    code = code.strip().replace(" ", "")
    # ASCII digits only: other scripts' digits pass isdigit() but cannot be compared in constant time.
    if not (code.isascii() and code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    now = at or utcnow()
    for drift in (0, -1, 1):
        moment = now + timedelta(seconds=30 * drift)
        if secrets.compare_digest(totp.at(moment), code):
            return int(moment.timestamp()) // 30
    return None


def enable_totp(user: User, secret: str, code: str) -> bool:
    step = _matching_step(secret, code)
    if step is None:
        return False
    user.totp_secret = secret
    user.totp_last_step = step
    user.session_epoch += 1
    _record("user.2fa_enable", "user", user.id)
    return True


def verify_totp(user: User, code: str, at: datetime | None = None) -> bool:
    """A code is accepted once: a step at or before the last used one is refused (replay).

    The step is claimed with one conditional UPDATE, so two requests racing with the same code
    cannot both succeed (the second finds the step already taken once the first commits)."""
    if user.totp_secret is None:
        return False
    step = _matching_step(user.totp_secret, code, at)
    if step is None:
        return False
    if user.totp_last_step is not None and step <= user.totp_last_step:
        return False
    claimed = db.session.execute(
        sa.update(User)
        .where(User.id == user.id,
               sa.or_(User.totp_last_step.is_(None), User.totp_last_step < step))
        .values(totp_last_step=step)
        .execution_options(synchronize_session=False)
    )
    if getattr(claimed, "rowcount", 0) != 1:
        return False
    set_committed_value(user, "totp_last_step", step)
    return True


def reset_totp(user: User) -> None:
    """Turn two-step login off for the user (lost phone); their sessions end. If their role
    requires it, they set it up again at the next login."""
    user.totp_secret = None
    user.totp_last_step = None
    user.session_epoch += 1
    _record("user.2fa_reset", "user", user.id)


# --- API tokens -------------------------------------------------------------------------------

TOKEN_PREFIX = "cst_"  # noqa: S105  (a label that makes leaked tokens easy to spot, not a secret)


def _token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_api_token(user: User, name: str, days: int | None = 365) -> tuple[ApiToken, str]:
    """Returns the row and the token itself, which is shown once and never stored."""
    cleaned = clean_text(name)
    if cleaned is None:
        raise AccountError("bad_characters")
    name = cleaned
    if not name or len(name) > 100:
        raise AccountError("bad_token_name")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user_id=user.id,
        name=name,
        prefix=secret[:10],
        token_hash=_token_digest(secret),
        expires_at=utcnow() + timedelta(days=days) if days else None,
    )
    db.session.add(token)
    db.session.flush()
    _record("api_token.create", "api_token", token.id, {"user_id": user.id, "name": name})
    return token, secret


def api_token_for(secret: str) -> ApiToken | None:
    """The live token with this secret: not revoked, not expired, its user active. Notes its use
    (at most once a minute, so busy integrations do not write on every call)."""
    if not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
        return None
    token = db.session.scalar(
        sa.select(ApiToken).where(ApiToken.token_hash == _token_digest(secret))
    )
    now = utcnow()
    if token is None or token.revoked_at is not None:
        return None
    if token.expires_at is not None and token.expires_at <= now:
        return None
    if not token.user.active:
        return None
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
        token.last_used_at = now
    return token


def user_for_api_token(secret: str) -> User | None:
    token = api_token_for(secret)
    return token.user if token is not None else None


def revoke_api_token(token: ApiToken) -> None:
    token.revoked_at = utcnow()
    _record("api_token.revoke", "api_token", token.id, {"user_id": token.user_id})


def demo_logins() -> list[tuple[str, str, str]]:
    """The demo accounts worth printing: the centre's, and the first few of each place role."""
    rows: list[tuple[str, str, str]] = []
    users = db.session.scalars(
        sa.select(User).where(User.active).order_by(User.id)
        .options(selectinload(User.liaison_point), selectinload(User.station))
    ).all()
    seen: dict[Role, int] = {}
    for user in users:
        seen[user.role] = seen.get(user.role, 0) + 1
        if user.role in (Role.liaison_officer, Role.station_volunteer) and seen[user.role] > 3:
            continue
        place = ""
        if user.liaison_point is not None:
            place = user.liaison_point.name
        elif user.station is not None:
            place = user.station.name
        rows.append((user.username, user.role.value, place))
    return rows
