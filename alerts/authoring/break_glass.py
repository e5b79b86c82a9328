"""Break-glass: for an Extreme or Immediate alert, one coordinator sends without the second approval
by stating a reason; every other coordinator is told in the app, and another coordinator must
review it within ``BREAK_GLASS_REVIEW_HOURS``. Operations flush; the caller commits."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _

from alerts.authoring.operations import (
    EDITABLE,
    AlertActionRefused,
    _cancel,
    _recheck,
    _require_coordinator,
    checked_reason,
)
from alerts.authoring.validation import MAX_REASON, AlertInputError
from alerts.events import announce_alert
from alerts.models import (
    Alert,
    AlertState,
    CapMsgType,
    CapSeverity,
    CapUrgency,
)
from config import current_settings
from consular.audit.operations import record
from consular.auth.models import Role, User
from consular.db import db, utcnow
from consular.validation import clean_text, too_long_message
from consular.validation import message as refused_text_message


def break_glass_allowed(alert: Alert) -> bool:
    """Whether break-glass may be offered for this alert as it stands (the operation re-checks)."""
    return (bool(current_settings().break_glass_enabled) and alert.state in EDITABLE
            and not alert.recurs and alert.severity != CapSeverity.Minor
            and (alert.severity == CapSeverity.Extreme or alert.urgency == CapUrgency.Immediate))


def break_glass(alert: Alert, *, user: User, reason: str) -> Alert:
    """Send an Extreme or Immediate alert now without a second approval (紧急发布), stating why.
    The alert is marked, every other coordinator is told in the app, and another coordinator must
    review it within ``BREAK_GLASS_REVIEW_HOURS``."""
    _require_coordinator(user)
    settings = current_settings()
    if not settings.break_glass_enabled:
        raise AlertActionRefused(_("Break-glass is switched off here: another coordinator must approve "
                                   "this alert."), 403)
    if alert.state not in EDITABLE:
        raise AlertActionRefused(_("Only a draft or an alert waiting for approval can be sent by "
                                   "break-glass."))
    if alert.severity == CapSeverity.Minor:
        raise AlertActionRefused(_("A Minor alert cannot be sent by break-glass: ask another "
                                   "coordinator to approve it."), 422)
    if alert.severity != CapSeverity.Extreme and alert.urgency != CapUrgency.Immediate:
        raise AlertActionRefused(_("Break-glass is only for an alert of Extreme severity or Immediate "
                                   "urgency: ask another coordinator to approve this one."), 422)
    if alert.recurs:
        raise AlertActionRefused(_("A recurring alert cannot be sent by break-glass."), 422)
    note = checked_reason(reason, field="break_glass_reason", missing=_(
        "Say why this alert cannot wait for a second coordinator's approval."))
    _recheck(alert)
    now = utcnow()
    alert.state = AlertState.scheduled
    alert.submitted_at = alert.submitted_at or now
    alert.approver_id = user.id
    alert.approved_at = now
    alert.review_note = ""
    if alert.send_at is None or alert.send_at < now:
        alert.send_at = now
    alert.break_glass_by_id = user.id
    alert.break_glass_at = now
    alert.break_glass_reason = note
    alert.break_glass_review_due_at = now + timedelta(hours=settings.break_glass_review_hours)
    db.session.flush()
    record("alert.break_glass", "alert", alert.id,
           {"identifier": alert.identifier, "severity": str(alert.severity),
            "urgency": str(alert.urgency), "review_due_at": alert.break_glass_review_due_at.isoformat()},
           user=user)
    announce_alert("alert.approved", alert, break_glass=True, send_at=alert.send_at)
    _tell_coordinators(alert, "break_glass", exclude=user.id)
    if alert.msg_type == CapMsgType.Cancel and alert.references is not None \
            and alert.references.state in (AlertState.scheduled, AlertState.sending):
        _cancel(alert.references, user=user, reason=f"cancel notice {alert.identifier}")
    return alert


def review_break_glass(alert: Alert, *, user: User, note: Any = "") -> Alert:
    """The second coordinator's review of a break-glass alert, recorded once."""
    _require_coordinator(user)
    if alert.break_glass_at is None:
        raise AlertActionRefused(_("This alert was not sent by break-glass: there is nothing to "
                                   "review."))
    if alert.break_glass_reviewed_at is not None:
        raise AlertActionRefused(_("This break-glass alert has already been reviewed."))
    if user.id == alert.break_glass_by_id:
        raise AlertActionRefused(_("You sent this alert by break-glass: another coordinator must "
                                   "review it."), 403)
    if note is None:
        note = ""
    if not isinstance(note, str):
        raise AlertInputError({"review_note": _("Enter text.")})
    value = clean_text(note)
    if value is None:
        raise AlertInputError({"review_note": refused_text_message()})
    if len(value) > MAX_REASON:
        raise AlertInputError({"review_note": too_long_message(MAX_REASON)})
    now = utcnow()
    alert.break_glass_reviewed_by_id = user.id
    alert.break_glass_reviewed_at = now
    alert.break_glass_review_note = value
    db.session.flush()
    record("alert.break_glass_review", "alert", alert.id,
           {"identifier": alert.identifier,
            "late": bool(alert.break_glass_review_due_at and now > alert.break_glass_review_due_at)},
           user=user)
    _tell_coordinators(alert, "break_glass_reviewed", exclude=user.id)
    return alert


def _tell_coordinators(alert: Alert, kind: str, *, exclude: int) -> None:
    """An in-app notice to every active coordinator but ``exclude``."""
    from consular.cases.operations import notify

    coordinators = db.session.scalars(sa.select(User).where(
        User.role == Role.coordinator, User.active.is_(True), User.id != exclude)).all()
    due = alert.break_glass_review_due_at
    notify(coordinators, case=None, kind=kind,
           params={"alert_id": alert.id, "event": alert.event[:120],
                   "due_at": due.isoformat() if due is not None else None})


def unreviewed_break_glass() -> sa.Select[Any]:
    """Break-glass alerts no second coordinator has reviewed yet, oldest first."""
    return (sa.select(Alert).where(Alert.break_glass_at.is_not(None),
                                   Alert.break_glass_reviewed_at.is_(None))
            .order_by(Alert.break_glass_at, Alert.id))
