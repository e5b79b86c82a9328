"""Accounts: users with one role (bound to a liaison point or station where the role needs it),
API tokens (only their hash is stored) and login attempts (for throttling)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from consular.db import EncryptedString, Model, TimestampMixin, UTCDateTime, utcnow
from consular.network.models import LiaisonPoint, ServiceStation


class Role(StrEnum):
    admin = "admin"
    coordinator = "coordinator"
    liaison_officer = "liaison_officer"
    station_volunteer = "station_volunteer"


class User(TimestampMixin, Model):
    __tablename__ = "user_account"
    __table_args__ = (
        sa.CheckConstraint(
            "(role != 'liaison_officer' OR liaison_point_id IS NOT NULL)"
            " AND (role != 'station_volunteer' OR station_id IS NOT NULL)",
            name="role_binding",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(64), unique=True)
    display_name: Mapped[str] = mapped_column(sa.String(120))
    email: Mapped[str] = mapped_column(sa.String(200), default="")
    phone: Mapped[str | None] = mapped_column(EncryptedString())
    phone_hash: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    password_hash: Mapped[str] = mapped_column(sa.String(200))
    role: Mapped[Role] = mapped_column(sa.Enum(Role, native_enum=False, length=30))
    liaison_point_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("liaison_point.id"), index=True
    )
    station_id: Mapped[int | None] = mapped_column(sa.ForeignKey("service_station.id"), index=True)
    locale: Mapped[str | None] = mapped_column(sa.String(10))
    active: Mapped[bool] = mapped_column(default=True)
    # Coordinators on duty receive deadline escalations (all coordinators when nobody is).
    on_duty: Mapped[bool] = mapped_column(default=False)
    totp_secret: Mapped[str | None] = mapped_column(EncryptedString())
    totp_last_step: Mapped[int | None] = mapped_column(sa.BigInteger)
    # Bumped to end every session of this user (deactivation, password change, 2FA reset).
    session_epoch: Mapped[int] = mapped_column(default=0)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    liaison_point: Mapped[LiaisonPoint | None] = relationship()
    station: Mapped[ServiceStation | None] = relationship()
    api_tokens: Mapped[list[ApiToken]] = relationship(back_populates="user")

    @property
    def totp_enabled(self) -> bool:
        return self.totp_secret is not None


class ApiToken(Model):
    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    prefix: Mapped[str] = mapped_column(sa.String(16))
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship(back_populates="api_tokens")


class LoginAttempt(Model):
    """One password or code attempt; recent failures throttle the account and the address."""

    __tablename__ = "login_attempt"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(64), index=True)
    ip: Mapped[str] = mapped_column(sa.String(45), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    ok: Mapped[bool] = mapped_column(default=False)


class RevokedSession(Model):
    """A session id ended by logout: a copied cookie of it is refused until it would have expired
    anyway (then the worker's housekeeping deletes the row)."""

    __tablename__ = "revoked_session"

    sid: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
