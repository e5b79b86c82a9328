"""Checking the input of case operations: the limits, the error every operation raises
(:class:`CaseInputError`), the field checker that collects every problem before any is reported,
and a person's fields.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from enum import StrEnum
from functools import cache
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, available_timezones

from flask_babel import gettext as _
from flask_babel import ngettext

import i18n
from config import current_settings
from consular import phones
from consular.cases.models import Gender, IdKind, PersonRole
from consular.cases.names import has_han
from consular.cases.search_keys import normalise_id_number
from consular.db import MAX_ID, utcnow
from consular.validation import FieldChecker, clean_text, day_of
from consular.validation import message as refused_text_message

E = TypeVar("E", bound=StrEnum)

HOME_REGION = "CN"
MAX_PERSONS = 50
MAX_MASS_ROWS = 500
MAX_DRAFTS = 20
MAX_DRAFT_BYTES = 64_000
FUTURE_TOLERANCE = timedelta(minutes=5)
EARLIEST = datetime(1950, 1, 1).date()

# Length limits follow the columns (models.py); encrypted text fields get generous, finite limits.
MAX = {
    "summary": 200, "narrative": 20_000, "city": 120, "place": 200, "tags": 300, "tag": 40,
    "name_zh": 60, "name_latin": 100, "relationship": 60, "note": 4000, "id_number": 30,
    "phone": 40, "reason": 2000, "instructions": 2000, "waiting_on": 500, "target_name": 200,
    "external_reference": 100, "title": 200, "description": 5000,
}

CASE_FIELDS = ("kind", "category", "priority", "summary", "narrative", "country_code", "city",
               "division_id", "place", "timezone", "occurred_at", "channel", "tags", "liaison_point_id",
               "reporting_station_id")
CASE_EDIT_FIELDS = tuple(f for f in CASE_FIELDS if f != "priority")
PERSON_FIELDS = ("role", "name_zh", "name_latin", "gender", "birth_date", "nationality", "id_kind",
                 "id_number", "phone", "relationship", "note")
MASS_COLUMNS = ("name_zh", "name_latin", "birth_date", "id_number", "phone", "gender", "note")
INCIDENT_FIELDS = ("title", "country_code", "city", "occurred_at", "description")

RESIDENT_ID_RE = re.compile(r"^\d{17}[\dX]$")
ID_RE = re.compile(r"^[A-Z0-9]{5,30}$")
LATIN_NAME_RE = re.compile(r"^[^\W\d_]+(?:[ .,'’\-]+[^\W\d_]+)*\.?$")
# What may stand between the words of a name, in any script: 约翰·史密斯, O'NEIL, JEAN-PAUL.
NAME_SEPARATORS = frozenset(" ·・.,'’-")


# --- errors -------------------------------------------------------------------------------------


def _too_many_people() -> str:
    return ngettext("At most %(num)d person in one case; use mass intake for more.",
                    "At most %(num)d people in one case; use mass intake for more.", MAX_PERSONS)


def _too_many_at_once() -> str:
    return ngettext("At most %(num)d person at once.", "At most %(num)d people at once.", MAX_MASS_ROWS)


class CaseInputError(ValueError):
    """Input that cannot be saved; ``errors`` maps each field to a message for the user. Keys of a
    person's fields are ``persons.<n>.<field>``; mass-intake lines are ``lines.<n>``."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        super().__init__("; ".join(f"{key}: {message}" for key, message in errors.items()))
        self.errors = dict(errors)


# --- input checking -----------------------------------------------------------------------------


@cache
def _zones() -> dict[str, str]:
    return {zone.lower(): zone for zone in available_timezones()}


def _choices(enum: type[StrEnum], exclude: Iterable[str] = ()) -> list[str]:
    return [m.value for m in enum if m.value not in set(exclude)]


class _Check(FieldChecker):
    """A case's fields (a person's, under ``prefix``), sharing one ``errors`` mapping with the others."""

    def __init__(self, data: Any, allowed: Iterable[str], errors: dict[str, str] | None = None,
                 prefix: str = "") -> None:
        self.errors: dict[str, str] = {} if errors is None else errors
        self.prefix = prefix
        self.out: dict[str, Any] = {}
        if not isinstance(data, Mapping):
            self.fail("", _("Expected a set of fields."))
            self.data: dict[str, Any] = {}
            return
        allowed = set(allowed)
        self.data = {}
        for key, value in data.items():
            if key in allowed:
                self.data[key] = value
            else:
                self.fail(str(key)[:60], _("Unknown or read-only field."))

    def fail(self, key: str, message: str) -> None:
        self.errors.setdefault(f"{self.prefix}{key}" if key else self.prefix.rstrip(".") or "input",
                               message)
        self.out.pop(key, None)

    def failed(self, key: str) -> bool:
        return f"{self.prefix}{key}" in self.errors

    def given(self, key: str) -> bool:
        value = self.data.get(key)
        return key in self.data and value is not None and value != "" and value != []

    def blank(self, key: str) -> bool:
        """True when ``key`` has no value; one sent empty is recorded as cleared (None)."""
        if self.given(key):
            return False
        if key in self.data:
            self.out[key] = None
        return True

    def text(self, key: str, max_len: int, *, required: bool = False, multiline: bool = False,
             default: str | None = None) -> str | None:
        if key not in self.data:
            if required:
                self.fail(key, _("This field is required."))
            elif default is not None:
                self.out[key] = default
            return None
        return super().text(key, max_len, required=required, multiline=multiline)

    def choice(self, key: str, enum: type[E], *, default: E | None = None,
               exclude: Iterable[str] = (), required: bool = False) -> E | None:
        if not self.given(key):
            if required:
                self.fail(key, _("This field is required."))
            elif default is not None:
                self.out[key] = default
            return default
        raw = self.data[key]
        allowed = _choices(enum, exclude)
        value = raw.value if isinstance(raw, StrEnum) else raw
        if not isinstance(value, str) or value.strip() not in allowed:
            self.fail(key, _("Choose one of: %(choices)s.", choices=", ".join(allowed)))
            return None
        member = enum(value.strip())
        return self.keep(key, member)

    def identifier(self, key: str) -> int | None:
        if not self.given(key) or self.data[key] in ("0", 0):
            if key in self.data:
                self.out[key] = None
            return None
        raw = self.data[key]
        if isinstance(raw, str):
            digits = raw.strip()
            raw = int(digits) if digits.isascii() and digits.isdigit() and len(digits) < 12 else raw
        if not isinstance(raw, int) or isinstance(raw, bool) or not 0 < raw <= MAX_ID:
            self.fail(key, _("Choose an entry from the list."))
            return None
        return self.keep(key, raw)

    def country(self, key: str, *, required: bool = False) -> str | None:
        if not self.given(key):
            if required:
                self.fail(key, _("This field is required."))
            elif key in self.data:
                self.out[key] = None
            return None
        value = self.text(key, 64)
        if value is None:
            return None
        code = value.upper()
        return self.keep_unless(key, code, (
            not i18n.is_country_code(code),
            _("Not a country code. Use the two-letter ISO code, for example IT.")))

    def timezone(self, key: str) -> str | None:
        if self.blank(key):
            return None
        value = self.text(key, 64)
        if value is None:
            return None
        zone = _zones().get(value.lower())
        return self.keep_unless(key, zone, (
            zone is None, _("Not a time zone. Use an IANA name such as Europe/Rome.")))

    def birth_date(self, key: str) -> date | None:
        if self.blank(key):
            return None
        value = day_of(self.data[key],
                       lambda text: _parse_date(text.strip()) if len(text.strip()) <= 10 else None)
        if value is None:
            self.fail(key, _("Enter a date as YYYY-MM-DD, for example 1980-03-15."))
            return None
        return self.keep_unless(key, value,
                                (value > utcnow().date(), _("A birth date cannot be in the future.")),
                                (value.year < 1900, _("Check the year: it is before 1900.")))

    def moment(self, key: str, zone: str | None) -> datetime | None:
        """A past date and time; one without a UTC offset is read in ``zone`` (else the office's)."""
        if self.blank(key):
            return None
        raw = self.data[key]
        value: datetime | None = None
        if isinstance(raw, datetime):
            value = raw
        elif isinstance(raw, date):
            value = datetime(raw.year, raw.month, raw.day)
        elif isinstance(raw, str) and len(raw.strip()) <= 40:
            try:
                value = datetime.fromisoformat(raw.strip())
            except ValueError:
                value = None
        if value is None:
            self.fail(key, _("Enter a date and time such as 2026-03-01 14:30."))
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=ZoneInfo(zone or current_settings().office_timezone))
        return self.keep_unless(
            key, value, (value > utcnow() + FUTURE_TOLERANCE, _("This cannot be in the future.")),
            (value.date() < EARLIEST, _("Check the year: it is too far in the past.")))

    def phone(self, key: str, region: str | None) -> str | None:
        if self.blank(key):
            return None
        value = self.text(key, MAX["phone"])
        if not value:
            return None
        try:
            e164 = phones.normalise(value, region or HOME_REGION)
        except ValueError:
            self.fail(key, _("Not a valid phone number. Use the international format, for example "
                             "+39 0574 123456."))
            return None
        return self.keep(key, e164)

    def tags(self, key: str) -> str | None:
        if key not in self.data:
            return None
        raw = self.data[key]
        if raw is None:
            raw = ""
        if isinstance(raw, list | tuple):
            if not all(isinstance(item, str) for item in raw):
                self.fail(key, _("Enter tags as words separated by commas."))
                return None
            raw = ",".join(raw)
        if not isinstance(raw, str):
            self.fail(key, _("Enter tags as words separated by commas."))
            return None
        tags: list[str] = []
        for part in re.split(r"[,，、;；]", raw):
            tag = clean_text(part)
            if tag is None:
                self.fail(key, refused_text_message())
                return None
            tag = tag.lower()
            if not tag:
                continue
            if len(tag) > MAX["tag"]:
                self.fail(key, ngettext("A tag has at most %(num)d character.",
                                        "A tag has at most %(num)d characters.", MAX["tag"]))
                return None
            if tag not in tags:
                tags.append(tag)
        joined = ",".join(tags)
        if len(joined) > MAX["tags"]:
            self.fail(key, _("Too many tags."))
            return None
        return self.keep(key, joined)

    def done(self) -> dict[str, Any]:
        if self.errors:
            raise CaseInputError(self.errors)
        return self.out


def _parse_date(text: str) -> date | None:
    match = re.fullmatch(r"(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?", text)
    if not match:
        return None
    try:
        return date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return None


# --- people -------------------------------------------------------------------------------------


def _check_person(data: Any, errors: dict[str, str], prefix: str, *, region_abroad: str | None,
                  region_reporter: str | None, partial: bool = False,
                  current_role: PersonRole | None = None) -> dict[str, Any]:
    check = _Check(data, PERSON_FIELDS, errors, prefix)
    role = check.choice("role", PersonRole, default=None if partial else PersonRole.involved)
    name_zh = check.text("name_zh", MAX["name_zh"])
    name_latin = check.text("name_latin", MAX["name_latin"])
    for key, name in (("name_zh", name_zh), ("name_latin", name_latin)):
        if name and not is_name_text(name):
            check.fail(key, _("A name holds letters only, with spaces, dots, apostrophes or hyphens "
                              "between words: no digits, emoji or other signs."))
    if name_latin and not check.failed("name_latin") and (
            has_han(name_latin) or not LATIN_NAME_RE.match(name_latin)):
        check.fail("name_latin", _("Write the name in Latin letters, as in the passport."))
    check.choice("gender", Gender, default=None if partial else Gender.unknown)
    check.birth_date("birth_date")
    nationality = check.country("nationality")
    kind = check.choice("id_kind", IdKind)
    if check.given("id_number"):
        raw = check.text("id_number", MAX["id_number"])
        if raw is not None:
            number = normalise_id_number(raw)
            if not ID_RE.match(number):
                check.fail("id_number", _("An ID or passport number has 5 to 30 letters and digits."))
            elif kind == IdKind.resident_id and not RESIDENT_ID_RE.match(number):
                check.fail("id_number", _("A resident ID number has 18 characters: 17 digits, then a "
                                          "digit or X."))
            else:
                check.out["id_number"] = number
                if kind is None and not check.given("id_kind") and not check.failed("id_kind") \
                        and not partial:
                    # A foreign national's number is their passport's; ours is a resident ID
                    # card's when it has its form, else a Chinese passport's.
                    check.out["id_kind"] = (
                        IdKind.foreign_passport if nationality and nationality != HOME_REGION
                        else IdKind.resident_id if RESIDENT_ID_RE.match(number) else IdKind.passport)
    elif "id_number" in check.data:
        check.out["id_number"] = None
    who = role or current_role or PersonRole.involved
    region = {PersonRole.involved: region_abroad, PersonRole.reporter: region_reporter}.get(
        who, HOME_REGION)
    check.phone("phone", region)
    check.text("relationship", MAX["relationship"])
    check.text("note", MAX["note"], multiline=True)
    if "relationship" in check.out:
        check.out["relationship_to_involved"] = check.out.pop("relationship")
    for key in ("name_zh", "name_latin", "note"):
        if check.out.get(key) == "":
            check.out[key] = None
    return check.out


def is_name_text(name: str) -> bool:
    """The one rule for the characters of a person's name, in Chinese or as in the passport:
    letters of any script with the accents they carry, and the separators between words. No
    digits, emoji, symbols or invisible joiners (variation selectors make a letter an emoji)."""
    for ch in name:
        category = unicodedata.category(ch)
        if category.startswith("L") or ch in NAME_SEPARATORS:
            continue
        if category in ("Mn", "Mc") and not ("\ufe00" <= ch <= "\ufe0f"
                                             or "\U000e0100" <= ch <= "\U000e01ef"):
            continue
        return False
    return True


def _has_name(values: Mapping[str, Any]) -> bool:
    return bool(values.get("name_zh") or values.get("name_latin"))


# --- single arguments ---------------------------------------------------------------------------


def _one(field: str, value: Any, checker: str, *args: Any, **kwargs: Any) -> Any:
    """Check a single keyword argument the way a form field is checked."""
    check = _Check({field: value} if value is not None else {}, (field,))
    result = getattr(check, checker)(field, *args, **kwargs)
    check.done()
    return result


def _required_text(field: str, value: Any, max_len: int) -> str:
    text: str = _one(field, "" if value is None else value, "text", max_len, required=True,
                     multiline=True)
    return text


def _optional_text(field: str, value: Any, max_len: int) -> str | None:
    text: str | None = _one(field, value, "text", max_len, multiline=True)
    return text or None
