"""How far alerts reached, for the activities side (``consular.activities.reach``): a drill's Exercise
alert and its answer times, the alerts a risk point led to, and the year's alerts in the report.
Registered at start-up by ``alerts.ops_hooks``; counts only, nothing about any recipient."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

import sqlalchemy as sa

from alerts.models import Alert, AlertState, AlertText, CapStatus, Delivery, DeliveryState
from consular.activities.reach import (
    ANSWER_WINDOWS,
    AlertInfo,
    BreakGlassInfo,
    Reach,
    register_alert_reader,
)
from consular.db import db, utcnow

# Past these an alert has gone out (or was meant to): what a drill or a risk point can name.
ISSUED = (AlertState.scheduled, AlertState.sending, AlertState.sent, AlertState.not_sent)
FAILED = (DeliveryState.failed, DeliveryState.undelivered)
MAX_IDS = 500


def _ids(alert_ids: Iterable[int]) -> list[int]:
    return [i for i in dict.fromkeys(alert_ids) if isinstance(i, int) and 0 < i < 2**31][:MAX_IDS]


def _label(alert: Alert, headlines: dict[int, str]) -> str:
    headline = headlines.get(alert.id, "")
    return f"{alert.event} · {headline}" if headline and headline != alert.event else alert.event


def _info(alerts: list[Alert]) -> dict[int, AlertInfo]:
    headlines: dict[int, str] = {}
    if alerts:
        for alert_id, language, headline in db.session.execute(
                sa.select(AlertText.alert_id, AlertText.language, AlertText.headline)
                .where(AlertText.alert_id.in_([a.id for a in alerts]))):
            base = next(a.base_language for a in alerts if a.id == alert_id)
            if language == base or alert_id not in headlines:
                headlines[alert_id] = headline
    return {a.id: AlertInfo(id=a.id, label=_label(a, headlines), exercise=a.status == CapStatus.Exercise,
                            state=a.state.value, sent_at=a.fanned_out_at) for a in alerts}


class AlertsReach:
    def describe(self, alert_ids: Iterable[int]) -> dict[int, AlertInfo]:
        ids = _ids(alert_ids)
        if not ids:
            return {}
        return _info(list(db.session.scalars(sa.select(Alert).where(Alert.id.in_(ids)))))

    def issued(self, limit: int, *, exercise: bool) -> list[AlertInfo]:
        status = Alert.status == CapStatus.Exercise if exercise else Alert.status == CapStatus.Actual
        found = list(db.session.scalars(
            sa.select(Alert).where(status, Alert.state.in_(ISSUED))
            .order_by(Alert.created_at.desc(), Alert.id.desc()).limit(limit)))
        info = _info(found)
        return [info[a.id] for a in found]

    def reach(self, alert_ids: Iterable[int]) -> dict[int, Reach]:
        ids = _ids(alert_ids)
        if not ids:
            return {}
        counts = {i: {"planned": 0, "sent": 0, "delivered": 0, "failed": 0, "answered": 0} for i in ids}
        for alert_id, state, has_sent, has_reply, n in db.session.execute(
                sa.select(Delivery.alert_id, Delivery.state, Delivery.submitted_at.is_not(None),
                          Delivery.replied_at.is_not(None), sa.func.count())
                .where(Delivery.alert_id.in_(ids))
                .group_by(Delivery.alert_id, Delivery.state, Delivery.submitted_at.is_not(None),
                          Delivery.replied_at.is_not(None))):
            row = counts[alert_id]
            row["planned"] += n
            row["sent"] += n if has_sent else 0
            row["delivered"] += n if state == DeliveryState.delivered else 0
            row["failed"] += n if state in FAILED else 0
            row["answered"] += n if has_reply else 0
        # Answer times in Python: the same figure on SQLite and PostgreSQL (a drill's answers are
        # a few thousand rows at most).
        within = {i: dict.fromkeys(ANSWER_WINDOWS, 0) for i in ids}
        for alert_id, sent, replied in db.session.execute(
                sa.select(Delivery.alert_id, Delivery.submitted_at, Delivery.replied_at)
                .where(Delivery.alert_id.in_(ids), Delivery.replied_at.is_not(None),
                       Delivery.submitted_at.is_not(None))):
            if sent is None or replied is None:
                continue
            for minutes in ANSWER_WINDOWS:
                if replied - sent <= timedelta(minutes=minutes):
                    within[alert_id][minutes] += 1
        return {i: Reach(within=within[i], **counts[i]) for i in ids}

    def sent_between(self, start: datetime, end: datetime) -> tuple[int, Reach]:
        ids = list(db.session.scalars(
            sa.select(Alert.id).where(Alert.status == CapStatus.Actual,
                                      Alert.fanned_out_at >= start, Alert.fanned_out_at < end)))
        total = Reach()
        for start_at in range(0, len(ids), MAX_IDS):
            for reach in self.reach(ids[start_at:start_at + MAX_IDS]).values():
                total = total + reach
        return len(ids), total


    def break_glass_between(self, start: datetime, end: datetime) -> list[BreakGlassInfo]:
        found = list(db.session.scalars(
            sa.select(Alert).where(Alert.break_glass_at >= start, Alert.break_glass_at < end)
            .order_by(Alert.break_glass_reviewed_at.is_not(None), Alert.break_glass_at, Alert.id)
            .limit(MAX_IDS)))
        info = _info(found)
        now = utcnow()
        return [BreakGlassInfo(id=a.id, label=info[a.id].label, sent_at=a.break_glass_at or now,
                               reviewed=a.break_glass_reviewed_at is not None,
                               overdue=a.break_glass_reviewed_at is None
                               and a.break_glass_review_due_at is not None
                               and a.break_glass_review_due_at <= now)
                for a in found]


def register() -> None:
    register_alert_reader(AlertsReach())
