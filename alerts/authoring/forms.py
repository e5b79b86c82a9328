"""The compose form: CAP fields as plain-language choices, one tab per language, target areas as
rows of country + optional city, and when to send (now, at a time in the office's zone, or on a
recurring schedule). Labels are lazy so they render in the reader's language. The form reads and
shapes the input; ``alerts.authoring.validation`` checks it, for pages and any other caller alike."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l
from werkzeug.datastructures import MultiDict
from wtforms import (
    BooleanField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
)
from wtforms import widgets as wtf_widgets

from alerts.authoring.recurrence import WEEKDAYS
from alerts.authoring.schedule_input import FIELDS as SCHEDULE_FIELDS
from alerts.authoring.schedule_input import HOLIDAY_LABELS, KIND_LABELS
from alerts.authoring.schedule_input import read_form as read_schedule
from alerts.authoring.validation import CAP_DEFAULTS
from alerts.models import (
    AlertState,
    CapCategory,
    CapCertainty,
    CapMsgType,
    CapSeverity,
    CapStatus,
    CapUrgency,
    NotSentReason,
    RecurrenceKind,
)
from consular.registry.models import RegistrantKind
from consular.validation import CheckedForm, choices_of, is_plain_text
from consular.validation import message as refused_text_message

# Each status in full (the compose form's choices) and in a word (lists, badges).
STATUS_NAMES = {
    CapStatus.Actual: (_l("Real alert"), _l("Real")),
    CapStatus.Exercise: (_l("Drill (every message is marked as a drill)"), _l("Drill")),
    CapStatus.Test: (_l("Technical test (marked as a test)"), _l("Test")),
}
STATUS_LABELS = {status: full for status, (full, _word) in STATUS_NAMES.items()}
STATUS_SHORT = {status: word for status, (_full, word) in STATUS_NAMES.items()}
MSG_TYPE_LABELS = {
    CapMsgType.Alert: _l("Alert"),
    CapMsgType.Update: _l("Update"),
    CapMsgType.Cancel: _l("Cancel notice"),
}
STATE_LABELS = {
    AlertState.draft: _l("Draft"),
    AlertState.pending_approval: _l("Waiting for approval"),
    AlertState.scheduled: _l("Approved, scheduled"),
    AlertState.sending: _l("Sending"),
    AlertState.sent: _l("Sent"),
    AlertState.not_sent: _l("Not sent"),
    AlertState.cancelled: _l("Cancelled"),
}
# Why an alert finished without a single message going out.
NOT_SENT_LABELS = {
    NotSentReason.no_recipients: _l("Nobody in the target area was registered and reachable."),
    NotSentReason.opted_out: _l("Everyone it was meant for had unsubscribed."),
    NotSentReason.invalid_number: _l("None of the recipients' numbers could receive SMS."),
    NotSentReason.quiet_hours: _l("Quiet hours where the recipients live lasted past the alert's expiry."),
    NotSentReason.expired: _l("It expired before any message could be sent."),
    NotSentReason.refused: _l("Every message was refused by the SMS provider."),
    NotSentReason.several: _l("Each message was stopped for one of several reasons (see \u201cSkipped, by "
                              "reason\u201d)."),
}
CATEGORY_LABELS = {
    CapCategory.Safety: _l("General safety"),
    CapCategory.Security: _l("Security (unrest, crime, terrorism)"),
    CapCategory.Health: _l("Health (epidemic, disease)"),
    CapCategory.Met: _l("Weather"),
    CapCategory.Geo: _l("Earthquake, landslide, volcano"),
    CapCategory.Transport: _l("Transport"),
    CapCategory.Rescue: _l("Rescue and recovery"),
    CapCategory.Fire: _l("Fire"),
    CapCategory.Env: _l("Environment (pollution)"),
    CapCategory.Infra: _l("Infrastructure (power, telephone, water)"),
    CapCategory.CBRNE: _l("Chemical, biological, nuclear or explosive"),
    CapCategory.Other: _l("Other"),
}
URGENCY_LABELS = {
    CapUrgency.Immediate: _l("Act now"),
    CapUrgency.Expected: _l("Act soon"),
    CapUrgency.Future: _l("Act in the near future"),
    CapUrgency.Past: _l("No action needed any more"),
    CapUrgency.Unknown: _l("Not known"),
}
SEVERITY_LABELS = {
    CapSeverity.Extreme: _l("Extreme: threat to life"),
    CapSeverity.Severe: _l("Severe: significant threat"),
    CapSeverity.Moderate: _l("Moderate: possible threat"),
    CapSeverity.Minor: _l("Minor: little or no threat"),
    CapSeverity.Unknown: _l("Not known"),
}
CERTAINTY_LABELS = {
    CapCertainty.Observed: _l("Observed: it is happening"),
    CapCertainty.Likely: _l("Likely"),
    CapCertainty.Possible: _l("Possible"),
    CapCertainty.Unlikely: _l("Unlikely"),
    CapCertainty.Unknown: _l("Not known"),
}
AUDIENCE_LABELS = {
    RegistrantKind.citizen_abroad: _l("Citizens living abroad"),
    RegistrantKind.student: _l("Students abroad"),
    RegistrantKind.enterprise_staff: _l("Staff of the city's enterprises abroad"),
    RegistrantKind.family_at_home: _l("Families at home"),
    RegistrantKind.foreign_resident: _l("Foreign residents of the city"),
}
SEND_MODES = ("now", "at", "recurring")
SEND_MODE_LABELS = {
    "now": _l("As soon as it is approved"),
    "at": _l("At a set time"),
    "recurring": _l("On a recurring schedule"),
}
MAX_AREA_ROWS = 50
LOCAL_FORMAT = "%Y-%m-%dT%H:%M"


def label(labels: Mapping[Any, Any], key: Any) -> str:
    """``key`` in the reader's language by one of the tables above (the key itself if absent)."""
    return str(labels.get(key, key))


class CheckboxListField(SelectMultipleField):
    widget = wtf_widgets.ListWidget(prefix_label=False)
    option_widget = wtf_widgets.CheckboxInput()


class AlertForm(CheckedForm):
    """The fixed part of the compose screen (texts and areas are read by ``read_compose``)."""

    status = RadioField(_l("Kind of message"), choices=choices_of(STATUS_LABELS),
                        default=CAP_DEFAULTS["status"].value)
    event = StringField(_l("Event"), description=_l("What happened, in a few words, in the base "
                                                   "language, e.g. \u201cstreet protests\u201d or "
                                                   "\u201ctyphoon\u201d."),
                        render_kw={"maxlength": 120})
    category = SelectField(_l("Category"), choices=choices_of(CATEGORY_LABELS),
                           default=CAP_DEFAULTS["category"].value)
    urgency = SelectField(_l("Urgency"), choices=choices_of(URGENCY_LABELS),
                          default=CAP_DEFAULTS["urgency"].value)
    severity = SelectField(_l("Severity"), choices=choices_of(SEVERITY_LABELS),
                           default=CAP_DEFAULTS["severity"].value)
    certainty = SelectField(_l("Certainty"), choices=choices_of(CERTAINTY_LABELS),
                            default=CAP_DEFAULTS["certainty"].value)
    base_language = SelectField(_l("Base language"), default="zh_Hans",
                                description=_l("Recipients whose language has no text get this one."))
    audience_kinds = CheckboxListField(_l("Recipient groups"), choices=choices_of(AUDIENCE_LABELS),
                                       description=_l("None ticked: everyone registered in the area."))
    present_only = BooleanField(_l("Only people who are there now (by their stay dates)"))
    public = BooleanField(_l("Publish in the public feed (CAP and Atom)"))
    safety_check = BooleanField(_l("Safety check: ask people to reply 1 if safe, 2 if they need help"))
    safety_check_minutes = StringField(_l("Call round after (minutes without an answer)"), default="60",
                                       render_kw={"inputmode": "numeric", "maxlength": 6})
    resend_unanswered = BooleanField(_l("Send once more to those who have not answered by then"))
    # The ladder after that reminder (``alerts.ladder``); the screen starts from LADDER_*_MINUTES.
    ladder_call_minutes = StringField(_l("Voice call after (minutes after the reminder; 0: none)"),
                                      render_kw={"inputmode": "numeric", "maxlength": 6})
    ladder_kin_minutes = StringField(_l("SMS to the next of kin after (minutes after the call; 0: none)"),
                                     render_kw={"inputmode": "numeric", "maxlength": 6})
    ladder_visit_minutes = StringField(
        _l("Welfare visit by the nearest station after (minutes after the next of kin; 0: none)"),
        render_kw={"inputmode": "numeric", "maxlength": 6})
    place = StringField(_l("Place of the event"), render_kw={"maxlength": 120},
                        description=_l("Fills {place} in the texts, e.g. \u201cPrato\u201d: each "
                                       "recipient reads it in their own script where the city list "
                                       "knows it. Left empty, a circle's centre city fills it."))
    event_time = StringField(_l("Time of the event"), render_kw={"type": "datetime-local"},
                             description=_l("Fills {time} in the texts, shown to each recipient in "
                                            "their own time zone."))
    send_mode = RadioField(_l("When"), choices=choices_of(SEND_MODE_LABELS), default="now")
    send_at = StringField(_l("Send at"), render_kw={"type": "datetime-local"})
    # The schedule of a recurring alert (``alerts.authoring.schedule_input``); choices named in the
    # reader's language are filled per request.
    recurrence_kind = SelectField(_l("Repeats"), default="weekly", choices=choices_of(
        {k: v for k, v in KIND_LABELS.items() if k != RecurrenceKind.cron}))
    recurrence_time = StringField(_l("At"), default="09:00", render_kw={"type": "time"})
    recurrence_weekdays = CheckboxListField(_l("Days of the week"), choices=list(WEEKDAYS))
    recurrence_day = StringField(_l("Day of the month"), render_kw={
        "type": "number", "min": 1, "max": 31, "inputmode": "numeric"},
        description=_l("In a month without this day (the 31st in April), it runs on the month's "
                       "last day."))
    recurrence_month = SelectField(_l("Month"), default="1", choices=[str(m) for m in range(1, 13)])
    recurrence_holiday = SelectField(_l("Holiday"), default="spring_festival",
                                     choices=choices_of(HOLIDAY_LABELS),
                                     description=_l("Dates from the Chinese calendar, year by year."))
    recurrence_days_before = StringField(_l("Days before"), default="7", render_kw={
        "type": "number", "min": 0, "max": 365, "inputmode": "numeric"},
        description=_l("0: on the day itself."))
    recurrence_until = StringField(_l("End date (optional)"), render_kw={"type": "date"},
                                   description=_l("The last day it may run. Empty: for five years, "
                                                  "unless it is cancelled before."))
    expires_at = StringField(_l("Valid until"), render_kw={"type": "datetime-local"},
                             description=_l("Nothing is sent after this time. For a recurring alert: "
                                            "the end of the series."))


@dataclass
class ComposeInput:
    """What the compose screen sent, shaped for ``alerts.authoring.operations``."""

    data: dict[str, Any]
    texts: dict[str, dict[str, str]]
    areas: list[dict[str, str]]
    languages: list[str]
    errors: dict[str, str] = field(default_factory=dict)  # input the form itself could not read


def to_local_input(moment: datetime | None, zone: str) -> str:
    if moment is None:
        return ""
    return moment.astimezone(ZoneInfo(zone)).strftime(LOCAL_FORMAT)


def parse_local(raw: str, zone: str) -> datetime | None:
    """A ``datetime-local`` value read as a time in the office's zone, as UTC; None when empty.
    Raises ValueError for anything else."""
    value = raw.strip()
    if not value:
        return None
    if len(value) > 25:
        raise ValueError(value)
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is not None:
        raise ValueError(value)
    return moment.replace(tzinfo=ZoneInfo(zone))


def read_compose(form: MultiDict[str, str], zone: str, sms_locales: tuple[str, ...],
                 crontab: str | None = None) -> ComposeInput:
    """The whole compose form (fixed fields, every language tab, every area row). ``crontab``:
    the schedule of the older alert being edited, kept when "custom (cron)" stays chosen."""
    errors: dict[str, str] = {}
    languages: list[str] = []
    for lang in form.getlist("languages"):
        if lang in sms_locales and lang not in languages:
            languages.append(lang)
    texts = {
        lang: {
            "headline": form.get(f"headline-{lang}", ""),
            "body": form.get(f"body-{lang}", ""),
            "instruction": form.get(f"instruction-{lang}", ""),
            "event": form.get(f"event-{lang}", ""),
        }
        for lang in languages
    }
    countries = form.getlist("area_country")[:MAX_AREA_ROWS]
    cities = form.getlist("area_city")[:MAX_AREA_ROWS]
    areas = [
        {"country_code": code.strip(), "city": cities[i] if i < len(cities) else ""}
        for i, code in enumerate(countries)
        if code.strip()
    ]
    shape = form.get("geo_shape", "")
    if shape in ("circle", "polygon"):
        # One geographic area on the screen (the model keeps any number): after the country rows.
        areas.append({"shape": shape, "country_code": form.get("geo_country", "").strip(),
                      "city": form.get("geo_city", ""), "latitude": form.get("geo_latitude", ""),
                      "longitude": form.get("geo_longitude", ""), "radius_km": form.get("geo_radius", ""),
                      "polygon": form.get("geo_polygon", "")})
    elif shape:
        errors["areas"] = str(_l("Choose the kind of area from the list."))
    mode = form.get("send_mode", "now")
    data: dict[str, Any] = {
        key: form.get(key, "")
        for key in ("status", "category", "event", "urgency", "severity", "certainty",
                    "base_language", "safety_check_minutes", "ladder_call_minutes",
                    "ladder_kin_minutes", "ladder_visit_minutes", "place")
    }
    try:
        data["event_time"] = parse_local(form.get("event_time", ""), zone)
    except ValueError:
        errors["event_time"] = str(_l("Enter a date and time."))
        data["event_time"] = None
    data["audience_kinds"] = form.getlist("audience_kinds")
    for key in ("present_only", "public", "safety_check", "resend_unanswered"):
        data[key] = form.get(key, "") in ("y", "1", "on", "true")
    if mode not in SEND_MODES:
        errors["send_mode"] = str(_l("Choose when to send."))
        mode = "now"
    data["send_at"] = None
    data["recurrence"] = None
    if mode in ("at", "recurring"):
        try:
            data["send_at"] = parse_local(form.get("send_at", ""), zone)
        except ValueError:
            errors["send_at"] = str(_l("Enter a date and time."))
        if mode == "at" and data["send_at"] is None and "send_at" not in errors:
            errors["send_at"] = str(_l("Choose the time to send, or send as soon as it is approved."))
    if mode == "recurring":
        data["recurrence"] = read_schedule(form, crontab)
    try:
        data["expires_at"] = parse_local(form.get("expires_at", ""), zone)
    except ValueError:
        data["expires_at"] = None
        if not isinstance(data["recurrence"], Mapping):  # a rule's end is its end date
            errors["expires_at"] = str(_l("Enter a date and time."))
    _check_every_text(form, countries, errors)
    return ComposeInput(data=data, texts=texts, areas=areas, languages=languages, errors=errors)


_TEXT_PARTS = ("headline", "body", "instruction")
_FIXED_FIELDS = ("status", "event", "category", "urgency", "severity", "certainty", "base_language",
                 "audience_kinds", "safety_check_minutes", "ladder_call_minutes", "ladder_kin_minutes",
                 "ladder_visit_minutes", "send_mode", "send_at", "recurrence",
                 "expires_at", "place", "event_time", "break_glass_reason", *SCHEDULE_FIELDS)


def _check_every_text(form: MultiDict[str, str], countries: list[str], errors: dict[str, str]) -> None:
    """The text rule (``consular.validation``) on everything the screen sent, whether this send
    uses it or not (a schedule left behind by "send now", a city without a country): nothing the
    rule refuses is kept, even where it would be ignored."""
    for key, value in form.items(multi=True):
        part, _dash, lang = key.partition("-")
        multiline = (part in ("body", "instruction") and bool(lang)) or key == "geo_polygon"
        if is_plain_text(value, multiline=multiline):
            continue
        if part in _TEXT_PARTS and lang:
            where = f"texts.{lang}.{part}"
        elif key.startswith("geo_"):
            where = "areas"
        elif key == "area_city":
            row = form.getlist("area_city").index(value)
            where = (f"areas.{sum(1 for c in countries[:row] if c.strip())}.city"
                     if row < len(countries) and countries[row].strip() else "areas")
        else:
            where = key if key in _FIXED_FIELDS else ""
        errors.setdefault(where, refused_text_message())


def default_expiry(now: datetime) -> datetime:
    return (now + timedelta(hours=24)).replace(second=0, microsecond=0)
