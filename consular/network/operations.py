"""Network operations: the only code that creates or changes divisions, liaison points, overseas
stations, missions and the coordination centre.

Each operation validates all of its input before it touches a row, so a refusal leaves nothing
half-written; then it writes, flushes and records an audit entry. The caller commits once. Nothing
is ever deleted: cases and users refer to these places, so a place that closes is deactivated.

Input is a mapping of field name to value, as a form or a JSON body gives it; values are checked
for type as well as content, because JSON can carry anything.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from functools import cache
from typing import Any, TypeVar, cast
from zoneinfo import available_timezones

import phonenumbers
import sqlalchemy as sa
from babel import Locale, UnknownLocaleError
from email_validator import EmailNotValidError, validate_email
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

import i18n
from consular.audit.operations import record
from consular.auth.models import Role, User
from consular.db import db, utcnow
from consular.network.models import (
    CoordinationCentre,
    Division,
    DivisionLevel,
    HostKind,
    LiaisonPoint,
    Mission,
    MissionKind,
    ServiceStation,
)
from consular.network.names import NAME_LOCALES
from consular.validation import clean_text, too_long_message
from consular.validation import message as refused_text_message

# Writable fields of each entity, in the order forms show them. Anything else is refused.
DIVISION_FIELDS = ("code", "name", "name_en", "level", "parent_id")
POINT_FIELDS = ("name", "name_en", "names", "division_id", "address", "phone")
STATION_FIELDS = ("name", "name_en", "names", "country_code", "city", "host_organisation", "host_kind",
                  "timezone", "languages", "contact_name", "contact_phone", "contact_email")
MISSION_FIELDS = ("name", "name_en", "names", "kind", "country_code", "city", "emergency_phone",
                  "phone", "address")
CENTRE_FIELDS = ("name", "name_en", "names", "city", "address", "phone", "hotline_24h", "timezone")

# Length limits follow the columns (models.py).
MAX = {
    "code": 20, "division_name": 100, "point_name": 120, "station_name": 160,
    "mission_name": 200, "centre_name": 200, "city": 120, "address": 300,
    "host_organisation": 200, "contact_name": 120, "contact_email": 200, "languages": 100,
    "phone_input": 40,
}

# Which level a division's parent must have.
PARENT_LEVEL: dict[DivisionLevel, DivisionLevel | None] = {
    DivisionLevel.county: None,
    DivisionLevel.township: DivisionLevel.county,
    DivisionLevel.village: DivisionLevel.township,
}

MAX_ID = 2**31 - 1
CODE_RE = re.compile(r"^[0-9A-Za-z_-]+$")
HOME_REGION = "CN"  # liaison points and the centre are in the city

M = TypeVar("M", Division, LiaisonPoint, ServiceStation, Mission, CoordinationCentre)


class NetworkError(ValueError):
    """Input that cannot be saved; ``errors`` maps each field to a message for the user."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        super().__init__("; ".join(f"{key}: {message}" for key, message in errors.items()))
        self.errors = dict(errors)


class NetworkConflict(ValueError):
    """A change the current state of the network does not allow; the message is for the user."""


# --- validation ---------------------------------------------------------------------------------


@cache
def _zones() -> dict[str, str]:
    return {zone.lower(): zone for zone in available_timezones()}


def _phone_example(region: str | None) -> str:
    number = phonenumbers.example_number(region or HOME_REGION) or \
        phonenumbers.example_number(HOME_REGION)
    if number is None:
        return "+86 10 1234 5678"
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def normalise_phone(raw: str, region: str | None) -> str:
    """E.164 form of ``raw``; a number without ``+`` is read as a number of ``region``."""
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        raise ValueError(raw) from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError(raw)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_language(code: str) -> str:
    """A BCP-47-ish tag (``zh``, ``zh-Hant``, ``pt-BR``) that Babel knows, in canonical case:
    a language, then optionally a script and a region; nothing else."""
    parts = code.strip().replace("_", "-").split("-")
    if not all(part.isascii() and part.isalnum() for part in parts):
        raise ValueError(code)
    language, rest = parts[0].lower(), parts[1:]
    if not (2 <= len(language) <= 3 and language.isalpha()):
        raise ValueError(code)
    script = rest.pop(0).title() if rest and len(rest[0]) == 4 and rest[0].isalpha() else ""
    region = ""
    if rest and ((len(rest[0]) == 2 and rest[0].isalpha()) or (len(rest[0]) == 3 and rest[0].isdigit())):
        region = rest.pop(0).upper()
    if rest:
        raise ValueError(code)
    subtags = [tag for tag in (language, script, region) if tag]
    try:
        locale = Locale.parse("_".join(subtags))
    except (UnknownLocaleError, ValueError, TypeError):
        raise ValueError(code) from None
    # Babel widens unknown-but-well-formed tags ("und" → en_US); refuse what is not what was asked.
    if locale.language != language:
        raise ValueError(code)
    return "-".join(subtags)


class _Input:
    """Checks one mapping of field values, collecting every problem before any is reported."""

    def __init__(self, data: Mapping[str, Any], allowed: Iterable[str]) -> None:
        self.data = dict(data)
        self.errors: dict[str, str] = {}
        self.out: dict[str, Any] = {}
        allowed = set(allowed)
        for key in self.data:
            if key not in allowed:
                self.errors[str(key)[:60]] = _("Unknown or read-only field.")
        self.data = {k: v for k, v in self.data.items() if k in allowed}

    def fail(self, key: str, message: str) -> None:
        self.errors.setdefault(key, message)

    def require(self, *keys: str) -> None:
        for key in keys:
            if key not in self.data:
                self.fail(key, _("This field is required."))

    def text(self, key: str, max_len: int, *, required: bool = False) -> str | None:
        if key not in self.data:
            return None
        raw = self.data[key]
        if raw is None:
            raw = ""
        if not isinstance(raw, str):
            self.fail(key, _("Enter text."))
            return None
        # One-line fields: tabs and line breaks become spaces; what the rule refuses is refused.
        value = clean_text(raw)
        if value is None:
            self.fail(key, refused_text_message())
            return None
        if required and not value:
            self.fail(key, _("This field is required."))
            return None
        if len(value) > max_len:
            self.fail(key, too_long_message(max_len))
            return None
        self.out[key] = value
        return value

    def choice(self, key: str, enum: type[DivisionLevel] | type[HostKind] | type[MissionKind]) -> None:
        if key not in self.data:
            return
        raw = self.data[key]
        values = [member.value for member in enum]
        if not isinstance(raw, str) or raw.strip() not in values:
            self.fail(key, _("Choose one of: %(choices)s.", choices=", ".join(values)))
            return
        self.out[key] = enum(raw.strip())

    def identifier(self, key: str, *, nullable: bool = False) -> None:
        if key not in self.data:
            return
        raw = self.data[key]
        if raw is None or raw == "" or raw == "0" or (type(raw) is int and raw == 0):
            if nullable:
                self.out[key] = None
            else:
                self.fail(key, _("This field is required."))
            return
        if isinstance(raw, str):  # a form's select sends the id as text
            digits = raw.strip()
            raw = int(digits) if digits.isascii() and digits.isdigit() and len(digits) < 12 else raw
        if not isinstance(raw, int) or isinstance(raw, bool) or not 0 < raw <= MAX_ID:
            self.fail(key, _("Choose an entry from the list."))
            return
        self.out[key] = raw

    def country(self, key: str) -> None:
        value = self.text(key, 64, required=True)
        if value is None:
            return
        code = value.upper()
        if not i18n.is_country_code(code):
            self.out.pop(key, None)
            self.fail(key, _("Not a country code. Use the two-letter ISO code, for example IT."))
            return
        self.out[key] = code

    def timezone(self, key: str) -> None:
        value = self.text(key, 64, required=True)
        if value is None:
            return
        zone = _zones().get(value.lower())
        if zone is None:
            self.out.pop(key, None)
            self.fail(key, _("Not a time zone. Use an IANA name such as Europe/Rome."))
            return
        self.out[key] = zone

    def phone(self, key: str, region: str | None, *, required: bool = False) -> None:
        value = self.text(key, MAX["phone_input"], required=required)
        if not value:
            return
        if region is None and "country_code" in self.errors and not value.startswith("+"):
            return  # a local number is read in its country: the country's error comes first
        try:
            self.out[key] = normalise_phone(value, region)
        except ValueError:
            self.out.pop(key, None)
            self.fail(key, _("Not a valid phone number. Use the international format, for example "
                             "%(example)s.", example=_phone_example(region)))

    def email(self, key: str) -> None:
        value = self.text(key, MAX["contact_email"])
        if not value:
            return
        try:
            self.out[key] = validate_email(value, check_deliverability=False).normalized
        except EmailNotValidError:
            self.out.pop(key, None)
            self.fail(key, _("Not a valid email address."))

    def languages(self, key: str) -> None:
        if key not in self.data:
            return
        raw = self.data[key]
        if isinstance(raw, list | tuple):  # JSON may send ["zh", "it"]
            if not all(isinstance(item, str) for item in raw):
                self.fail(key, _("Enter language codes such as zh, en, it."))
                return
            self.data[key] = ",".join(raw)
        value = self.text(key, 400, required=True)
        if value is None:
            return
        self.out.pop(key, None)
        codes: list[str] = []
        for part in value.split(","):
            if not part.strip():
                continue
            try:
                code = normalise_language(part)
            except ValueError:
                self.fail(key, _("Unknown language code: %(code)s. Use codes such as zh, en, it, "
                                 "fr.", code=part.strip()[:20]))
                return
            if code not in codes:
                codes.append(code)
        joined = ",".join(codes)
        if not codes:
            self.fail(key, _("This field is required."))
        elif len(joined) > MAX["languages"]:
            self.fail(key, _("Too many languages."))
        else:
            self.out[key] = joined

    def names(self, key: str, max_len: int) -> None:
        """The place's names in other languages: an object of locale (``NAME_LOCALES``) to a name,
        each checked as a one-line field; empty names are dropped. It replaces the stored map."""
        if key not in self.data:
            return
        raw = self.data[key]
        if raw is None:
            raw = {}
        if not isinstance(raw, Mapping):
            self.fail(key, _("Give the names as an object of language code to name, e.g. "
                             "{\"it\": \"…\"}."))
            return
        if len(raw) > 2 * len(NAME_LOCALES):
            self.fail(key, _("Too many languages."))
            return
        names: dict[str, str] = {}
        for language, value in raw.items():
            field = f"{key}.{str(language)[:20]}"
            if language not in NAME_LOCALES:
                self.fail(field, _("Names can be given in these languages: %(languages)s (Chinese and "
                                   "English have their own fields).", languages=", ".join(NAME_LOCALES)))
                continue
            checked = _Input({field: value}, [field])
            text = checked.text(field, max_len)
            if checked.errors:
                self.errors.update(checked.errors)
            elif text:
                names[language] = text
        if not any(k == key or k.startswith(f"{key}.") for k in self.errors):
            self.out[key] = {lang: names[lang] for lang in NAME_LOCALES if lang in names}

    def done(self) -> dict[str, Any]:
        if self.errors:
            raise NetworkError(self.errors)
        return self.out


def _unchanged_dropped(obj: Any, data: Mapping[str, Any], fields: Iterable[str]) -> dict[str, Any]:
    """An edit form sends every field; those equal to what is stored need no new check (a value
    stored before a rule existed must not block an unrelated edit)."""
    names = set(fields)
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key in names and type(value) is not bool and value == getattr(obj, key):
            continue
        out[key] = value
    return out


def _apply(obj: Any, values: Mapping[str, Any]) -> list[str]:
    changed = [key for key, value in values.items() if getattr(obj, key) != value]
    for key in changed:
        setattr(obj, key, values[key])
    return sorted(changed)


def _created(obj: Any, object_type: str, values: Mapping[str, Any]) -> None:
    db.session.add(obj)
    db.session.flush()
    record(f"{object_type}.create", object_type, obj.id,
           {"fields": sorted(k for k, v in values.items() if v not in ("", None))})


def _updated(obj: Any, object_type: str, changed: list[str]) -> None:
    if changed:
        db.session.flush()
        record(f"{object_type}.update", object_type, obj.id, {"fields": changed})


def _set_active(obj: Any, object_type: str, active: bool) -> bool:
    if obj.active == active:
        return False
    obj.active = active
    db.session.flush()
    record(f"{object_type}.{'reactivate' if active else 'deactivate'}", object_type, obj.id)
    return True


# --- divisions ----------------------------------------------------------------------------------


def _check_division(check: _Input, division: Division | None) -> None:
    code = check.text("code", MAX["code"], required=True)
    if code is not None:
        if not CODE_RE.match(code):
            check.out.pop("code", None)
            check.fail("code", _("Letters, digits, dash and underscore only."))
        else:
            clash = db.session.scalar(sa.select(Division.id).where(Division.code == code))
            if clash is not None and (division is None or clash != division.id):
                check.out.pop("code", None)
                check.fail("code", _("Another division already has this code."))
    check.text("name", MAX["division_name"], required=True)
    check.text("name_en", MAX["division_name"])
    check.choice("level", DivisionLevel)
    check.identifier("parent_id", nullable=True)
    if "level" in check.errors or "parent_id" in check.errors:
        return

    level: DivisionLevel | None = check.out.get("level", division.level if division else None)
    parent_id = check.out.get("parent_id", division.parent_id if division else None)
    if level is None:
        return
    wanted = PARENT_LEVEL[level]
    parent = db.session.get(Division, parent_id) if parent_id is not None else None
    if parent_id is not None and parent is None:
        check.fail("parent_id", _("Choose an entry from the list."))
    elif wanted is None and parent is not None:
        check.fail("parent_id", _("A county or district has no parent division."))
    elif wanted is not None and (parent is None or parent.level != wanted):
        check.fail("parent_id", _("A township must belong to a county or district.")
                   if level == DivisionLevel.township
                   else _("A village must belong to a township or street office."))
    elif parent is not None and not parent.active and \
            (division is None or division.parent_id != parent.id):
        check.fail("parent_id", _("This division is deactivated."))

    if division is not None and level != division.level:
        has_children = db.session.scalar(
            sa.select(sa.func.count()).select_from(Division).where(Division.parent_id == division.id))
        has_points = db.session.scalar(
            sa.select(sa.func.count()).select_from(LiaisonPoint)
            .where(LiaisonPoint.division_id == division.id))
        if has_children or has_points:
            check.fail("level", _("This division has sub-divisions or liaison points; its level "
                                  "cannot change."))


def create_division(data: Mapping[str, Any]) -> Division:
    check = _Input(data, DIVISION_FIELDS)
    check.require("code", "name", "level")
    _check_division(check, None)
    values = check.done()
    values.setdefault("parent_id", None)
    division = Division(**values)
    _created(division, "division", values)
    return division


def update_division(division: Division, data: Mapping[str, Any]) -> list[str]:
    check = _Input(_unchanged_dropped(division, data, DIVISION_FIELDS), DIVISION_FIELDS)
    _check_division(check, division)
    changed = _apply(division, check.done())
    _updated(division, "division", changed)
    return changed


def deactivate_division(division: Division) -> bool:
    if division.active:
        children = db.session.scalar(
            sa.select(sa.func.count()).select_from(Division)
            .where(Division.parent_id == division.id, Division.active.is_(True))) or 0
        points = db.session.scalar(
            sa.select(sa.func.count()).select_from(LiaisonPoint)
            .where(LiaisonPoint.division_id == division.id, LiaisonPoint.active.is_(True))) or 0
        if children or points:
            raise NetworkConflict(_(
                "This division still has %(divisions)s and %(points)s. Deactivate or move them "
                "first.",
                divisions=ngettext("%(num)d active sub-division", "%(num)d active sub-divisions",
                                   children),
                points=ngettext("%(num)d active liaison point", "%(num)d active liaison points",
                                points)))
    return _set_active(division, "division", False)


def reactivate_division(division: Division) -> bool:
    if not division.active and division.parent is not None and not division.parent.active:
        raise NetworkConflict(_("The parent division %(name)s is deactivated. Reactivate it first.",
                                name=division.parent.name))
    return _set_active(division, "division", True)


# --- liaison points -----------------------------------------------------------------------------


def _check_point(check: _Input) -> None:
    check.text("name", MAX["point_name"], required=True)
    check.text("name_en", MAX["point_name"])
    check.names("names", MAX["point_name"])
    check.text("address", MAX["address"])
    check.phone("phone", HOME_REGION, required=True)
    check.identifier("division_id")
    division_id = check.out.get("division_id")
    if division_id is not None:
        division = db.session.get(Division, division_id)
        if division is None:
            check.fail("division_id", _("Choose an entry from the list."))
        elif division.level == DivisionLevel.county:
            check.fail("division_id", _("A liaison point belongs to a township, street office or "
                                        "village, not to a whole county."))
        elif not division.active:
            check.fail("division_id", _("This division is deactivated."))


def create_liaison_point(data: Mapping[str, Any]) -> LiaisonPoint:
    check = _Input(data, POINT_FIELDS)
    check.require("name", "division_id", "phone")
    _check_point(check)
    values = check.done()
    point = LiaisonPoint(**values)
    _created(point, "liaison_point", values)
    return point


def update_liaison_point(point: LiaisonPoint, data: Mapping[str, Any]) -> list[str]:
    check = _Input(_unchanged_dropped(point, data, POINT_FIELDS), POINT_FIELDS)
    _check_point(check)
    changed = _apply(point, check.done())
    _updated(point, "liaison_point", changed)
    return changed


def deactivate_liaison_point(point: LiaisonPoint) -> bool:
    return _set_active(point, "liaison_point", False)


def reactivate_liaison_point(point: LiaisonPoint) -> bool:
    if not point.active and not point.division.active:
        raise NetworkConflict(_("The division %(name)s is deactivated. Reactivate it first, or "
                                "move the liaison point.", name=point.division.name))
    return _set_active(point, "liaison_point", True)


# --- overseas service stations ------------------------------------------------------------------


def _region(check: _Input, current: str | None) -> str | None:
    """The country whose numbering a local number is read in: the new one if valid, else the
    stored one; with neither, only international numbers are understood."""
    if "country_code" in check.errors:
        return None
    return check.out.get("country_code", current)


def _check_station(check: _Input, station: ServiceStation | None) -> None:
    check.text("name", MAX["station_name"], required=True)
    check.text("name_en", MAX["station_name"])
    check.names("names", MAX["station_name"])
    check.country("country_code")
    check.text("city", MAX["city"], required=True)
    check.text("host_organisation", MAX["host_organisation"], required=True)
    check.choice("host_kind", HostKind)
    check.timezone("timezone")
    check.languages("languages")
    check.text("contact_name", MAX["contact_name"])
    check.phone("contact_phone", _region(check, station.country_code if station else None))
    check.email("contact_email")


def create_station(data: Mapping[str, Any]) -> ServiceStation:
    check = _Input(data, STATION_FIELDS)
    check.require("name", "country_code", "city", "host_organisation", "timezone", "languages")
    _check_station(check, None)
    values = check.done()
    station = ServiceStation(**values)
    _created(station, "station", values)
    return station


def update_station(station: ServiceStation, data: Mapping[str, Any]) -> list[str]:
    check = _Input(_unchanged_dropped(station, data, STATION_FIELDS), STATION_FIELDS)
    _check_station(check, station)
    changed = _apply(station, check.done())
    _updated(station, "station", changed)
    return changed


def deactivate_station(station: ServiceStation) -> bool:
    return _set_active(station, "station", False)


def reactivate_station(station: ServiceStation) -> bool:
    return _set_active(station, "station", True)


# --- missions -----------------------------------------------------------------------------------


def _check_mission(check: _Input, mission: Mission | None) -> None:
    check.text("name", MAX["mission_name"], required=True)
    check.text("name_en", MAX["mission_name"])
    check.names("names", MAX["mission_name"])
    check.choice("kind", MissionKind)
    check.country("country_code")
    check.text("city", MAX["city"], required=True)
    region = _region(check, mission.country_code if mission else None)
    check.phone("emergency_phone", region, required=True)
    check.phone("phone", region)
    check.text("address", MAX["address"])


def create_mission(data: Mapping[str, Any]) -> Mission:
    check = _Input(data, MISSION_FIELDS)
    check.require("name", "kind", "country_code", "city", "emergency_phone")
    _check_mission(check, None)
    values = check.done()
    mission = Mission(**values)
    _created(mission, "mission", values)
    return mission


def update_mission(mission: Mission, data: Mapping[str, Any]) -> list[str]:
    check = _Input(_unchanged_dropped(mission, data, MISSION_FIELDS), MISSION_FIELDS)
    _check_mission(check, mission)
    changed = _apply(mission, check.done())
    _updated(mission, "mission", changed)
    return changed


def deactivate_mission(mission: Mission) -> bool:
    return _set_active(mission, "mission", False)


def reactivate_mission(mission: Mission) -> bool:
    return _set_active(mission, "mission", True)


# --- the coordination centre --------------------------------------------------------------------


def the_centre() -> CoordinationCentre | None:
    """The centre's row (there is one; the first if a hand-made database has several)."""
    return db.session.scalar(sa.select(CoordinationCentre).order_by(CoordinationCentre.id).limit(1))


def update_centre(data: Mapping[str, Any]) -> tuple[CoordinationCentre, list[str]]:
    """Change the centre's details; the first call on an empty network creates the row."""
    centre = the_centre()
    check = _Input(_unchanged_dropped(centre, data, CENTRE_FIELDS) if centre else data,
                   CENTRE_FIELDS)
    if centre is None:
        check.require("name", "city")
    check.text("name", MAX["centre_name"], required=True)
    check.text("name_en", MAX["centre_name"])
    check.names("names", MAX["centre_name"])
    check.text("city", MAX["city"], required=True)
    check.text("address", MAX["address"])
    check.phone("phone", HOME_REGION)
    check.phone("hotline_24h", HOME_REGION)
    if "timezone" in check.data:
        check.timezone("timezone")
    values = check.done()
    if centre is None:
        centre = CoordinationCentre(**values)
        _created(centre, "centre", values)
        return centre, sorted(values)
    changed = _apply(centre, values)
    _updated(centre, "centre", changed)
    return centre, changed


# --- activity: what keeps a place off the coverage report's "quiet" list -------------------------

# Work closer together than this does not move the mark again: the report counts in days, and a
# busy station's row need not be rewritten by each of its volunteers' clicks in a crisis.
ACTIVITY_GRAIN = timedelta(minutes=1)


def touch_activity(*, station_id: int | None = None, point_id: int | None = None,
                   at: datetime | None = None) -> None:
    """Record that a service station or a liaison point did real work (a case logged, accepted,
    updated or resolved; a registrant added or changed), in the caller's transaction. The coverage
    report calls a station quiet by this mark; it never moves back, and activity is not an edit of
    the place's record (its ``updated_at`` stays)."""
    now = at or utcnow()
    for model, row_id in ((ServiceStation, station_id), (LiaisonPoint, point_id)):
        if row_id is None:
            continue
        mark = model.last_activity_at
        result = cast(sa.CursorResult[Any], db.session.execute(
            sa.update(model)
            .where(model.id == row_id, sa.or_(mark.is_(None), mark < now - ACTIVITY_GRAIN))
            .values(last_activity_at=now, updated_at=model.updated_at)
            .execution_options(synchronize_session=False)))
        loaded = db.session.identity_map.get(identity_key(model, row_id))
        if loaded is not None and result.rowcount:
            set_committed_value(loaded, "last_activity_at", now)


def touch_activity_of(user: User | None, at: datetime | None = None) -> None:
    """``user``'s own place did work: a liaison officer's point, a station volunteer's station.
    The centre's people (and the system) have no place to mark."""
    if user is None:
        return
    if user.role == Role.liaison_officer and user.liaison_point_id is not None:
        touch_activity(point_id=user.liaison_point_id, at=at)
    elif user.role == Role.station_volunteer and user.station_id is not None:
        touch_activity(station_id=user.station_id, at=at)
