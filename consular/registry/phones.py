"""A registrant's number: read from what a person or a spreadsheet wrote, in E.164, an example for
a country, and the keyed hashes a registration is found by (its number, its name).
"""

from __future__ import annotations

import re

import phonenumbers
import sqlalchemy as sa

from consular.auth.operations import phone_search_hash
from consular.db import db, keyring
from consular.registry.models import Registrant


def parse_phone(raw: str, region: str | None) -> phonenumbers.PhoneNumber | None:
    """A valid number from what a person or a spreadsheet wrote: international (``+39 …``,
    ``0039 …``), national in ``region``, or the digits of an international number whose ``+`` a
    spreadsheet dropped (``393123456789``). None when it is not a valid number."""
    text = raw.strip().lstrip("'")  # a spreadsheet's "this is text" mark
    candidates = [(text, region)]
    digits = re.sub(r"[\s().-]", "", text)
    if digits.isdigit() and not digits.startswith("0"):
        candidates.append(("+" + digits, None))
    for candidate, where in candidates:
        try:
            number = phonenumbers.parse(candidate, where)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return number
    return None


def phone_example(region: str | None) -> str:
    number = phonenumbers.example_number_for_type(region or "CN", phonenumbers.PhoneNumberType.MOBILE)
    if number is None:
        return "+86 131 2345 6789"
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def normalise_e164(raw: str) -> str | None:
    """E.164 form of a number given in international form, or None."""
    number = parse_phone(raw, None)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164) if number else None


def phone_key(e164: str) -> str:
    """The keyed hash a registration is found by (the same as the one of users' phones)."""
    return phone_search_hash(e164)


def name_key(name: str) -> str:
    """The keyed hash of a name for exact-match search (case and spaces ignored)."""
    return keyring().search_hash(name, "registrant_name")


def find_by_phone(e164: str) -> Registrant | None:
    """The current registration of a number (E.164; another international spelling is
    normalised first), or None. For the alerts side: inbound STOP/START/HELP and replies."""
    number = normalise_e164(e164) or e164.strip()
    return db.session.scalar(sa.select(Registrant).where(
        Registrant.current_phone_hash == phone_key(number)))


# --- validation -----------------------------------------------------------------------------------
