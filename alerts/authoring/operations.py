"""Alert operations: the only code that creates alerts or moves them through their life.

``draft → pending_approval → scheduled → sending → sent``, or ``cancelled`` from any state before
``sent``. Each operation checks all of its input before it touches a row (a refusal leaves nothing
half-written), writes, flushes and records an audit entry without personal data; the caller
commits once. The fan-out itself (``scheduled → sending``) is ``alerts.targeting.fan_out``; the
dispatcher moves ``sending → sent``.

Two-person rule: an alert is approved by a coordinator who neither wrote it nor edited it last.
A recurring alert is a template (``recurrence`` is a crontab in the office's zone): it is approved
once, is never sent itself, and each run is a copy (``spawn_occurrence``) that inherits the
approval.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from apscheduler.triggers.cron import CronTrigger
from flask import current_app
from flask_babel import gettext as _

import i18n
from alerts.models import (
    Alert,
    AlertArea,
    AlertState,
    AlertText,
    CapCategory,
    CapCertainty,
    CapMsgType,
    CapSeverity,
    CapStatus,
    CapUrgency,
    Delivery,
    DeliveryState,
)
from consular.audit.operations import record
from consular.auth.models import Role, User
from consular.db import db, utcnow
from consular.registry.models import RegistrantKind

# Writable fields of an alert, in the order the compose screen shows them. Anything else is refused.
ALERT_FIELDS = (
    "status", "category", "event", "urgency", "severity", "certainty", "base_language",
    "audience_kinds", "present_only", "public", "safety_check", "safety_check_minutes",
    "resend_unanswered", "send_at", "expires_at", "recurrence",
)
TEXT_FIELDS = ("headline", "body", "instruction", "event")  # event: CAP's <event> in this language

MAX_HEADLINE = 160
MAX_BODY_CHARS = 1600  # what a provider accepts in one message at most
MAX_INSTRUCTION = 1000
MAX_EVENT = 120
MAX_CITY = 120
MAX_REASON = 500
MAX_SEGMENTS = 10  # per language, counting the drill marker, safety prompt and footer
MAX_AREAS = 50
MAX_LANGUAGES = 12
MAX_AHEAD = timedelta(days=366)
SEND_GRACE = timedelta(minutes=1)  # a send time a few seconds old (a slow form) still counts as now
MIN_RECURRENCE_GAP = timedelta(hours=1)
OCCURRENCE_VALIDITY = timedelta(hours=24)
SAFETY_MINUTES = (5, 7 * 24 * 60)
DEFAULT_SAFETY_MINUTES = 60
_TINY = timedelta(microseconds=1)

# States in which an alert may still be cancelled, and in which it may still be edited.
CANCELLABLE = (AlertState.draft, AlertState.pending_approval, AlertState.scheduled, AlertState.sending)
EDITABLE = (AlertState.draft, AlertState.pending_approval)


class AlertInputError(ValueError):
    """Input that cannot be saved; ``errors`` maps each field (``event``, ``texts.it.body``,
    ``areas.0.country_code``…) to a message for the user."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        super().__init__("; ".join(f"{key}: {message}" for key, message in errors.items()))
        self.errors = dict(errors)


class AlertActionRefused(ValueError):
    """An action the alert's state or the user's role does not allow; the message is for the user
    and ``status_code`` is the HTTP answer (403 wrong person, 409 wrong state)."""

    def __init__(self, message: str, status_code: int = 409) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code


# --- small helpers -----------------------------------------------------------------------------


def office_zone() -> ZoneInfo:
    return ZoneInfo(current_app.extensions["consular.settings"].office_timezone)


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


def _sms_locales() -> tuple[str, ...]:
    from alerts.channels.sms.texts import SMS_LOCALES

    return tuple(SMS_LOCALES)


def _clean_line(value: str) -> str:
    return re.sub(r"[\t\r\n\v\f]+", " ", value).strip()


def _clean_block(value: str) -> str:
    """Multi-line text: line ends made uniform, trailing spaces and other control characters
    dropped (an SMS carries line breaks, nothing else)."""
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    value = "".join(ch for ch in value if ch == "\n" or unicodedata.category(ch) != "Cc")
    return "\n".join(line.rstrip() for line in value.split("\n")).strip()


# Characters that show nothing although Python's str.isspace() says otherwise: the Hangul and
# Braille blanks, the combining grapheme joiner, the Mongolian vowel separator.
_SHOWS_NOTHING = frozenset("\u115f\u1160\u3164\uffa0\u2800\u034f\u180e")


def is_blank(text: str) -> bool:
    """True when ``text`` would show a reader nothing: only spaces of any width, line breaks,
    control and format characters (zero-width space and joiners, word joiner, byte-order mark,
    direction marks, soft hyphen), variation selectors and the like."""
    return all(ch.isspace() or ch in _SHOWS_NOTHING or "\ufe00" <= ch <= "\ufe0f"
               or unicodedata.category(ch) in ("Cc", "Cf", "Zs", "Zl", "Zp") for ch in text)


def _aware(value: datetime) -> datetime:
    return value.astimezone(UTC)


# --- recurrence ---------------------------------------------------------------------------------


def recurrence_trigger(crontab: str) -> CronTrigger:
    """A crontab (minute hour day month weekday) read in the office's zone."""
    fields = crontab.split()
    if len(fields) != 5:
        raise ValueError(crontab)
    return CronTrigger.from_crontab(" ".join(fields), timezone=office_zone())


def upcoming_runs(crontab: str, start: datetime, until: datetime | None = None,
                  count: int = 3) -> list[datetime]:
    """The next ``count`` run times (UTC) at or after ``start`` and not after ``until``."""
    trigger = recurrence_trigger(crontab)
    runs: list[datetime] = []
    moment = start
    while len(runs) < count:
        fire = trigger.get_next_fire_time(None, moment)
        if fire is None or (until is not None and fire > until):
            break
        runs.append(_aware(fire))
        moment = fire + _TINY
    return runs


def next_fire_time(alert: Alert, now: datetime) -> datetime | None:
    """When the recurring ``alert`` next needs an occurrence: the latest run not yet spawned that
    is due (runs missed while no worker ran are coalesced into that one), else the next future
    run; None when the alert does not recur, is not approved, or its series has ended."""
    if not alert.recurrence or alert.state != AlertState.scheduled:
        return None
    trigger = recurrence_trigger(alert.recurrence)
    last = db.session.scalar(sa.select(sa.func.max(Alert.send_at)).where(Alert.parent_id == alert.id))
    start = alert.send_at or alert.approved_at or alert.created_at
    lower = max(start, last + _TINY) if last is not None else start
    candidate = trigger.get_next_fire_time(None, lower)
    if candidate is None or candidate > alert.expires_at:
        return None
    for _step in range(10_000):  # bounded: a minute-level series over a long outage
        following = trigger.get_next_fire_time(None, candidate + _TINY)
        if following is None or following > now or following > alert.expires_at:
            break
        candidate = following
    return _aware(candidate)


def occurrence_expiry(template: Alert, fire_time: datetime) -> datetime:
    """A run stays valid until the next run, for a day at most, and never past the series' end."""
    ends = [fire_time + OCCURRENCE_VALIDITY, template.expires_at]
    if template.recurrence:
        following = recurrence_trigger(template.recurrence).get_next_fire_time(None, fire_time + _TINY)
        if following is not None:
            ends.append(_aware(following))
    return min(ends)


# --- validation ---------------------------------------------------------------------------------


@dataclass
class AreaInput:
    country_code: str
    city: str = ""


class _Check:
    """Checks one alert's input, collecting every problem before any is reported."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.errors: dict[str, str] = {}
        self.out: dict[str, Any] = {}

    def fail(self, key: str, message: str) -> None:
        self.errors.setdefault(key, message)

    # one field at a time -----------------------------------------------------------------------

    def enum(self, key: str, raw: Any, enum: type[Any]) -> None:
        values = [member.value for member in enum]
        if not isinstance(raw, str) or raw.strip() not in values:
            self.fail(key, _("Choose one of: %(choices)s.", choices=", ".join(values)))
            return
        self.out[key] = enum(raw.strip())

    def boolean(self, key: str, raw: Any) -> None:
        if isinstance(raw, bool):
            self.out[key] = raw
        elif raw in (None, "", "0", "false", "off", "no"):
            self.out[key] = False
        elif raw in ("1", "true", "on", "yes", "y"):
            self.out[key] = True
        else:
            self.fail(key, _("Choose yes or no."))

    def line(self, key: str, raw: Any, max_len: int, *, required: bool = False) -> str | None:
        if raw is None:
            raw = ""
        if not isinstance(raw, str):
            self.fail(key, _("Enter text."))
            return None
        value = _clean_line(raw)
        if any(unicodedata.category(ch) == "Cc" for ch in value):
            self.fail(key, _("Remove the control characters from this field."))
            return None
        if required and not value:
            self.fail(key, _("This field is required."))
            return None
        if len(value) > max_len:
            self.fail(key, _("At most %(max)d characters.", max=max_len))
            return None
        return value

    def block(self, key: str, raw: Any, max_len: int, *, required: bool = False) -> str | None:
        if raw is None:
            raw = ""
        if not isinstance(raw, str):
            self.fail(key, _("Enter text."))
            return None
        value = _clean_block(raw)
        if required and not value:
            self.fail(key, _("This field is required."))
            return None
        if len(value) > max_len:
            self.fail(key, _("At most %(max)d characters.", max=max_len))
            return None
        return value

    def moment(self, key: str, raw: Any, *, required: bool) -> datetime | None:
        if raw is None or raw == "":
            if required:
                self.fail(key, _("This field is required."))
            return None
        if isinstance(raw, str):
            try:
                raw = datetime.fromisoformat(raw.strip())
            except ValueError:
                self.fail(key, _("Enter a date and time."))
                return None
        if not isinstance(raw, datetime) or raw.tzinfo is None:
            self.fail(key, _("Enter a date and time."))
            return None
        return _aware(raw).replace(microsecond=0)


def _check_alert_fields(check: _Check, data: Mapping[str, Any], msg_type: CapMsgType) -> None:
    for key in data:
        if key not in ALERT_FIELDS:
            check.fail(str(key)[:60], _("Unknown or read-only field."))
    check.enum("status", data.get("status", CapStatus.Actual.value), CapStatus)
    check.enum("category", data.get("category", CapCategory.Safety.value), CapCategory)
    check.enum("urgency", data.get("urgency", CapUrgency.Expected.value), CapUrgency)
    check.enum("severity", data.get("severity", CapSeverity.Moderate.value), CapSeverity)
    check.enum("certainty", data.get("certainty", CapCertainty.Likely.value), CapCertainty)
    event = check.line("event", data.get("event"), MAX_EVENT, required=True)
    if event is not None:
        check.out["event"] = event

    base = data.get("base_language", "zh_Hans")
    from alerts.channels.sms.texts import normalise_sms_locale

    locale = normalise_sms_locale(base) if isinstance(base, str) else None
    if locale is None or locale not in _sms_locales():
        check.fail("base_language", _("Choose the language the alert is written in first."))
    else:
        check.out["base_language"] = locale

    kinds_raw = data.get("audience_kinds", [])
    if isinstance(kinds_raw, str):
        kinds_raw = [k for k in kinds_raw.split(",") if k.strip()]
    known = [kind.value for kind in RegistrantKind]
    if not isinstance(kinds_raw, list | tuple) or not all(isinstance(k, str) for k in kinds_raw) \
            or any(k.strip() not in known for k in kinds_raw):
        check.fail("audience_kinds", _("Choose from the list of recipient groups."))
    else:
        chosen = [k for k in known if k in {x.strip() for x in kinds_raw}]
        # Every kind ticked is the same as none: everyone registered in the area.
        check.out["audience_kinds"] = "" if len(chosen) == len(known) else ",".join(chosen)

    for key in ("present_only", "public", "safety_check", "resend_unanswered"):
        check.boolean(key, data.get(key, False))

    if check.out.get("safety_check"):
        raw = data.get("safety_check_minutes")
        if raw is None or raw == "":
            check.out["safety_check_minutes"] = DEFAULT_SAFETY_MINUTES
        else:
            minutes = raw if type(raw) is int else (
                int(raw.strip()) if isinstance(raw, str) and raw.strip().isascii()
                and raw.strip().isdigit() and len(raw.strip()) < 7 else None)
            low, high = SAFETY_MINUTES
            if minutes is None or not low <= minutes <= high:
                check.fail("safety_check_minutes",
                           _("Enter a number of minutes from %(low)d to %(high)d.", low=low, high=high))
            else:
                check.out["safety_check_minutes"] = minutes
    else:
        check.out["safety_check_minutes"] = None
        check.out["resend_unanswered"] = False

    send_at = check.moment("send_at", data.get("send_at"), required=False)
    expires_at = check.moment("expires_at", data.get("expires_at"), required=True)
    now = check.now
    if send_at is not None:
        if send_at < now - SEND_GRACE:
            check.fail("send_at", _("This time has passed. Choose a later time, or send now."))
        elif send_at > now + MAX_AHEAD:
            check.fail("send_at", _("Choose a time within the next twelve months."))
        else:
            check.out["send_at"] = send_at
    elif "send_at" not in check.errors:
        check.out["send_at"] = None
    if expires_at is not None:
        start = check.out.get("send_at") or now
        if expires_at <= now:
            check.fail("expires_at", _("The expiry must be in the future."))
        elif expires_at <= start:
            check.fail("expires_at", _("The expiry must be after the send time."))
        elif expires_at > now + MAX_AHEAD + timedelta(days=1):
            check.fail("expires_at", _("Choose an expiry within the next twelve months."))
        else:
            check.out["expires_at"] = expires_at

    raw_rule = data.get("recurrence")
    if raw_rule is None or (isinstance(raw_rule, str) and not raw_rule.strip()):
        check.out["recurrence"] = None
    elif not isinstance(raw_rule, str) or len(raw_rule) > 120:
        check.fail("recurrence", _("Enter a schedule such as 0 9 * * 1 (every Monday at 09:00)."))
    elif msg_type != CapMsgType.Alert:
        check.fail("recurrence", _("An update or a cancel notice is sent once; it cannot repeat."))
    else:
        rule = " ".join(raw_rule.split())
        try:
            recurrence_trigger(rule)
        except (ValueError, TypeError, KeyError, IndexError):
            check.fail("recurrence", _("Enter a schedule such as 0 9 * * 1 (every Monday at 09:00): "
                                       "minute, hour, day of month, month, day of week."))
        else:
            _check_recurrence(check, rule)


def _check_recurrence(check: _Check, rule: str) -> None:
    start = check.out.get("send_at") or check.now
    until = check.out.get("expires_at")
    runs = upcoming_runs(rule, start, until, count=6)
    if until is not None and not runs:
        check.fail("recurrence", _("This schedule never runs before the expiry. Move the expiry "
                                   "later or change the schedule."))
        return
    gaps = [b - a for a, b in zip(runs, runs[1:], strict=False)]
    if any(gap < MIN_RECURRENCE_GAP for gap in gaps):
        check.fail("recurrence", _("A recurring alert may run at most once an hour."))
        return
    check.out["recurrence"] = rule


def _check_texts(check: _Check, texts: Any) -> dict[str, dict[str, str]]:
    from alerts.channels.sms.texts import normalise_sms_locale

    out: dict[str, dict[str, str]] = {}
    if not isinstance(texts, Mapping) or not texts:
        check.fail("texts", _("Write the alert in at least one language."))
        return out
    if len(texts) > MAX_LANGUAGES:
        check.fail("texts", _("At most %(max)d languages.", max=MAX_LANGUAGES))
        return out
    locales = _sms_locales()
    for raw_lang, fields in texts.items():
        lang = normalise_sms_locale(raw_lang) if isinstance(raw_lang, str) else None
        key = f"texts.{lang or str(raw_lang)[:20]}"
        if lang is None or lang not in locales:
            check.fail(key, _("Alerts cannot be sent by SMS in this language."))
            continue
        if lang in out:
            check.fail(key, _("This language appears twice."))
            continue
        if not isinstance(fields, Mapping) or any(k not in TEXT_FIELDS for k in fields):
            check.fail(key, _("Give a headline and a message."))
            continue
        headline = check.line(f"{key}.headline", fields.get("headline"), MAX_HEADLINE)
        body = check.block(f"{key}.body", fields.get("body"), MAX_BODY_CHARS)
        instruction = check.block(f"{key}.instruction", fields.get("instruction"), MAX_INSTRUCTION)
        # An SMS with nothing to read cannot be sent: say which language's text is empty (spaces
        # and invisible characters do not count as text).
        language = i18n.language_name(lang)
        if headline is not None and is_blank(headline):
            check.fail(f"{key}.headline", _("The headline in %(language)s is empty. Write one, or "
                                            "remove this language.", language=language))
            headline = None
        if body is not None and is_blank(body):
            check.fail(f"{key}.body", _("The message in %(language)s is empty. Write what its "
                                        "recipients should read, or remove this language.",
                                        language=language))
            body = None
        event = check.line(f"{key}.event", fields.get("event"), MAX_EVENT)
        if headline is not None and body is not None and instruction is not None and event is not None:
            out[lang] = {"headline": headline, "body": body, "instruction": instruction, "event": event}
    base = check.out.get("base_language")
    if base and base not in out and f"texts.{base}" not in check.errors \
            and f"texts.{base}.headline" not in check.errors and f"texts.{base}.body" not in check.errors:
        check.fail(f"texts.{base}", _("Write the alert in its base language (%(language)s): every "
                                      "recipient without a text in their own language gets that one.",
                                      language=i18n.language_name(base)))
    return out


def _check_lengths(check: _Check, texts: Mapping[str, Mapping[str, str]]) -> None:
    """Each language's full SMS (drill marker, safety prompt and footer included) within the limit."""
    from alerts.authoring.compose import render_sms
    from alerts.channels.sms.encoding import analyse

    status = check.out.get("status", CapStatus.Actual)
    expires = check.out.get("expires_at") or (check.now + timedelta(days=1))
    for lang, fields in texts.items():
        sms = render_sms(headline=fields["headline"], body=fields["body"], locale=lang, status=status,
                         safety_check=bool(check.out.get("safety_check")), expires_at=expires,
                         tz_name=str(office_zone()), instruction=fields.get("instruction", ""))
        segments = analyse(sms).segments
        if segments > MAX_SEGMENTS:
            check.fail(f"texts.{lang}.body", _(
                "Too long: with the footer this message takes %(num)d SMS segments; the limit is "
                "%(max)d. Shorten it.", num=segments, max=MAX_SEGMENTS))


def _check_areas(check: _Check, areas: Any) -> list[AreaInput]:
    out: list[AreaInput] = []
    if not isinstance(areas, Sequence) or isinstance(areas, str) or not areas:
        check.fail("areas", _("Choose at least one country to send to."))
        return out
    if len(areas) > MAX_AREAS:
        check.fail("areas", _("At most %(max)d areas.", max=MAX_AREAS))
        return out
    seen: set[tuple[str, str]] = set()
    for i, area in enumerate(areas):
        raw_code: Any
        raw_city: Any
        if isinstance(area, AreaInput):
            raw_code, raw_city = area.country_code, area.city
        elif isinstance(area, Mapping):
            raw_code, raw_city = area.get("country_code"), area.get("city", "")
        else:
            check.fail(f"areas.{i}", _("Choose a country."))
            continue
        code = raw_code.strip().upper() if isinstance(raw_code, str) else ""
        if not code or not i18n.is_country_code(code):
            check.fail(f"areas.{i}.country_code", _("Choose a country from the list."))
            continue
        city = check.line(f"areas.{i}.city", raw_city, MAX_CITY)
        if city is None:
            continue
        if (code, city.casefold()) in seen:
            continue
        seen.add((code, city.casefold()))
        out.append(AreaInput(code, city))
    # A whole country makes its cities redundant.
    whole = {a.country_code for a in out if not a.city}
    return [a for a in out if not a.city or a.country_code not in whole]


def _validate(data: Mapping[str, Any], texts: Any, areas: Any, *,
              msg_type: CapMsgType = CapMsgType.Alert,
              now: datetime | None = None) -> tuple[dict[str, Any], dict[str, dict[str, str]],
                                                    list[AreaInput]]:
    check = _Check(now or utcnow())
    if not isinstance(data, Mapping):
        raise AlertInputError({"": _("The request was not understood. Please check what you entered.")})
    _check_alert_fields(check, data, msg_type)
    clean_texts = _check_texts(check, texts)
    clean_areas = _check_areas(check, areas)
    if clean_texts and not any(k.startswith("texts.") for k in check.errors):
        _check_lengths(check, clean_texts)
    if check.errors:
        raise AlertInputError(check.errors)
    return check.out, clean_texts, clean_areas


def validate_alert(data: Mapping[str, Any], texts: Any, areas: Any, *,
                   msg_type: CapMsgType = CapMsgType.Alert) -> None:
    """Raise ``AlertInputError`` if this input could not be saved (the compose screen's check)."""
    _validate(data, texts, areas, msg_type=msg_type)


# --- writing ------------------------------------------------------------------------------------


def _apply(alert: Alert, values: Mapping[str, Any], texts: Mapping[str, Mapping[str, str]],
           areas: Iterable[AreaInput]) -> None:
    for key, value in values.items():
        setattr(alert, key, value)
    existing = {t.language: t for t in alert.texts}
    for lang, text in list(existing.items()):
        if lang not in texts:
            alert.texts.remove(text)
    for lang, fields in texts.items():
        target = existing.get(lang)
        if target is None:
            alert.texts.append(AlertText(language=lang, **fields))
        else:
            for key, value in fields.items():
                setattr(target, key, value)
    alert.areas.clear()
    for area in areas:
        alert.areas.append(AlertArea(country_code=area.country_code, city=area.city))


def _summary(alert: Alert) -> dict[str, Any]:
    """What the audit trail keeps of an alert: its shape, never its recipients."""
    return {
        "identifier": alert.identifier,
        "status": str(alert.status),
        "msg_type": str(alert.msg_type),
        "languages": sorted(t.language for t in alert.texts),
        "countries": sorted({a.country_code for a in alert.areas}),
        "send_at": alert.send_at.isoformat() if alert.send_at else None,
        "recurrence": alert.recurrence,
    }


def _require_coordinator(user: User) -> None:
    if user.role != Role.coordinator or not user.active:
        raise AlertActionRefused(_("Only coordinators may work on alerts."), 403)


def create_alert(data: Mapping[str, Any], texts: Mapping[str, Mapping[str, str]],
                 areas: Sequence[Mapping[str, str] | AreaInput], *, user: User,
                 msg_type: CapMsgType = CapMsgType.Alert, references: Alert | None = None) -> Alert:
    """A new draft alert written by ``user``."""
    _require_coordinator(user)
    values, clean_texts, clean_areas = _validate(data, texts, areas, msg_type=msg_type)
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
    values, clean_texts, clean_areas = _validate(data, texts, areas, msg_type=alert.msg_type)
    was = alert.state
    _apply(alert, values, clean_texts, clean_areas)
    alert.state = AlertState.draft
    alert.submitted_at = None
    alert.last_edited_by_id = user.id
    db.session.flush()
    record("alert.update", "alert", alert.id,
           {**_summary(alert), "returned_to_draft": was == AlertState.pending_approval}, user=user)
    return alert


def _recheck(alert: Alert) -> None:
    """Validate a stored alert again (a draft can age: its send time or expiry may have passed)."""
    data = {
        "status": alert.status.value, "category": alert.category.value, "event": alert.event,
        "urgency": alert.urgency.value, "severity": alert.severity.value,
        "certainty": alert.certainty.value, "base_language": alert.base_language,
        "audience_kinds": audience_list(alert), "present_only": alert.present_only,
        "public": alert.public, "safety_check": alert.safety_check,
        "safety_check_minutes": alert.safety_check_minutes,
        "resend_unanswered": alert.resend_unanswered, "send_at": alert.send_at,
        "expires_at": alert.expires_at, "recurrence": alert.recurrence,
    }
    texts = {t.language: text_fields(t) for t in alert.texts}
    areas = [AreaInput(a.country_code, a.city) for a in alert.areas]
    _validate(data, texts, areas, msg_type=alert.msg_type)
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
    return alert


def may_approve(alert: Alert, user: User) -> bool:
    return (user.role == Role.coordinator and user.active
            and user.id not in {alert.author_id, alert.last_edited_by_id})


def approve(alert: Alert, *, user: User) -> Alert:
    """Approve for sending. The approver is a coordinator who neither wrote nor last edited it."""
    _require_coordinator(user)
    if alert.state != AlertState.pending_approval:
        raise AlertActionRefused(_("Only an alert waiting for approval can be approved."))
    if not may_approve(alert, user):
        raise AlertActionRefused(_("You wrote or last changed this alert: another coordinator must "
                                   "approve it (two-person rule)."), 403)
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
    if alert.msg_type == CapMsgType.Cancel and alert.references is not None \
            and alert.references.state in (AlertState.scheduled, AlertState.sending):
        _cancel(alert.references, user=user, reason=f"cancel notice {alert.identifier}")
    return alert


def reject(alert: Alert, *, user: User, reason: str) -> Alert:
    """Send an alert waiting for approval back to its author, saying why."""
    _require_coordinator(user)
    if alert.state != AlertState.pending_approval:
        raise AlertActionRefused(_("Only an alert waiting for approval can be sent back."))
    if not may_approve(alert, user):
        raise AlertActionRefused(_("You wrote or last changed this alert: change it instead of "
                                   "sending it back."), 403)
    note = _reason(reason)
    alert.state = AlertState.draft
    alert.submitted_at = None
    alert.review_note = note
    db.session.flush()
    record("alert.reject", "alert", alert.id, {"identifier": alert.identifier}, user=user)
    return alert


def _reason(reason: Any) -> str:
    if not isinstance(reason, str) or not _clean_line(reason):
        raise AlertInputError({"reason": _("Say why, in a few words.")})
    value = _clean_line(reason)
    if any(unicodedata.category(ch) == "Cc" for ch in value):
        raise AlertInputError({"reason": _("Remove the control characters from this field.")})
    if len(value) > MAX_REASON:
        raise AlertInputError({"reason": _("At most %(max)d characters.", max=MAX_REASON)})
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
    if alert.recurrence:
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
    note = _reason(reason)
    if alert.state not in CANCELLABLE:
        raise AlertActionRefused(_("This alert has already been sent or cancelled."))
    return _cancel(alert, user=user, reason=note)


def _derived(alert: Alert, msg_type: CapMsgType, user: User) -> Alert:
    _require_coordinator(user)
    if alert.msg_type == CapMsgType.Cancel:
        raise AlertActionRefused(_("A cancel notice cannot be updated or cancelled."))
    if alert.fanned_out_at is None or alert.recurrence:
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
    }
    texts = _derived_texts(alert, msg_type)
    areas = [AreaInput(a.country_code, a.city) for a in alert.areas]
    # The copy is a draft to be rewritten; only a too-long text would fail, so skip the length check
    # by building the row directly after validating the rest.
    check = _Check(now)
    _check_alert_fields(check, data, msg_type)
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
    """The first draft of an update or a cancel notice, in each language of the original, from the
    ``sms`` catalog: a cancel notice names the original and says it is withdrawn (it can go out as
    it is); an update's headline says it is one, its message is the original's to be rewritten
    (sent unchanged it would say nothing new, and is refused: ``_check_not_the_original``)."""
    from alerts.authoring.compose import typical_zones
    from alerts.channels.sms import texts as catalog
    from alerts.targeting import Target

    zones = typical_zones(Target.of(alert))
    office = str(office_zone())
    sent_at = alert.fanned_out_at or alert.send_at or alert.approved_at or utcnow()
    out: dict[str, dict[str, str]] = {}
    for text in alert.texts:
        if msg_type == CapMsgType.Cancel:
            headline, body = catalog.cancel_notice(text.language, text.headline, sent_at,
                                                   zones.get(text.language, office), limit=MAX_HEADLINE)
            out[text.language] = {"headline": headline, "body": body, "instruction": "",
                                  "event": text.event}
        else:
            out[text.language] = {**text_fields(text),
                                  "headline": catalog.update_headline(text.language, text.headline,
                                                                      limit=MAX_HEADLINE)}
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
        said = (_clean_block(mine.get("body", "")), _clean_block(mine.get("instruction", "")))
        if said == (_clean_block(text.body), _clean_block(text.instruction)):
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
    if not template.recurrence or template.state != AlertState.scheduled:
        raise AlertActionRefused("not an approved recurring alert")
    fire_time = _aware(fire_time).replace(microsecond=0)
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
        resend_unanswered=template.resend_unanswered, send_at=fire_time,
        expires_at=occurrence_expiry(template, fire_time), recurrence=None,
        author_id=template.author_id, last_edited_by_id=template.last_edited_by_id,
        approver_id=template.approver_id, submitted_at=template.submitted_at, approved_at=now,
        created_at=now,
    )
    for text in template.texts:
        run.texts.append(AlertText(language=text.language, **text_fields(text)))
    for area in template.areas:
        run.areas.append(AlertArea(country_code=area.country_code, city=area.city))
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
