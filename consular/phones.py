"""Phone numbers, read one way everywhere: accounts, the network, the registry and cases.

What a person, a form or a spreadsheet wrote is read as an international number (``+39 …`` or
``0039 …``), a national number of the country it belongs to (``region``), or the digits of an
international number whose ``+`` a spreadsheet dropped (``393123456789``). It is stored in E.164
and found by a keyed hash, the same for a user's, a case person's and a registrant's number.
"""

from __future__ import annotations

import re

import phonenumbers

from consular.db import keyring

HOME_REGION = "CN"  # where a number written without a country is read when nothing else says
MAX_LENGTH = 40  # characters; anything longer is not a phone number


class PhoneError(ValueError):
    """Not a valid phone number (the message is the text that was read)."""


def parse(raw: str, region: str | None) -> phonenumbers.PhoneNumber | None:
    """A valid number from ``raw``, or None when it is not one (see the module's docstring)."""
    text = raw.strip().lstrip("'")  # a spreadsheet's "this is text" mark
    if not text or len(text) > MAX_LENGTH:
        return None
    candidates: list[tuple[str, str | None]] = [(text, region)]
    digits = re.sub(r"[\s().-]", "", text)
    if digits.isdigit():
        if digits.startswith("00"):  # the international call prefix of most countries
            candidates.append(("+" + digits[2:], None))
        elif not digits.startswith("0"):
            candidates.append(("+" + digits, None))
    for candidate, where in candidates:
        try:
            number = phonenumbers.parse(candidate, where)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return number
    return None


def e164(number: phonenumbers.PhoneNumber) -> str:
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise(raw: str, region: str | None = None) -> str:
    """``raw`` in E.164 (``+8613905770000``); raises PhoneError when it is not a valid number."""
    number = parse(raw, region)
    if number is None:
        raise PhoneError(raw)
    return e164(number)


def normalise_or_none(raw: str, region: str | None = None) -> str | None:
    """``raw`` in E.164, or None when it is not a valid number."""
    number = parse(raw, region)
    return e164(number) if number else None


def search_hash(number: str) -> str:
    """The keyed hash a number (E.164) is found by, in every table that stores one."""
    return keyring().search_hash(number, "phone")


def example(region: str | None, *, mobile: bool = True) -> str:
    """A number of ``region`` written internationally, to show in a message that refuses one."""
    kind = phonenumbers.PhoneNumberType.MOBILE if mobile else phonenumbers.PhoneNumberType.FIXED_LINE
    number = phonenumbers.example_number_for_type(region or HOME_REGION, kind) or \
        phonenumbers.example_number_for_type(HOME_REGION, kind)
    if number is None:  # pragma: no cover (the library has examples for China)
        return "+86 131 2345 6789"
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def calling_country(number: str) -> str | None:
    """The country a number (E.164) is dialled in, by its calling code alone: cheap enough for every
    message sent. A code shared by several countries gives its main one (+1: US, +7: RU, +44: GB)."""
    if not number.startswith("+"):
        return None
    for length in (1, 2, 3):
        code = number[1:1 + length]
        if not code.isdigit():
            return None
        regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(int(code))
        if regions:
            region = regions[0]
            return region if len(region) == 2 and region != "ZZ" else None
    return None
