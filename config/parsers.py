"""How each setting's text becomes its value: one parser per kind of value, each raising ValueError
with a message that the loader prefixes with the variable's name.

A structured setting (a list, a table, a range) is parsed once, at load, into a :class:`Parsed`
value: it is the setting's canonical text (what compares equal, prints, and the README shows) and
carries the parsed form as ``.value``, so the code that uses it never parses it again.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Callable, Iterator, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, Generic, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

T = TypeVar("T")

ENVIRONMENTS = ("development", "production", "test")
SMS_GATEWAYS = ("console", "twilio")
LOCALES = ("zh_Hans", "en")
PRIORITIES = ("P1", "P2", "P3", "P4")
ATTACHMENT_KINDS = ("jpeg", "png", "webp", "heic", "pdf", "txt", "docx", "xlsx")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class Parsed(str, Generic[T]):
    """A structured setting: its canonical text, with the value parsed from it as ``value``."""

    value: T

    def __new__(cls, text: str, value: T) -> Parsed[T]:
        self = super().__new__(cls, text)
        self.value = value
        return self

    def __reduce__(self) -> tuple[Any, ...]:  # pickled with its value (settings cross processes)
        return (Parsed, (str(self), self.value))


# --- plain values ------------------------------------------------------------------------------


def parse_bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ValueError("expected true/false")


def parse_positive_int(raw: str) -> int:
    value = int(raw.strip())
    if value <= 0:
        raise ValueError("must be a positive whole number")
    return value


def parse_proxy_count(raw: str) -> int:
    value = int(raw.strip())
    if value < 0 or value > 5:
        raise ValueError("must be a whole number from 0 to 5")
    return value


def int_between(low: int, high: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        value = int(raw.strip())
        if not low <= value <= high:
            raise ValueError(f"must be a whole number from {low} to {high}")
        return value

    return parse


def parse_str(raw: str) -> str:
    return raw.strip()


def choice(options: tuple[str, ...]) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.strip()
        if value not in options:
            raise ValueError(f"must be one of {', '.join(options)}")
        return value

    return parse


def parse_timezone(raw: str) -> str:
    value = raw.strip()
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError("not an IANA time zone such as Asia/Shanghai") from exc
    return value


def parse_database_url(raw: str) -> str:
    value = raw.strip()
    if value.startswith("postgres://"):
        value = "postgresql+psycopg://" + value[len("postgres://") :]
    elif value.startswith("postgresql://"):
        value = "postgresql+psycopg://" + value[len("postgresql://") :]
    if not (value.startswith("sqlite:") or value.startswith("postgresql+psycopg://")):
        raise ValueError("must start with sqlite:/// or postgresql://")
    return value


def parse_secret(raw: str) -> str:
    value = raw.strip()
    if len(value) < 32:
        raise ValueError("must be at least 32 characters")
    return value


def _empty_or_matching(pattern: str, refusal: str) -> Callable[[str], str]:
    """A parser for an optional value: empty, or the whole of it matching ``pattern``."""
    def parse(raw: str) -> str:
        value = raw.strip()
        if value and not re.fullmatch(pattern, value):
            raise ValueError(refusal)
        return value
    return parse


parse_role = _empty_or_matching(r"[a-z_][a-z0-9_]{0,62}",
                                "must be a PostgreSQL role name: lower-case letters, digits and _")


def parse_url(raw: str) -> str:
    value = raw.strip().rstrip("/")
    if value and not (value.startswith("http://") or value.startswith("https://")):
        raise ValueError("must start with http:// or https://")
    return value


def parse_tile_url(raw: str) -> str:
    value = raw.strip()
    if not value:
        return ""
    if not (value.startswith("https://") or value.startswith("http://")):
        raise ValueError("must start with http:// or https://")
    if not all(part in value for part in ("{z}", "{x}", "{y}")) or any(c in value for c in " '\"<>;"):
        raise ValueError("must be a tile URL template with {z}, {x} and {y}")
    return value


parse_phone = _empty_or_matching(r"\+?[0-9][0-9 ()-]{2,30}",
                                 "must be a phone number such as +86 577 12345 (or empty)")


def parse_currency(raw: str) -> str:
    from babel.numbers import list_currencies

    value = raw.strip().upper()
    if value not in list_currencies():
        raise ValueError("not an ISO 4217 currency code such as CNY, EUR or USD")
    return value


def parse_rate(raw: str) -> float:
    value = float(raw.strip())
    if not 0 < value <= 100_000:  # also refuses nan and inf
        raise ValueError("must be a number of segments per second above 0 (at most 100000)")
    return value


def parse_attachment_mb(raw: str) -> int:
    value = parse_positive_int(raw)
    if value > 100:
        raise ValueError("at most 100 (MiB)")
    return value


_DAY_UNITS = {"d": 1, "w": 7, "m": 30, "y": 365}


def parse_duration_days(raw: str) -> int:
    """``180``, ``180d``, ``26w``, ``18m``, ``10y`` → days."""
    text = raw.strip().lower()
    if text.isdigit():
        return int(text)
    if len(text) < 2 or text[-1] not in _DAY_UNITS or not text[:-1].isdigit():
        raise ValueError(f"{raw!r} is not a duration like 180d, 26w, 18m or 10y")
    return int(text[:-1]) * _DAY_UNITS[text[-1]]


_SECOND_UNITS = {"m": 60, "h": 3600, "d": 86400}


def parse_duration_seconds(text: str) -> int:
    """``30m``, ``2h``, ``3d`` → seconds (more than 0, at most 90 days)."""
    value = text.strip().lower()
    number, unit = value[:-1], value[-1:]
    if unit not in _SECOND_UNITS or not number.isascii() or not number.isdigit():
        raise ValueError(f"{text.strip() or '(empty)'} is not a duration such as 30m, 2h or 3d")
    seconds = int(number) * _SECOND_UNITS[unit]
    if not 0 < seconds <= 90 * 86400:
        raise ValueError(f"{text.strip()} must be more than 0 and at most 90 days")
    return seconds


# --- structured values: parsed once, kept as Parsed ----------------------------------------------


def _entries(raw: str, separator: str = ",") -> Iterator[tuple[str, str, str, str]]:
    """The ``name=value`` entries of a list, blank ones skipped: (the entry, its name, "=" or "" when
    it has none, its value), the entry and the name stripped of white space."""
    for item in raw.split(separator):
        entry = item.strip()
        if entry:
            name, sep, value = entry.partition("=")
            yield entry, name.strip(), sep, value


def parse_field_keys(raw: str) -> tuple[tuple[str, bytes], ...]:
    """``kid:base64key,kid:base64key`` → ((kid, 32-byte key), …); the first key encrypts, all
    keys decrypt."""
    keys: list[tuple[str, bytes]] = []
    for item in raw.strip().split(","):
        kid, sep, b64 = item.strip().partition(":")
        if not sep or not kid or not kid.isalnum() or len(kid) > 16:
            raise ValueError("expected kid:base64key[,kid:base64key…] with short alphanumeric kids")
        if any(kid == seen for seen, _ in keys):
            raise ValueError(f"key id {kid} appears twice")
        try:
            key = base64.urlsafe_b64decode(b64 + "=" * (-len(b64) % 4))
        except (binascii.Error, ValueError) as exc:
            raise ValueError(f"key {kid} is not base64") from exc
        if len(key) != 32:
            raise ValueError(f"key {kid} must be 32 bytes (256 bits), got {len(key)}")
        keys.append((kid, key))
    return tuple(keys)


def field_keys(raw: str) -> Parsed[tuple[tuple[str, bytes], ...]]:
    return Parsed(raw.strip(), parse_field_keys(raw))


def networks(raw: str) -> Parsed[tuple[Network, ...]]:
    parts = [p.strip() for p in raw.split(",") if p.strip()]
    try:
        networks = tuple(ipaddress.ip_network(p, strict=False) for p in parts)
    except ValueError as exc:
        raise ValueError(f"not a comma-separated list of networks (CIDR): {exc}") from exc
    return Parsed(",".join(str(n) for n in networks), networks)


def retention(raw: str) -> Parsed[dict[str, int]]:
    """``default=10y,lost_documents=3y`` → {category or "default": days}; default required. The
    category names are checked against the case categories by the loader (see
    ``config.register_names``)."""
    days: dict[str, int] = {}
    for part, name, sep, period in _entries(raw):
        if not sep:
            raise ValueError(f"{part!r}: write category=period, e.g. lost_documents=3y")
        days[name] = parse_duration_days(period)
    if "default" not in days:
        raise ValueError("needs a default=… period")
    return Parsed(",".join(f"{k}={v}d" for k, v in days.items()), days)


def parse_case_deadlines(raw: str) -> dict[str, tuple[int, int]]:
    """``P1=30m/2h,P2=…`` → {priority: (first response seconds, assignment seconds)}; every
    priority P1–P4 exactly once, and the assignment target no earlier than the first response."""
    targets: dict[str, tuple[int, int]] = {}
    for item, name, sep, spec in _entries(raw):
        priority = name.upper()
        if not sep or priority not in PRIORITIES:
            raise ValueError(f"{item!r}: expected P1=30m/2h (priority=first response/assignment)")
        if priority in targets:
            raise ValueError(f"{priority} appears twice")
        first, slash, assign = spec.partition("/")
        if not slash:
            raise ValueError(f"{item!r}: give two durations, first response/assignment")
        first_s, assign_s = parse_duration_seconds(first), parse_duration_seconds(assign)
        if assign_s < first_s:
            raise ValueError(f"{priority}: the assignment target is earlier than the first response")
        targets[priority] = (first_s, assign_s)
    missing = [p for p in PRIORITIES if p not in targets]
    if missing:
        raise ValueError(f"no targets for {', '.join(missing)}")
    return targets


def case_deadlines(raw: str) -> Parsed[dict[str, tuple[int, int]]]:
    targets = parse_case_deadlines(raw)
    return Parsed(",".join(part.strip() for part in raw.split(",") if part.strip()), targets)


def parse_sms_prices(raw: str) -> dict[str, Decimal]:
    """``default=0.05,IT=0.045`` → {"default" or ISO country code: price of one SMS segment}."""
    prices: dict[str, Decimal] = {}
    for item, name, sep, amount in _entries(raw):
        key = "default" if name.lower() == "default" else name.upper()
        if not sep or not (key == "default" or (len(key) == 2 and key.isascii() and key.isalpha())):
            raise ValueError(f"{item!r}: expected default=0.05 or a country code such as IT=0.045")
        if key in prices:
            raise ValueError(f"{key} appears twice")
        try:
            price = Decimal(amount.strip())
        except InvalidOperation:
            raise ValueError(f"{item!r}: {amount.strip() or '(empty)'} is not a number") from None
        if not price.is_finite() or price < 0 or price > 100:
            raise ValueError(f"{item!r}: a price from 0 to 100 per segment")
        prices[key] = price
    if "default" not in prices:
        raise ValueError("give a default price, e.g. default=0.05")
    return prices


def sms_prices(raw: str) -> Parsed[dict[str, Decimal]]:
    prices = parse_sms_prices(raw)
    return Parsed(",".join(f"{key}={value}" for key, value in prices.items()), prices)


E164_SENDER = re.compile(r"^\+[1-9][0-9]{6,14}$")
SERVICE_SENDER = re.compile(r"^MG[0-9a-fA-F]{32}$")
MAX_SENDERS = 50


def parse_sms_senders(raw: str) -> tuple[tuple[str, float | None], ...]:
    """``+15550001=50,MG0123…=50,+15550002`` → (address, segments per second or None) per sender:
    a From number in E.164 or a Messaging Service SID (MG…); without a rate, SMS_SEGMENTS_PER_SECOND
    applies to that sender."""
    out: list[tuple[str, float | None]] = []
    for item, address, sep, rate_text in _entries(raw):
        if SERVICE_SENDER.match(address):
            address = "MG" + address[2:].lower()
        elif not E164_SENDER.match(address):
            raise ValueError(f"{item!r}: a sender is a From number in E.164 (+15550001) or a "
                             "Messaging Service SID (MG followed by 32 hexadecimal digits)")
        if any(address == known for known, _rate in out):
            raise ValueError(f"{address} appears twice")
        rate: float | None = None
        if sep:
            try:
                rate = parse_rate(rate_text)
            except ValueError as exc:
                raise ValueError(f"{address}: {exc}") from None
        out.append((address, rate))
    if len(out) > MAX_SENDERS:
        raise ValueError(f"at most {MAX_SENDERS} senders")
    return tuple(out)


def sms_senders(raw: str) -> Parsed[tuple[tuple[str, float | None], ...]]:
    senders = parse_sms_senders(raw)
    return Parsed(",".join(address if rate is None else f"{address}={rate:g}" for address, rate in senders),
                  senders)


SIGNATURE_LOCALES = ("zh_Hans", "zh_Hant", "en", "it", "fr", "es", "de", "pt", "ru", "ja", "ko", "ar")


def parse_sms_signatures(raw: str) -> dict[str, str]:
    """``zh_Hans=【温州外事】;en=[Wenzhou FAO];default=[Wenzhou FAO]`` → a signature per SMS language
    (``default`` for the others); ``""`` → none. Separated by ``;`` (a signature may hold a comma)."""
    out: dict[str, str] = {}
    for item, key, sep, value in _entries(raw, ";"):
        text = value.strip()
        if not sep or (key != "default" and key not in SIGNATURE_LOCALES):
            raise ValueError(f"{item!r}: expected LANGUAGE=SIGNATURE with a language among "
                             f"{', '.join(SIGNATURE_LOCALES)} or default")
        if key in out:
            raise ValueError(f"{key} appears twice")
        if not text or len(text) > 30 or any(ord(c) < 32 or c in "\u2028\u2029" for c in text):
            raise ValueError(f"{key}: a signature of 1 to 30 characters on one line")
        out[key] = text
    return out


def sms_signatures(raw: str) -> Parsed[dict[str, str]]:
    table = parse_sms_signatures(raw)
    return Parsed(";".join(f"{key}={value}" for key, value in table.items()), table)


def parse_quiet_hours(raw: str) -> tuple[int, int] | None:
    """``22:00-07:00`` → (start, end) in minutes after midnight; ``""`` → None (no quiet hours)."""
    value = raw.strip()
    if not value:
        return None
    bounds: list[int] = []
    for part in value.split("-"):
        hours, sep, minutes = part.strip().partition(":")
        if (len(bounds) == 2 or not sep or not hours.isascii() or not hours.isdigit()
                or not minutes.isascii() or not minutes.isdigit() or len(minutes) != 2
                or int(hours) > 23 or int(minutes) > 59):
            raise ValueError(f"{value!r} is not a range such as 22:00-07:00 (or empty for none)")
        bounds.append(int(hours) * 60 + int(minutes))
    if len(bounds) != 2:
        raise ValueError(f"{value!r} is not a range such as 22:00-07:00 (or empty for none)")
    if bounds[0] == bounds[1]:
        raise ValueError("the start and the end of the quiet hours are the same")
    return bounds[0], bounds[1]


def quiet_hours(raw: str) -> Parsed[tuple[int, int] | None]:
    bounds = parse_quiet_hours(raw)
    text = "" if bounds is None else "-".join(f"{m // 60:02d}:{m % 60:02d}" for m in bounds)
    return Parsed(text, bounds)


def attachment_kinds(raw: str) -> Parsed[frozenset[str]]:
    kinds = [part.strip().lower() for part in raw.split(",") if part.strip()]
    unknown = [k for k in kinds if k not in ATTACHMENT_KINDS]
    if unknown or not kinds:
        raise ValueError(f"choose from {', '.join(ATTACHMENT_KINDS)}")
    ordered = dict.fromkeys(kinds)
    return Parsed(",".join(ordered), frozenset(ordered))


def unknown_names(table: Mapping[str, Any], known: frozenset[str]) -> list[str]:
    """The keys of ``table`` (besides "default") that are not in ``known``."""
    return [name for name in table if name != "default" and name not in known]


# --- hazard feeds ------------------------------------------------------------------------------

HAZARD_FEED_KINDS = ("cap", "usgs")
CAP_SEVERITIES = ("Extreme", "Severe", "Moderate", "Minor")


def parse_hazard_feeds(raw: str) -> tuple[tuple[str, str, str], ...]:
    """``name=kind:url`` entries separated by ``;`` or new lines: (name, kind, url) each."""
    feeds: list[tuple[str, str, str]] = []
    for part in re.split(r"[;\n]", raw):
        entry = part.strip()
        if not entry:
            continue
        match = re.fullmatch(r"([a-z0-9][a-z0-9_-]{0,39})\s*=\s*([a-z]+)\s*:\s*(\S+)", entry)
        if match is None:
            raise ValueError(f"{entry[:60]!r} is not name=kind:url (e.g. usgs=usgs:https://…)")
        name, kind, url = match.groups()
        if kind not in HAZARD_FEED_KINDS:
            raise ValueError(f"{name}: the kind must be one of {', '.join(HAZARD_FEED_KINDS)}")
        if not (url.startswith("http://") or url.startswith("https://")) or any(c in url for c in "<>\"'"):
            raise ValueError(f"{name}: the address must start with http:// or https://")
        if any(name == known for known, _kind, _url in feeds):
            raise ValueError(f"{name}: named twice")
        feeds.append((name, kind, url))
    return tuple(feeds)


def hazard_feeds(raw: str) -> Parsed[tuple[tuple[str, str, str], ...]]:
    feeds = parse_hazard_feeds(raw)
    return Parsed(";".join(f"{name}={kind}:{url}" for name, kind, url in feeds), feeds)


def parse_magnitude(raw: str) -> float:
    value = float(raw.strip())
    if not 0 <= value <= 10:  # also refuses nan and inf
        raise ValueError("must be a magnitude from 0 to 10")
    return value
