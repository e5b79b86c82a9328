"""The checks an alert's input passes before anything is written: its CAP fields, when to send,
its schedule, its texts in each language (length in SMS segments included) and its areas. Every
problem is collected, per field, in the reader's language; nothing is saved while one remains."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy.sql.schema import ScalarElementColumnDefault

import i18n
from alerts import geo
from alerts.authoring.geo_input import GEO_SHAPES, _country_near, _number, geo_message
from alerts.authoring.recurrence import as_utc, office_zone, recurrence_trigger, upcoming_runs
from alerts.authoring.schedule_input import check_schedule
from alerts.authoring.text_input import is_blank, plain_block
from alerts.models import Alert, CapMsgType, CapStatus, RecurrenceKind
from alerts.targeting import TargetArea
from consular.db import utcnow
from consular.registry.models import RegistrantKind
from consular.validation import clean_text, too_long_message
from consular.validation import message as refused_text_message

# Writable fields of an alert, in the order the compose screen shows them. Anything else is refused.
ALERT_FIELDS = (
    "status", "category", "event", "urgency", "severity", "certainty", "base_language",
    "audience_kinds", "present_only", "public", "safety_check", "safety_check_minutes",
    "resend_unanswered", "ladder_call_minutes", "ladder_kin_minutes", "ladder_visit_minutes",
    "send_at", "expires_at", "recurrence", "place", "event_time",
)
TEXT_FIELDS = ("headline", "body", "instruction", "event")  # event: CAP's <event> in this language
CAP_INFO_CHOICES = ("category", "urgency", "severity", "certainty")


def _column_default(key: str) -> StrEnum:
    default = Alert.__table__.c[key].default
    assert isinstance(default, ScalarElementColumnDefault), key
    value: StrEnum = default.arg
    return value


# The CAP fields chosen from a list, each with its value when none is given: the alert's column
# default (``alerts.models``), which the compose form starts from too. The status, and those an
# alert and a template share.
CAP_DEFAULTS = {key: _column_default(key) for key in ("status", *CAP_INFO_CHOICES)}

MAX_HEADLINE = 160
MAX_BODY_CHARS = 1600  # what a provider accepts in one message at most
MAX_INSTRUCTION = 1000
MAX_EVENT = 120
MAX_CITY = 120
MAX_PLACE = 120
MAX_REASON = 500
MAX_SEGMENTS = 10  # per language, counting the drill marker, safety prompt and footer
MAX_AREAS = 50
MAX_LANGUAGES = 12
MAX_AHEAD = timedelta(days=366)
SEND_GRACE = timedelta(minutes=1)  # a send time a few seconds old (a slow form) still counts as now
MIN_RECURRENCE_GAP = timedelta(hours=1)
SAFETY_MINUTES = (5, 7 * 24 * 60)
DEFAULT_SAFETY_MINUTES = 60
# The ladder's rungs after the reminder (``alerts.ladder``): minutes from the rung below; 0: off.
LADDER_FIELDS = ("ladder_call_minutes", "ladder_kin_minutes", "ladder_visit_minutes")
LADDER_MINUTES = (0, 7 * 24 * 60)


class AlertInputError(ValueError):
    """Input that cannot be saved; ``errors`` maps each field (``event``, ``texts.it.body``,
    ``areas.0.country_code``…) to a message for the user."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        super().__init__("; ".join(f"{key}: {message}" for key, message in errors.items()))
        self.errors = dict(errors)


def _sms_locales() -> tuple[str, ...]:
    from alerts.channels.sms.texts import SMS_LOCALES

    return tuple(SMS_LOCALES)


@dataclass(frozen=True)
class AreaInput(TargetArea):
    """A target area as saved (the fields of ``alerts.targeting.TargetArea``), as the compose form
    reads and writes it."""

    def as_dict(self) -> dict[str, str]:
        """The area as the compose form's fields hold it."""
        return {"country_code": self.country_code, "city": self.city, "shape": self.shape,
                "latitude": _plain(self.latitude), "longitude": _plain(self.longitude),
                "radius_km": _plain(self.radius_km), "polygon": self.polygon or ""}


def _plain(value: float | None) -> str:
    return "" if value is None else f"{value:.6f}".rstrip("0").rstrip(".")


def _check_geo_area(check: Check, i: int, area: Mapping[str, Any]) -> AreaInput | None:
    """A circle (a centre typed, or a city of the city index, and a radius) or a polygon."""
    from consular.places import cities

    shape = area.get("shape")
    raw_code = area.get("country_code") or ""
    code = raw_code.strip().upper() if isinstance(raw_code, str) else ""
    if code and not i18n.is_country_code(code):
        check.fail(f"areas.{i}.country_code", _("Choose a country from the list."))
        return None
    city = check.line(f"areas.{i}.city", area.get("city") or "", MAX_CITY)
    if city is None:
        return None
    if shape == "polygon":
        raw = area.get("polygon")
        if not isinstance(raw, str) or not raw.strip() or len(raw) > 40 * geo.MAX_VERTICES:
            empty = not isinstance(raw, str) or not raw.strip()
            check.fail(f"areas.{i}.polygon", geo_message("polygon_size" if empty else "polygon_format"))
            return None
        try:
            points = geo.parse_polygon(raw)
        except geo.GeoInputError as exc:
            check.fail(f"areas.{i}.polygon", geo_message(exc.code))
            return None
        if not code:
            middle = geo.polygon_box(points)
            code = _country_near((middle.south + middle.north) / 2, sum(middle.lon_ranges[0]) / 2)
        # A polygon names no city: a city typed for a circle before the shape changed is not its place.
        return AreaInput(code, "", "polygon", polygon=geo.polygon_text(points))
    try:
        lat, lon = _number(area.get("latitude")), _number(area.get("longitude"))
        if (lat is None) != (lon is None):
            raise geo.GeoInputError("coordinates")
        if lat is not None and lon is not None:
            geo.check_point(lat, lon)
    except (ValueError, geo.GeoInputError):
        check.fail(f"areas.{i}.latitude", geo_message("coordinates"))
        lat = lon = None
        failed = True
    else:
        failed = False
    try:
        radius = _number(area.get("radius_km"))
        if radius is None:
            check.fail(f"areas.{i}.radius_km", _("Give the circle's radius in kilometres."))
        else:
            geo.check_radius(radius)
    except (ValueError, geo.GeoInputError):
        check.fail(f"areas.{i}.radius_km", geo_message("radius"))
        radius = None
    if failed:
        return None
    if lat is None or lon is None:
        if not city:
            check.fail(f"areas.{i}.city", _("Give the circle's centre: pick a city or type its "
                                            "coordinates."))
            return None
        found = cities.find(city, code or None)
        if not found:
            check.fail(f"areas.{i}.city", _("%(city)s is not in the city index. Pick a city from the "
                                            "list or type the centre's coordinates.", city=city))
            return None
        lat, lon, code = found[0].latitude, found[0].longitude, code or found[0].country
        city = found[0].name if not code or city == found[0].name else city
    if radius is None:
        return None
    return AreaInput(code or _country_near(lat, lon), city, "circle", lat, lon, radius)


def geo_area(area: Mapping[str, Any], index: int = 0) -> tuple[AreaInput | None, dict[str, str]]:
    """A circle or polygon from the compose form checked on its own (the live preview's check):
    the area, or the messages for what is wrong with it."""
    check = Check(utcnow())
    found = _check_geo_area(check, index, area)
    return (found if not check.errors else None), check.errors


class Check:
    """Checks one alert's input, collecting every problem before any is reported."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.msg_type = CapMsgType.Alert  # an update or cancel notice carries its marker
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
        return self._text(key, raw, max_len, clean_text, required=required)

    def block(self, key: str, raw: Any, max_len: int, *, required: bool = False) -> str | None:
        return self._text(key, raw, max_len, plain_block, required=required)

    def _text(self, key: str, raw: Any, max_len: int, clean: Callable[[str], str | None], *,
              required: bool) -> str | None:
        """Text ("" when absent) as ``clean`` leaves it (``None``: refused), given if ``required``
        and at most ``max_len`` characters; else ``None`` and a message on ``key``."""
        if raw is None:
            raw = ""
        if not isinstance(raw, str):
            self.fail(key, _("Enter text."))
            return None
        value = clean(raw)
        if value is None:
            self.fail(key, refused_text_message())
            return None
        if required and not value:
            self.fail(key, _("This field is required."))
            return None
        if len(value) > max_len:
            self.fail(key, too_long_message(max_len))
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
        return as_utc(raw).replace(microsecond=0)


def check_cap_info(check: Check, data: Mapping[str, Any]) -> None:
    """The CAP fields an alert and a template share, each with its default: category, urgency,
    severity, certainty, the event, and the language the texts are written in first."""
    from alerts.channels.sms.texts import normalise_sms_locale

    for key in CAP_INFO_CHOICES:
        default = CAP_DEFAULTS[key]
        check.enum(key, data.get(key, default.value), type(default))
    event = check.line("event", data.get("event"), MAX_EVENT, required=True)
    if event is not None:
        check.out["event"] = event
    base = data.get("base_language", "zh_Hans")
    locale = normalise_sms_locale(base) if isinstance(base, str) else None
    if locale is None or locale not in _sms_locales():
        check.fail("base_language", _("Choose the language the alert is written in first."))
    else:
        check.out["base_language"] = locale


def _minutes(check: Check, data: Mapping[str, Any], key: str, bounds: tuple[int, int],
             default: int | None) -> None:
    """A number of minutes within ``bounds`` (a whole number, or its digits); left out or empty:
    ``default`` (None: nothing is set)."""
    raw = data.get(key)
    if raw is None or raw == "":
        if default is not None:
            check.out[key] = default
        return
    text = raw.strip() if isinstance(raw, str) else ""
    minutes = raw if type(raw) is int else (
        int(text) if text.isascii() and text.isdigit() and len(text) < 7 else None)
    low, high = bounds
    if minutes is None or not low <= minutes <= high:
        check.fail(key, _("Enter a number of minutes from %(low)d to %(high)d.", low=low, high=high))
    else:
        check.out[key] = minutes


def check_alert_fields(check: Check, data: Mapping[str, Any], msg_type: CapMsgType) -> None:
    for key in data:
        if key not in ALERT_FIELDS:
            check.fail(str(key)[:60], _("Unknown or read-only field."))
    check.enum("status", data.get("status", CAP_DEFAULTS["status"].value), CapStatus)
    check_cap_info(check, data)

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
        _minutes(check, data, "safety_check_minutes", SAFETY_MINUTES, DEFAULT_SAFETY_MINUTES)
        # The ladder's times: left out or empty, the alert keeps its own (a new one: the settings').
        for key in LADDER_FIELDS:
            _minutes(check, data, key, LADDER_MINUTES, None)
    else:
        check.out["safety_check_minutes"] = None
        check.out["resend_unanswered"] = False

    # The place and time of the event fill {place} and {time} (``alerts.authoring.placeholders``).
    place = check.line("place", data.get("place"), MAX_PLACE)
    if place is not None:
        check.out["place"] = place
    event_time = check.moment("event_time", data.get("event_time"), required=False)
    if event_time is not None and abs(event_time - check.now) > MAX_AHEAD:
        check.fail("event_time", _("Choose a time within twelve months of now."))
    elif "event_time" not in check.errors:
        check.out["event_time"] = event_time

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
    check.out.update(recurrence=None, recurrence_kind=None, recurrence_rule=None)
    if isinstance(raw_rule, Mapping):
        # A rule: its end date is the series' end (``expires_at`` given beside it is not used).
        check.errors.pop("expires_at", None)
        check.out.pop("expires_at", None)
        check_schedule(check, raw_rule, msg_type)
    elif raw_rule is None or (isinstance(raw_rule, str) and not raw_rule.strip()):
        pass
    elif not isinstance(raw_rule, str) or len(raw_rule) > 120:
        check.fail("recurrence", _("Choose how often it repeats."))
    elif msg_type != CapMsgType.Alert:
        check.fail("recurrence", _("An update or a cancel notice is sent once; it cannot repeat."))
    else:
        # The crontab of an alert written before schedules were chosen on the form: kept as it was.
        rule = " ".join(raw_rule.split())
        try:
            recurrence_trigger(rule)
        except (ValueError, TypeError, KeyError, IndexError):
            check.fail("recurrence", _("Enter a schedule such as 0 9 * * 1 (every Monday at 09:00): "
                                       "minute, hour, day of month, month, day of week."))
        else:
            _check_recurrence(check, rule)


def _check_recurrence(check: Check, rule: str) -> None:
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
    check.out.update(recurrence=rule, recurrence_kind=RecurrenceKind.cron)


def _check_texts(check: Check, texts: Any) -> dict[str, dict[str, str]]:
    from alerts.channels.sms.texts import normalise_sms_locale

    out: dict[str, dict[str, str]] = {}
    if not isinstance(texts, Mapping) or not texts:
        check.fail("texts", _("Write the alert in at least one language."))
        return out
    if len(texts) > MAX_LANGUAGES:
        check.fail("texts", ngettext("At most %(num)d language.", "At most %(num)d languages.",
                                     MAX_LANGUAGES))
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


def centre_place(areas: Iterable[Any]) -> str:
    """The place of the event when none is typed: the city a circle is drawn around. Whoever aimed
    at "Prato and 50 km" has named the place already; the texts' {place} says "near Prato"."""
    for area in areas:
        if getattr(area, "shape", "") == "circle" and getattr(area, "city", ""):
            return str(area.city)
    return ""


def _check_placeholders(check: Check, texts: Mapping[str, Mapping[str, str]]) -> None:
    """Only known placeholders, the same in every language, and the place and time given when
    the texts use them."""
    from alerts.authoring import placeholders

    for key, message in placeholders.check(texts, check.out.get("base_language", "")).items():
        check.fail(key, message)
    wanted = placeholders.used_anywhere(texts)
    if "place" in wanted and not check.out.get("place") and "place" not in check.errors:
        check.fail("place", _("The text uses {place}: enter the place of the event."))
    if "time" in wanted and check.out.get("event_time") is None and "event_time" not in check.errors:
        check.fail("event_time", _("The text uses {time}: enter the time of the event."))


def _check_lengths(check: Check, texts: Mapping[str, Mapping[str, str]],
                   areas: Sequence[AreaInput] = ()) -> None:
    """Each language's full SMS (signature, markers, safety prompt and footer included, the
    placeholders filled as for someone in the first area) within the limit."""
    from alerts.authoring import placeholders
    from alerts.authoring.compose import render_sms
    from alerts.channels.sms.encoding import analyse

    status = check.out.get("status", CAP_DEFAULTS["status"])
    expires = check.out.get("expires_at") or (check.now + timedelta(days=1))
    wanted = placeholders.used_anywhere(texts)
    first = areas[0] if areas else None
    for lang, fields in texts.items():
        if wanted:
            values = placeholders.values_for(
                locale=lang, tz_name=str(office_zone()), place=check.out.get("place", ""),
                event_time=check.out.get("event_time"), country_code=first.country_code if first else None,
                city=first.city if first else "", wanted=wanted)
            fields = placeholders.fill_fields(fields, values)
        sms = render_sms(headline=fields["headline"], body=fields["body"], locale=lang, status=status,
                         safety_check=bool(check.out.get("safety_check")), expires_at=expires,
                         tz_name=str(office_zone()), instruction=fields.get("instruction", ""),
                         msg_type=str(check.msg_type))
        segments = analyse(sms).segments
        if segments > MAX_SEGMENTS:
            check.fail(f"texts.{lang}.body", ngettext(
                "Too long: with the footer this message takes %(num)d SMS segment; the limit is "
                "%(max)d. Shorten it.",
                "Too long: with the footer this message takes %(num)d SMS segments; the limit is "
                "%(max)d. Shorten it.", segments, max=MAX_SEGMENTS))


def _check_areas(check: Check, areas: Any) -> list[AreaInput]:
    out: list[AreaInput] = []
    if not isinstance(areas, Sequence) or isinstance(areas, str) or not areas:
        check.fail("areas", _("Choose at least one country to send to."))
        return out
    if len(areas) > MAX_AREAS:
        check.fail("areas", ngettext("At most %(num)d area.", "At most %(num)d areas.", MAX_AREAS))
        return out
    seen: set[tuple[str, str]] = set()
    for i, area in enumerate(areas):
        raw_code: Any
        raw_city: Any
        if isinstance(area, AreaInput) and area.shape in GEO_SHAPES:
            geo_area = _check_geo_area(check, i, area.as_dict())
            if geo_area is not None:
                out.append(geo_area)
            continue
        if isinstance(area, AreaInput):
            raw_code, raw_city = area.country_code, area.city
        elif isinstance(area, Mapping) and area.get("shape") in GEO_SHAPES:
            geo_area = _check_geo_area(check, i, area)
            if geo_area is not None:
                out.append(geo_area)
            continue
        elif isinstance(area, Mapping):
            raw_code, raw_city = area.get("country_code"), area.get("city", "")
        else:
            check.fail(f"areas.{i}", _("Choose a country."))
            continue
        code = raw_code.strip().upper() if isinstance(raw_code, str) else ""
        city = check.line(f"areas.{i}.city", raw_city, MAX_CITY)  # checked too: every problem at once
        if not code or not i18n.is_country_code(code):
            check.fail(f"areas.{i}.country_code", _("Choose a country from the list."))
            continue
        if city is None:
            continue
        if (code, city.casefold()) in seen:
            continue
        seen.add((code, city.casefold()))
        out.append(AreaInput(code, city))
    # A whole country makes its cities redundant.
    whole = {a.country_code for a in out if not a.city and a.shape == "place"}
    return [a for a in out if a.shape != "place" or not a.city or a.country_code not in whole]


def clean_input(data: Mapping[str, Any], texts: Any, areas: Any, *,
                msg_type: CapMsgType = CapMsgType.Alert,
                now: datetime | None = None) -> tuple[dict[str, Any], dict[str, dict[str, str]],
                                                      list[AreaInput]]:
    """The alert's fields, texts and areas as they will be saved, or ``AlertInputError``."""
    check = Check(now or utcnow())
    if not isinstance(data, Mapping):
        raise AlertInputError({"": _("The request was not understood. Please check what you entered.")})
    check_alert_fields(check, data, msg_type)
    clean_texts = _check_texts(check, texts)
    clean_areas = _check_areas(check, areas)
    if "place" in check.out and not check.out["place"]:
        check.out["place"] = centre_place(clean_areas)
    check.msg_type = msg_type
    if clean_texts:
        _check_placeholders(check, clean_texts)
    if clean_texts and not any(k.startswith("texts.") for k in check.errors):
        _check_lengths(check, clean_texts, clean_areas)
    if check.errors:
        raise AlertInputError(check.errors)
    return check.out, clean_texts, clean_areas


def validate_alert(data: Mapping[str, Any], texts: Any, areas: Any, *,
                   msg_type: CapMsgType = CapMsgType.Alert) -> None:
    """Raise ``AlertInputError`` if this input could not be saved (the compose screen's check)."""
    clean_input(data, texts, areas, msg_type=msg_type)
