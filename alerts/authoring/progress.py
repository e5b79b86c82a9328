"""What the progress page shows of an alert being sent: counts by state, language and country, why
messages were skipped, safety-check answers so far (the call round's outcomes among them), the
messages to countries that send no delivery receipt, and the time left at the configured rate."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _

import i18n
from alerts.authoring import compose
from alerts.authoring.call_round import LADDER_LABELS, NOT_REACHED, answer_column
from alerts.authoring.estimate import duration_text
from alerts.authoring.forms import NOT_SENT_LABELS, STATE_LABELS, label
from alerts.authoring.receipts import without_receipts
from alerts.dispatch.record import skip_reason_label
from alerts.models import Alert, AlertState, CallOutcome, Delivery, DeliveryState
from consular.db import db, utcnow

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
    answer = answer_column()
    rows = db.session.execute(
        sa.select(Delivery.language, Delivery.country_code, Delivery.state, Delivery.skip_reason,
                  answer, Delivery.call_outcome, Delivery.phone_country, sa.func.count())
        .where(Delivery.alert_id == alert.id)
        .group_by(Delivery.language, Delivery.country_code, Delivery.state, Delivery.skip_reason,
                  answer, Delivery.call_outcome, Delivery.phone_country)).all()
    keys = ("planned", "pending", "deferred", "sent", "no_receipt", "delivered", "failed", "skipped",
            "opted_out", "done")
    totals = dict.fromkeys(keys, 0)
    # The safety check's figures: each person once, by the answer that counts (``call_round``);
    # those a call did not reach, by what it found; those the last attempt did not reach; the rest
    # have not answered yet. Everyone sent to is in exactly one of them.
    replies = {"safe": 0, "need_help": 0, "unknown": 0, "none": 0, "unreached": 0,
               **{f"call_{o.value}": 0 for o in NOT_REACHED}}
    calls = {o.value: 0 for o in CallOutcome}
    by_language: dict[str, dict[str, int]] = {}
    by_country: dict[str, dict[str, int]] = {}
    skipped: dict[str, int] = {}
    silent = without_receipts((r[6] for r in rows if _bucket(str(r[2])) == "sent"), utcnow())
    for language, country, state, skip_reason, reply, call, phone_country, count in rows:
        bucket = _bucket(str(state))
        if bucket == "sent" and phone_country in silent:
            bucket = "no_receipt"  # handed over to a network that reports no delivery
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
        if call is not None:
            calls[str(call)] += count
        if reply is not None:
            replies[str(reply)] += count
        elif call in NOT_REACHED:
            replies[f"call_{call}"] += count
        elif bucket in ("sent", "no_receipt", "delivered"):
            replies["none"] += count
        elif bucket == "failed":
            replies["unreached"] += count  # the last attempt (a message, a ladder's call) did not reach them
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
        "calls": calls,
        "no_receipt_countries": [
            {"code": c, "name": i18n.country_name(c), "percent": round(share.percent),
             "messages": share.messages} for c, share in silent.items()],
        "safety_check": alert.safety_check,
        "ladder": ladder_rows(alert) if alert.safety_check else [],
        "eta_seconds": round(eta_seconds, 1),
        "eta_text": "" if finished or not eta_seconds else duration_text(eta_seconds),
        "deferred_until": i18n.format_dt(deferred_until, fmt="short") if deferred_until else "",
        "no_receipt_note": _("sent, no receipt expected"),
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


def ladder_rows(alert: Alert) -> list[dict[str, Any]]:
    """The ladder's rungs in order: after how many minutes, for how many people each was climbed
    and skipped (with why: no consent to calls, no next of kin…)."""
    from alerts.ladder import rung_counts
    from alerts.models import ladder_minutes

    counts = rung_counts(alert.id)
    minutes = {"reminder": alert.call_round_minutes if alert.resend_unanswered else 0,
               "call": ladder_minutes(alert.ladder_call_minutes, "call"),
               "kin": ladder_minutes(alert.ladder_kin_minutes, "kin"),
               "visit": ladder_minutes(alert.ladder_visit_minutes, "visit")}
    return [{"rung": rung, "label": str(LADDER_LABELS[rung]), "minutes": minutes[rung],
             "taken": c["taken"], "skipped": c["skipped"], "sent": c["sent"], "failed": c["failed"],
             "skipped_reasons": {k.split(":", 1)[1]: v for k, v in c.items() if k.startswith("skipped:")}}
            for rung, c in counts.items()]
