"""Case notices to staff (``Notification`` rows in ``sms_state=pending``: escalations, hand-offs to a
station): claimed, rendered in the recipient's language and sent through the same path, gateway
and rate limit as alert deliveries, without quiet hours (they are for staff on duty)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from alerts.channels.sms import texts
from config import current_settings
from consular.db import db, skip_locked, update_rows, utcnow, write_step

NOTICE_MAX_ATTEMPTS = 8
RECONCILE_MARK = "outcome unknown"  # prefix of Notification.sms_error: ask the provider first


@dataclass
class ClaimedSms:
    """An SMS outside an alert's deliveries (a case notice, a next-of-kin message), claimed: since
    when it may have reached the provider (the reconciling window), its attempt, who holds it until
    when, and whether the provider must be asked before it is sent again."""

    created_at: datetime
    attempts: int
    claimed_by: str
    lease_until: datetime
    reconcile: bool


@dataclass
class ClaimedNotice(ClaimedSms):
    """A case notice to a member of staff, claimed for sending."""

    notification_id: int
    kind: str
    params: dict[str, Any]
    case_id: int | None
    phone: str
    locale: str | None

    @property
    def key(self) -> str:
        return f"n{self.notification_id}"


def reclaim_notices(now: datetime) -> int:
    """Case notices whose claim ran out go back to pending, to be reconciled before a resend."""
    from consular.cases.models import Notification, SmsState

    result = db.session.execute(
        sa.update(Notification)
        .where(Notification.sms_state == SmsState.claimed, Notification.sms_lease_until < now)
        .values(sms_state=SmsState.pending, sms_lease_until=None,
                sms_error=f"{RECONCILE_MARK}: the worker's lease ran out")
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def claim_notifications(worker_id: str, now: datetime | None = None, limit: int = 50) -> list[ClaimedNotice]:
    """Claim case notices waiting to be texted (``sms_state=pending``, due) and commit. Staff
    without a phone (or no longer active) get ``failed``."""
    from consular.auth.models import User
    from consular.cases.models import Notification, SmsState

    settings = current_settings()
    now = now or utcnow()
    lease_until = now + timedelta(seconds=settings.dispatch_lease_seconds)
    with write_step():
        query = (
            sa.select(Notification.id, Notification.kind, Notification.params, Notification.case_id,
                      Notification.created_at, Notification.sms_attempts, Notification.sms_error,
                      User.phone, User.locale, User.active)
            .join(User, User.id == Notification.user_id)
            .where(Notification.sms_state == SmsState.pending,
                   sa.or_(Notification.sms_lease_until.is_(None), Notification.sms_lease_until <= now))
            .order_by(Notification.id)
            .limit(max(1, limit))
        )
        rows = db.session.execute(skip_locked(query, Notification)).all()
        unreachable = [r.id for r in rows if not r.phone or not r.active]
        take = [r for r in rows if r.phone and r.active]
        if unreachable:
            update_rows(Notification, unreachable,
                        sms_state=SmsState.failed, sms_error="no phone, or the account is inactive")
        if take:
            update_rows(Notification, [r.id for r in take], Notification.sms_state == SmsState.pending,
                        sms_state=SmsState.claimed, sms_lease_until=lease_until,
                        sms_attempts=Notification.sms_attempts + 1)
    return [
        ClaimedNotice(notification_id=r.id, kind=r.kind, params=dict(r.params or {}), case_id=r.case_id,
                      phone=r.phone, locale=r.locale, created_at=r.created_at, attempts=r.sms_attempts + 1,
                      claimed_by=worker_id, lease_until=lease_until,
                      reconcile=bool(r.sms_error and r.sms_error.startswith(RECONCILE_MARK)))
        for r in take
    ]


def render_notice(notice: ClaimedNotice, now: datetime) -> str:
    """The text of a case notice in its recipient's language (no personal data: references only)."""
    from consular.cases.models import Case

    locale = texts.resolve_sms_locale(notice.locale or current_settings().default_locale)
    reference = str(notice.params.get("reference", ""))
    case = db.session.get(Case, notice.case_id) if notice.case_id is not None else None
    if notice.kind == "escalation":
        due = None
        if case is not None:
            due = (case.assignment_due_at if notice.params.get("deadline") == "assignment"
                   else case.first_response_due_at)
        overdue = max(0, int((now - due).total_seconds() // 60)) if due is not None else 0
        return texts.escalation_notice(locale, reference, str(notice.params.get("priority", "")), overdue)
    if notice.kind in ("offered", "assigned"):
        return texts.assignment_notice(locale, reference, case.country_code if case is not None else None)
    # Any other notice someone asked to text: its in-app wording, in the recipient's language.
    from flask_babel import force_locale

    from consular.cases.models import Notification
    from consular.cases.operations.notifications import notification_text

    row = db.session.get(Notification, notice.notification_id)
    assert row is not None
    with force_locale(notice.locale or current_settings().default_locale):
        return notification_text(row)
