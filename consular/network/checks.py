"""Checking the input of network operations: the writable fields and limits of each place, the
errors an operation raises, and the field checker (phones, languages, time zones, codes, names).

Input is a mapping of field name to value, as a form or a JSON body gives it; values are checked
for type as well as content, because JSON can carry anything.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import cache
from typing import Any, TypeVar
from zoneinfo import available_timezones

from babel import Locale, UnknownLocaleError
from email_validator import EmailNotValidError, validate_email
from flask_babel import gettext as _

import i18n
from consular import phones
from consular.db import MAX_ID
from consular.network import models as nm
from consular.network.names import NAME_LOCALES
from consular.validation import FieldChecker

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
PARENT_LEVEL: dict[nm.DivisionLevel, nm.DivisionLevel | None] = {
    nm.DivisionLevel.county: None,
    nm.DivisionLevel.township: nm.DivisionLevel.county,
    nm.DivisionLevel.village: nm.DivisionLevel.township,
}

CODE_RE = re.compile(r"^[0-9A-Za-z_-]+$")
HOME_REGION = "CN"  # liaison points and the centre are in the city

M = TypeVar("M", nm.Division, nm.LiaisonPoint, nm.ServiceStation, nm.Mission, nm.CoordinationCentre)


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


class _Input(FieldChecker):
    """A network record's fields; fields not in ``allowed`` are refused by name."""

    def __init__(self, data: Mapping[str, Any], allowed: Iterable[str]) -> None:
        self.data = dict(data)
        self.errors: dict[str, str] = {}
        self.out: dict[str, Any] = {}
        allowed = set(allowed)
        for key in self.data:
            if key not in allowed:
                self.errors[str(key)[:60]] = _("Unknown or read-only field.")
        self.data = {k: v for k, v in self.data.items() if k in allowed}

    def require(self, *keys: str) -> None:
        for key in keys:
            if key not in self.data:
                self.fail(key, _("This field is required."))

    def choice(self, key: str,
               enum: type[nm.DivisionLevel] | type[nm.HostKind] | type[nm.MissionKind]) -> None:
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

    def _spelled(self, key: str, found: str | None, refusal: str) -> None:
        """The field as it is stored (``found``: the one spelling of what was typed), or, when
        nothing was found, refused with ``refusal``."""
        if found is None:
            self.out.pop(key, None)
            self.fail(key, refusal)
        else:
            self.out[key] = found

    def country(self, key: str) -> None:
        value = self.text(key, 64, required=True)
        if value is not None:
            code = value.upper()
            self._spelled(key, code if i18n.is_country_code(code) else None,
                          _("Not a country code. Use the two-letter ISO code, for example IT."))

    def timezone(self, key: str) -> None:
        value = self.text(key, 64, required=True)
        if value is not None:
            self._spelled(key, _zones().get(value.lower()),
                          _("Not a time zone. Use an IANA name such as Europe/Rome."))

    def phone(self, key: str, region: str | None, *, required: bool = False) -> None:
        value = self.text(key, MAX["phone_input"], required=required)
        if not value:
            return
        if region is None and "country_code" in self.errors and not value.startswith("+"):
            return  # a local number is read in its country: the country's error comes first
        try:
            self.out[key] = phones.normalise(value, region)
        except ValueError:
            self.out.pop(key, None)
            self.fail(key, _("Not a valid phone number. Use the international format, for example "
                             "%(example)s.", example=phones.example(region, mobile=False)))

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
