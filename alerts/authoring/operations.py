"""Alert operations: the only code that creates alerts or moves them through their life.

``draft → pending_approval → scheduled → sending → sent``, or ``cancelled`` from any state before
``sent``. Each operation checks all of its input (``alerts.authoring.validation``) before it
touches a row (a refusal leaves nothing half-written), writes, flushes and records an audit entry
without personal data; the caller commits once. The fan-out itself (``scheduled → sending``) is
``alerts.targeting.fan_out``; the dispatcher moves ``sending → sent``.

Two-person rule: an alert is approved by a coordinator who neither wrote it nor edited it last.
A recurring alert is a template (its schedule, ``alerts.authoring.recurrence``): it is approved
once, is never sent itself, and each run is a copy (``spawn_occurrence``) that inherits the
approval.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _

import i18n
from alerts.authoring.recurrence import TINY, as_utc, office_zone, schedule_of
from alerts.authoring.text_input import clean_block, clean_line, is_blank
from alerts.authoring.validation import (
    MAX_HEADLINE,
    MAX_REASON,
    AlertInputError,
    AreaInput,
    Check,
    check_alert_fields,
    clean_input,
)
from alerts.events import announce_alert
from alerts.models import (
    Alert,
    AlertArea,
    AlertState,
    AlertText,
    AreaShape,
    CapMsgType,
    Delivery,
    DeliveryState,
)
from consular.audit.operations import record
from consular.auth.models import Role, User
from consular.db import db, utcnow
from consular.validation import clean_text, too_long_message
from consular.validation import message as refused_text_message

OCCURRENCE_VALIDITY = timedelta(hours=24)

# States in which an alert may still be cancelled, and in which it may still be edited.
CANCELLABLE = (AlertState.draft, AlertState.pending_approval, AlertState.scheduled, AlertState.sending)
EDITABLE = (AlertState.draft, AlertState.pending_approval)


class AlertActionRefused(ValueError):
    """An action the alert's state or the user's role does not allow; the message is for the user
    and ``status_code`` is the HTTP answer (403 wrong person, 409 wrong state)."""

    def __init__(self, message: str, status_code: int = 409) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code


# --- small helpers -----------------------------------------------------------------------------


def new_identifier(now: datetime | None = None) -> str:
    """A CAP identifier: unique, no spaces, commas or reserved characters."""
    moment = (now or utcnow()).astimezone(UTC)
    return f"consular-{moment:%Y%m%d}-{secrets.token_hex(5)}"


def audience_list(alert: Alert) -> list[str]:
    return [kind for kind in alert.audience_kinds.split(",") if kind]


def text_for(alert: Alert, language: str) -> AlertText | None:
    return next((t for t in alert.texts if t.language == language), None)


def text_fields(text: AlertText) -> dict[str, str]:
    """A stored text as the operations take it."""
    return {"headline": text.headline, "body": text.body, "instruction": text.instruction,
            "event": text.event}


# --- the runs of a recurring alert -------------------------------------------------------------


def next_fire_time(alert: Alert, now: datetime) -> datetime | None:
    """When the recurring ``alert`` next needs an occurrence: the latest run not yet spawned that
    is due (runs missed while no worker ran are coalesced into that one), else the next future
    run; None when the alert does not recur, is not approved, or its series has ended."""
    schedule = schedule_of(alert)
    if schedule is None or alert.state != AlertState.scheduled:
        return None
    trigger = schedule.trigger()
    last = db.session.scalar(sa.select(sa.func.max(Alert.send_at)).where(Alert.parent_id == alert.id))
    start = alert.send_at or alert.approved_at or alert.created_at
    lower = max(start, last + TINY) if last is not None else start
    candidate = trigger.get_next_fire_time(None, lower)
    if candidate is None or candidate > alert.expires_at:
        return None
    for _step in range(10_000):  # bounded: a minute-level series over a long outage
        following = trigger.get_next_fire_time(None, candidate + TINY)
        if following is None or following > now or following > alert.expires_at:
            break
        candidate = following
    return as_utc(candidate)


def occurrence_expiry(template: Alert, fire_time: datetime) -> datetime:
    """A run stays valid until the next run, for a day at most, and never past the series' end."""
    ends = [fire_time + OCCURRENCE_VALIDITY, template.expires_at]
    schedule = schedule_of(template)
    if schedule is not None:
        following = schedule.trigger().get_next_fire_time(None, fire_time + TINY)
        if following is not None:
            ends.append(as_utc(following))
    return min(ends)


def recurrence_input(alert: Alert) -> dict[str, Any] | str | None:
    """The alert's schedule as the checks take it (a rule's values, or an older crontab)."""
    schedule = schedule_of(alert)
    return schedule.as_input() if schedule is not None else None


# --- writing ------------------------------------------------------------------------------------


def sync_texts(rows: list[Any], texts: Mapping[str, Mapping[str, str]],
               new_row: Callable[..., Any]) -> None:
    """Make ``rows`` (an alert's or a template's texts, one a language) hold ``texts``: a language
    no longer given loses its row, one already there is changed in place, a new one gets a
    ``new_row(language=…, **fields)``."""
    existing = {row.language: row for row in rows}
    for lang, row in existing.items():
        if lang not in texts:
            rows.remove(row)
    for lang, fields in texts.items():
        row = existing.get(lang)
        if row is None:
            rows.append(new_row(language=lang, **fields))
        else:
            for key, value in fields.items():
                setattr(row, key, value)


def _apply(alert: Alert, values: Mapping[str, Any], texts: Mapping[str, Mapping[str, str]],
           areas: Iterable[AreaInput]) -> None:
    for key, value in values.items():
        setattr(alert, key, value)
    sync_texts(alert.texts, texts, AlertText)
    alert.areas.clear()
    for area in areas:
        alert.areas.append(AlertArea(country_code=area.country_code, city=area.city,
                                     shape=AreaShape(area.shape), latitude=area.latitude,
                                     longitude=area.longitude, radius_km=area.radius_km,
                                     polygon=area.polygon))


def area_input(area: AlertArea) -> AreaInput:
    """A saved area as input again (an update or a copy starts from it)."""
    return AreaInput.of(area)


def _summary(alert: Alert) -> dict[str, Any]:
    """What the audit trail keeps of an alert: its shape, never its recipients."""
    return {
        "identifier": alert.identifier,
        "status": str(alert.status),
        "msg_type": str(alert.msg_type),
        "languages": sorted(t.language for t in alert.texts),
        "countries": sorted({a.country_code for a in alert.areas if a.country_code}),
        "send_at": alert.send_at.isoformat() if alert.send_at else None,
        "recurrence": str(alert.recurrence_kind) if alert.recurs else None,
        "schedule": alert.recurrence_rule or alert.recurrence,
    }


def _require_coordinator(user: User) -> None:
    if user.role != Role.coordinator or not user.active:
        raise AlertActionRefused(_("Only coordinators may work on alerts."), 403)


def create_alert(data: Mapping[str, Any], texts: Mapping[str, Mapping[str, str]],
                 areas: Sequence[Mapping[str, str] | AreaInput], *, user: User,
                 msg_type: CapMsgType = CapMsgType.Alert, references: Alert | None = None) -> Alert:
    """A new draft alert written by ``user``."""
    _require_coordinator(user)
    values, clean_texts, clean_areas = clean_input(data, texts, areas, msg_type=msg_type)
    now = utcnow()
    alert = Alert(identifier=new_identifier(now), state=AlertState.draft, msg_type=msg_type,
                  references_id=references.id if references is not None else None,
                  author_id=user.id, last_edited_by_id=user.id, created_at=now)
    _apply(alert, values, clean_texts, clean_areas)
    db.session.add(alert)
    db.session.flush()
    record("alert.create", "alert", alert.id, _summary(alert), user=user)
    return alert


def update_alert(alert: Alert, data: Mapping[str, Any], texts: Mapping[str, Mapping[str, str]],
                 areas: Sequence[Mapping[str, str] | AreaInput], *, user: User) -> Alert:
    """Change a draft, or an alert waiting for approval (which then goes back to draft: what was
    to be approved is no longer what is written)."""
    _require_coordinator(user)
    if alert.state not in EDITABLE:
        raise AlertActionRefused(_("Only a draft or an alert waiting for approval can be changed. "
                                   "Write an update instead."))
    values, clean_texts, clean_areas = clean_input(data, texts, areas, msg_type=alert.msg_type)
    was = alert.state
    _apply(alert, values, clean_texts, clean_areas)
    alert.state = AlertState.draft
    alert.submitted_at = None
    alert.last_edited_by_id = user.id
    db.session.flush()
    record("alert.update", "alert", alert.id,
           {**_summary(alert), "returned_to_draft": was == AlertState.pending_approval}, user=user)
    return alert


def current_input(alert: Alert) -> tuple[dict[str, Any], dict[str, dict[str, str]], list[AreaInput]]:
    """A stored alert as the operations take it again (its fields, texts and areas): what a check
    of the alert as it stands, or a change of some of its fields, starts from."""
    data = {
        "status": alert.status.value, "category": alert.category.value, "event": alert.event,
        "urgency": alert.urgency.value, "severity": alert.severity.value,
        "certainty": alert.certainty.value, "base_language": alert.base_language,
        "audience_kinds": audience_list(alert), "present_only": alert.present_only,
        "public": alert.public, "safety_check": alert.safety_check,
        "safety_check_minutes": alert.safety_check_minutes,
        "resend_unanswered": alert.resend_unanswered,
        "ladder_call_minutes": alert.ladder_call_minutes, "ladder_kin_minutes": alert.ladder_kin_minutes,
        "ladder_visit_minutes": alert.ladder_visit_minutes, "send_at": alert.send_at,
        "expires_at": alert.expires_at, "recurrence": recurrence_input(alert),
        "place": alert.place, "event_time": alert.event_time,
    }
    texts = {t.language: text_fields(t) for t in alert.texts}
    areas = [area_input(a) for a in alert.areas]
    return data, texts, areas


def _recheck(alert: Alert) -> None:
    """Validate a stored alert again (a draft can age: its send time or expiry may have passed)."""
    data, texts, areas = current_input(alert)
    clean_input(data, texts, areas, msg_type=alert.msg_type)
    if alert.msg_type != CapMsgType.Alert:
        _check_not_the_original(texts, alert.references)


def submit_for_approval(alert: Alert, *, user: User) -> Alert:
    _require_coordinator(user)
    if alert.state != AlertState.draft:
        raise AlertActionRefused(_("Only a draft can be sent for approval."))
    _recheck(alert)
    alert.state = AlertState.pending_approval
    alert.submitted_at = utcnow()
    alert.review_note = ""
    db.session.flush()
    record("alert.submit", "alert", alert.id, {"identifier": alert.identifier}, user=user)
    announce_alert("alert.submitted", alert)
    return alert


def may_approve(alert: Alert, user: User) -> bool:
    return (user.role == Role.coordinator and user.active
            and user.id not in {alert.author_id, alert.last_edited_by_id})


def _require_reviewer(alert: Alert, user: User, *, not_waiting: str, own_alert: str) -> None:
    """Approving and sending back alike: by a coordinator, of an alert waiting for approval, that
    they neither wrote nor last changed (two-person rule); each refusal in the action's words."""
    _require_coordinator(user)
    if alert.state != AlertState.pending_approval:
        raise AlertActionRefused(not_waiting)
    if not may_approve(alert, user):
        raise AlertActionRefused(own_alert, 403)


def approve(alert: Alert, *, user: User) -> Alert:
    """Approve for sending. The approver is a coordinator who neither wrote nor last edited it."""
    _require_reviewer(alert, user, not_waiting=_("Only an alert waiting for approval can be approved."),
                      own_alert=_("You wrote or last changed this alert: another coordinator must "
                                  "approve it (two-person rule)."))
    empty = [text.language for text in alert.texts if is_blank(text.headline) or is_blank(text.body)]
    if not alert.texts or empty:
        raise AlertActionRefused(_(
            "This alert cannot be approved: its text in %(languages)s is empty. Send it back to its "
            "author to write it.", languages=", ".join(i18n.language_name(lang) for lang in empty)
            or i18n.language_name(alert.base_language)))
    now = utcnow()
    if alert.expires_at <= now:
        raise AlertActionRefused(_("This alert has expired. Edit its expiry, then ask for approval "
                                   "again."))
    if alert.msg_type != CapMsgType.Alert:
        _check_not_the_original({t.language: text_fields(t) for t in alert.texts}, alert.references)
    alert.approver_id = user.id
    alert.approved_at = now
    alert.state = AlertState.scheduled
    if alert.send_at is None:
        alert.send_at = now
    db.session.flush()
    record("alert.approve", "alert", alert.id,
           {"identifier": alert.identifier, "send_at": alert.send_at.isoformat()}, user=user)
    announce_alert("alert.approved", alert, break_glass=False, send_at=alert.send_at)
    if alert.msg_type == CapMsgType.Cancel and alert.references is not None \
            and alert.references.state in (AlertState.scheduled, AlertState.sending):
        _cancel(alert.references, user=user, reason=f"cancel notice {alert.identifier}")
    return alert


def reject(alert: Alert, *, user: User, reason: str) -> Alert:
    """Send an alert waiting for approval back to its author, saying why."""
    _require_reviewer(alert, user, not_waiting=_("Only an alert waiting for approval can be sent back."),
                      own_alert=_("You wrote or last changed this alert: change it instead of "
                                  "sending it back."))
    note = checked_reason(reason)
    alert.state = AlertState.draft
    alert.submitted_at = None
    alert.review_note = note
    db.session.flush()
    record("alert.reject", "alert", alert.id, {"identifier": alert.identifier}, user=user)
    return alert


def checked_reason(reason: Any, *, field: str = "reason", missing: str | None = None) -> str:
    """A reason a coordinator gives (for sending back, cancelling, break-glass): not blank, plain
    text, at most ``MAX_REASON`` characters; else ``AlertInputError`` on ``field``, with ``missing``
    (or "Say why, in a few words.") when nothing is said."""
    if not isinstance(reason, str) or not clean_line(reason):
        raise AlertInputError({field: missing or _("Say why, in a few words.")})
    value = clean_text(reason)
    if value is None:
        raise AlertInputError({field: refused_text_message()})
    if len(value) > MAX_REASON:
        raise AlertInputError({field: too_long_message(MAX_REASON)})
    return value


def stop_remaining_deliveries(alert: Alert, now: datetime, reason: str = "cancelled") -> int:
    """Skip, in one UPDATE, every delivery of ``alert`` not yet handed to the provider."""
    result = db.session.execute(
        sa.update(Delivery)
        .where(Delivery.alert_id == alert.id,
               sa.or_(Delivery.state.in_((DeliveryState.pending, DeliveryState.deferred)),
                      sa.and_(Delivery.state == DeliveryState.claimed,
                              Delivery.provider_id.is_(None),
                              Delivery.submitted_at.is_(None))))
        .values(state=DeliveryState.skipped, skip_reason=reason, final_at=now, lease_until=None)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def _cancel(alert: Alert, *, user: User, reason: str) -> int:
    now = utcnow()
    stopped = stop_remaining_deliveries(alert, now)
    was = alert.state
    alert.state = AlertState.cancelled
    alert.cancelled_at = now
    alert.cancelled_by_id = user.id
    alert.cancel_reason = reason[:MAX_REASON]
    alert.fanout_after = None  # a fan-out still under way plans no more
    if alert.fanned_out_at is not None and alert.finished_at is None:
        alert.finished_at = now
    db.session.flush()
    record("alert.cancel", "alert", alert.id,
           {"identifier": alert.identifier, "was": str(was), "deliveries_stopped": stopped}, user=user)
    announce_alert("alert.cancelled", alert, reason=alert.cancel_reason, was=str(was))
    if alert.recurs:
        # Cancelling a series also cancels its runs that have not started.
        runs = db.session.scalars(sa.select(Alert).where(
            Alert.parent_id == alert.id, Alert.state == AlertState.scheduled)).all()
        for run in runs:
            _cancel(run, user=user, reason=reason)
    return stopped


def cancel(alert: Alert, *, user: User, reason: str) -> int:
    """Cancel at any time before the alert is done. During a send, every delivery not yet handed
    to the provider is skipped at once (the dispatcher also checks the alert before each send).
    Returns how many deliveries were stopped."""
    _require_coordinator(user)
    note = checked_reason(reason)
    if alert.state not in CANCELLABLE:
        raise AlertActionRefused(_("This alert has already been sent or cancelled."))
    return _cancel(alert, user=user, reason=note)


def _derived(alert: Alert, msg_type: CapMsgType, user: User) -> Alert:
    _require_coordinator(user)
    if alert.msg_type == CapMsgType.Cancel:
        raise AlertActionRefused(_("A cancel notice cannot be updated or cancelled."))
    if alert.fanned_out_at is None or alert.recurs:
        raise AlertActionRefused(_("Only an alert that has gone out can be updated or withdrawn; "
                                   "change or cancel this one instead."))
    now = utcnow()
    data: dict[str, Any] = {
        "status": alert.status.value, "category": alert.category.value, "event": alert.event,
        "urgency": alert.urgency.value, "severity": alert.severity.value,
        "certainty": alert.certainty.value, "base_language": alert.base_language,
        "audience_kinds": audience_list(alert), "present_only": alert.present_only,
        "public": alert.public, "safety_check": False,
        "expires_at": max(alert.expires_at, now + timedelta(hours=24)),
        "place": alert.place, "event_time": alert.event_time,
    }
    texts = _derived_texts(alert, msg_type)
    areas = [area_input(a) for a in alert.areas]
    # The copy is a draft to be rewritten; only a too-long text would fail, so skip the length check
    # by building the row directly after validating the rest.
    check = Check(now)
    check_alert_fields(check, data, msg_type)
    if check.errors:
        raise AlertInputError(check.errors)
    new = Alert(identifier=new_identifier(now), state=AlertState.draft, msg_type=msg_type,
                references_id=alert.id, author_id=user.id, last_edited_by_id=user.id, created_at=now)
    _apply(new, check.out, texts, areas)
    db.session.add(new)
    db.session.flush()
    record("alert.create", "alert", new.id, {**_summary(new), "references": alert.identifier},
           user=user)
    return new


def _derived_texts(alert: Alert, msg_type: CapMsgType) -> dict[str, dict[str, str]]:
    """The first draft of an update or a cancel notice, in each language of the original. Its
    headline is the original's: every message of it opens with the [UPDATE] or [CANCELLED] marker in
    its language (``alerts.channels.sms.texts.kind_marker``), so the headline need not say it again. A
    cancel notice's message, from the ``sms`` catalog, names the day of the original and says it is
    withdrawn (it can go out as it is); an update's message is the original's, to be rewritten (sent
    unchanged it would say nothing new, and is refused: ``_check_not_the_original``)."""
    from alerts.authoring.compose import typical_zones
    from alerts.channels.sms import texts as catalog
    from alerts.targeting import Target

    zones = typical_zones(Target.of(alert))
    office = str(office_zone())
    sent_at = alert.fanned_out_at or alert.send_at or alert.approved_at or utcnow()
    out: dict[str, dict[str, str]] = {}
    for text in alert.texts:
        if msg_type == CapMsgType.Cancel:
            _headline, body = catalog.cancel_notice(text.language, text.headline, sent_at,
                                                    zones.get(text.language, office), limit=MAX_HEADLINE)
            out[text.language] = {"headline": text.headline, "body": body, "instruction": "",
                                  "event": text.event}
        else:
            out[text.language] = text_fields(text)
    return out


def _check_not_the_original(texts: Mapping[str, Mapping[str, str]], original: Alert | None) -> None:
    """An update or cancel notice whose message in a language is the original's, word for word,
    tells its readers nothing: refused, per language (the headline alone does not count)."""
    if original is None:
        return
    errors: dict[str, str] = {}
    for text in original.texts:
        mine = texts.get(text.language)
        if mine is None:
            continue
        said = (clean_block(mine.get("body", "")), clean_block(mine.get("instruction", "")))
        if said == (clean_block(text.body), clean_block(text.instruction)):
            errors[f"texts.{text.language}.body"] = _(
                "In %(language)s this is the original alert's message, word for word: say what has "
                "changed, or that the alert is withdrawn.", language=i18n.language_name(text.language))
    if errors:
        raise AlertInputError(errors)


def create_update(alert: Alert, *, user: User) -> Alert:
    """A draft Update of an alert that has gone out, prefilled with its texts and areas."""
    return _derived(alert, CapMsgType.Update, user)


def create_cancel_notice(alert: Alert, *, user: User) -> Alert:
    """A draft Cancel notice withdrawing an alert that has gone out; once approved it also stops
    what is left of the original's send."""
    return _derived(alert, CapMsgType.Cancel, user)


def spawn_occurrence(template: Alert, fire_time: datetime) -> Alert:
    """The run of a recurring alert at ``fire_time``: a scheduled copy (texts, areas, approval)
    that the dispatcher fans out like any alert. Safe to call twice: the same run is returned."""
    if not template.recurs or template.state != AlertState.scheduled:
        raise AlertActionRefused("not an approved recurring alert")
    fire_time = as_utc(fire_time).replace(microsecond=0)
    existing = db.session.scalar(sa.select(Alert).where(Alert.parent_id == template.id,
                                                        Alert.send_at == fire_time))
    if existing is not None:
        return existing
    now = utcnow()
    run = Alert(
        identifier=new_identifier(fire_time), state=AlertState.scheduled, status=template.status,
        msg_type=CapMsgType.Alert, parent_id=template.id, category=template.category,
        event=template.event, urgency=template.urgency, severity=template.severity,
        certainty=template.certainty, base_language=template.base_language,
        audience_kinds=template.audience_kinds, present_only=template.present_only,
        public=template.public, safety_check=template.safety_check,
        safety_check_minutes=template.safety_check_minutes,
        resend_unanswered=template.resend_unanswered, ladder_call_minutes=template.ladder_call_minutes,
        ladder_kin_minutes=template.ladder_kin_minutes, ladder_visit_minutes=template.ladder_visit_minutes,
        send_at=fire_time,
        expires_at=occurrence_expiry(template, fire_time),
        author_id=template.author_id, last_edited_by_id=template.last_edited_by_id,
        approver_id=template.approver_id, submitted_at=template.submitted_at, approved_at=now,
        created_at=now, template_id=template.template_id, place=template.place,
        event_time=template.event_time,
    )
    for text in template.texts:
        run.texts.append(AlertText(language=text.language, **text_fields(text)))
    for area in template.areas:
        run.areas.append(AlertArea(country_code=area.country_code, city=area.city, shape=area.shape,
                                   latitude=area.latitude, longitude=area.longitude,
                                   radius_km=area.radius_km, polygon=area.polygon))
    try:
        with db.session.begin_nested():
            db.session.add(run)
            db.session.flush()
    except sa.exc.IntegrityError:
        # Another worker spawned the same run a moment ago.
        existing = db.session.scalar(sa.select(Alert).where(Alert.parent_id == template.id,
                                                            Alert.send_at == fire_time))
        if existing is None:
            raise
        return existing
    record("alert.occurrence", "alert", run.id,
           {"identifier": run.identifier, "template": template.identifier,
            "send_at": fire_time.isoformat()}, username="scheduler")
    return run


def office_date(moment: datetime) -> date:
    return moment.astimezone(office_zone()).date()
