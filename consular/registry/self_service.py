"""Registry operations for a person acting on their own registration (self-enrolment): no officer
records the consent, the person gives it; the number was proved by a code before any of these is
called, so a number already registered is that person's own registration to change.

The fields are checked by the same rules as an officer's form (``_RegistrantInput``: mobile
numbers only, SMS languages, countries, stay dates, time zones, the one text rule); every problem
is collected before a row is touched, so a refusal leaves nothing half-written. Flushes and
records audit entries (field names and ids only); the caller commits.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from flask_babel import gettext as _

from consular import phones
from consular.audit.operations import record
from consular.db import db, utcnow
from consular.registry.models import ConsentMethod, Registrant, RegistrantKind, RegistrantStatus
from consular.registry.operations import (
    MAX,
    RegistryInputError,
    _check_zone,
    _RegistrantInput,
    current_registration,
)
from consular.registry.phones import name_key

# What a person may set on their own registration (the number is the proved one, never typed here).
SELF_FIELDS = ("name", "language", "country_code", "city", "timezone", "stay_from", "stay_until")
ACTOR = "self-enrolment"  # the audit trail's name for the person acting on their own registration


def check_mobile(raw: object, key: str = "phone") -> str:
    """A number that can receive text messages, in E.164, from what was typed in any common
    spelling (``+39 …``, ``0039 …``, ``39…``); landlines, premium-rate, toll-free and service
    numbers are refused with a message. Raises RegistryInputError."""
    check = _RegistrantInput({key: raw} if raw not in (None, "") else {}, (key,))
    check.require(key)
    check.mobile(key, None)
    values = check.done()
    return str(values[key])


def check_details(data: Mapping[str, Any], existing: Registrant | None) -> dict[str, Any]:
    """The checked values of the person's fields (all required but city, the time zone and the
    stay dates). Raises RegistryInputError with a message per field."""
    check = _RegistrantInput(data, SELF_FIELDS)
    check.require("name", "language", "country_code")
    check.text("name", MAX["name"], required=True)
    check.language("language")
    check.country("country_code")
    check.text("city", MAX["city"])
    check.day("stay_from")
    check.day("stay_until")
    stay_from, stay_until = check.out.get("stay_from"), check.out.get("stay_until")
    if stay_from and stay_until and stay_until < stay_from:
        check.fail("stay_until", _("The stay cannot end before it starts."))
    _check_zone(check, existing)
    return check.done()


def register_self(phone: str, values: Mapping[str, Any], *, consent_at: datetime) -> Registrant:
    """A new current registration of a proved number, with the person's own online consent."""
    key = phones.search_hash(phone)
    fields = {k: v for k, v in values.items() if k in SELF_FIELDS}
    fields.setdefault("city", "")
    registrant = Registrant(**fields, phone=phone, phone_hash=key, current_phone_hash=key,
                            name_hash=name_key(fields["name"]), kind=RegistrantKind.citizen_abroad,
                            consent_at=consent_at, consent_method=ConsentMethod.online,
                            consent_note="", status=RegistrantStatus.active)
    db.session.add(registrant)
    db.session.flush()
    record("registrant.create", "registrant", registrant.id,
           {"fields": sorted(k for k, v in fields.items() if v not in ("", None)),
            "consent_method": ConsentMethod.online.value}, username=ACTOR)
    return registrant


def update_self(registrant: Registrant, values: Mapping[str, Any], *,
                consent_at: datetime) -> list[str]:
    """Change the person's own current registration; the consent is given again (online, now), and
    a registration that had opted out or been marked invalid is active again: the person just
    proved the number and asked for alerts. Returns the names of the fields that changed."""
    changed = sorted(k for k, v in values.items()
                     if k in SELF_FIELDS and getattr(registrant, k) != v)
    for key in changed:
        setattr(registrant, key, values[key])
    if "name" in changed:
        registrant.name_hash = name_key(values["name"])
    registrant.consent_method = ConsentMethod.online
    registrant.consent_at = consent_at
    registrant.consent_by_id = None
    registrant.consent_note = ""
    if registrant.status != RegistrantStatus.active:
        changed.append("status")
        registrant.status = RegistrantStatus.active
        registrant.status_changed_at = utcnow()
        registrant.status_reason = "self-enrolment"
    db.session.flush()
    record("registrant.update", "registrant", registrant.id,
           {"fields": changed, "consent_method": ConsentMethod.online.value}, username=ACTOR)
    return changed


def end_self(registrant: Registrant) -> None:
    """The person ends their own registration: no more alerts, the number is free again."""
    registrant.ended_at = utcnow()
    registrant.ended_reason = "asked_to_stop"
    registrant.current_phone_hash = None
    db.session.flush()
    record("registrant.end", "registrant", registrant.id, {"reason": "asked_to_stop"},
           username=ACTOR)


def own_registration(phone: str) -> Registrant | None:
    """The current registration of a proved number (read by its owner: audited as such)."""
    found = current_registration(phone)
    if found is not None:
        record("registrant.read", "registrant", found.id, {"by": "owner"}, username=ACTOR)
    return found


__all__ = ["ACTOR", "SELF_FIELDS", "RegistryInputError", "check_details", "check_mobile",
           "end_self", "own_registration", "register_self", "update_self"]
