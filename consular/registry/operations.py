"""Registry operations: the only code that registers, changes and ends registrations (erasure and
the subject-access export are ``consular.registry.subject_data``'s).

Each operation checks all of its input before it touches a row, so a refusal leaves nothing
half-written; then it writes, flushes and records an audit entry (field names and ids only, never
a name or a number). The caller commits once.

A number has at most one current registration: ``current_phone_hash`` (the keyed hash of the
E.164 number while the registration is current, NULL once it has ended) is unique. Only numbers
that can receive text messages are accepted: a landline (phonenumbers' FIXED_LINE) is refused
with a message, a number that may be either (FIXED_LINE_OR_MOBILE, as in the US) is accepted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

import phonenumbers
import sqlalchemy as sa
from flask_babel import gettext as _

import i18n
from config import current_settings
from consular import phones
from consular.audit.operations import record
from consular.auth.models import Role, User
from consular.auth.scoping import scoped
from consular.db import db, utcnow
from consular.network.checks import _Input, _unchanged_dropped
from consular.network.models import LiaisonPoint, ServiceStation
from consular.network.operations import touch_activity_of
from consular.registry.languages import SMS_LOCALES, language_from_text
from consular.registry.models import (
    ConsentMethod,
    ContactChannel,
    Registrant,
    RegistrantKind,
    RegistrantStatus,
)
from consular.registry.phones import name_key
from consular.registry.places import coordinates_of, timezone_for, zones_for_country

DEFAULT_LANGUAGE = "zh_Hans"

# Writable fields, in the order forms show them. Anything else is refused.
REGISTRANT_FIELDS = ("name", "phone", "kind", "language", "country_code", "city", "timezone",
                     "liaison_point_id", "station_id", "stay_from", "stay_until", "channels",
                     "whatsapp_consent", "voice_consent")
CHANNEL_CONSENTS = ("whatsapp_consent", "voice_consent")
CONSENT_FIELDS = ("consent_method", "consent_at", "consent_note")
# How a person's consent can be recorded by someone registering them (``imported`` is the import's).
RECORDED_CONSENT = (ConsentMethod.written, ConsentMethod.verbal, ConsentMethod.online,
                    ConsentMethod.sms)
# Why a registration ends (stored, and safe to name in the audit trail).
END_REASONS = ("returned_home", "asked_to_stop", "duplicate", "deceased", "other")

MAX = {"name": 120, "city": 120, "consent_note": 200, "status_reason": 120, "phone_input": 40}
# Types of number that can receive a text message.
SMS_CAPABLE = (
    phonenumbers.PhoneNumberType.MOBILE,
    phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    phonenumbers.PhoneNumberType.PERSONAL_NUMBER,
    phonenumbers.PhoneNumberType.VOIP,
)
EARLIEST_CONSENT = datetime(1990, 1, 1, tzinfo=UTC)
CLOCK_SKEW = timedelta(minutes=5)


class RegistryInputError(ValueError):
    """Input that cannot be saved; ``errors`` maps each field to a message for the user.
    ``existing_id`` names the current registration of the same number when the user may see it."""

    def __init__(self, errors: Mapping[str, str], existing_id: int | None = None) -> None:
        super().__init__("; ".join(f"{key}: {message}" for key, message in errors.items()))
        self.errors = dict(errors)
        self.existing_id = existing_id


class RegistryConflict(ValueError):
    """A change the registration's state does not allow (ended, erased, legal hold); the message
    is for the user."""


# --- phones ---------------------------------------------------------------------------------------


def _office_zone() -> ZoneInfo:
    return ZoneInfo(current_settings().office_timezone)


class _RegistrantInput(_Input):
    """The network's field checks, plus the registry's: mobile numbers, SMS languages, dates."""

    existing_id: int | None = None  # the visible registration a number clashes with

    def done(self) -> dict[str, Any]:
        if self.errors:
            raise RegistryInputError(self.errors, self.existing_id)
        return self.out

    def country(self, key: str) -> None:
        # As the network's check, with the list of codes built once (imports check every row).
        value = self.text(key, 64, required=True)
        if value is None:
            return
        code = value.upper()
        if code not in _country_codes():
            self.out.pop(key, None)
            self.fail(key, _("Not a country code. Use the two-letter ISO code, for example IT."))
            return
        self.out[key] = code

    def enum(self, key: str, enum: type[Any], allowed: Iterable[Any] | None = None) -> None:
        if key not in self.data:
            return
        raw = self.data[key]
        values = [member.value for member in (allowed if allowed is not None else enum)]
        value = raw.strip() if isinstance(raw, str) else raw
        if value not in values:
            self.fail(key, _("Choose one of: %(choices)s.", choices=", ".join(values)))
            return
        self.out[key] = enum(value)

    def mobile(self, key: str, region: str | None) -> None:
        value = self.text(key, MAX["phone_input"], required=True)
        if not value:
            return
        self.out.pop(key, None)
        number = phones.parse(value, region)
        if number is None:
            if region is None and not value.lstrip("'").startswith("+") and \
                    "country_code" in self.errors:
                return  # a local number is read in its country: the country's error comes first
            self.fail(key, _("Not a valid phone number. Use the international format, for example "
                             "%(example)s.", example=phones.example(region)))
            return
        kind = phonenumbers.number_type(number)
        if kind == phonenumbers.PhoneNumberType.FIXED_LINE:
            self.fail(key, _("This is a landline number: text messages cannot reach it. Enter a "
                             "mobile number."))
        elif kind not in SMS_CAPABLE:
            self.fail(key, _("This number cannot receive text messages (a toll-free, premium or "
                             "service number). Enter a mobile number."))
        else:
            self.out[key] = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)

    def language(self, key: str) -> None:
        if key not in self.data:
            return
        value = self.text(key, 40, required=True)
        if value is None:
            return
        try:
            self.out[key] = language_from_text(value)
        except ValueError:
            self.out.pop(key, None)
            self.fail(key, _("Choose one of the alert languages: %(choices)s.",
                             choices=", ".join(SMS_LOCALES)))

    def day(self, key: str) -> None:
        if key not in self.data:
            return
        raw = self.data[key]
        if raw is None or raw == "":
            self.out[key] = None
            return
        if isinstance(raw, datetime):
            raw = raw.date()
        if isinstance(raw, date):
            self.out[key] = raw
            return
        if isinstance(raw, str):
            parsed = parse_day(raw)
            if parsed is not None:
                self.out[key] = parsed
                return
        self.fail(key, _("Not a date. Use the form 2025-09-30."))

    def moment(self, key: str) -> None:
        """A past moment: an aware datetime, an ISO text (without a zone: the office's time), or
        a day (noon, office time). Missing or empty: now."""
        raw = self.data.get(key)
        when: datetime | None = None
        if raw is None or raw == "":
            self.out[key] = utcnow()
            return
        if isinstance(raw, datetime):
            when = raw
        elif isinstance(raw, date):
            when = datetime.combine(raw, time(12))
        elif isinstance(raw, str):
            text = raw.strip()
            try:
                when = datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError:
                day = parse_day(text)
                when = datetime.combine(day, time(12)) if day else None
        if when is None:
            self.fail(key, _("Not a date and time. Use the form 2025-09-30 14:30."))
            return
        if when.tzinfo is None:
            when = when.replace(tzinfo=_office_zone())
        when = when.astimezone(UTC)
        if when > utcnow() + CLOCK_SKEW:
            self.fail(key, _("This moment is in the future."))
        elif when < EARLIEST_CONSENT:
            self.fail(key, _("This date is too far in the past."))
        else:
            self.out[key] = when


@cache
def _country_codes() -> frozenset[str]:
    return frozenset(code for code, _name in i18n.country_choices("en"))


_DAY_RE = re.compile(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?$")


def parse_day(text: str) -> date | None:
    """A day written year first: 2025-09-30, 2025/9/30, 2025.09.30, 2025年9月30日."""
    match = _DAY_RE.match(text.strip())
    if not match:
        return None
    try:
        return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        return None


def _place_in_scope(check: _RegistrantInput, key: str, model: type[LiaisonPoint] | type[ServiceStation],
                    user: User, current: int | None) -> None:
    """A home liaison point or station the user may choose: an active one in the user's scope
    (an officer: their own point; a volunteer: their own station), or the one already set."""
    check.identifier(key, nullable=True)
    chosen = check.out.get(key)
    if chosen is None or chosen == current:
        return
    found = db.session.scalar(scoped(model, user).where(model.id == chosen, model.active.is_(True)))
    if found is None:
        check.out.pop(key, None)
        check.fail(key, _("Choose an entry from the list."))


def _check_registrant(check: _RegistrantInput, user: User, existing: Registrant | None, *,
                      duplicates: bool = True) -> None:
    """Every field of a registration (new when ``existing`` is None), into ``check``."""
    check.text("name", MAX["name"], required=True)
    check.enum("kind", RegistrantKind)
    check.language("language")
    check.country("country_code")
    check.text("city", MAX["city"])
    if "country_code" in check.errors:
        region = None
    else:
        region = check.out.get("country_code", existing.country_code if existing else None)
    if "phone" in check.data:
        check.mobile("phone", region)
    _place_in_scope(check, "liaison_point_id", LiaisonPoint, user,
                    existing.liaison_point_id if existing else None)
    _place_in_scope(check, "station_id", ServiceStation, user,
                    existing.station_id if existing else None)
    check.day("stay_from")
    check.day("stay_until")
    stay_from = check.out.get("stay_from", existing.stay_from if existing else None)
    stay_until = check.out.get("stay_until", existing.stay_until if existing else None)
    if "stay_from" not in check.errors and "stay_until" not in check.errors and \
            stay_from and stay_until and stay_until < stay_from:
        check.fail("stay_until", _("The stay cannot end before it starts."))
    _check_zone(check, existing)
    _check_channels(check)
    if duplicates and "phone" in check.out:
        clash = current_registration(check.out["phone"], exclude=existing)
        if clash is not None:
            check.out.pop("phone", None)
            check.fail("phone", duplicate_message(clash, user))
            check.existing_id = clash.id if _may_see(clash, user) else None


def _check_channels(check: _RegistrantInput) -> None:
    """The channels in the order they are tried (a list, or names separated by commas), each once;
    the consent to WhatsApp and to voice calls, each true or false."""
    if check.data.get("channels") not in (None, ""):  # not given: as before (new: SMS)
        raw = check.data["channels"]
        names = raw.split(",") if isinstance(raw, str) else raw if isinstance(raw, list) else None
        choices = [c.value for c in ContactChannel]
        cleaned = [n.strip().lower() for n in names if isinstance(n, str)] if names is not None else []
        if (names is None or len(cleaned) != len(names) or not cleaned or len(set(cleaned)) != len(cleaned)
                or any(n not in choices for n in cleaned)):
            check.fail("channels", _("Choose channels from: %(choices)s, each at most once.",
                                     choices=", ".join(choices)))
        else:
            check.out["channels"] = ",".join(cleaned)
    for key in CHANNEL_CONSENTS:
        if key in check.data:
            value = check.data[key]
            if isinstance(value, bool):
                check.out[key] = value
            else:
                check.fail(key, _("Enter true or false."))


def _check_zone(check: _RegistrantInput, existing: Registrant | None) -> None:
    """The time zone: as chosen (it must be one of the country's), else derived from the city;
    an edit keeps the zone it had when the city tells nothing new."""
    if "country_code" in check.errors:
        return
    country = check.out.get("country_code", existing.country_code if existing else None)
    city = check.out.get("city", existing.city if existing else "")
    raw = check.data.get("timezone")
    if isinstance(raw, str) and raw.strip():
        check.timezone("timezone")
        zone = check.out.get("timezone")
        zones = zones_for_country(country) if country else []
        if zone and zones and zone not in zones:
            check.out.pop("timezone", None)
            check.fail("timezone", _("%(zone)s is not a time zone of %(country)s. Choose one from "
                                     "the list.", zone=zone, country=i18n.country_name(country)))
        return
    if raw is not None and not isinstance(raw, str):
        check.fail("timezone", _("Enter text."))
        return
    check.out.pop("timezone", None)
    moved = existing is None or "country_code" in check.out or "city" in check.out
    if not moved or country is None:
        return
    derived = timezone_for(country, city)
    if derived is not None:
        check.out["timezone"] = derived
    elif existing is not None and existing.timezone in zones_for_country(country):
        return
    elif city:
        check.fail("timezone", _("We cannot tell the time zone of %(city)s. Choose it from the "
                                 "list.", city=city))
    else:
        check.fail("timezone", _("%(country)s has several time zones: enter the city or choose "
                                 "the zone.", country=i18n.country_name(country)))


def _check_consent(check: _RegistrantInput) -> None:
    check.require("consent_method")
    check.enum("consent_method", ConsentMethod, RECORDED_CONSENT)
    check.moment("consent_at")
    check.text("consent_note", MAX["consent_note"])


def current_registration(e164: str, exclude: Registrant | None = None) -> Registrant | None:
    query = sa.select(Registrant).where(Registrant.current_phone_hash == phones.search_hash(e164))
    if exclude is not None:
        query = query.where(Registrant.id != exclude.id)
    return db.session.scalar(query)


def _may_see(registrant: Registrant, user: User) -> bool:
    return db.session.scalar(scoped(Registrant, user).where(Registrant.id == registrant.id)
                             .with_only_columns(Registrant.id)) is not None


def duplicate_message(existing: Registrant, user: User) -> str:
    """"One active registration per number", naming the registration if the user may see it."""
    if _may_see(existing, user):
        return _("This number is already registered (registration no. %(id)d). Open that "
                 "registration to change it instead.", id=existing.id)
    return _("This number is already registered with another liaison point or station. Ask the "
             "coordination centre to move that registration to you.")


def _defaults_for(user: User, data: Mapping[str, Any]) -> dict[str, Any]:
    """A liaison officer registers people of their own point; a station volunteer people of
    their station, in its country unless another is given."""
    out = dict(data)
    if user.role == Role.liaison_officer and not out.get("liaison_point_id"):
        out["liaison_point_id"] = user.liaison_point_id
    if user.role == Role.station_volunteer:
        if not out.get("station_id"):
            out["station_id"] = user.station_id
        station = db.session.get(ServiceStation, user.station_id) if user.station_id else None
        if station is not None and not out.get("country_code"):
            out["country_code"] = station.country_code
    return out


def check_new_registrant(data: Mapping[str, Any], *, user: User, consent: bool = True,
                         duplicates: bool = True) -> dict[str, Any]:
    """The checked values of a new registration (``consent``: with its consent record;
    ``duplicates``: refuse a number already registered). Raises RegistryInputError."""
    fields = REGISTRANT_FIELDS + (CONSENT_FIELDS if consent else ())
    check = _RegistrantInput(_defaults_for(user, data), fields)
    check.require("name", "phone", "country_code")
    _check_registrant(check, user, None, duplicates=duplicates)
    if consent:
        _check_consent(check)
    values = check.done()
    values.setdefault("language", DEFAULT_LANGUAGE)
    values.setdefault("kind", RegistrantKind.citizen_abroad)
    values.setdefault("city", "")
    return values


# --- registering and changing ---------------------------------------------------------------------


def registrant_row(values: Mapping[str, Any], *, user: User, consent_method: ConsentMethod,
                   consent_at: datetime, consent_note: str = "",
                   import_batch: str | None = None) -> dict[str, Any]:
    """The column values of a new registration from checked values."""
    fields = {key: value for key, value in values.items() if key in REGISTRANT_FIELDS}
    for flag in CHANNEL_CONSENTS:  # a consent given with the registration: given with it
        if flag in fields:
            fields[f"{flag}_at"] = consent_at if fields.pop(flag) else None
    key = phones.search_hash(fields["phone"])
    place = coordinates_of(fields.get("country_code", ""), fields.get("city", ""))
    return {**fields, "latitude": place[0] if place else None,
            "longitude": place[1] if place else None, "phone_hash": key, "current_phone_hash": key,
            "name_hash": name_key(fields["name"]), "consent_at": consent_at,
            "consent_method": consent_method, "consent_by_id": user.id,
            "consent_note": consent_note, "status": RegistrantStatus.active,
            "created_by_id": user.id, "import_batch": import_batch}


def new_registrant(values: Mapping[str, Any], *, user: User, consent_method: ConsentMethod,
                   consent_at: datetime, consent_note: str = "",
                   import_batch: str | None = None) -> Registrant:
    """A Registrant row from checked values (not yet added to the session)."""
    return Registrant(**registrant_row(values, user=user, consent_method=consent_method,
                                       consent_at=consent_at, consent_note=consent_note,
                                       import_batch=import_batch))


def register(data: Mapping[str, Any], *, user: User) -> Registrant:
    """Register a person to receive alerts, with the consent ``user`` recorded (method, when —
    default now — and the user as the one who recorded it). Raises RegistryInputError, naming
    the current registration of the same number when there is one."""
    values = check_new_registrant(data, user=user)
    registrant = new_registrant(values, user=user, consent_method=values["consent_method"],
                                consent_at=values["consent_at"],
                                consent_note=values.get("consent_note") or "")
    db.session.add(registrant)
    db.session.flush()
    record("registrant.create", "registrant", registrant.id,
           {"fields": sorted(k for k, v in values.items() if v not in ("", None)),
            "consent_method": registrant.consent_method.value,
            "liaison_point_id": registrant.liaison_point_id, "station_id": registrant.station_id},
           user=user)
    touch_activity_of(user)
    return registrant


def _refuse_if_ended(registrant: Registrant) -> None:
    if registrant.erased_at is not None:
        raise RegistryConflict(_("This person's data was erased; nothing can be changed."))
    if registrant.ended_at is not None:
        raise RegistryConflict(_("This registration has ended. Register the person again to send "
                                 "them alerts."))


def update_registrant(registrant: Registrant, data: Mapping[str, Any], *, user: User) -> list[str]:
    """Change a current registration; returns the names of the fields that changed. A new number
    is checked like a new registration's; a number marked invalid becomes active again."""
    _refuse_if_ended(registrant)
    check = _RegistrantInput(_unchanged_dropped(registrant, data, REGISTRANT_FIELDS),
                             REGISTRANT_FIELDS)
    _check_registrant(check, user, registrant)
    values = check.done()
    changed = sorted(key for key, value in values.items() if getattr(registrant, key) != value)
    for key in changed:
        setattr(registrant, key, values[key])
    if "phone" in changed:
        registrant.phone_hash = registrant.current_phone_hash = phones.search_hash(registrant.phone)
        if registrant.status == RegistrantStatus.invalid_number:
            _set_status_fields(registrant, RegistrantStatus.active, "new number")
    if "name" in changed:
        registrant.name_hash = name_key(values["name"])
    if changed:
        db.session.flush()
        record("registrant.update", "registrant", registrant.id, {"fields": changed}, user=user)
        touch_activity_of(user)
    return changed


def _set_status_fields(registrant: Registrant, status: RegistrantStatus, reason: str) -> None:
    registrant.status = status
    registrant.status_changed_at = utcnow()
    registrant.status_reason = reason[:MAX["status_reason"]]


def set_status(registrant: Registrant, status: RegistrantStatus | str, reason: str = "", *,
               actor: User | None = None) -> bool:
    """Mark a registration active, opted out or invalid_number; for the alerts side (a STOP or
    START reply, a provider's permanent error: ``actor`` None) and for people (``actor``). Returns
    False when the status was already that. ``reason`` is a short code or provider message
    ("STOP", "21211 invalid To"); it is kept on the row and in the audit trail, so it must not
    hold personal data. A START by the person (no actor) after an opt-out records their consent
    by SMS."""
    new = RegistrantStatus(status)
    if registrant.status == new:
        return False
    old = registrant.status
    _set_status_fields(registrant, new, reason)
    if actor is None and old == RegistrantStatus.opted_out and new == RegistrantStatus.active:
        registrant.consent_method = ConsentMethod.sms
        registrant.consent_at = utcnow()
        registrant.consent_by_id = None
        registrant.consent_note = ""
    db.session.flush()
    record("registrant.status", "registrant", registrant.id,
           {"from": old.value, "to": new.value, "reason": reason[:MAX["status_reason"]]},
           user=actor, username=None if actor is not None else "system")
    touch_activity_of(actor)
    return True


def change_status(registrant: Registrant, status: RegistrantStatus | str, *, user: User,
                  consent_method: ConsentMethod | str | None = None, consent_note: str = "") -> bool:
    """A person changes a registration's status on someone's behalf (they asked by phone to stop,
    a number turned out wrong…). Re-activating someone who opted out needs their consent again,
    recorded like a registration's."""
    _refuse_if_ended(registrant)
    check = _RegistrantInput({"status": status, "consent_method": consent_method or "",
                              "consent_note": consent_note},
                             ("status", "consent_method", "consent_note"))
    check.enum("status", RegistrantStatus)
    new = check.out.get("status")
    again = new == RegistrantStatus.active and registrant.status == RegistrantStatus.opted_out
    if again:
        if not consent_method:
            check.fail("consent_method", _("This person opted out. Record how they agreed to "
                                           "receive alerts again."))
        else:
            check.enum("consent_method", ConsentMethod, RECORDED_CONSENT)
    check.text("consent_note", MAX["consent_note"])  # checked even when not kept: one text rule
    values = check.done()
    if registrant.status == values["status"]:
        return False
    if again:
        registrant.consent_method = values["consent_method"]
        registrant.consent_at = utcnow()
        registrant.consent_by_id = user.id
        registrant.consent_note = values.get("consent_note") or ""
    return set_status(registrant, values["status"], "manual", actor=user)


def end_registration(registrant: Registrant, *, user: User, reason: str) -> bool:
    """End a registration (the person went home, asked to stop, a duplicate…): no more alerts,
    and the number is free for a new registration. The record stays. Returns False when it had
    already ended."""
    if registrant.ended_at is not None:
        return False
    if reason not in END_REASONS:
        raise RegistryInputError({"reason": _("Choose one of: %(choices)s.",
                                              choices=", ".join(END_REASONS))})
    registrant.ended_at = utcnow()
    registrant.ended_reason = reason
    registrant.current_phone_hash = None
    db.session.flush()
    record("registrant.end", "registrant", registrant.id, {"reason": reason}, user=user)
    touch_activity_of(user)
    return True


def set_legal_hold(registrant: Registrant, hold: bool, *, user: User) -> bool:
    """Place or lift a legal hold: while it stands, the person's data cannot be erased."""
    if registrant.legal_hold == hold:
        return False
    registrant.legal_hold = hold
    db.session.flush()
    record("registrant.legal_hold", "registrant", registrant.id, {"hold": hold}, user=user)
    return True


