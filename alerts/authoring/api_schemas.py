"""Marshmallow schemas of the alerts API (``alerts.authoring.api``): the shapes of its query string
and bodies for the OpenAPI document, and the answers, which are dumped through these schemas so
that what the document says is what the API sends.

The bodies are checked by ``alerts.authoring.operations`` (``validation.clean_input``), the same
checks as the compose page's: the schemas here describe those values rather than load them, so the
rules live in one place and every problem is named per field at once.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields

from alerts.authoring import validation
from alerts.channels.sms.texts import SMS_LOCALES
from alerts.models import (
    AlertState,
    AreaShape,
    CapCategory,
    CapCertainty,
    CapMsgType,
    CapSeverity,
    CapStatus,
    CapUrgency,
    DeliveryState,
    NotSentReason,
    ReplyKind,
)
from consular.api_fields import Bool, Choice, Country, Int, Items, Text, _n, page_of
from consular.registry.models import RegistrantKind

LIST_STATES = [*(s.value for s in AlertState), "break_glass"]
MOMENT = {"format": "date-time", "description": "ISO 8601 with its offset, e.g. "
                                               "2026-03-01T09:00:00+01:00."}


def _moment(description: str = "") -> fields.Field:
    help_ = {**MOMENT, "description": f"{description} {MOMENT['description']}".strip()}
    return _n(fields.String(metadata=help_))


# --- query string and bodies --------------------------------------------------------------------


class AlertListQuery(Schema):
    """The list's filters (a bad value answers 400 naming it)."""

    state = Choice(LIST_STATES, metadata={
        "description": "Where the alert is in its life; `break_glass`: sent by break-glass and not "
                       "yet reviewed."})
    status = Choice(CapStatus, metadata={"description": "CAP status: Actual, Exercise (a drill) or "
                                                        "Test."})
    kind = Choice(CapMsgType, metadata={"description": "An alert, an update or a cancel notice."})
    created_from = fields.String(metadata={"format": "date", "description": "Written on or after "
                                                                            "this day (UTC)."})
    created_until = fields.String(metadata={"format": "date", "description": "Written on or before "
                                                                             "this day (UTC)."})
    limit = Int(1, 200)
    offset = Int(0, 1_000_000_000)


class AlertDeliveryListQuery(Schema):
    state = Choice(DeliveryState)
    limit = Int(1, 200)
    offset = Int(0, 1_000_000_000)


class AlertTextIn(Schema):
    """The alert in one language. Placeholders such as {place} and {time} are filled per recipient."""

    headline = Text(validation.MAX_HEADLINE, required=True)
    body = Text(validation.MAX_BODY_CHARS, required=True, metadata={
        "description": "The message; with the footer it must fit in "
                       f"{validation.MAX_SEGMENTS} SMS segments."})
    instruction = Text(validation.MAX_INSTRUCTION)
    event = Text(validation.MAX_EVENT, metadata={"description": "CAP's <event> in this language."})


class AlertAreaIn(Schema):
    """A country (with a city, or all of it), a circle or a polygon."""

    shape = Choice(AreaShape, metadata={"description": "Default `place`."})
    country_code = _n(Country(metadata={"description": "Required for a place; for a circle or a "
                                                       "polygon, found from its position when "
                                                       "empty."}))
    city = Text(validation.MAX_CITY, metadata={
        "description": "A place: only registrants in this city (empty: the whole country). A "
                       "circle: its centre, from the city index, when no coordinates are given."})
    latitude = _n(fields.Float(metadata={"minimum": -90, "maximum": 90}))
    longitude = _n(fields.Float(metadata={"minimum": -180, "maximum": 180}))
    radius_km = _n(fields.Float(metadata={"minimum": 0, "description": "A circle's radius."}))
    polygon = fields.Raw(metadata={
        "description": "A polygon's vertices: `lat,lon lat,lon …` (CAP's form) or a list of "
                       "[latitude, longitude] pairs; at least three."})


class _AlertFields(Schema):
    status = Choice(CapStatus, metadata={"description": "Default Actual; Exercise marks every "
                                                        "message as a drill."})
    category = Choice(CapCategory)
    event = Text(validation.MAX_EVENT, metadata={"description": "What happened, e.g. Earthquake "
                                                               "(required unless a template gives "
                                                               "it)."})
    urgency = Choice(CapUrgency)
    severity = Choice(CapSeverity)
    certainty = Choice(CapCertainty)
    base_language = Choice(SMS_LOCALES, metadata={
        "description": "The text every recipient without one in their own language gets."})
    audience_kinds = Items(Choice(RegistrantKind), max_items=len(RegistrantKind), metadata={
        "description": "Only these groups of registrants (none or all: everyone)."})
    present_only = Bool(metadata={"description": "Only those whose stay dates say they are there "
                                                 "now."})
    public = Bool(metadata={"description": "Listed in the public feed once issued."})
    safety_check = Bool(metadata={"description": "Ask \"1 safe / 2 need help\"."})
    safety_check_minutes = _n(Int(validation.SAFETY_MINUTES[0], validation.SAFETY_MINUTES[1],
                                  metadata={"description": "Unanswered after these minutes: on "
                                                           "the call round."}))
    resend_unanswered = Bool(metadata={"description": "Send once more to whoever has not "
                                                      "answered the safety check."})
    ladder_call_minutes = _n(Int(*validation.LADDER_MINUTES, metadata={
        "description": "The ladder: minutes after the reminder before a voice call to whoever is "
                       "still silent (0: no call; left out: LADDER_CALL_MINUTES)."}))
    ladder_kin_minutes = _n(Int(*validation.LADDER_MINUTES, metadata={
        "description": "Minutes after the call before an SMS to the next of kin (0: none; left "
                       "out: LADDER_KIN_MINUTES)."}))
    ladder_visit_minutes = _n(Int(*validation.LADDER_MINUTES, metadata={
        "description": "Minutes after the next of kin before a welfare-visit case for the nearest "
                       "station (0: none; left out: LADDER_VISIT_MINUTES)."}))
    send_at = _moment("When to send (null: as soon as it is approved).")
    expires_at = _moment("When it expires (default on create: in 24 hours).")
    recurrence = fields.Raw(metadata={
        "description": "A schedule for a recurring alert (the compose page's rule: kind, time, "
                       "weekdays, day, month, holiday, days_before, until), or null."})
    place = Text(validation.MAX_PLACE, metadata={"description": "Fills {place}."})
    event_time = _moment("Fills {time}.")
    texts = fields.Dict(keys=Choice(SMS_LOCALES), values=fields.Nested(AlertTextIn), metadata={
        "description": "The alert per language (an SMS locale → its text)."})
    areas = Items(fields.Nested(AlertAreaIn), max_items=validation.MAX_AREAS)


class AlertCreateIn(_AlertFields):
    """A new draft. With ``template_id`` the template's CAP presets, safety check and every
    language's text are the defaults; what the body gives replaces them."""

    template_id = _n(Int(metadata={"description": "Write it from this template of the library."}))


class AlertUpdateIn(_AlertFields):
    """A draft (or an alert waiting for approval, which goes back to draft) changed: only the
    fields sent change; ``texts`` and ``areas``, when sent, replace the alert's."""

    expected_version = _n(Int(metadata={"description": "The version read; another answers 409."}))


class AlertReasonIn(Schema):
    reason = Text(validation.MAX_REASON, required=True)


class BreakGlassReviewIn(Schema):
    note = Text(validation.MAX_REASON, metadata={"description": "What the reviewer found."})


# --- answers --------------------------------------------------------------------------------------


class AlertTextOut(Schema):
    headline = fields.String(required=True)
    body = fields.String(required=True)
    instruction = fields.String(required=True)
    event = fields.String(required=True)


class AlertAreaOut(Schema):
    shape = Choice(AreaShape, required=True)
    country_code = fields.String(required=True)
    city = fields.String(required=True)
    latitude = _n(fields.Float(required=True))
    longitude = _n(fields.Float(required=True))
    radius_km = _n(fields.Float(required=True))
    polygon = _n(fields.String(required=True, metadata={"description": "`lat,lon lat,lon …`."}))


class BreakGlassOut(Schema):
    by_id = fields.Integer(required=True)
    at = fields.DateTime(required=True)
    reason = fields.String(required=True)
    review_due_at = _n(fields.DateTime(required=True))
    reviewed_by_id = _n(fields.Integer(required=True))
    reviewed_at = _n(fields.DateTime(required=True))
    review_note = fields.String(required=True)


class AlertLinksOut(Schema):
    self_ = fields.String(required=True, data_key="self")
    progress = fields.String(required=True)
    page = fields.String(required=True, metadata={"description": "The alert's page for people."})
    cap = fields.String(required=True, metadata={"description": "The CAP 1.2 document."})


class AlertOut(Schema):
    """One alert as the API answers it (every read, and every write's answer)."""

    id = fields.Integer(required=True)
    identifier = fields.String(required=True, metadata={"description": "CAP identifier."})
    state = Choice(AlertState, required=True)
    status = Choice(CapStatus, required=True)
    msg_type = Choice(CapMsgType, required=True)
    references_id = _n(fields.Integer(required=True, metadata={
        "description": "An update or cancel notice: the alert it is about."}))
    parent_id = _n(fields.Integer(required=True, metadata={
        "description": "A run of a recurring alert: that alert."}))
    template_id = _n(fields.Integer(required=True))
    category = Choice(CapCategory, required=True)
    event = fields.String(required=True)
    urgency = Choice(CapUrgency, required=True)
    severity = Choice(CapSeverity, required=True)
    certainty = Choice(CapCertainty, required=True)
    base_language = fields.String(required=True)
    audience_kinds = fields.List(fields.String(), required=True)
    present_only = fields.Boolean(required=True)
    public = fields.Boolean(required=True)
    safety_check = fields.Boolean(required=True)
    safety_check_minutes = _n(fields.Integer(required=True))
    resend_unanswered = fields.Boolean(required=True)
    ladder_call_minutes = _n(fields.Integer(required=True))
    ladder_kin_minutes = _n(fields.Integer(required=True))
    ladder_visit_minutes = _n(fields.Integer(required=True))
    send_at = _n(fields.DateTime(required=True))
    expires_at = fields.DateTime(required=True)
    recurrence = fields.Raw(required=True, allow_none=True, metadata={
        "nullable": True, "description": "The schedule's rule, an older alert's crontab, or null."})
    place = fields.String(required=True)
    event_time = _n(fields.DateTime(required=True))
    texts = fields.Dict(keys=fields.String(), values=fields.Nested(AlertTextOut), required=True)
    areas = fields.List(fields.Nested(AlertAreaOut), required=True)
    author_id = _n(fields.Integer(required=True))
    last_edited_by_id = _n(fields.Integer(required=True))
    approver_id = _n(fields.Integer(required=True))
    created_at = fields.DateTime(required=True)
    submitted_at = _n(fields.DateTime(required=True))
    approved_at = _n(fields.DateTime(required=True))
    fanned_out_at = _n(fields.DateTime(required=True))
    finished_at = _n(fields.DateTime(required=True))
    cancelled_at = _n(fields.DateTime(required=True))
    cancel_reason = fields.String(required=True)
    review_note = fields.String(required=True, metadata={"description": "Why it was sent back."})
    planned_count = fields.Integer(required=True)
    not_sent_reason = _n(Choice(NotSentReason, required=True))
    break_glass = _n(fields.Nested(BreakGlassOut, required=True))
    version = fields.Integer(required=True)
    may_approve = fields.Boolean(required=True, metadata={
        "description": "The caller may approve it (two-person rule) once it waits for approval."})
    links = fields.Nested(AlertLinksOut, required=True)


AlertPage = page_of(AlertOut)


class AlertCountsOut(Schema):
    planned = fields.Integer(required=True)
    pending = fields.Integer(required=True)
    deferred = fields.Integer(required=True)
    sent = fields.Integer(required=True)
    delivered = fields.Integer(required=True)
    failed = fields.Integer(required=True)
    skipped = fields.Integer(required=True)
    opted_out = fields.Integer(required=True)
    done = fields.Integer(required=True)


class AlertNamedCountsOut(AlertCountsOut):
    code = fields.String(required=True)
    name = fields.String(required=True)


class AlertRepliesOut(Schema):
    safe = fields.Integer(required=True)
    need_help = fields.Integer(required=True)
    unknown_ = fields.Integer(required=True, data_key="unknown", attribute="unknown")
    none = fields.Integer(required=True, metadata={"description": "Sent to, no answer yet."})
    unreached = fields.Integer(required=True, metadata={
        "description": "No answer; the last attempt (the message, or the ladder's call) did not reach them."})
    call_no_answer = fields.Integer(required=True, metadata={"description": "Phoned: no answer."})
    call_wrong_number = fields.Integer(required=True, metadata={"description": "Phoned: a wrong number."})
    call_message_left = fields.Integer(required=True, metadata={"description": "Phoned: a message left."})


class AlertSkippedOut(Schema):
    code = fields.String(required=True)
    label = fields.String(required=True)
    count = fields.Integer(required=True)


class AlertProgressOut(Schema):
    """The progress page's figures (``alerts.authoring.progress``), labels in the caller's language."""

    state = Choice(AlertState, required=True)
    state_label = fields.String(required=True)
    not_sent_reason = fields.String(required=True)
    not_sent_text = fields.String(required=True)
    skipped_reasons = fields.List(fields.Nested(AlertSkippedOut), required=True)
    finished = fields.Boolean(required=True)
    percent = fields.Integer(required=True, metadata={"minimum": 0, "maximum": 100})
    totals = fields.Nested(AlertCountsOut, required=True)
    replies = fields.Nested(AlertRepliesOut, required=True)
    safety_check = fields.Boolean(required=True)
    eta_seconds = fields.Float(required=True)
    eta_text = fields.String(required=True)
    deferred_until = fields.String(required=True)
    by_language = fields.List(fields.Nested(AlertNamedCountsOut), required=True)
    by_country = fields.List(fields.Nested(AlertNamedCountsOut), required=True)


class AlertCallRoundRowOut(Schema):
    delivery_id = fields.Integer(required=True)
    registrant_id = fields.Integer(required=True)
    name = _n(fields.String(required=True))
    phone = _n(fields.String(required=True, metadata={"description": "In full: to phone them."}))
    language = fields.String(required=True)
    country_code = fields.String(required=True)
    city = fields.String(required=True)
    why = Choice(["need_help", "not_reached", "no_answer"], required=True)
    state = Choice(DeliveryState, required=True)
    reply = _n(Choice(ReplyKind, required=True))
    replied_at = _n(fields.DateTime(required=True))


class AlertCallRoundOut(Schema):
    items = fields.List(fields.Nested(AlertCallRoundRowOut), required=True)
    cutoff = fields.DateTime(required=True, metadata={
        "description": "Unanswered since before this time: on the list."})
    limit = fields.Integer(required=True)


class AlertDeliveryOut(Schema):
    id = fields.Integer(required=True)
    registrant_id = fields.Integer(required=True)
    phone = _n(fields.String(required=True, metadata={"description": "Masked: +39•••••••67."}))
    language = fields.String(required=True)
    country_code = fields.String(required=True)
    state = Choice(DeliveryState, required=True)
    attempts = fields.Integer(required=True)
    segments = _n(fields.Integer(required=True))
    due_at = fields.DateTime(required=True)
    submitted_at = _n(fields.DateTime(required=True))
    final_at = _n(fields.DateTime(required=True))
    skip_reason = _n(fields.String(required=True))
    error_code = _n(fields.Integer(required=True))
    reply = _n(Choice(ReplyKind, required=True))
    replied_at = _n(fields.DateTime(required=True))


AlertDeliveryPage = page_of(AlertDeliveryOut)


class AlertCapLinkOut(Schema):
    identifier = fields.String(required=True)
    url = fields.String(required=True)
    public = fields.Boolean(required=True, metadata={
        "description": "Readable without login (a public, real alert once issued)."})
    document = fields.String(required=True, metadata={"description": "The CAP 1.2 XML itself."})


def dump(schema: type[Schema], value: Any) -> dict[str, Any]:
    out: dict[str, Any] = schema().dump(value)
    return out
