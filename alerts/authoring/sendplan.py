"""The send plan an approver sees before approving: at the configured rate, when the last message
would go out, how many recipients wait for quiet hours and until when, how many would expire
unsent, and whether the provider's queue would overflow.

It is a simulation over the recipients counted by time zone and language (the preview's own query,
``alerts.targeting.recipients_where``), not a promise: messages already queued before this alert
(due deliveries of other alerts; for a safety check only other safety checks', which it does not
wait behind otherwise, see ``alerts.dispatch.claim``) are counted as one segment each, and quiet
hours are applied per zone as the dispatcher applies them (a non-urgent message due in quiet
hours waits for their end; one that would wait past the expiry is skipped).

The provider sends at ``SMS_PROVIDER_SEGMENTS_PER_SECOND``; when we submit faster, the rest waits
in its queue, which holds about ``PROVIDER_QUEUE_HOURS`` of traffic per sender (Twilio) before it
refuses more.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from alerts.dispatch.quiet import QuietHours, zone
from alerts.gateways.senders import total_rate
from alerts.models import Alert, AlertState, Delivery, DeliveryState
from alerts.targeting import Target, language_case, recipients_where
from config import current_settings
from consular.db import db, utcnow
from consular.registry.models import Registrant

PROVIDER_QUEUE_HOURS = 10.0
MAX_STEPS = 20_000  # the simulation's bound (each step ends a group or reaches a quiet-hours edge)


@dataclass
class SendPlan:
    recipients: int = 0
    segments: int = 0
    rate: float = 0.0  # segments per second we submit
    provider_rate: float = 0.0  # segments per second the provider sends
    start: datetime | None = None
    queued_ahead: int = 0  # messages of other alerts due before these
    first_at: datetime | None = None
    last_at: datetime | None = None  # when the last message of this alert goes out
    waiting: int = 0  # recipients whose message waits for the end of quiet hours
    waiting_until: datetime | None = None  # the latest of those ends
    expire_unsent: int = 0  # recipients who would get nothing before the expiry
    provider_queue_hours: float = 0.0  # the provider's queue at its fullest, in hours of its traffic
    provider_queue_limit_hours: float = PROVIDER_QUEUE_HOURS

    @property
    def overflow(self) -> bool:
        return self.provider_queue_hours > self.provider_queue_limit_hours


@dataclass
class _Group:
    tz: ZoneInfo
    recipients: float
    segments: float
    eligible: datetime
    waited: bool = False


def _next_quiet_start(quiet: QuietHours, moment: datetime, tz: ZoneInfo) -> datetime:
    local = moment.astimezone(tz)
    begins = datetime.combine(local.date(), time(quiet.start // 60, quiet.start % 60), tzinfo=tz)
    if begins <= local:
        begins = datetime.combine(local.date() + timedelta(days=1),
                                  time(quiet.start // 60, quiet.start % 60), tzinfo=tz)
    return begins.astimezone(moment.tzinfo)


def _queued_ahead(start: datetime, safety_check: bool, exclude: int | None) -> int:
    query = (sa.select(sa.func.count()).select_from(Delivery).join(Alert, Alert.id == Delivery.alert_id)
             .where(Alert.state == AlertState.sending,
                    sa.or_(sa.and_(Delivery.state.in_((DeliveryState.pending, DeliveryState.deferred)),
                                   Delivery.due_at <= start),
                           Delivery.state == DeliveryState.claimed)))
    if safety_check:
        query = query.where(Alert.safety_check.is_(True))
    if exclude is not None:
        query = query.where(Alert.id != exclude)
    return int(db.session.scalar(query) or 0)


def send_plan(target: Target, segments_by_language: dict[str, int], *, send_at: datetime | None,
              expires_at: datetime, urgent: bool, safety_check: bool, alert_id: int | None = None,
              now: datetime | None = None) -> SendPlan:
    """See the module's docstring."""
    settings = current_settings()
    moment = now or utcnow()
    start = max(send_at or moment, moment)
    rate = total_rate(settings)  # all senders together
    provider = float(settings.sms_provider_segments_per_second)
    effective = min(rate, provider)
    plan = SendPlan(rate=rate, provider_rate=provider, start=start)
    if not target.areas or not target.base_language:
        return plan
    language = language_case(target).label("language")
    rows = db.session.execute(
        sa.select(Registrant.timezone, language, sa.func.count())
        .where(*recipients_where(target, start.date()))
        .group_by(Registrant.timezone, language)).all()
    quiet = None if urgent else QuietHours.from_setting(settings.quiet_hours)
    by_zone: dict[str, _Group] = {}
    for tz_name, lang, count in rows:
        name = tz_name or settings.office_timezone
        group = by_zone.setdefault(name, _Group(zone(name, settings.office_timezone), 0, 0, start))
        group.recipients += count
        group.segments += count * max(1, segments_by_language.get(lang, 1))
        plan.recipients += count
        plan.segments += count * max(1, segments_by_language.get(lang, 1))
    if not plan.recipients:
        return plan
    plan.queued_ahead = _queued_ahead(start, safety_check, alert_id)

    def hold(group: _Group, at: datetime) -> bool:
        """Quiet hours at ``at`` in the group's zone: it waits (or, past the expiry, is skipped)."""
        if quiet is None:
            return False
        ends = quiet.ends_at(at, group.tz)
        if ends is None:
            return False
        if ends >= expires_at:
            plan.expire_unsent += round(group.recipients)
            group.recipients = group.segments = 0
        else:
            if not group.waited:
                plan.waiting += round(group.recipients)
                group.waited = True
            plan.waiting_until = max(plan.waiting_until or ends, ends)
            group.eligible = ends
        return True

    for group in by_zone.values():
        hold(group, start)
    groups = [g for g in by_zone.values() if g.segments]
    t = start + timedelta(seconds=plan.queued_ahead / effective)
    for _step in range(MAX_STEPS):
        if not groups:
            break
        if t >= expires_at:
            plan.expire_unsent += sum(round(g.recipients) for g in groups)
            groups = []
            break
        for group in [g for g in groups if g.eligible <= t]:
            hold(group, t)
        groups = [g for g in groups if g.segments]
        ready = [g for g in groups if g.eligible <= t]
        if not ready:
            if groups:
                t = max(t, min(g.eligible for g in groups))
            continue
        edges = [expires_at, *(g.eligible for g in groups if g.eligible > t)]
        if quiet is not None:
            edges += [_next_quiet_start(quiet, t, g.tz) for g in ready]
        until = min(edges)
        capacity = effective * (until - t).total_seconds()
        ready.sort(key=lambda g: g.eligible)
        for group in ready:
            if capacity <= 0:
                break
            if plan.first_at is None:
                plan.first_at = t
            if group.segments <= capacity:
                t += timedelta(seconds=group.segments / effective)
                capacity -= group.segments
                group.segments = group.recipients = 0
                plan.last_at = t
            else:
                share = capacity / group.segments
                group.recipients -= group.recipients * share
                group.segments -= capacity
                capacity = 0
                t = plan.last_at = until
        groups = [g for g in groups if g.segments]
        if capacity > 0 and groups:
            t = until
    else:  # pragma: no cover - the bound is far beyond any real plan
        plan.expire_unsent += sum(round(g.recipients) for g in groups)
    if rate > provider:
        # We submit faster than the provider sends: the difference piles up in its queue.
        submitted = plan.segments + plan.queued_ahead
        peak = submitted * (1 - provider / rate)
        plan.provider_queue_hours = peak / provider / 3600
    return plan
