"""Case operations: the only code that creates or changes cases, the people in them, hand-offs,
referrals, incidents, drafts and notifications.

Every operation checks scope and role (``policy``), then the version the user saw (a concurrent
change answers :class:`StaleCase`, never a silent overwrite), then validates all of its input
before it touches a row; it writes a timeline entry and an audit entry (ids and field names only,
never personal data), recomputes the deadlines, and flushes. The caller commits once.

Changes to the case itself (facts, people, status, priority, hand-offs) bump ``case.version``;
additions beside it (a note, an attachment, a referral's progress) do not, so a note written by a
station does not make a coordinator's open edit form stale.
"""

from __future__ import annotations

import csv
import json
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from functools import cache
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, available_timezones

import sqlalchemy as sa
from flask import current_app
from flask_babel import force_locale, ngettext
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.exc import StaleDataError

import i18n
from consular.audit.operations import record
from consular.auth.models import Role, User
from consular.cases import deadlines, duplicates
from consular.cases.models import (
    ACTIVE_ASSIGNMENT,
    OPEN_STATUSES,
    AssignmentStatus,
    Case,
    CaseCategory,
    CaseDraft,
    CaseKind,
    CasePerson,
    CaseSequence,
    CaseStatus,
    Channel,
    DeadlineKind,
    DuplicateState,
    Gender,
    IdKind,
    Incident,
    Notification,
    Outcome,
    PersonNameKey,
    PersonRole,
    PossibleDuplicate,
    Priority,
    Referral,
    ReferralStatus,
    ReferralTarget,
    SmsState,
    StationAssignment,
    TimelineEntry,
    TimelineKind,
)
from consular.cases.names import has_han, name_hashes
from consular.cases.policy import (
    Action,
    ActionRefused,
    can_create_case,
    ensure,
    refusal,
)
from consular.cases.search_keys import id_number_hash, normalise_id_number, phone_hash
from consular.db import db, utcnow
from consular.network.models import Division, LiaisonPoint, Mission, ServiceStation
from consular.network.operations import normalise_phone, touch_activity_of
from consular.validation import clean_text, is_plain_text, too_long_message
from consular.validation import message as refused_text_message

__all__ = [
    "ActionRefused", "CaseInputError", "StaleCase", "next_reference", "create_case", "update_case",
    "add_person", "update_person", "remove_person", "triage", "set_priority", "assign",
    "accept_assignment", "decline_assignment", "revoke_assignment", "start_work", "wait_external",
    "resume_work", "resolve", "close_case", "reopen", "add_note", "refer", "update_referral",
    "create_incident", "link_incident", "unlink_incident", "parse_mass_list", "mass_intake",
    "save_draft", "get_draft", "list_drafts", "discard_draft", "set_legal_hold", "notify",
    "notification_text", "mark_notifications_read", "unread_count", "create_case_from_sms_reply",
    "id_number_hash", "phone_hash", "note_possible_duplicates", "decide_duplicate",
]

E = TypeVar("E", bound=StrEnum)

HOME_REGION = "CN"
MAX_ID = 2**31 - 1
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

# Keys a notification may carry: references and codes, never a name, number or note.
NOTIFICATION_PARAMS = frozenset({"reference", "priority", "status", "deadline", "station", "station_id",
                                 "outcome", "count", "incident", "action", "target", "category",
                                 "alert_id", "event", "due_at"})


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


class StaleCase(RuntimeError):
    """Someone else changed the case since the user loaded it (views answer 409)."""

    status_code = 409

    def __init__(self, message: str | None = None) -> None:
        self.message = message or _("Someone else changed this case in the meantime. Reload it and "
                                    "try again.")
        super().__init__(self.message)


# --- input checking -----------------------------------------------------------------------------


@cache
def _zones() -> dict[str, str]:
    return {zone.lower(): zone for zone in available_timezones()}


def _settings() -> Any:
    return current_app.extensions["consular.settings"]


def _choices(enum: type[StrEnum], exclude: Iterable[str] = ()) -> list[str]:
    return [m.value for m in enum if m.value not in set(exclude)]


class _Check:
    """Checks one mapping of field values, collecting every problem before any is reported."""

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

    def text(self, key: str, max_len: int, *, required: bool = False, multiline: bool = False,
             default: str | None = None) -> str | None:
        if key not in self.data:
            if required:
                self.fail(key, _("This field is required."))
            elif default is not None:
                self.out[key] = default
            return None
        raw = self.data[key]
        if raw is None:
            raw = ""
        if not isinstance(raw, str):
            self.fail(key, _("Enter text."))
            return None
        value = clean_text(raw, multiline=multiline)
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
        self.out[key] = member
        return member

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
        self.out[key] = raw
        return raw

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
        if not i18n.is_country_code(code):
            self.fail(key, _("Not a country code. Use the two-letter ISO code, for example IT."))
            return None
        self.out[key] = code
        return code

    def timezone(self, key: str) -> str | None:
        if not self.given(key):
            if key in self.data:
                self.out[key] = None
            return None
        value = self.text(key, 64)
        if value is None:
            return None
        zone = _zones().get(value.lower())
        if zone is None:
            self.fail(key, _("Not a time zone. Use an IANA name such as Europe/Rome."))
            return None
        self.out[key] = zone
        return zone

    def birth_date(self, key: str) -> date | None:
        if not self.given(key):
            if key in self.data:
                self.out[key] = None
            return None
        raw = self.data[key]
        value: date | None = None
        if isinstance(raw, datetime):
            value = raw.date()
        elif isinstance(raw, date):
            value = raw
        elif isinstance(raw, str) and len(raw.strip()) <= 10:
            value = _parse_date(raw.strip())
        if value is None:
            self.fail(key, _("Enter a date as YYYY-MM-DD, for example 1980-03-15."))
            return None
        if value > utcnow().date():
            self.fail(key, _("A birth date cannot be in the future."))
            return None
        if value.year < 1900:
            self.fail(key, _("Check the year: it is before 1900."))
            return None
        self.out[key] = value
        return value

    def moment(self, key: str, zone: str | None) -> datetime | None:
        """A past date and time; one without a UTC offset is read in ``zone`` (else the office's)."""
        if not self.given(key):
            if key in self.data:
                self.out[key] = None
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
            value = value.replace(tzinfo=ZoneInfo(zone or _settings().office_timezone))
        if value > utcnow() + FUTURE_TOLERANCE:
            self.fail(key, _("This cannot be in the future."))
            return None
        if value.date() < EARLIEST:
            self.fail(key, _("Check the year: it is too far in the past."))
            return None
        self.out[key] = value
        return value

    def phone(self, key: str, region: str | None) -> str | None:
        if not self.given(key):
            if key in self.data:
                self.out[key] = None
            return None
        value = self.text(key, MAX["phone"])
        if not value:
            return None
        try:
            e164 = normalise_phone(value, region or HOME_REGION)
        except ValueError:
            self.fail(key, _("Not a valid phone number. Use the international format, for example "
                             "+39 0574 123456."))
            return None
        self.out[key] = e164
        return e164

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
        self.out[key] = joined
        return joined

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


def _store_person(case: Case, person: CasePerson, values: Mapping[str, Any]) -> list[str]:
    """Apply checked values to ``person`` with its search hashes and name keys; the changed fields."""
    changed = [k for k, v in values.items() if getattr(person, k) != v]
    for key in changed:
        setattr(person, key, values[key])
    if "id_number" in changed:
        person.id_number_hash = id_number_hash(person.id_number) if person.id_number else None
    if "phone" in changed:
        person.phone_hash = phone_hash(person.phone) if person.phone else None
    if "name_zh" in changed or "name_latin" in changed or person.id is None:
        wanted = name_hashes(person.name_zh, person.name_latin)
        kept = [k for k in person.name_keys if k.key_hash in wanted]
        have = {k.key_hash for k in kept}
        person.name_keys = kept + [PersonNameKey(case_id=case.id, key_hash=h)
                                   for h in sorted(wanted - have)]
    return sorted(changed)


def _new_person(case: Case, values: Mapping[str, Any]) -> CasePerson:
    person = CasePerson(case_id=case.id, created_at=utcnow())
    case.persons.append(person)
    _store_person(case, person, values)
    return person


# --- shared steps -------------------------------------------------------------------------------


def _check_version(case: Case, expected_version: int | str | None) -> None:
    """The version the user's page showed must still be the case's version."""
    if expected_version is None:
        return
    seen: Any = expected_version
    if isinstance(seen, str) and seen.strip().isascii() and seen.strip().isdigit() and len(seen) < 12:
        seen = int(seen.strip())
    if isinstance(seen, bool) or not isinstance(seen, int) or seen != case.version:
        raise StaleCase()


def _begin(action: Action, case: Case, user: User, expected_version: int | None) -> None:
    """Scope (404) and role (403) first, then the version the user saw, then the state (409)."""
    refused = refusal(action, case, user)
    if refused is not None and refused.status_code != 409:
        raise refused
    _check_version(case, expected_version)
    if refused is not None:
        raise refused


def _flush() -> None:
    try:
        db.session.flush()
    except StaleDataError:
        raise StaleCase() from None


def _is_coordinator(user: User | None) -> bool:
    return user is not None and user.role == Role.coordinator


def _responded(case: Case, user: User | None, now: datetime) -> None:
    """Any coordinator action is the centre's first response."""
    if _is_coordinator(user) and case.first_response_at is None:
        case.first_response_at = now


def _touch(case: Case, user: User | None, now: datetime) -> None:
    """Mark activity without changing the case's version (for additions beside the case)."""
    values: dict[str, Any] = {"last_activity_at": now}
    if _is_coordinator(user) and case.first_response_at is None:
        values["first_response_at"] = now
    db.session.execute(sa.update(Case).where(Case.id == case.id).values(**values)
                       .execution_options(synchronize_session=False))
    for key, value in values.items():
        set_committed_value(case, key, value)


def _timeline(case: Case, user: User | None, kind: TimelineKind, action: str, now: datetime, *,
              text: str | None = None, detail: Mapping[str, Any] | None = None,
              from_status: CaseStatus | None = None, to_status: CaseStatus | None = None
              ) -> TimelineEntry:
    entry = TimelineEntry(case_id=case.id, at=now, actor_id=user.id if user else None, kind=kind,
                          action=action, text=text or None, detail=dict(detail or {}),
                          from_status=from_status.value if from_status else None,
                          to_status=to_status.value if to_status else None)
    db.session.add(entry)
    return entry


def _audit(action: str, case: Case, user: User | None, detail: Mapping[str, Any] | None = None) -> None:
    """The audit entry of a change to a case, and (every change being real work) the activity of
    the user's own liaison point or station, which keeps it off the "quiet" list."""
    record(f"case.{action}", "case", case.id, {"reference": case.reference, **(detail or {})},
           user=user)
    touch_activity_of(user)


def _transition(case: Case, user: User, action: Action, to_status: CaseStatus, now: datetime, *,
                text: str | None = None, detail: Mapping[str, Any] | None = None,
                restart_assignment: bool = False, previous_priority: Priority | None = None) -> None:
    before = case.status
    case.status = to_status
    case.last_activity_at = now
    _responded(case, user, now)
    deadlines.compute_deadlines(case, now=now, restart_assignment=restart_assignment,
                                previous_priority=previous_priority)
    _timeline(case, user, TimelineKind.status, action.value, now, text=text, detail=detail,
              from_status=before, to_status=to_status)
    _audit(action.value, case, user, {"from": before.value, "to": to_status.value, **(detail or {})})
    _flush()


def _office_year(now: datetime) -> int:
    return now.astimezone(ZoneInfo(_settings().office_timezone)).year


def _station_users(station_id: int) -> list[User]:
    return list(db.session.scalars(
        sa.select(User).where(User.station_id == station_id, User.role == Role.station_volunteer,
                              User.active.is_(True)).order_by(User.id)))


def _case_coordinators(case: Case) -> list[User]:
    """Who at the centre hears about a case: its coordinator, else the coordinators on duty."""
    if case.coordinator is not None and case.coordinator.active:
        return [case.coordinator]
    return deadlines.coordinators_on_duty()


# --- reference numbers --------------------------------------------------------------------------


def _insert_ignore(model: type[Any], values: Mapping[str, Any], keys: list[str],
                   returning: Any) -> Any:
    insert: Any = postgresql.insert if db.session.get_bind().dialect.name == "postgresql" \
        else sqlite.insert
    statement = insert(model).values(**values).on_conflict_do_nothing(index_elements=keys)
    return db.session.execute(statement.returning(returning)).scalar()


def reserve_references(year: int, count: int) -> list[str]:
    """``count`` consecutive reference numbers of ``year``. The sequence row is bumped with one
    ``UPDATE … RETURNING`` (which holds its row lock until commit), so two creators never share a
    number; the year's first number is an ``INSERT … ON CONFLICT DO NOTHING``."""
    if not 2000 <= year <= 9999 or count < 1:
        raise ValueError("year 2000–9999 and count ≥ 1")
    for _attempt in range(5):
        last = db.session.execute(
            sa.update(CaseSequence).where(CaseSequence.year == year)
            .values(last=CaseSequence.last + count).returning(CaseSequence.last)
            .execution_options(synchronize_session=False)
        ).scalar()
        if last is None:
            last = _insert_ignore(CaseSequence, {"year": year, "last": count}, ["year"],
                                  CaseSequence.last)
        if last is not None:
            return [f"{year}-{n:06d}" for n in range(last - count + 1, last + 1)]
    raise RuntimeError("could not reserve a case reference")  # pragma: no cover


def next_reference(year: int) -> str:
    """The next reference of ``year``, e.g. ``2026-000123`` (short enough to read on a phone)."""
    return reserve_references(year, 1)[0]


# --- creating cases -----------------------------------------------------------------------------


def _check_case(check: _Check, user: User | None, case: Case | None) -> None:
    """Case fields of a new case (``case`` None) or an edit."""
    creating = case is None
    kind = check.choice("kind", CaseKind, default=CaseKind.abroad if creating else None)
    check.choice("category", CaseCategory, default=CaseCategory.other if creating else None)
    if "priority" in check.data or creating:
        check.choice("priority", Priority, default=Priority.P3)
    check.text("summary", MAX["summary"], required=creating or "summary" in check.data)
    if check.text("narrative", MAX["narrative"], multiline=True) == "":
        check.out["narrative"] = None
    kind = kind or (case.kind if case else CaseKind.abroad)
    if check.given("country_code"):
        check.country("country_code")
    elif kind == CaseKind.abroad and (creating or "country_code" in check.data
                                      or (case is not None and not case.country_code)):
        check.fail("country_code", _("Say in which country: it is required for a case abroad."))
    elif "country_code" in check.data:
        check.out["country_code"] = None
    check.text("city", MAX["city"])
    division_id = check.identifier("division_id")
    if division_id is not None:
        division = db.session.get(Division, division_id)
        if kind != CaseKind.domestic:
            check.fail("division_id", _("A township or street office is for an incident in the "
                                        "city, not abroad."))
        elif division is None or (not division.active and (case is None or case.division_id != division_id)):
            check.fail("division_id", _("Choose an entry from the list."))
    check.text("place", MAX["place"], multiline=False)
    zone = check.timezone("timezone") or (case.timezone if case else None)
    check.moment("occurred_at", zone)
    check.tags("tags")
    channel = check.choice("channel", Channel, exclude=(Channel.sms_reply,))
    role = user.role if user else None
    if creating and channel is None and not check.failed("channel"):
        defaults = {Role.station_volunteer: Channel.station, Role.coordinator: Channel.phone}
        check.out["channel"] = defaults.get(role, Channel.walk_in) if role else Channel.phone

    point_id = check.identifier("liaison_point_id")
    station_id = check.identifier("reporting_station_id")
    if role == Role.liaison_officer:
        if point_id is not None and point_id != user.liaison_point_id:  # type: ignore[union-attr]
            check.fail("liaison_point_id", _("You can log cases for your own liaison point only."))
        elif creating or "liaison_point_id" in check.data:
            check.out["liaison_point_id"] = user.liaison_point_id  # type: ignore[union-attr]
        if check.given("reporting_station_id"):
            check.fail("reporting_station_id", _("Unknown or read-only field."))
    elif role == Role.station_volunteer:
        if check.given("liaison_point_id"):
            check.fail("liaison_point_id", _("Unknown or read-only field."))
        if station_id is not None and station_id != user.station_id:  # type: ignore[union-attr]
            check.fail("reporting_station_id", _("You can log cases for your own station only."))
        elif creating or "reporting_station_id" in check.data:
            check.out["reporting_station_id"] = user.station_id  # type: ignore[union-attr]
    else:
        if point_id is not None:
            point = db.session.get(LiaisonPoint, point_id)
            if point is None or (not point.active and (case is None or case.liaison_point_id != point_id)):
                check.fail("liaison_point_id", _("Choose an entry from the list."))
        if station_id is not None:
            station = db.session.get(ServiceStation, station_id)
            if station is None or (not station.active and
                                   (case is None or case.reporting_station_id != station_id)):
                check.fail("reporting_station_id", _("Choose an entry from the list."))


def _check_persons(persons: Any, errors: dict[str, str], *, country: str | None,
                   user: User | None) -> list[dict[str, Any]]:
    if not isinstance(persons, Sequence) or isinstance(persons, str | bytes):
        errors["persons"] = _("Expected a list of people.")
        return []
    if len(persons) > MAX_PERSONS:
        errors["persons"] = _too_many_people()
        return []
    reporter_region = country if user is not None and user.role == Role.station_volunteer else HOME_REGION
    out = [_check_person(p, errors, f"persons.{n}.", region_abroad=country or HOME_REGION,
                         region_reporter=reporter_region) for n, p in enumerate(persons)]
    if not any(p.get("role") == PersonRole.involved and _has_name(p) for p in out) \
            and not any(k.startswith("persons.") for k in errors):
        errors["persons"] = _("Name at least one person involved, in any script.")
    return out


def _validate_new_case(data: Any, persons: Any, user: User | None) -> tuple[dict[str, Any],
                                                                           list[dict[str, Any]]]:
    errors: dict[str, str] = {}
    check = _Check(data, CASE_FIELDS, errors)
    _check_case(check, user, None)
    country = check.out.get("country_code")
    region = country if country and not check.failed("country_code") else None
    people = _check_persons(persons, errors, country=region, user=user)
    if errors:
        raise CaseInputError(errors)
    return check.out, people


def validate_new_case(data: Mapping[str, Any], persons: Sequence[Mapping[str, Any]], *,
                      user: User | None) -> None:
    """Check a new case as ``create_case`` would, writing nothing (so callers can report bad input
    before they look for duplicates of it). Raises ``CaseInputError``."""
    _validate_new_case(data, persons, user)


def _insert_case(values: Mapping[str, Any], people: Sequence[Mapping[str, Any]], *, user: User | None,
                 reference: str, now: datetime, incident: Incident | None = None,
                 detail: Mapping[str, Any] | None = None, notify_new: bool = True) -> Case:
    case = Case(reference=reference, status=CaseStatus.new, reported_at=now, last_activity_at=now,
                created_by_id=user.id if user else None,
                incident_id=incident.id if incident is not None else None, **values)
    if _is_coordinator(user):
        case.first_response_at = now
    deadlines.compute_deadlines(case, now=now)
    db.session.add(case)
    db.session.flush()
    for person_values in people:
        _new_person(case, person_values)
    info = {"channel": case.channel.value, "priority": case.priority.value,
            "category": case.category.value, "persons": len(people), **(detail or {})}
    if incident is not None:
        info["incident_id"] = incident.id
    _timeline(case, user, TimelineKind.created, "create", now, detail=info, to_status=CaseStatus.new)
    _audit("create", case, user, {**info, "fields": sorted(k for k, v in values.items()
                                                           if v not in ("", None))})
    if notify_new and user is not None and not _is_coordinator(user) and case.priority == Priority.P1:
        notify(deadlines.coordinators_on_duty(), case=case, kind="new_case",
               params={"reference": case.reference, "priority": case.priority.value})
    _flush()
    return case


def create_case(data: Mapping[str, Any], persons: Sequence[Mapping[str, Any]], *, user: User,
                incident: Incident | None = None, duplicate_of_acknowledged: Sequence[int] = (),
                draft_id: int | None = None, reference: str | None = None) -> Case:
    """Log a new case with its people. All or nothing: any bad value raises
    :class:`CaseInputError` naming every bad field, and nothing is written. ``reference``: one
    reserved beforehand with :func:`reserve_references` (a past year's case logged today, as the
    demo does); by default the next of this year."""
    if not can_create_case(user):
        raise ActionRefused("create", _("Your role may not log cases."), 403)
    if incident is not None and user.role != Role.coordinator:
        raise ActionRefused(Action.link_incident, _("Only coordinators link cases to incidents."), 403)
    values, people = _validate_new_case(data, persons, user)
    now = utcnow()
    acknowledged: list[int] = []
    ids = [i for i in duplicate_of_acknowledged if isinstance(i, int) and 0 < i <= MAX_ID]
    if ids:
        acknowledged = sorted(db.session.scalars(sa.select(Case.id).where(Case.id.in_(ids))))
    case = _insert_case(values, people, user=user,
                        reference=reference or next_reference(_office_year(now)), now=now,
                        incident=incident)
    note_possible_duplicates(case, people, user=user, now=now)
    if acknowledged:
        _timeline(case, user, TimelineKind.link, "duplicate_acknowledged", now,
                  detail={"case_ids": acknowledged})
        _audit("duplicate_acknowledged", case, user, {"case_ids": acknowledged})
    if draft_id is not None:
        discard_draft(user, draft_id)
    _flush()
    return case


# --- possible duplicates ------------------------------------------------------------------------


def note_possible_duplicates(case: Case, people: Sequence[Mapping[str, Any]], *, user: User | None,
                             now: datetime) -> list[PossibleDuplicate]:
    """Link a new case to every case it resembles (``duplicates.find_duplicates`` over the whole
    register, whatever the user who logged it may see), for the coordination centre to compare.
    Nothing of the other cases is shown to that user; the links are ids and reason codes."""
    matches = duplicates.find_duplicates(people, country_code=case.country_code,
                                         exclude_case_id=case.id)
    links = [PossibleDuplicate(case_id=case.id, other_case_id=c.case_id, reasons=",".join(c.reasons),
                               state=DuplicateState.open, found_at=now,
                               found_by_id=user.id if user else None)
             for c in matches.candidates]
    if not links:
        return []
    db.session.add_all(links)
    db.session.flush()
    for link in links:
        detail = {"link_id": link.id, "other_case_id": link.other_case_id, "reasons": link.reason_list}
        _audit("possible_duplicate", case, user, detail)
    return links


def decide_duplicate(case: Case, *, user: User, link_id: int | str | None, decision: DuplicateState | str,
                     note: str | None = None, expected_version: int | None = None) -> PossibleDuplicate:
    """A coordinator compares a case with one it resembles: the same person and trouble
    (``same``), or not (``different``). Written beside both cases (their versions stay)."""
    _begin(Action.decide_duplicate, case, user, expected_version)
    check = _Check({"link_id": link_id, "decision": decision,
                    **({"note": note} if note is not None else {})}, ("link_id", "decision", "note"))
    wanted = check.identifier("link_id")
    chosen = check.choice("decision", DuplicateState, exclude=(DuplicateState.open,), required=True)
    check.text("note", MAX["note"], multiline=True)
    link = next((item for item in case.duplicate_links if item.id == wanted), None)
    if link is None and not check.failed("link_id"):
        check.fail("link_id", _("Choose an entry from the list."))
    values = check.done()
    assert link is not None and chosen is not None
    if link.state != DuplicateState.open:
        raise ActionRefused(Action.decide_duplicate, _("A coordinator has already compared these "
                                                       "two cases."), 409)
    now = utcnow()
    link.state = chosen
    link.decided_at = now
    link.decided_by_id = user.id
    link.note = values.get("note") or None
    for side in (link.case, link.other_case):
        _touch(side, user, now)
        _audit("duplicate_decided", side, user, {"link_id": link.id, "decision": chosen.value,
                                                 "other_case_id": link.other(side.id).id})
    _flush()
    return link


# --- editing ------------------------------------------------------------------------------------


def _unchanged_dropped(obj: Any, data: Mapping[str, Any], fields: Iterable[str]) -> dict[str, Any]:
    """An edit form sends every field; those equal to what is stored need no new check."""
    names = set(fields)
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key in names and hasattr(obj, key) and type(value) is not bool:
            current = getattr(obj, key)
            if isinstance(current, StrEnum):
                current = current.value
            if isinstance(current, int) and isinstance(value, str) and value.strip() == str(current):
                continue  # an id as a form sends it
            if value == current or (isinstance(value, str) and value.strip() == "" and current is None):
                continue
        out[key] = value
    return out


def update_case(case: Case, data: Mapping[str, Any], *, user: User, expected_version: int | None
                ) -> list[str]:
    """Change the facts of a case; returns the names of the fields that changed."""
    _begin(Action.edit, case, user, expected_version)
    if not isinstance(data, Mapping):
        raise CaseInputError({"input": _("Expected a set of fields.")})
    if "priority" in data and data["priority"] not in (case.priority, case.priority.value):
        raise CaseInputError({"priority": _("Change the priority with its own action.")})
    data = {k: v for k, v in data.items() if k != "priority"}
    check = _Check(_unchanged_dropped(case, data, CASE_EDIT_FIELDS), CASE_EDIT_FIELDS)
    _check_case(check, user, case)
    values = check.done()
    if (values.get("kind", case.kind) == CaseKind.abroad
            and not values.get("country_code", case.country_code)):
        raise CaseInputError({"country_code": _("Say in which country: it is required for a case "
                                                "abroad.")})
    changed = sorted(k for k, v in values.items() if getattr(case, k) != v)
    if not changed:
        return []
    now = utcnow()
    for key in changed:
        setattr(case, key, values[key])
    case.last_activity_at = now
    _responded(case, user, now)
    deadlines.compute_deadlines(case, now=now)
    _timeline(case, user, TimelineKind.edited, "edit", now, detail={"fields": changed})
    _audit("update", case, user, {"fields": changed})
    _flush()
    return changed


def _person_regions(case: Case, user: User) -> tuple[str | None, str | None]:
    abroad = case.country_code or HOME_REGION
    return abroad, abroad if user.role == Role.station_volunteer else HOME_REGION


def add_person(case: Case, data: Mapping[str, Any], *, user: User, expected_version: int | None
               ) -> CasePerson:
    _begin(Action.add_person, case, user, expected_version)
    if len(case.persons) >= MAX_PERSONS:
        raise CaseInputError({"persons": _too_many_people()})
    errors: dict[str, str] = {}
    abroad, reporter = _person_regions(case, user)
    values = _check_person(data, errors, "", region_abroad=abroad, region_reporter=reporter)
    if not errors and not _has_name(values) and not values.get("phone") and not values.get("id_number"):
        errors["name_zh"] = _("Give a name, a phone number or an ID number.")
    if errors:
        raise CaseInputError(errors)
    now = utcnow()
    person = _new_person(case, values)
    case.last_activity_at = now
    _responded(case, user, now)
    db.session.flush()
    _timeline(case, user, TimelineKind.person, "add_person", now,
              detail={"person_id": person.id, "role": person.role.value})
    _audit("person_add", case, user, {"person_id": person.id, "role": person.role.value})
    _flush()
    return person


def _named_involved_left(case: Case, without: CasePerson, replacement: Mapping[str, Any] | None) -> bool:
    for other in case.persons:
        if other is without:
            if replacement is not None and replacement.get("role", other.role) == PersonRole.involved \
                    and _has_name({"name_zh": replacement.get("name_zh", other.name_zh),
                                   "name_latin": replacement.get("name_latin", other.name_latin)}):
                return True
            continue
        if other.role == PersonRole.involved and _has_name({"name_zh": other.name_zh,
                                                            "name_latin": other.name_latin}):
            return True
    return False


def update_person(person: CasePerson, data: Mapping[str, Any], *, user: User,
                  expected_version: int | None) -> list[str]:
    case = person.case
    _begin(Action.edit, case, user, expected_version)
    errors: dict[str, str] = {}
    abroad, reporter = _person_regions(case, user)
    raw = _unchanged_dropped(person, data, PERSON_FIELDS) if isinstance(data, Mapping) else data
    values = _check_person(raw, errors, "", region_abroad=abroad, region_reporter=reporter, partial=True,
                           current_role=person.role)
    if not errors and not _named_involved_left(case, person, values):
        errors["name_zh"] = _("The case needs at least one person involved with a name.")
    if errors:
        raise CaseInputError(errors)
    now = utcnow()
    changed = _store_person(case, person, values)
    if not changed:
        return []
    case.last_activity_at = now
    _responded(case, user, now)
    _timeline(case, user, TimelineKind.person, "update_person", now,
              detail={"person_id": person.id, "fields": changed})
    _audit("person_update", case, user, {"person_id": person.id, "fields": changed})
    _flush()
    return changed


def remove_person(person: CasePerson, *, user: User, expected_version: int | None) -> None:
    case = person.case
    _begin(Action.edit, case, user, expected_version)
    if not _named_involved_left(case, person, None):
        raise CaseInputError({"person": _("The case needs at least one person involved with a name.")})
    now = utcnow()
    person_id, role = person.id, person.role.value
    case.persons.remove(person)
    case.last_activity_at = now
    _responded(case, user, now)
    _timeline(case, user, TimelineKind.person, "remove_person", now,
              detail={"person_id": person_id, "role": role})
    _audit("person_remove", case, user, {"person_id": person_id, "role": role})
    _flush()


# --- lifecycle ----------------------------------------------------------------------------------


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


def triage(case: Case, *, user: User, priority: Priority | str, category: CaseCategory | str | None = None,
           kind: CaseKind | str | None = None, note: str | None = None, expected_version: int | None
           ) -> None:
    """new → triaged: the centre sets the priority and may correct the category or kind."""
    _begin(Action.triage, case, user, expected_version)
    check = _Check({k: v for k, v in {"priority": priority, "category": category, "kind": kind,
                                      "note": note}.items() if v is not None},
                   ("priority", "category", "kind", "note"))
    new_priority = check.choice("priority", Priority, required=True)
    check.choice("category", CaseCategory)
    new_kind = check.choice("kind", CaseKind)
    check.text("note", MAX["note"], multiline=True)
    if new_kind == CaseKind.abroad and not case.country_code:
        check.fail("kind", _("Say in which country first: it is required for a case abroad."))
    values = check.done()
    assert new_priority is not None
    now = utcnow()
    previous = case.priority
    changes: dict[str, Any] = {"priority": new_priority.value}
    case.priority = new_priority
    if values.get("category") and values["category"] != case.category:
        changes["category"] = values["category"].value
        case.category = values["category"]
    if new_kind and new_kind != case.kind:
        changes["kind"] = new_kind.value
        case.kind = new_kind
    case.triaged_at = now
    _transition(case, user, Action.triage, CaseStatus.triaged, now, text=values.get("note"),
                detail=changes, previous_priority=previous)


def set_priority(case: Case, *, user: User, priority: Priority | str, note: str | None = None,
                 expected_version: int | None) -> None:
    _begin(Action.set_priority, case, user, expected_version)
    check = _Check({"priority": priority, **({"note": note} if note is not None else {})},
                   ("priority", "note"))
    new_priority = check.choice("priority", Priority, required=True)
    check.text("note", MAX["note"], multiline=True)
    values = check.done()
    assert new_priority is not None
    if new_priority == case.priority and not values.get("note"):
        return
    now = utcnow()
    previous = case.priority
    case.priority = new_priority
    case.last_activity_at = now
    _responded(case, user, now)
    deadlines.compute_deadlines(case, now=now, previous_priority=previous)
    detail = {"from": previous.value, "to": new_priority.value}
    _timeline(case, user, TimelineKind.priority, "set_priority", now, text=values.get("note"),
              detail=detail)
    _audit("set_priority", case, user, detail)
    _flush()


def assign(case: Case, *, user: User, station_id: int | None, coordinator_id: int | None,
           instructions: str | None, expected_version: int | None) -> StationAssignment | None:
    """triaged → assigned: hand the case to a station (offered until it accepts) and/or to a
    coordinator. Returns the station's assignment, if any."""
    _begin(Action.assign, case, user, expected_version)
    check = _Check({"station_id": station_id, "coordinator_id": coordinator_id,
                    **({"instructions": instructions} if instructions is not None else {})},
                   ("station_id", "coordinator_id", "instructions"))
    sid = check.identifier("station_id")
    cid = check.identifier("coordinator_id")
    check.text("instructions", MAX["instructions"], multiline=True)
    station: ServiceStation | None = None
    coordinator: User | None = None
    if sid is not None:
        station = db.session.get(ServiceStation, sid)
        if station is None or not station.active:
            check.fail("station_id", _("Choose an active station from the list."))
    if cid is not None:
        coordinator = db.session.get(User, cid)
        if coordinator is None or coordinator.role != Role.coordinator or not coordinator.active:
            check.fail("coordinator_id", _("Choose an active coordinator from the list."))
    if sid is None and cid is None and not check.errors:
        check.fail("station_id", _("Choose a station, a coordinator or both."))
    values = check.done()
    now = utcnow()
    assignment: StationAssignment | None = None
    if station is not None:
        assignment = StationAssignment(station_id=station.id, status=AssignmentStatus.offered,
                                       assigned_by_id=user.id, assigned_at=now,
                                       instructions=values.get("instructions") or None)
        case.assignments.append(assignment)
        db.session.flush()  # the assignment's id, before the case changes (one version step)
        case.station_id = station.id
    if coordinator is not None:
        case.coordinator_id = coordinator.id
        case.coordinator = coordinator
    case.assigned_at = case.assigned_at or now
    detail: dict[str, Any] = {"station_id": station.id if station else None,
                              "coordinator_id": coordinator.id if coordinator else None}
    if assignment is not None:
        detail["assignment_id"] = assignment.id
    _transition(case, user, Action.assign, CaseStatus.assigned, now,
                text=values.get("instructions"), detail=detail)
    params = {"reference": case.reference, "priority": case.priority.value}
    if station is not None:
        notify(_station_users(station.id), case=case, kind="assigned", params=params, sms=True)
    if coordinator is not None and coordinator.id != user.id:
        notify([coordinator], case=case, kind="coordinator_assigned", params=params)
    return assignment


def _offered(case: Case, user: User) -> StationAssignment:
    for a in reversed(case.assignments):
        if a.status == AssignmentStatus.offered and (
                user.role != Role.station_volunteer or a.station_id == user.station_id):
            return a
    raise ActionRefused(Action.accept, _("There is no hand-off waiting for an answer."), 409)


def _accepted(case: Case, user: User) -> StationAssignment | None:
    for a in reversed(case.assignments):
        if a.status == AssignmentStatus.accepted and (
                user.role != Role.station_volunteer or a.station_id == user.station_id):
            return a
    return None


def accept_assignment(case: Case, *, user: User, note: str | None = None,
                      expected_version: int | None) -> None:
    """A station accepts the hand-off (a coordinator may record it on its behalf); an assigned case
    is then in progress."""
    _begin(Action.accept, case, user, expected_version)
    text = _optional_text("note", note, MAX["note"])
    assignment = _offered(case, user)
    now = utcnow()
    assignment.status = AssignmentStatus.accepted
    assignment.responded_by_id = user.id
    assignment.responded_at = now
    to_status = CaseStatus.in_progress if case.status == CaseStatus.assigned else case.status
    _transition(case, user, Action.accept, to_status, now, text=text,
                detail={"assignment_id": assignment.id, "station_id": assignment.station_id})
    notify([u for u in _case_coordinators(case) if u.id != user.id], case=case, kind="accepted",
           params={"reference": case.reference, "station": assignment.station.name,
                   "station_id": assignment.station_id})


def decline_assignment(case: Case, *, user: User, reason: str, expected_version: int | None) -> None:
    """A station declines the hand-off, with a reason: an assigned case goes back to triage (the
    assignment clock starts again) and the centre is told."""
    _begin(Action.decline, case, user, expected_version)
    text = _required_text("reason", reason, MAX["reason"])
    assignment = _offered(case, user)
    now = utcnow()
    assignment.status = AssignmentStatus.declined
    assignment.decline_reason = text
    assignment.responded_by_id = user.id
    assignment.responded_at = now
    if case.station_id == assignment.station_id:
        case.station_id = None
    back = case.status == CaseStatus.assigned
    _transition(case, user, Action.decline, CaseStatus.triaged if back else case.status, now, text=text,
                detail={"assignment_id": assignment.id, "station_id": assignment.station_id},
                restart_assignment=back)
    recipients = {u.id: u for u in [*_case_coordinators(case), *deadlines.coordinators_on_duty()]}
    notify([u for u in recipients.values() if u.id != user.id], case=case, kind="declined",
           params={"reference": case.reference, "station": assignment.station.name,
                   "station_id": assignment.station_id})


def revoke_assignment(case: Case, *, user: User, reason: str, expected_version: int | None) -> None:
    """A coordinator takes back the active hand-off (a station's, or else a coordinator's): the case
    goes back to triage."""
    _begin(Action.revoke, case, user, expected_version)
    text = _required_text("reason", reason, MAX["reason"])
    now = utcnow()
    active = [a for a in case.assignments if a.status in ACTIVE_ASSIGNMENT]
    for a in active:
        a.status = AssignmentStatus.revoked
        a.revoked_at = now
    detail: dict[str, Any] = {"assignment_ids": [a.id for a in active]}
    if not active:
        detail["coordinator_id"] = case.coordinator_id
        case.coordinator_id = None
        case.coordinator = None
    case.station_id = None
    _transition(case, user, Action.revoke, CaseStatus.triaged, now, text=text, detail=detail,
                restart_assignment=True)
    for station_id in sorted({a.station_id for a in active}):
        notify(_station_users(station_id), case=case, kind="revoked",
               params={"reference": case.reference})


def start_work(case: Case, *, user: User, expected_version: int | None) -> None:
    _begin(Action.start, case, user, expected_version)
    now = utcnow()
    if user.role == Role.coordinator and case.coordinator_id is None:
        case.coordinator_id = user.id
    _transition(case, user, Action.start, CaseStatus.in_progress, now)


def wait_external(case: Case, *, user: User, waiting_on: str, expected_version: int | None) -> None:
    """in progress → waiting for an outside party (a mission, the police, a hospital…), saying what."""
    _begin(Action.wait_external, case, user, expected_version)
    text = _required_text("waiting_on", waiting_on, MAX["waiting_on"])
    _transition(case, user, Action.wait_external, CaseStatus.waiting_external, utcnow(), text=text)


def resume_work(case: Case, *, user: User, note: str | None = None, expected_version: int | None) -> None:
    _begin(Action.resume, case, user, expected_version)
    text = _optional_text("note", note, MAX["note"])
    _transition(case, user, Action.resume, CaseStatus.in_progress, utcnow(), text=text)


def _check_outcome(outcome: Any) -> Outcome:
    value: Outcome | None = _one("outcome", outcome, "choice", Outcome, required=True)
    assert value is not None
    return value


def resolve(case: Case, *, user: User, outcome: Outcome | str, note: str, expected_version: int | None
            ) -> None:
    """→ resolved with an outcome and a note. A station's resolve is its "done" and a proposal:
    a coordinator approves it by closing the case."""
    _begin(Action.resolve, case, user, expected_version)
    errors: dict[str, str] = {}
    chosen: Outcome | None = None
    text = ""
    try:
        chosen = _check_outcome(outcome)
    except CaseInputError as exc:
        errors.update(exc.errors)
    try:
        text = _required_text("note", note, MAX["note"])
    except CaseInputError as exc:
        errors.update(exc.errors)
    if errors:
        raise CaseInputError(errors)
    assert chosen is not None
    now = utcnow()
    for a in case.assignments:
        if a.status == AssignmentStatus.accepted:
            a.status = AssignmentStatus.done
            a.done_at = now
        elif a.status == AssignmentStatus.offered:
            a.status = AssignmentStatus.revoked
            a.revoked_at = now
    case.outcome = chosen
    case.outcome_note = text
    case.resolved_by_id = user.id
    case.resolved_at = now
    _transition(case, user, Action.resolve, CaseStatus.resolved, now, text=text,
                detail={"outcome": chosen.value})
    if user.role == Role.station_volunteer:
        notify(_case_coordinators(case), case=case, kind="resolved",
               params={"reference": case.reference, "outcome": chosen.value})


def close_case(case: Case, *, user: User, outcome: Outcome | str, note: str | None = None,
               expected_version: int | None) -> None:
    """resolved → closed: a coordinator's approval, confirming or changing the proposed outcome."""
    _begin(Action.close, case, user, expected_version)
    chosen = _check_outcome(outcome)
    text = _optional_text("note", note, MAX["note"])
    now = utcnow()
    proposed = case.outcome
    case.outcome = chosen
    if text:
        case.outcome_note = text
    case.closed_by_id = user.id
    case.closed_at = now
    _transition(case, user, Action.close, CaseStatus.closed, now, text=text,
                detail={"outcome": chosen.value, "proposed": proposed.value if proposed else None})


def reopen(case: Case, *, user: User, reason: str, expected_version: int | None) -> None:
    """resolved/closed → triaged, with who and why in the timeline and the audit trail."""
    _begin(Action.reopen, case, user, expected_version)
    text = _required_text("reason", reason, MAX["reason"])
    now = utcnow()
    previous = case.outcome
    case.outcome = None
    case.outcome_note = None
    case.resolved_at = None
    case.resolved_by_id = None
    case.closed_at = None
    case.closed_by_id = None
    case.station_id = None
    _transition(case, user, Action.reopen, CaseStatus.triaged, now, text=text,
                detail={"previous_outcome": previous.value if previous else None},
                restart_assignment=True)


# --- notes, referrals, incidents, legal hold ------------------------------------------------------


def add_note(case: Case, *, user: User, text: str, expected_version: int | None = None) -> TimelineEntry:
    _begin(Action.add_note, case, user, expected_version)
    body = _required_text("text", text, MAX["note"])
    now = utcnow()
    _touch(case, user, now)
    entry = _timeline(case, user, TimelineKind.note, "add_note", now, text=body)
    db.session.flush()
    _audit("note", case, user, {"entry_id": entry.id})
    if not _is_coordinator(user) and case.coordinator is not None and case.coordinator.active:
        notify([case.coordinator], case=case, kind="note", params={"reference": case.reference})
    _flush()
    return entry


def refer(case: Case, *, user: User, target: ReferralTarget | str, mission_id: int | None = None,
          target_name: str = "", note: str | None = None, expected_version: int | None = None) -> Referral:
    """Refer the case to a mission, the police, the legal-aid centre or the lawyer team."""
    _begin(Action.refer, case, user, expected_version)
    check = _Check({"target": target, "mission_id": mission_id, "target_name": target_name or "",
                    **({"note": note} if note is not None else {})},
                   ("target", "mission_id", "target_name", "note"))
    chosen = check.choice("target", ReferralTarget, required=True)
    mid = check.identifier("mission_id")
    name = check.text("target_name", MAX["target_name"])
    check.text("note", MAX["note"], multiline=True)
    if chosen == ReferralTarget.mission:
        mission = db.session.get(Mission, mid) if mid is not None else None
        if mission is None or not mission.active:
            check.fail("mission_id", _("Choose an active mission from the list."))
    elif mid is not None:
        check.fail("mission_id", _("A mission is chosen only for a referral to a mission."))
    if chosen == ReferralTarget.other and not name:
        check.fail("target_name", _("Say to whom the case is referred."))
    values = check.done()
    assert chosen is not None
    now = utcnow()
    referral = Referral(case_id=case.id, target=chosen, mission_id=mid if chosen == ReferralTarget.mission
                        else None, target_name=name or "", note=values.get("note") or None,
                        created_by_id=user.id, status=ReferralStatus.requested)
    case.referrals.append(referral)
    db.session.flush()
    _touch(case, user, now)
    detail = {"referral_id": referral.id, "target": chosen.value, "mission_id": referral.mission_id}
    _timeline(case, user, TimelineKind.referral, "refer", now, text=values.get("note"), detail=detail)
    _audit("refer", case, user, detail)
    _flush()
    return referral


def update_referral(referral: Referral, *, user: User, status: ReferralStatus | str, note: str | None = None,
                    external_reference: str | None = None) -> None:
    case = referral.case
    ensure(Action.update_referral, case, user)
    check = _Check({"status": status, **({"note": note} if note is not None else {}),
                    **({"external_reference": external_reference} if external_reference is not None
                       else {})}, ("status", "note", "external_reference"))
    chosen = check.choice("status", ReferralStatus, required=True)
    check.text("note", MAX["note"], multiline=True)
    check.text("external_reference", MAX["external_reference"])
    values = check.done()
    assert chosen is not None
    before = referral.status
    reference_changed = "external_reference" in values and values["external_reference"] != \
        referral.external_reference
    if chosen == before and not reference_changed and not values.get("note"):
        return
    now = utcnow()
    referral.status = chosen
    if reference_changed:
        referral.external_reference = values["external_reference"]
    _touch(case, user, now)
    detail = {"referral_id": referral.id, "from": before.value, "to": chosen.value}
    _timeline(case, user, TimelineKind.referral, "update_referral", now, text=values.get("note"),
              detail=detail)
    _audit("update_referral", case, user, detail)
    _flush()


def create_incident(data: Mapping[str, Any], *, user: User) -> Incident:
    """One event (a bus crash, an evacuation) that groups many cases. Coordinators only."""
    if user.role != Role.coordinator or not user.active:
        raise ActionRefused(Action.link_incident, _("Only coordinators create incidents."), 403)
    check = _Check(data, INCIDENT_FIELDS)
    check.text("title", MAX["title"], required=True)
    check.country("country_code")
    check.text("city", MAX["city"])
    check.moment("occurred_at", None)
    check.text("description", MAX["description"], multiline=True)
    values = check.done()
    incident = Incident(created_by_id=user.id, active=True, **values)
    db.session.add(incident)
    db.session.flush()
    record("incident.create", "incident", incident.id,
           {"fields": sorted(k for k, v in values.items() if v not in ("", None))}, user=user)
    return incident


def link_incident(case: Case, incident: Incident, *, user: User, expected_version: int | None = None) -> None:
    _begin(Action.link_incident, case, user, expected_version)
    if not incident.active:
        raise CaseInputError({"incident_id": _("This incident is closed.")})
    if case.incident_id == incident.id:
        return
    now = utcnow()
    previous = case.incident_id
    case.incident_id = incident.id
    case.last_activity_at = now
    _responded(case, user, now)
    detail = {"incident_id": incident.id, "previous_incident_id": previous}
    _timeline(case, user, TimelineKind.link, "link_incident", now, detail=detail)
    _audit("link_incident", case, user, detail)
    _flush()


def unlink_incident(case: Case, *, user: User, expected_version: int | None = None) -> None:
    _begin(Action.unlink_incident, case, user, expected_version)
    now = utcnow()
    detail = {"incident_id": case.incident_id}
    case.incident_id = None
    case.last_activity_at = now
    _responded(case, user, now)
    _timeline(case, user, TimelineKind.link, "unlink_incident", now, detail=detail)
    _audit("unlink_incident", case, user, detail)
    _flush()


def set_legal_hold(case: Case, *, user: User, hold: bool, reason: str,
                   expected_version: int | None = None) -> None:
    """A case under legal hold is never purged by retention."""
    _begin(Action.set_legal_hold, case, user, expected_version)
    if not isinstance(hold, bool):
        raise CaseInputError({"hold": _("Choose yes or no.")})
    text = _required_text("reason", reason, MAX["reason"])
    if case.legal_hold == hold:
        return
    now = utcnow()
    case.legal_hold = hold
    case.last_activity_at = now
    _timeline(case, user, TimelineKind.edited, "set_legal_hold", now, text=text, detail={"hold": hold})
    _audit("set_legal_hold", case, user, {"hold": hold})
    _flush()


# --- mass intake --------------------------------------------------------------------------------

PERSON_FIELD_LABELS: dict[str, str] = {
    "role": _l("Role in the case"), "name_zh": _l("Chinese name"),
    "name_latin": _l("Name as in the passport"), "gender": _l("Gender"), "birth_date": _l("Birth date"),
    "nationality": _l("Nationality"), "id_kind": _l("ID kind"), "id_number": _l("ID or passport number"),
    "phone": _l("Phone"), "relationship": _l("Relationship"), "note": _l("Note"),
}

_HEADER_ALIASES = {
    "name_zh": "name_zh", "中文姓名": "name_zh", "姓名": "name_zh", "name": "name_zh",
    "name_latin": "name_latin", "拼音": "name_latin", "护照姓名": "name_latin", "latin": "name_latin",
    "passport_name": "name_latin",
    "birth_date": "birth_date", "出生日期": "birth_date", "birthdate": "birth_date", "dob": "birth_date",
    "id_number": "id_number", "证件号码": "id_number", "护照号": "id_number", "passport": "id_number",
    "id": "id_number",
    "phone": "phone", "电话": "phone", "手机": "phone", "mobile": "phone",
    "gender": "gender", "性别": "gender", "sex": "gender",
    "note": "note", "备注": "note", "notes": "note",
}
_GENDER_WORDS = {"男": "male", "女": "female", "m": "male", "f": "female", "male": "male",
                 "female": "female", "x": "other", "其他": "other"}
_DATE_TOKEN = re.compile(r"^\d{4}[-/.年]\d{1,2}[-/.月]\d{1,2}日?$")
_PHONE_TOKEN = re.compile(r"^\+?[\d()\-\s]{7,20}$")


def _split_free_line(line: str) -> dict[str, str]:
    """A pasted line without a delimiter: each token is recognised by its shape."""
    row: dict[str, str] = {}
    latin: list[str] = []
    for token in line.split():
        low = token.lower()
        if _DATE_TOKEN.match(token) and "birth_date" not in row:
            row["birth_date"] = token
        elif low in _GENDER_WORDS and "gender" not in row:
            row["gender"] = _GENDER_WORDS[low]
        elif token.startswith("+") and _PHONE_TOKEN.match(token) and "phone" not in row:
            row["phone"] = token
        elif has_han(token) and "name_zh" not in row:
            row["name_zh"] = token
        elif any(ch.isdigit() for ch in token) and token.isalnum() and "id_number" not in row:
            if token.isdigit() and len(token) in (11, 13) and "phone" not in row:
                row["phone"] = token
            else:
                row["id_number"] = token
        else:
            latin.append(token)
    if latin:
        row["name_latin"] = " ".join(latin)
    return row


def _line_delimiter(line: str) -> str | None:
    """A line's own delimiter: a tab (copied from a spreadsheet), else a comma (ASCII or full
    width); None when it has neither and is read token by token. Each line is read with its own,
    so one tab-separated line does not turn the comma-separated ones into a single name."""
    return next((d for d in ("\t", ",", "，") if d in line), None)


def parse_mass_list(text: str) -> tuple[list[dict[str, Any]], list[tuple[int, str]]]:
    """Rows of people from a pasted list or a CSV (each line tab- or comma-separated, or with no
    delimiter at all and then read token by token; a first line naming the columns is optional,
    else the columns are name_zh, name_latin, birth_date, id_number, phone, gender, note). Returns
    the rows (each with its ``line`` number) and the problems found, as (line number, message)."""
    rows: list[dict[str, Any]] = []
    problems: list[tuple[int, str]] = []
    if not isinstance(text, str):
        return rows, [(0, _("Paste a list of people, one per line."))]
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    lines = [(n, line) for n, line in enumerate(text.split("\n"), start=1)
             if line.strip() and not line.lstrip().startswith("#")]
    if not lines:
        return rows, [(0, _("The list is empty."))]
    if len(lines) > MAX_MASS_ROWS + 1:
        return rows, [(0, _too_many_at_once())]
    columns = list(MASS_COLUMNS)
    header_delimiter = _line_delimiter(lines[0][1])
    if header_delimiter is not None:
        first = [cell.strip().lower()
                 for cell in next(csv.reader([lines[0][1]], delimiter=header_delimiter))]
        if first and all(cell in _HEADER_ALIASES or cell == "" for cell in first) \
                and any(cell for cell in first):
            columns = [_HEADER_ALIASES.get(cell, "") for cell in first]
            lines = lines[1:]
    for n, line in lines:
        if not is_plain_text(line):
            problems.append((n, _("Remove the control characters or text-direction overrides from "
                                  "this line.")))
            continue
        delimiter = _line_delimiter(line)
        if delimiter is None:
            row: dict[str, Any] = _split_free_line(line)
        else:
            cells = next(csv.reader([line], delimiter=delimiter))
            if len(cells) > len(columns) and any(c.strip() for c in cells[len(columns):]):
                problems.append((n, ngettext("Too many columns: expected at most %(num)d.",
                                             "Too many columns: expected at most %(num)d.",
                                             len(columns))))
                continue
            row = {col: cell.strip() for col, cell in zip(columns, cells, strict=False)
                   if col and cell.strip()}
        if "gender" in row:
            row["gender"] = _GENDER_WORDS.get(str(row["gender"]).lower(), row["gender"])
        if not (row.get("name_zh") or row.get("name_latin")):
            problems.append((n, _("No name on this line.")))
            continue
        row["line"] = n
        rows.append(row)
    return rows, problems


@dataclass
class MassRow:
    """One pasted line as a mass intake would take it: the person's checked values, or the reason
    the line cannot be taken; and what it resembles (a line above, cases in the register)."""

    line: int
    raw: dict[str, Any]
    person: dict[str, Any] | None = None
    problem: str | None = None
    same_phone_as: int | None = None  # an earlier line with the same phone (a shared phone?)
    resembles: list[duplicates.DuplicateCandidate] = field(default_factory=list)


@dataclass
class MassCheck:
    rows: list[MassRow]
    values: dict[str, Any]  # the case fields every case gets
    errors: dict[str, str]  # problems of the whole intake (the defaults, the list) and of each line

    @property
    def ready(self) -> list[MassRow]:
        return [row for row in self.rows if row.problem is None]


def _mass_rows(rows_or_text: str | Sequence[Mapping[str, Any]]
               ) -> tuple[list[dict[str, Any]], list[tuple[int, str]]]:
    if isinstance(rows_or_text, str):
        return parse_mass_list(rows_or_text)
    if not isinstance(rows_or_text, Sequence):
        raise CaseInputError({"rows": _("Paste a list of people, one per line.")})
    rows: list[dict[str, Any]] = []
    problems: list[tuple[int, str]] = []
    for n, raw in enumerate(rows_or_text, start=1):
        if not isinstance(raw, Mapping):
            problems.append((n, _("Expected a set of fields.")))
            continue
        rows.append({**raw, "line": raw.get("line", n)})
    if len(rows) > MAX_MASS_ROWS:
        problems.append((0, _too_many_at_once()))
    return rows, problems


def check_mass_intake(incident: Incident, rows_or_text: str | Sequence[Mapping[str, Any]], *,
                      user: User, defaults: Mapping[str, Any]) -> MassCheck:
    """Check every line of a mass intake as ``mass_intake`` would, writing nothing: each person's
    values (dates, phones, ID numbers, names), the same person twice in the list (same ID number,
    or same name and birth date), a phone shared with a line above, and the cases in the register
    each person resembles. For the preview, so it promises only what "create" will do."""
    if user.role != Role.coordinator or not user.active:
        raise ActionRefused(Action.link_incident, _("Only coordinators run a mass intake."), 403)
    if not incident.active:
        raise CaseInputError({"incident_id": _("This incident is closed.")})
    rows, problems = _mass_rows(rows_or_text)
    errors: dict[str, str] = {}
    base = {"summary": incident.title[:MAX["summary"]], "country_code": incident.country_code,
            "city": incident.city, "occurred_at": incident.occurred_at, "channel": Channel.phone.value}
    merged = {**{k: v for k, v in base.items() if v not in (None, "")}, **dict(defaults or {})}
    check = _Check(merged, CASE_FIELDS, errors)
    _check_case(check, user, None)
    country = check.out.get("country_code")
    checked: list[MassRow] = [MassRow(line, {}, problem=message) for line, message in problems]
    seen_ids: dict[str, int] = {}
    seen_people: dict[tuple[str, date], int] = {}
    seen_phones: dict[str, int] = {}
    for row in rows:
        raw_line = row.get("line")
        line = raw_line if isinstance(raw_line, int) and not isinstance(raw_line, bool) else 0
        raw = {k: v for k, v in row.items() if k != "line"}
        item = MassRow(line, raw)
        checked.append(item)
        row_errors: dict[str, str] = {}
        person = _check_person(raw, row_errors, "", region_abroad=country or HOME_REGION,
                               region_reporter=HOME_REGION)
        if not row_errors and not _has_name(person):
            row_errors["name_zh"] = _("No name on this line.")
        if row_errors:
            field_name, message = next(iter(row_errors.items()))
            label = PERSON_FIELD_LABELS.get(field_name)
            item.problem = f"{label}: {message}" if label else message
            continue
        number = person.get("id_number")
        if number and number in seen_ids:
            item.problem = _("The same ID number is on line %(line)d.", line=seen_ids[number])
            continue
        born = person.get("birth_date")
        names = sorted(name_hashes(person.get("name_zh"), person.get("name_latin")))
        twin = next((seen_people[(key, born)] for key in names if born and (key, born) in seen_people),
                    None)
        if twin is not None:
            item.problem = _("The same person (name and date of birth) is on line %(line)d.", line=twin)
            continue
        if number:
            seen_ids[number] = line
        for key in names:
            if born:
                seen_people.setdefault((key, born), line)
        phone = person.get("phone")
        if phone:
            item.same_phone_as = seen_phones.get(phone)
            seen_phones.setdefault(phone, line)
        person["role"] = PersonRole.involved
        item.person = person
    ready = [taken for taken in checked if taken.person is not None]
    for taken, matches in zip(ready, duplicates.find_duplicates_each(
            [taken.person or {} for taken in ready], country_code=country, user=user), strict=True):
        taken.resembles = list(matches.candidates)
    checked.sort(key=lambda r: r.line)
    for refused in checked:
        if refused.problem is not None:
            errors[f"lines.{refused.line}"] = _("Line %(line)d: %(problem)s", line=refused.line,
                                                problem=refused.problem) \
                if refused.line else refused.problem
    if not checked and not errors:
        errors["rows"] = _("The list is empty.")
    return MassCheck(checked, dict(check.out), errors)


def mass_intake(incident: Incident, rows_or_text: str | Sequence[Mapping[str, Any]], *, user: User,
                defaults: Mapping[str, Any]) -> list[Case]:
    """One case per person, all linked to ``incident`` (a bus crash, an evacuation), from a pasted
    list or parsed rows. All or nothing: any bad line raises :class:`CaseInputError` naming each
    bad line (``lines.<n>``) and nothing is created. A person who resembles a case in the register
    gets a possible-duplicate link to it for the centre to compare."""
    checked = check_mass_intake(incident, rows_or_text, user=user, defaults=defaults)
    if checked.errors:
        raise CaseInputError(checked.errors)
    now = utcnow()
    people = [(row.line, row.person) for row in checked.rows if row.person is not None]
    references = reserve_references(_office_year(now), len(people))
    cases: list[Case] = []
    for ref, (_line, person) in zip(references, people, strict=True):
        case = _insert_case(checked.values, [person], user=user, reference=ref, now=now,
                            incident=incident, detail={"mass_intake": True}, notify_new=False)
        note_possible_duplicates(case, [person], user=user, now=now)  # the earlier rows included
        cases.append(case)
    record("incident.mass_intake", "incident", incident.id, {"cases": len(cases)}, user=user)
    _flush()
    return cases


# --- drafts -------------------------------------------------------------------------------------


def save_draft(user: User, payload: Mapping[str, Any], draft_id: int | None = None) -> CaseDraft:
    """Keep a half-filled "log a case" form (sealed at rest) so a dropped connection loses nothing."""
    if not can_create_case(user):
        raise ActionRefused("create", _("Your role may not log cases."), 403)
    if not isinstance(payload, Mapping):
        raise CaseInputError({"payload": _("Expected a set of fields.")})
    try:
        encoded = json.dumps(payload, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        raise CaseInputError({"payload": _("This draft cannot be saved.")}) from None
    if len(encoded.encode()) > MAX_DRAFT_BYTES:
        raise CaseInputError({"payload": _("This draft is too large.")})
    now = utcnow()
    draft = get_draft(user, draft_id) if draft_id is not None else None
    if draft is None:
        count = db.session.scalar(sa.select(sa.func.count()).select_from(CaseDraft)
                                  .where(CaseDraft.user_id == user.id)) or 0
        if count >= MAX_DRAFTS:
            raise CaseInputError({"payload": ngettext(
                "You have %(num)d draft. Finish or discard it first.",
                "You have %(num)d drafts. Finish or discard one first.", MAX_DRAFTS)})
        draft = CaseDraft(user_id=user.id, created_at=now)
        db.session.add(draft)
    draft.payload = encoded
    draft.updated_at = now
    db.session.flush()
    return draft


def get_draft(user: User, draft_id: int | None) -> CaseDraft | None:
    if draft_id is None or isinstance(draft_id, bool) or not isinstance(draft_id, int) \
            or not 0 < draft_id <= MAX_ID:
        return None
    return db.session.scalar(sa.select(CaseDraft).where(CaseDraft.id == draft_id,
                                                        CaseDraft.user_id == user.id))


def draft_payload(draft: CaseDraft) -> dict[str, Any]:
    data = json.loads(draft.payload)
    return data if isinstance(data, dict) else {}


def list_drafts(user: User) -> list[CaseDraft]:
    return list(db.session.scalars(sa.select(CaseDraft).where(CaseDraft.user_id == user.id)
                                   .order_by(CaseDraft.updated_at.desc(), CaseDraft.id.desc())))


def discard_draft(user: User, draft_id: int) -> bool:
    draft = get_draft(user, draft_id)
    if draft is None:
        return False
    db.session.delete(draft)
    db.session.flush()
    return True


# --- notifications ------------------------------------------------------------------------------

_DEADLINE_LABELS = {DeadlineKind.first_response.value: _l("first response"),
                    DeadlineKind.assignment.value: _l("assignment")}


def notify(users: Iterable[User], *, case: Case | None, kind: str, params: Mapping[str, Any],
           sms: bool = False) -> None:
    """In-app notices (and, with ``sms``, a text to each user who has a phone: the alerts
    dispatcher sends rows in ``sms_state=pending``). ``params`` are codes and references only."""
    clean: dict[str, Any] = {}
    for key, value in params.items():
        if key not in NOTIFICATION_PARAMS:
            raise ValueError(f"notification parameter {key!r} is not allowed")
        if value is not None and not isinstance(value, str | int):
            raise ValueError(f"notification parameter {key!r} must be text or a number")
        clean[key] = value[:200] if isinstance(value, str) else value
    now = utcnow()
    seen: set[int] = set()
    for user in users:
        if user.id in seen or not user.active:
            continue
        seen.add(user.id)
        db.session.add(Notification(
            user_id=user.id, case_id=case.id if case is not None else None, kind=kind[:40],
            params=dict(clean), created_at=now,
            sms_state=SmsState.pending if sms and user.phone else SmsState.none))


def _station_named(params: Mapping[str, Any]) -> str:
    """The station a notice is about, named in the reader's language (a notice written before
    notices kept the station's id shows the name it stored)."""
    station_id = params.get("station_id")
    station = db.session.get(ServiceStation, station_id) if isinstance(station_id, int) else None
    if station is None:
        return str(params.get("station", ""))
    return station.name_in(str(i18n.current_locale()))


def notification_text(notification: Notification) -> str:
    """The notice in the current locale (wrap in ``force_locale`` for its recipient's language)."""
    p = dict(notification.params or {})
    ref = str(p.get("reference", ""))
    kind = notification.kind
    if kind == "escalation":
        return _("Case %(reference)s (%(priority)s) is overdue: %(deadline)s.", reference=ref,
                 priority=p.get("priority", ""),
                 deadline=_DEADLINE_LABELS.get(str(p.get("deadline")), p.get("deadline", "")))
    if kind == "assigned":
        return _("Case %(reference)s (%(priority)s) was handed to your station. Please accept or "
                 "decline.", reference=ref, priority=p.get("priority", ""))
    if kind == "coordinator_assigned":
        return _("Case %(reference)s was assigned to you.", reference=ref)
    if kind == "accepted":
        return _("%(station)s accepted case %(reference)s.", station=_station_named(p), reference=ref)
    if kind == "declined":
        return _("%(station)s declined case %(reference)s; it is back in the triage queue.",
                 station=_station_named(p), reference=ref)
    if kind == "revoked":
        return _("The coordination centre took back case %(reference)s.", reference=ref)
    if kind == "resolved":
        return _("Case %(reference)s was resolved by the station and waits for your approval to "
                 "close.", reference=ref)
    if kind == "note":
        return _("New note on case %(reference)s.", reference=ref)
    if kind == "new_case":
        return _("New case %(reference)s (%(priority)s) waits for triage.", reference=ref,
                 priority=p.get("priority", ""))
    if kind == "sms_reply":
        return _("A safety-check reply opened case %(reference)s (%(priority)s).", reference=ref,
                 priority=p.get("priority", ""))
    if kind == "sms_reply_again":
        return _("New safety-check reply on case %(reference)s (%(priority)s).", reference=ref,
                 priority=p.get("priority", ""))
    if kind == "break_glass":
        return _("The alert “%(event)s” was sent by break-glass, without a second approval. Another "
                 "coordinator must review it by %(due)s.", event=p.get("event", ""),
                 due=_moment(p.get("due_at")))
    if kind == "break_glass_reviewed":
        return _("The break-glass alert “%(event)s” has been reviewed.", event=p.get("event", ""))
    return _("Update on case %(reference)s.", reference=ref)


def _moment(value: Any) -> str:
    """A moment a notice stored (ISO 8601), in the reader's locale."""
    try:
        return i18n.format_dt(datetime.fromisoformat(str(value)))
    except ValueError:
        return ""


def mark_notifications_read(user: User, ids: Iterable[int] | None = None) -> int:
    """Mark the user's notices read (all, or those ``ids``); returns how many changed."""
    statement = sa.update(Notification).where(Notification.user_id == user.id,
                                              Notification.read_at.is_(None))
    if ids is not None:
        wanted = [i for i in ids if isinstance(i, int) and not isinstance(i, bool) and 0 < i <= 2**63 - 1]
        if not wanted:
            return 0
        statement = statement.where(Notification.id.in_(wanted))
    result = db.session.execute(statement.values(read_at=utcnow())
                                .execution_options(synchronize_session=False))
    return int(getattr(result, "rowcount", 0) or 0)


def unread_count(user: User) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Notification).where(
        Notification.user_id == user.id, Notification.read_at.is_(None))) or 0


# --- cases opened by a safety-check reply -------------------------------------------------------


def create_case_from_sms_reply(*, registrant_id: int, name: str | None, phone: str, country_code: str,
                               city: str, language: str, reply_text: str, alert_id: int,
                               alert_event: str, need_help: bool) -> Case:
    """A "need help" (or unreadable) answer to a safety check becomes a case for triage: P1 when
    the person asked for help, else P2. A second reply from the same registrant to the same alert
    joins the open case instead of opening another one. No user acts: the system does."""
    now = utcnow()
    reply = clean_text(reply_text or "", multiline=True)
    reply = (reply if reply is not None else reply_text.encode("unicode_escape").decode())[:MAX["note"]]
    detail = {"alert_id": alert_id, "need_help": need_help, "language": (language or "")[:10]}
    existing = _open_reply_case(registrant_id, alert_id)
    if existing is not None:
        raised = need_help and existing.priority != Priority.P1
        if raised:
            previous = existing.priority
            existing.priority = Priority.P1
            existing.last_activity_at = now
            deadlines.compute_deadlines(existing, now=now, previous_priority=previous)
        _timeline(existing, None, TimelineKind.reply, "sms_reply", now, text=reply, detail=detail)
        _audit("sms_reply", existing, None, {"alert_id": alert_id, "need_help": need_help})
        notify(deadlines.coordinators_on_duty(), case=existing, kind="sms_reply_again",
               params={"reference": existing.reference, "priority": existing.priority.value})
        _flush()
        return existing

    with force_locale(_settings().default_locale):
        return _new_reply_case(registrant_id=registrant_id, name=name, phone=phone,
                               country_code=country_code, city=city, reply=reply, alert_id=alert_id,
                               alert_event=alert_event, need_help=need_help, detail=detail, now=now)


def _new_reply_case(*, registrant_id: int, name: str | None, phone: str, country_code: str, city: str,
                    reply: str, alert_id: int, alert_event: str, need_help: bool,
                    detail: Mapping[str, Any], now: datetime) -> Case:
    priority = Priority.P1 if need_help else Priority.P2
    code = (country_code or "").strip().upper()
    country = code if i18n.is_country_code(code) else None
    event = clean_text(alert_event or "") or ""
    summary = (_("Safety check: asks for help (%(event)s)", event=event) if need_help
               else _("Safety check: reply not understood (%(event)s)", event=event))
    city_text = (clean_text(city or "") or "")[:MAX["city"]]
    person: dict[str, Any] = {"role": PersonRole.involved}
    clean_name = (clean_text(name or "") or "")
    if clean_name:
        person["name_zh" if has_han(clean_name) else "name_latin"] = clean_name[:MAX["name_latin"]]
    try:
        person["phone"] = normalise_phone(phone, country or HOME_REGION)
    except ValueError:
        person["phone"] = None
    values = {"kind": CaseKind.abroad, "category": CaseCategory.other, "priority": priority,
              "summary": summary[:MAX["summary"]], "country_code": country, "city": city_text,
              "channel": Channel.sms_reply, "registrant_id": registrant_id}
    case = _insert_case(values, [person], user=None, reference=next_reference(_office_year(now)),
                        now=now, detail={"alert_id": alert_id})
    _timeline(case, None, TimelineKind.reply, "sms_reply", now, text=reply, detail=detail)
    notify(deadlines.coordinators_on_duty(), case=case, kind="sms_reply",
           params={"reference": case.reference, "priority": priority.value})
    _flush()
    return case


def _open_reply_case(registrant_id: int, alert_id: int) -> Case | None:
    candidates = list(db.session.scalars(
        sa.select(Case).where(Case.registrant_id == registrant_id, Case.status.in_(OPEN_STATUSES),
                              Case.channel == Channel.sms_reply).order_by(Case.id)))
    for case in candidates:
        created = db.session.scalar(sa.select(TimelineEntry.detail).where(
            TimelineEntry.case_id == case.id, TimelineEntry.kind == TimelineKind.created))
        if isinstance(created, dict) and created.get("alert_id") == alert_id:
            return case
    return None
