"""Next-of-kin messages of the ladder (``LadderStep`` rows of the ``kin`` rung in ``pending``):
claimed with a lease, rendered in the kin's language and sent through the same path, gateway and
rate limit as alert deliveries, then recorded on their step. Like case notices they wait for no
quiet hours: the person they ask about has been silent for hours after a disaster."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from alerts.channels.sms import texts
from alerts.dispatch.notices import ClaimedSms
from alerts.models import (
    Alert,
    AlertState,
    AlertText,
    CallOutcome,
    Delivery,
    LadderRung,
    LadderStep,
    LadderStepState,
)
from config import Settings, current_settings
from consular.db import db, skip_locked, update_rows, utcnow, write_step
from consular.registry.models import Registrant

KIN_MAX_ATTEMPTS = 8


@dataclass
class ClaimedKin(ClaimedSms):
    """A next-of-kin SMS, claimed for sending."""

    step_id: int
    phone: str
    locale: str
    name: str
    event: str
    place: str

    @property
    def key(self) -> str:
        return f"k{self.step_id}"


def _due(now: datetime) -> sa.ColumnElement[bool]:
    return sa.and_(LadderStep.rung == LadderRung.kin, LadderStep.state == LadderStepState.pending,
                   sa.or_(LadderStep.lease_until.is_(None), LadderStep.lease_until <= now))


def kin_due(now: datetime) -> bool:
    """Whether a next-of-kin SMS waits to be sent (read only)."""
    return bool(db.session.scalar(sa.select(sa.select(LadderStep.id).where(_due(now)).exists())))


def reclaim_kin(now: datetime) -> int:
    """Next-of-kin messages whose claim ran out go back to pending, to be reconciled with the
    provider before they are sent again."""
    result = db.session.execute(
        sa.update(LadderStep)
        .where(LadderStep.state == LadderStepState.claimed, LadderStep.lease_until < now)
        .values(state=LadderStepState.pending, lease_until=None,
                reconcile_from=sa.func.coalesce(LadderStep.reconcile_from, LadderStep.taken_at))
        .execution_options(synchronize_session=False))
    return int(getattr(result, "rowcount", 0) or 0)


def _drop_unwanted(now: datetime) -> None:
    """A next-of-kin message not sent yet is dropped (its rung skipped) when the person has
    answered meanwhile, on any channel, or the alert was cancelled."""
    answered = sa.or_(Delivery.reply_kind.is_not(None),
                      Delivery.call_outcome.in_((CallOutcome.reached_safe, CallOutcome.reached_needs_help)))
    for reason, condition in (
            ("answered", sa.select(Delivery.id).where(Delivery.id == LadderStep.delivery_id, answered)),
            ("cancelled", sa.select(Alert.id).where(Alert.id == LadderStep.alert_id,
                                                    Alert.state == AlertState.cancelled))):
        db.session.execute(
            sa.update(LadderStep)
            .where(LadderStep.rung == LadderRung.kin, LadderStep.state == LadderStepState.pending,
                   condition.exists())
            .values(state=LadderStepState.skipped, skip_reason=reason, lease_until=None)
            .execution_options(synchronize_session=False))


def claim_kin_messages(worker_id: str, now: datetime | None = None, limit: int = 50) -> list[ClaimedKin]:
    """Claim next-of-kin messages waiting to be sent and commit."""
    settings = current_settings()
    now = now or utcnow()
    lease_until = now + timedelta(seconds=settings.dispatch_lease_seconds)
    with write_step():
        reclaim_kin(now)
        _drop_unwanted(now)
        query = (sa.select(LadderStep.id, LadderStep.phone, LadderStep.locale, LadderStep.taken_at,
                           LadderStep.attempts, LadderStep.reconcile_from, Registrant.name,
                           sa.func.coalesce(sa.func.nullif(AlertText.event, ""), Alert.event).label("event"),
                           Alert.place, Alert.base_language)
                 .join(Delivery, Delivery.id == LadderStep.delivery_id)
                 .join(Registrant, Registrant.id == Delivery.registrant_id)
                 .join(Alert, Alert.id == LadderStep.alert_id)
                 # The event as the alert names it in the kin's language, when it does.
                 .outerjoin(AlertText, sa.and_(AlertText.alert_id == Alert.id,
                                               AlertText.language == LadderStep.locale))
                 .where(_due(now)).order_by(LadderStep.id).limit(max(1, limit)))
        rows = db.session.execute(skip_locked(query, LadderStep)).all()
        if rows:
            update_rows(LadderStep, [r.id for r in rows], LadderStep.state == LadderStepState.pending,
                        state=LadderStepState.claimed, claimed_by=worker_id, lease_until=lease_until,
                        attempts=LadderStep.attempts + 1)
    return [ClaimedKin(step_id=r.id, phone=r.phone or "", locale=r.locale or r.base_language,
                       name=r.name or "", event=r.event or "", place=r.place or "",
                       created_at=r.reconcile_from or r.taken_at, attempts=r.attempts + 1,
                       claimed_by=worker_id, lease_until=lease_until,
                       reconcile=r.reconcile_from is not None)
            for r in rows]


def render_kin(kin: ClaimedKin, settings: Settings) -> str:
    """The message in the kin's language, signed as the office signs its alerts, with the hotline."""
    from consular.network.models import CoordinationCentre

    hotline = settings.hotline_number or db.session.scalar(
        sa.select(CoordinationCentre.hotline_24h).limit(1)) or ""
    return texts.next_of_kin_message(kin.locale, kin.name, kin.event, kin.place, hotline=hotline,
                                     signature=texts.signature_for(settings.sms_signatures, kin.locale))
