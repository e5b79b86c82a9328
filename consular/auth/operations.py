"""Account operations: passwords (argon2), throttling, TOTP, API tokens, deactivation.

Operations flush, never commit: the request or CLI command that calls them commits once.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

import pyotp
import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from consular.audit.operations import record
from consular.auth.models import ApiToken, LoginAttempt, Role, User
from consular.db import db, utcnow

_hasher = PasswordHasher()
# Verified against when the username is unknown, so both paths cost the same time.
_DUMMY_HASH = _hasher.hash("not-a-real-password-but-constant-time")

MIN_PASSWORD_LENGTH = 10


class AccountError(ValueError):
    """A request about an account that cannot be done; the message is shown to the user."""


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_password_strength(password: str, username: str = "") -> str | None:
    """Returns an untranslated reason code, or None when acceptable."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return "too_short"
    if len(password) > 256:
        return "too_long"
    if username and username.lower() in password.lower():
        return "contains_username"
    return None


def verify_password(user: User | None, password: str) -> bool:
    stored = user.password_hash if user is not None else _DUMMY_HASH
    try:
        ok = _hasher.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        ok = False
    if ok and user is not None and _hasher.check_needs_rehash(stored):
        user.password_hash = _hasher.hash(password)
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
    from consular.db import keyring

    username = username.strip().lower()
    if not username or len(username) > 64 or not all(c.isalnum() or c in "._-" for c in username):
        raise AccountError("bad_username")
    if find_user(username) is not None:
        raise AccountError("username_taken")
    if role == Role.liaison_officer and liaison_point_id is None:
        raise AccountError("liaison_point_required")
    if role == Role.station_volunteer and station_id is None:
        raise AccountError("station_required")
    reason = check_password_strength(password, username)
    if reason:
        raise AccountError(reason)
    user = User(
        username=username,
        display_name=display_name.strip() or username,
        password_hash=hash_password(password),
        role=role,
        liaison_point_id=liaison_point_id if role == Role.liaison_officer else None,
        station_id=station_id if role == Role.station_volunteer else None,
        email=email.strip(),
        phone=phone,
        phone_hash=keyring().search_hash(phone, "phone") if phone else None,
        locale=locale,
    )
    db.session.add(user)
    db.session.flush()
    record("user.create", "user", user.id, {"username": username, "role": str(role)})
    return user


def set_password(user: User, password: str) -> None:
    reason = check_password_strength(password, user.username)
    if reason:
        raise AccountError(reason)
    user.password_hash = hash_password(password)
    user.session_epoch += 1  # ends every other session of this user
    record("user.password_change", "user", user.id)


def deactivate_user(user: User) -> None:
    user.active = False
    user.session_epoch += 1
    for token in user.api_tokens:
        if token.revoked_at is None:
            token.revoked_at = utcnow()
    record("user.deactivate", "user", user.id)


def reactivate_user(user: User) -> None:
    user.active = True
    record("user.reactivate", "user", user.id)


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


# --- TOTP -------------------------------------------------------------------------------------

TOTP_ISSUER = "Consular"


def new_totp_secret() -> str:
    return pyotp.random_base32()


def totp_uri(user: User, secret: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=user.username, issuer_name=TOTP_ISSUER)


def _matching_step(secret: str, code: str, at: datetime | None = None) -> int | None:
    code = code.strip().replace(" ", "")
    if not (code.isdigit() and len(code) == 6):
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
    record("user.2fa_enable", "user", user.id)
    return True


def verify_totp(user: User, code: str, at: datetime | None = None) -> bool:
    """A code is accepted once: a step at or before the last used one is refused (replay)."""
    if user.totp_secret is None:
        return False
    step = _matching_step(user.totp_secret, code, at)
    if step is None:
        return False
    if user.totp_last_step is not None and step <= user.totp_last_step:
        return False
    user.totp_last_step = step
    return True


def reset_totp(user: User) -> None:
    user.totp_secret = None
    user.totp_last_step = None
    user.session_epoch += 1
    record("user.2fa_reset", "user", user.id)


# --- API tokens -------------------------------------------------------------------------------

TOKEN_PREFIX = "cst_"


def _token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_api_token(user: User, name: str, days: int | None = 365) -> tuple[ApiToken, str]:
    """Returns the row and the token itself, which is shown once and never stored."""
    name = name.strip()
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
    record("api_token.create", "api_token", token.id, {"user_id": user.id, "name": name})
    return token, secret


def user_for_api_token(secret: str) -> User | None:
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
    return token.user


def revoke_api_token(token: ApiToken) -> None:
    token.revoked_at = utcnow()
    record("api_token.revoke", "api_token", token.id, {"user_id": token.user_id})
