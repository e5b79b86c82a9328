"""The call round of a safety check: who to phone, what each call found (kept as a history, the
latest call deciding), how those outcomes count in the safety-check figures, and the list as CSV or
XLSX.

A call that reached the person and found them in need of help is answered as an SMS "2" is
(``alerts.replies.inbound.answer_safety_check``): the delivery says "need help" and the person's
case is opened for triage, or joined when one is open. A call that reached the person safe counts
as safe. A call that did not reach them (no answer, wrong number, message left) is shown as such.
Whichever is later, the latest reaching call or the person's own answer, decides the figures.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from openpyxl import Workbook

import i18n
from alerts.models import Alert, CallAttempt, CallOutcome, Delivery, DeliveryState, ReplyKind
from alerts.replies.inbound import answer_safety_check
from config import current_settings
from consular.audit.operations import record
from consular.auth.models import User
from consular.cases.reports import csv_bytes, safe_cell
from consular.db import db
from consular.registry.models import Registrant
from consular.validation import read_text

OUTCOME_LABELS: dict[CallOutcome, Any] = {
    CallOutcome.reached_safe: _l("Reached: safe"),
    CallOutcome.reached_needs_help: _l("Reached: needs help"),
    CallOutcome.no_answer: _l("No answer"),
    CallOutcome.wrong_number: _l("Wrong number"),
    CallOutcome.message_left: _l("Message left"),
}
REACHED = (CallOutcome.reached_safe, CallOutcome.reached_needs_help)
NOT_REACHED = (CallOutcome.no_answer, CallOutcome.wrong_number, CallOutcome.message_left)
MAX_NOTE = 1000
FAILED = (DeliveryState.failed, DeliveryState.undelivered)
HANDED = (DeliveryState.submitted, DeliveryState.sent, DeliveryState.delivered)


class CallInputError(Exception):
    """The outcome form was refused: ``errors`` by field, in the user's language."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        super().__init__(" ".join(errors.values()))
        self.errors = dict(errors)


def outcome_label(outcome: CallOutcome | str | None) -> str:
    return str(OUTCOME_LABELS[CallOutcome(outcome)]) if outcome else ""


def read_outcome_form(form: Mapping[str, Any]) -> tuple[CallOutcome, str]:
    """The outcome and the note of the form, or ``CallInputError``."""
    errors: dict[str, str] = {}
    raw = form.get("outcome", "")
    outcome = CallOutcome(raw) if isinstance(raw, str) and raw in set(CallOutcome) else None
    if outcome is None:
        errors["outcome"] = _("Choose what the call found.")
    note, refusal = read_text(form.get("note", ""), MAX_NOTE, multiline=True)
    if refusal is not None:
        errors["note"] = refusal
    if errors or outcome is None or note is None:
        raise CallInputError(errors)
    return outcome, note


def record_call(delivery: Delivery, outcome: CallOutcome, note: str, *, user: User,
                now: datetime) -> CallAttempt:
    """One call of the call round, with what it found; it becomes the person's latest outcome.
    Audited (who, when, what; never the note). Flushes; the request commits."""
    registrant = db.session.get(Registrant, delivery.registrant_id)
    assert registrant is not None  # a delivery's registrant is never deleted (erasure keeps the row)
    attempt = CallAttempt(delivery_id=delivery.id, outcome=outcome, note=note or None,
                          called_by_id=user.id, called_at=now)
    if outcome == CallOutcome.reached_needs_help:
        text = str(OUTCOME_LABELS[outcome]) + (f": {note}" if note else "")
        attempt.case_id = answer_safety_check(delivery, registrant, ReplyKind.need_help, text, now)
    delivery.call_outcome = outcome
    delivery.call_outcome_at = now
    db.session.add(attempt)
    db.session.flush()
    record("alert.call_round.outcome", "alert", delivery.alert_id,
           {"delivery_id": delivery.id, "registrant_id": delivery.registrant_id,
            "outcome": outcome.value, "case_id": attempt.case_id, "note": bool(note)}, user=user)
    return attempt


def answer_column() -> sa.ColumnElement[Any]:
    """The safety-check answer that counts: the latest reaching call when it is no older than the
    person's own answer, else that answer (``safe``, ``need_help``, ``unknown`` or NULL)."""
    call_decides = sa.and_(Delivery.call_outcome.in_(REACHED),
                           sa.or_(Delivery.replied_at.is_(None),
                                  Delivery.call_outcome_at >= Delivery.replied_at))
    return sa.case(
        (sa.and_(call_decides, Delivery.call_outcome == CallOutcome.reached_safe), ReplyKind.safe.value),
        (sa.and_(call_decides, Delivery.call_outcome == CallOutcome.reached_needs_help),
         ReplyKind.need_help.value),
        else_=Delivery.reply_kind)


def call_round_rows(alert: Alert, cutoff: datetime, limit: int | None) -> list[Any]:
    """(Delivery, Registrant, answer) of the people to phone: those who need help first, then those
    the message did not reach, then those who have not answered by ``cutoff`` and were not called
    yet, then those called without reaching them, and last those a call found safe."""
    answer = answer_column().label("answer")
    called = Delivery.call_outcome.is_not(None)
    query = (
        sa.select(Delivery, Registrant, answer)
        .join(Registrant, Registrant.id == Delivery.registrant_id)
        .where(Delivery.alert_id == alert.id)
        .where(sa.or_(
            called,
            Delivery.reply_kind == ReplyKind.need_help,
            Delivery.state.in_(FAILED),
            sa.and_(Delivery.state.in_(HANDED),
                    sa.or_(Delivery.reply_kind.is_(None), Delivery.reply_kind == ReplyKind.unknown),
                    sa.func.coalesce(Delivery.submitted_at, Delivery.final_at, Delivery.due_at) <= cutoff)))
        .order_by(sa.case((answer_column() == ReplyKind.need_help.value, 0),
                          (answer_column() == ReplyKind.safe.value, 5),
                          (Delivery.state.in_(FAILED) & ~called, 1),
                          (~called, 2),
                          else_=3),
                  Delivery.country_code, Delivery.id)
    )
    if limit is not None:
        query = query.limit(limit)
    return list(db.session.execute(query).all())


def call_history(delivery_ids: Sequence[int]) -> dict[int, list[CallAttempt]]:
    """Each delivery's calls, latest first."""
    history: dict[int, list[CallAttempt]] = {}
    for start in range(0, len(delivery_ids), 500):
        chunk = list(delivery_ids[start:start + 500])
        for attempt in db.session.scalars(
                sa.select(CallAttempt).where(CallAttempt.delivery_id.in_(chunk))
                .order_by(CallAttempt.called_at.desc(), CallAttempt.id.desc())):
            history.setdefault(attempt.delivery_id, []).append(attempt)
    return history


def user_names(attempts: Sequence[CallAttempt]) -> dict[int, str]:
    ids = {a.called_by_id for a in attempts if a.called_by_id is not None}
    if not ids:
        return {}
    return {uid: (name or login) for uid, name, login in db.session.execute(
        sa.select(User.id, User.display_name, User.username).where(User.id.in_(ids)))}


# --- export -----------------------------------------------------------------------------------------


LADDER_LABELS: dict[str, Any] = {  # the rung someone silent is on (``Delivery.ladder_rung``)
    "reminder": _l("Reminder"),
    "call": _l("Voice call"),
    "kin": _l("SMS to the next of kin"),
    "visit": _l("Welfare visit by a station"),
}


@dataclass
class CallRoundExport:
    header: list[str]
    rows: list[list[Any]]


def answer_label(answer: str | None, delivery: Delivery) -> str:
    if answer == ReplyKind.need_help:
        return _("Needs help")
    if answer == ReplyKind.safe:
        return _("Safe")
    if delivery.state in FAILED:
        # The ladder's call is the delivery's latest attempt: its message was delivered before.
        return _("Voice call not answered") if delivery.channel == "voice" else _("Message not delivered")
    if answer == ReplyKind.unknown:
        return _("Unclear answer")
    return _("No answer")


def _local(value: datetime | None) -> datetime | None:
    """A UTC instant as the office's wall-clock time (spreadsheets know no time zones)."""
    if value is None:
        return None
    zone = ZoneInfo(current_settings().office_timezone)
    return value.astimezone(zone).replace(tzinfo=None, microsecond=0)


def export_table(alert: Alert, cutoff: datetime) -> CallRoundExport:
    """The whole call round (no limit) with each person's latest call and how many calls."""
    rows = call_round_rows(alert, cutoff, None)
    history = call_history([d.id for d, _p, _a in rows])
    names = user_names([a for attempts in history.values() for a in attempts])
    header = [_("Name"), _("Phone"), _("Country"), _("City"), _("Language"), _("Answer"), _("Ladder"),
              _("Message sent"), _("Latest call"), _("Called at"), _("Called by"), _("Note"),
              _("Calls")]
    out = []
    for delivery, person, answer in rows:
        attempts = history.get(delivery.id, [])
        latest = attempts[0] if attempts else None
        out.append([
            person.name or "", person.phone or "", i18n.country_name(person.country_code),
            person.city or "", i18n.language_name(person.language), answer_label(answer, delivery),
            str(LADDER_LABELS.get(delivery.ladder_rung or "", "")),
            _local(delivery.submitted_at or delivery.due_at),
            outcome_label(latest.outcome) if latest else "",
            _local(latest.called_at) if latest else None,
            names.get(latest.called_by_id or 0, "") if latest else "",
            (latest.note or "") if latest else "", len(attempts),
        ])
    return CallRoundExport(header, out)


def export_csv(table: CallRoundExport) -> bytes:
    return csv_bytes(table.header, table.rows)


def export_xlsx(table: CallRoundExport) -> bytes:
    """Every text cell that a spreadsheet would run as a formula is written as text."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet(_("Call round")[:31])
    sheet.append([safe_cell(v) for v in table.header])
    for row in table.rows:
        sheet.append([safe_cell(v) for v in row])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
