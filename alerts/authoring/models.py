"""Alert templates (预警模板): a ready alert per hazard, its CAP presets and its texts in every SMS
language, with placeholders filled per recipient when a message is rendered; and every edit of a
template kept as a revision (who, when, and the whole template as it then stood)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from alerts.models import CapCategory, CapCertainty, CapSeverity, CapUrgency, TextColumns, _enum
from consular.db import Model, UTCDateTime, utcnow


class Hazard(StrEnum):
    """The kinds of hazard a template is written for (the library's shelves)."""

    earthquake = "earthquake"
    flood_typhoon = "flood_typhoon"
    fire = "fire"
    unrest = "unrest"
    attack = "attack"
    epidemic = "epidemic"
    transport_accident = "transport_accident"
    scam = "scam"
    holiday_travel = "holiday_travel"
    student_season = "student_season"
    other = "other"


class AlertTemplate(Model):
    __tablename__ = "alert_template"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(120), unique=True)  # as coordinators call it
    hazard: Mapped[Hazard] = mapped_column(_enum(Hazard, 30), index=True)
    category: Mapped[CapCategory] = mapped_column(_enum(CapCategory, 10))
    event: Mapped[str] = mapped_column(sa.String(120))
    urgency: Mapped[CapUrgency] = mapped_column(_enum(CapUrgency, 10))
    severity: Mapped[CapSeverity] = mapped_column(_enum(CapSeverity, 10))
    certainty: Mapped[CapCertainty] = mapped_column(_enum(CapCertainty, 10))
    base_language: Mapped[str] = mapped_column(sa.String(10), default="zh_Hans")
    safety_check: Mapped[bool] = mapped_column(default=False)
    active: Mapped[bool] = mapped_column(default=True)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    updated_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    version: Mapped[int] = mapped_column(default=1)
    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012

    texts: Mapped[list[AlertTemplateText]] = relationship(
        back_populates="template", cascade="all, delete-orphan", order_by="AlertTemplateText.id")
    revisions: Mapped[list[AlertTemplateRevision]] = relationship(
        back_populates="template", cascade="all, delete-orphan",
        order_by="AlertTemplateRevision.number.desc()")


class AlertTemplateText(TextColumns, Model):
    """A template's headline, message and instruction in one language (with placeholders)."""

    __tablename__ = "alert_template_text"
    __table_args__ = (sa.UniqueConstraint("template_id", "language"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    template_id: Mapped[int] = mapped_column(sa.ForeignKey("alert_template.id", ondelete="CASCADE"))

    template: Mapped[AlertTemplate] = relationship(back_populates="texts")


class AlertTemplateRevision(Model):
    """A template as it stood after one edit (number 1 is its creation)."""

    __tablename__ = "alert_template_revision"
    __table_args__ = (sa.UniqueConstraint("template_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    template_id: Mapped[int] = mapped_column(sa.ForeignKey("alert_template.id", ondelete="CASCADE"))
    number: Mapped[int]
    edited_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    edited_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    snapshot: Mapped[dict[str, Any]] = mapped_column(sa.JSON)

    template: Mapped[AlertTemplate] = relationship(back_populates="revisions")


class AlertCreateKey(Model):
    """An ``Idempotency-Key`` a caller sent with a new alert through the API: a retried POST with
    the same key (same caller) finds the alert the first one made, and the unique key makes one
    alert even when two retries arrive at once. The body's digest tells a retry from another
    request that reuses the key."""

    __tablename__ = "alert_create_key"
    __table_args__ = (sa.UniqueConstraint("user_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"))
    key: Mapped[str] = mapped_column(sa.String(200))
    body_sha256: Mapped[str] = mapped_column(sa.String(64))
    alert_id: Mapped[int] = mapped_column(sa.ForeignKey("alert.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
