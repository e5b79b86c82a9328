"""What the progress page shows of an alert being sent: counts by state, language and country, why
messages were skipped, safety-check answers so far and the time left at the configured rate; and
who is on the call-round list of a safety check."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

import i18n
from alerts.authoring import compose
from alerts.authoring.estimate import duration_text
from alerts.authoring.forms import NOT_SENT_LABELS, STATE_LABELS, label
from alerts.dispatch.record import skip_reason_label
from alerts.models import Alert, AlertState, Delivery, DeliveryState, ReplyKind
from consular.db import db
from consular.registry.models import Registrant

FINISHED = (AlertState.sent, AlertState.not_sent, AlertState.cancelled)
OPT_OUT_REASONS = ("opted_out", "unsubscribed", "stop")


def _bucket(state: str) -> str:
    if state in (DeliveryState.pending, DeliveryState.deferred, DeliveryState.delivered,
                 DeliveryState.skipped, DeliveryState.failed):
        return state
    if state == DeliveryState.undelivered:
        return "failed"
    if state == DeliveryState.claimed:
        return "pending"  # a worker is about to hand it over
    return "sent"  # submitted, sent: handed over, no receipt yet


def progress_data(alert: Alert) -> dict[str, Any]:
    """Counts for the progress bar: by state, by language and country, replies, and the ETA."""
    rows = db.session.execute(
        sa.select(Delivery.language, Delivery.country_code, Delivery.state, Delivery.skip_reason,
                  Delivery.reply_kind, sa.func.count())
        .where(Delivery.alert_id == alert.id)
        .group_by(Delivery.language, Delivery.country_code, Delivery.state, Delivery.skip_reason,
                  Delivery.reply_kind)).all()
    keys = ("planned", "pending", "deferred", "sent", "delivered", "failed", "skipped", "opted_out",
            "done")
    totals = dict.fromkeys(keys, 0)
    replies = {"safe": 0, "need_help": 0, "unknown": 0, "none": 0}
    by_language: dict[str, dict[str, int]] = {}
    by_country: dict[str, dict[str, int]] = {}
    skipped: dict[str, int] = {}
    for language, country, state, skip_reason, reply, count in rows:
        bucket = _bucket(str(state))
        for table in (totals, by_language.setdefault(language, dict.fromkeys(keys, 0)),
                      by_country.setdefault(country, dict.fromkeys(keys, 0))):
            table["planned"] += count
            table[bucket] += count
            if bucket not in ("pending", "deferred"):
                table["done"] += count
            if bucket == "skipped" and skip_reason in OPT_OUT_REASONS:
                table["opted_out"] += count
        if bucket == "skipped":
            # Skipped by reason, as the deliveries record it (no reason recorded: "other").
            code = skip_reason or "other"
            skipped[code] = skipped.get(code, 0) + count
        if reply is not None:
            replies[str(reply)] += count
        elif bucket in ("sent", "delivered"):
            replies["none"] += count
    planned = max(totals["planned"], alert.planned_count)
    percent = 100 if alert.state in FINISHED and alert.fanned_out_at \
        else (round(100 * totals["done"] / planned) if planned else 0)
    remaining = totals["pending"]  # waiting, or held by a worker about to hand it over
    segments_each = _average_segments(alert)
    eta_seconds = remaining * segments_each / compose.segments_per_second() if remaining else 0.0
    deferred_until = db.session.scalar(
        sa.select(sa.func.max(Delivery.due_at))
        .where(Delivery.alert_id == alert.id, Delivery.state == DeliveryState.deferred))
    finished = alert.state in FINISHED
    return {
        "state": alert.state.value,
        "state_label": label(STATE_LABELS, alert.state),
        "not_sent_reason": alert.not_sent_reason.value if alert.not_sent_reason else "",
        "not_sent_text": label(NOT_SENT_LABELS, alert.not_sent_reason) if alert.not_sent_reason else "",
        "skipped_reasons": [{"code": code, "label": skip_reason_label(code), "count": count}
                            for code, count in sorted(skipped.items(), key=lambda kv: (-kv[1], kv[0]))],
        "finished": finished,
        "percent": min(percent, 100),
        "totals": {**totals, "planned": planned},
        "replies": replies,
        "safety_check": alert.safety_check,
        "eta_seconds": round(eta_seconds, 1),
        "eta_text": "" if finished or not eta_seconds else duration_text(eta_seconds),
        "deferred_until": i18n.format_dt(deferred_until, fmt="short") if deferred_until else "",
        "by_language": [{"code": k, "name": i18n.language_name(k), **v}
                        for k, v in sorted(by_language.items(), key=lambda kv: -kv[1]["planned"])],
        "by_country": [{"code": k, "name": i18n.country_name(k), **v}
                       for k, v in sorted(by_country.items(), key=lambda kv: -kv[1]["planned"])],
    }


def _average_segments(alert: Alert) -> float:
    analysed = compose.analyse_alert(alert)
    if not analysed:
        return 1.0
    return sum(t.encoding.segments for t in analysed.values()) / len(analysed)


def call_round_rows(alert: Alert, cutoff: datetime, limit: int) -> list[Any]:
    """(Delivery, Registrant) of the people to phone: those who asked for help first, then those the
    message did not reach, then those who have not answered the safety check by ``cutoff``."""
    handed = (DeliveryState.submitted, DeliveryState.sent, DeliveryState.delivered)
    query = (
        sa.select(Delivery, Registrant)
        .join(Registrant, Registrant.id == Delivery.registrant_id)
        .where(Delivery.alert_id == alert.id)
        .where(sa.or_(
            Delivery.reply_kind == ReplyKind.need_help,
            Delivery.state.in_((DeliveryState.failed, DeliveryState.undelivered)),
            sa.and_(Delivery.state.in_(handed),
                    sa.or_(Delivery.reply_kind.is_(None), Delivery.reply_kind == ReplyKind.unknown),
                    sa.func.coalesce(Delivery.submitted_at, Delivery.final_at, Delivery.due_at) <= cutoff)))
        .order_by(sa.case((Delivery.reply_kind == ReplyKind.need_help, 0),
                          (Delivery.state.in_((DeliveryState.failed, DeliveryState.undelivered)), 1),
                          else_=2),
                  Delivery.country_code, Delivery.id)
        .limit(limit)
    )
    return list(db.session.execute(query).all())
