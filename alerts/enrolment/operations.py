"""Self-enrolment's writes: a proved number's registration made, changed or ended by its owner,
with the next of kin, the channels and the consent text they agreed to. Every field is checked
before a row is touched (one error per field, in the visitor's language), so a refusal leaves
nothing half-written. Flushes; the caller commits.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from alerts.enrolment import codes
from alerts.enrolment.models import EnrolmentCode, SelfEnrolment
from consular.db import db, utcnow
from consular.registry import self_service
from consular.registry.languages import SMS_LOCALES
from consular.registry.models import Registrant
from consular.registry.operations import MAX, RegistryInputError
from consular.validation import read_text

# The channels a registrant can ask for, in the order offered; SMS is the default. (WhatsApp and
# voice join this list when their sending exists.)
CHANNELS: tuple[str, ...] = ("sms",)
DEFAULT_CHANNELS: tuple[str, ...] = ("sms",)
# The consent text shown on the page, and its version: a new wording gets a new version, and
# every registration keeps the version, language and text its owner agreed to.
CONSENT_VERSION = "2026-12-a"
CONSENT_TEXT = _l(
    "I agree that the city's foreign affairs office keeps my name, my phone number, where I stay "
    "and my next of kin, to send me safety alerts and to contact me or my family in an emergency. "
    "The data is used for nothing else. I can view, change or end my registration at any time on "
    "this page with a new code."
)


class EnrolmentError(ValueError):
    """Input that cannot be saved; ``errors`` maps each field to a message for the visitor."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = dict(errors)


def consent_text(locale: str) -> str:
    with force_locale(locale):
        return str(CONSENT_TEXT)


def _next_of_kin(data: Mapping[str, Any], own_phone: str,
                 errors: dict[str, str]) -> tuple[str | None, str | None]:
    name, problem = read_text(data.get("kin_name", ""), MAX["name"])
    if problem:
        errors["kin_name"] = problem
    raw_phone = data.get("kin_phone", "")
    phone: str | None = None
    if isinstance(raw_phone, str) and raw_phone.strip():
        try:
            phone = self_service.check_mobile(raw_phone, "kin_phone")
        except RegistryInputError as exc:
            errors.update(exc.errors)
        if phone is not None and phone == own_phone:
            errors["kin_phone"] = _("Your next of kin needs a number of their own, not yours.")
            phone = None
    elif raw_phone not in ("", None):
        errors["kin_phone"] = _("Enter text.")
    if name and phone is None and "kin_phone" not in errors:
        errors["kin_phone"] = _("Give your next of kin's mobile number too.")
    if phone and not name and "kin_name" not in errors:
        errors["kin_name"] = _("Give your next of kin's name too.")
    return name or None, phone


def _kin_language(raw: Any, errors: dict[str, str]) -> str | None:
    """The next of kin's SMS language; empty: the registrant's own (the default)."""
    if raw in ("", None):
        return None
    if not isinstance(raw, str) or raw not in SMS_LOCALES:
        errors["kin_language"] = _("Choose an entry from the list.")
        return None
    return raw


def _channels(raw: Any, errors: dict[str, str]) -> list[str]:
    chosen = [raw] if isinstance(raw, str) else list(raw or [])
    if any(not isinstance(c, str) or c not in CHANNELS for c in chosen):
        errors["channels"] = _("Choose one of: %(choices)s.", choices=", ".join(CHANNELS))
        return []
    return list(dict.fromkeys(chosen)) or list(DEFAULT_CHANNELS)


def save_enrolment(proof: EnrolmentCode, data: Mapping[str, Any], *, locale: str,
                   now: datetime | None = None) -> tuple[Registrant, bool]:
    """Register the proved number, or change its current registration, from the page's fields:
    the register's (name, language, country, city, stay), the next of kin (and their language:
    ``kin_language``, empty for the registrant's own), the channels and the
    consent (``consent`` must be given; the text shown in ``locale`` is kept with its version).
    Uses up the proof; returns the registration and whether it is new. Raises EnrolmentError."""
    now = now or utcnow()
    errors: dict[str, str] = {}
    existing = self_service.own_registration(proof.phone)
    fields = {key: data[key] for key in self_service.SELF_FIELDS if key in data}
    values: dict[str, Any] = {}
    try:
        values = self_service.check_details(fields, existing)
    except RegistryInputError as exc:
        errors.update(exc.errors)
    kin_name, kin_phone = _next_of_kin(data, proof.phone, errors)
    kin_language = _kin_language(data.get("kin_language"), errors)
    channels = _channels(data.get("channels"), errors)
    if data.get("consent") not in ("yes", "on", True):
        errors["consent"] = _("Tick the box to agree, or we cannot send you alerts.")
    if errors:
        raise EnrolmentError(errors)
    if not codes.consume(proof, now):
        raise EnrolmentError({"code": _("This code was already used. Ask for a new code.")})
    if existing is None:
        registrant = self_service.register_self(proof.phone, values, consent_at=now)
    else:
        self_service.update_self(existing, values, consent_at=now)
        registrant = existing
    extra = db.session.scalar(sa.select(SelfEnrolment).where(SelfEnrolment.registrant_id == registrant.id))
    if extra is None:
        extra = SelfEnrolment(registrant_id=registrant.id)
        db.session.add(extra)
    extra.next_of_kin_name = kin_name
    extra.next_of_kin_phone = kin_phone
    extra.next_of_kin_language = kin_language if kin_phone else None
    extra.channels = channels
    extra.consent_version = CONSENT_VERSION
    extra.consent_locale = locale
    extra.consent_text = consent_text(locale)
    extra.consent_at = now
    db.session.flush()
    return registrant, existing is None


def end_enrolment(proof: EnrolmentCode, now: datetime | None = None) -> bool:
    """End the proved number's current registration (False: it had none). Uses up the proof."""
    existing = self_service.own_registration(proof.phone)
    if existing is None or not codes.consume(proof, now):
        return False
    self_service.end_self(existing)
    return True


def enrolment_of(registrant: Registrant) -> SelfEnrolment | None:
    return db.session.scalar(sa.select(SelfEnrolment).where(SelfEnrolment.registrant_id == registrant.id))
