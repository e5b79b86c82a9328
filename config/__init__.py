"""Settings: one typed, frozen object built from defaults, then an optional TOML file, then the environment.

Every variable is declared once in ``FIELDS`` with its type, default and a line of documentation; the
README's configuration table is generated from the same list (``consular config doc``).
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import secrets
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["ConfigError", "FIELDS", "Settings", "load_settings", "ensure_instance_secrets",
           "INSTALLED_ENV_FILE", "read_env_file"]


class ConfigError(ValueError):
    """A configuration value is missing or wrong; the message names the variable."""


# Where the installer writes an installation's settings (systemd's EnvironmentFile). A command run
# without them on a machine that has this file refuses to fall back to the development defaults.
INSTALLED_ENV_FILE = "/etc/consular/consular.env"

ENVIRONMENTS = ("development", "production", "test")
SMS_GATEWAYS = ("console", "twilio")
LOCALES = ("zh_Hans", "en")


def _parse_bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ValueError("expected true/false")


def _parse_int(raw: str) -> int:
    return int(raw.strip())


def _parse_positive_int(raw: str) -> int:
    value = int(raw.strip())
    if value <= 0:
        raise ValueError("must be a positive whole number")
    return value


def _parse_count(raw: str) -> int:
    value = int(raw.strip())
    if value < 0 or value > 5:
        raise ValueError("must be a whole number from 0 to 5")
    return value


def _parse_str(raw: str) -> str:
    return raw.strip()


def _choice(options: tuple[str, ...]) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.strip()
        if value not in options:
            raise ValueError(f"must be one of {', '.join(options)}")
        return value

    return parse


def _parse_timezone(raw: str) -> str:
    value = raw.strip()
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError("not an IANA time zone such as Asia/Shanghai") from exc
    return value


def _parse_database_url(raw: str) -> str:
    value = raw.strip()
    if value.startswith("postgres://"):
        value = "postgresql+psycopg://" + value[len("postgres://") :]
    elif value.startswith("postgresql://"):
        value = "postgresql+psycopg://" + value[len("postgresql://") :]
    if not (value.startswith("sqlite:") or value.startswith("postgresql+psycopg://")):
        raise ValueError("must start with sqlite:/// or postgresql://")
    return value


def _parse_field_keys(raw: str) -> str:
    """``kid:base64key,kid:base64key``; the first key encrypts, all keys decrypt."""
    value = raw.strip()
    seen: set[str] = set()
    for item in value.split(","):
        kid, sep, b64 = item.strip().partition(":")
        if not sep or not kid or not kid.isalnum() or len(kid) > 16:
            raise ValueError("expected kid:base64key[,kid:base64key…] with short alphanumeric kids")
        if kid in seen:
            raise ValueError(f"key id {kid} appears twice")
        seen.add(kid)
        try:
            key = base64.urlsafe_b64decode(b64 + "=" * (-len(b64) % 4))
        except (binascii.Error, ValueError) as exc:
            raise ValueError(f"key {kid} is not base64") from exc
        if len(key) != 32:
            raise ValueError(f"key {kid} must be 32 bytes (256 bits), got {len(key)}")
    return value


def _parse_secret(raw: str) -> str:
    value = raw.strip()
    if len(value) < 32:
        raise ValueError("must be at least 32 characters")
    return value


def _parse_role(raw: str) -> str:
    value = raw.strip()
    if value and not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", value):
        raise ValueError("must be a PostgreSQL role name: lower-case letters, digits and _")
    return value


def _parse_networks(raw: str) -> str:
    import ipaddress

    parts = [p.strip() for p in raw.split(",") if p.strip()]
    try:
        return ",".join(str(ipaddress.ip_network(p, strict=False)) for p in parts)
    except ValueError as exc:
        raise ValueError(f"not a comma-separated list of networks (CIDR): {exc}") from exc


_RETENTION_UNITS = {"d": 1, "w": 7, "m": 30, "y": 365}


def _parse_duration_days(raw: str) -> int:
    text = raw.strip().lower()
    if text.isdigit():
        return int(text)
    if len(text) < 2 or text[-1] not in _RETENTION_UNITS or not text[:-1].isdigit():
        raise ValueError(f"{raw!r} is not a duration like 180d, 26w, 18m or 10y")
    return int(text[:-1]) * _RETENTION_UNITS[text[-1]]


def _parse_retention(raw: str) -> str:
    """``default=10y,lost_documents=3y``: case categories (or default) to periods; default required."""
    from consular.cases.models import CaseCategory  # names checked against the model's own enum

    seen: dict[str, int] = {}
    for part in (p.strip() for p in raw.split(",") if p.strip()):
        name, sep, period = part.partition("=")
        name = name.strip()
        if not sep:
            raise ValueError(f"{part!r}: write category=period, e.g. lost_documents=3y")
        if name != "default" and name not in CaseCategory.__members__:
            raise ValueError(f"{name!r} is not a case category ({', '.join(CaseCategory.__members__)})")
        seen[name] = _parse_duration_days(period)
    if "default" not in seen:
        raise ValueError("needs a default=… period")
    return ",".join(f"{k}={v}d" for k, v in seen.items())


def _parse_url(raw: str) -> str:
    value = raw.strip().rstrip("/")
    if value and not (value.startswith("http://") or value.startswith("https://")):
        raise ValueError("must start with http:// or https://")
    return value


PRIORITIES = ("P1", "P2", "P3", "P4")
_DURATION_UNITS = {"m": 60, "h": 3600, "d": 86400}


def _parse_duration(text: str) -> int:
    """``30m``, ``2h``, ``3d`` → seconds."""
    value = text.strip().lower()
    number, unit = value[:-1], value[-1:]
    if unit not in _DURATION_UNITS or not number.isascii() or not number.isdigit():
        raise ValueError(f"{text.strip() or '(empty)'} is not a duration such as 30m, 2h or 3d")
    seconds = int(number) * _DURATION_UNITS[unit]
    if not 0 < seconds <= 90 * 86400:
        raise ValueError(f"{text.strip()} must be more than 0 and at most 90 days")
    return seconds


def parse_case_deadlines(raw: str) -> dict[str, tuple[int, int]]:
    """``P1=30m/2h,P2=…`` → {priority: (first response seconds, assignment seconds)}; every
    priority P1–P4 exactly once, and the assignment target no earlier than the first response."""
    targets: dict[str, tuple[int, int]] = {}
    for item in raw.split(","):
        if not item.strip():
            continue
        name, sep, spec = item.partition("=")
        priority = name.strip().upper()
        if not sep or priority not in PRIORITIES:
            raise ValueError(f"{item.strip()!r}: expected P1=30m/2h (priority=first response/assignment)")
        if priority in targets:
            raise ValueError(f"{priority} appears twice")
        first, slash, assign = spec.partition("/")
        if not slash:
            raise ValueError(f"{item.strip()!r}: give two durations, first response/assignment")
        first_s, assign_s = _parse_duration(first), _parse_duration(assign)
        if assign_s < first_s:
            raise ValueError(f"{priority}: the assignment target is earlier than the first response")
        targets[priority] = (first_s, assign_s)
    missing = [p for p in PRIORITIES if p not in targets]
    if missing:
        raise ValueError(f"no targets for {', '.join(missing)}")
    return targets


def _parse_case_deadlines(raw: str) -> str:
    parse_case_deadlines(raw)
    return ",".join(part.strip() for part in raw.split(",") if part.strip())


def parse_sms_prices(raw: str) -> dict[str, Decimal]:
    """``default=0.05,IT=0.045`` → {"default" or ISO country code: price of one SMS segment}."""
    prices: dict[str, Decimal] = {}
    for item in raw.split(","):
        if not item.strip():
            continue
        name, sep, amount = item.partition("=")
        key = name.strip()
        key = "default" if key.lower() == "default" else key.upper()
        if not sep or not (key == "default" or (len(key) == 2 and key.isascii() and key.isalpha())):
            raise ValueError(f"{item.strip()!r}: expected default=0.05 or a country code such as IT=0.045")
        if key in prices:
            raise ValueError(f"{key} appears twice")
        try:
            price = Decimal(amount.strip())
        except InvalidOperation:
            raise ValueError(f"{item.strip()!r}: {amount.strip() or '(empty)'} is not a number") from None
        if not price.is_finite() or price < 0 or price > 100:
            raise ValueError(f"{item.strip()!r}: a price from 0 to 100 per segment")
        prices[key] = price
    if "default" not in prices:
        raise ValueError("give a default price, e.g. default=0.05")
    return prices


def _parse_sms_prices(raw: str) -> str:
    prices = parse_sms_prices(raw)
    return ",".join(f"{key}={value}" for key, value in prices.items())


def _parse_currency(raw: str) -> str:
    from babel.numbers import list_currencies

    value = raw.strip().upper()
    if value not in list_currencies():
        raise ValueError("not an ISO 4217 currency code such as CNY, EUR or USD")
    return value


ATTACHMENT_KINDS = ("jpeg", "png", "webp", "heic", "pdf", "txt", "docx", "xlsx")


def _parse_attachment_kinds(raw: str) -> str:
    kinds = [part.strip().lower() for part in raw.split(",") if part.strip()]
    unknown = [k for k in kinds if k not in ATTACHMENT_KINDS]
    if unknown or not kinds:
        raise ValueError(f"choose from {', '.join(ATTACHMENT_KINDS)}")
    return ",".join(dict.fromkeys(kinds))


def _parse_attachment_mb(raw: str) -> int:
    value = _parse_positive_int(raw)
    if value > 100:
        raise ValueError("at most 100 (MiB)")
    return value


def _int_between(low: int, high: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        value = int(raw.strip())
        if not low <= value <= high:
            raise ValueError(f"must be a whole number from {low} to {high}")
        return value

    return parse


def _parse_rate(raw: str) -> float:
    value = float(raw.strip())
    if not 0 < value <= 100_000:  # also refuses nan and inf
        raise ValueError("must be a number of segments per second above 0 (at most 100000)")
    return value


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


def _parse_quiet_hours(raw: str) -> str:
    bounds = parse_quiet_hours(raw)
    if bounds is None:
        return ""
    return "-".join(f"{m // 60:02d}:{m % 60:02d}" for m in bounds)


def _parse_phone(raw: str) -> str:
    value = raw.strip()
    if value and not re.fullmatch(r"\+?[0-9][0-9 ()-]{2,30}", value):
        raise ValueError("must be a phone number such as +86 577 12345 (or empty)")
    return value


SIGNATURE_LOCALES = ("zh_Hans", "zh_Hant", "en", "it", "fr", "es", "de", "pt", "ru", "ja", "ko", "ar")


def parse_sms_signatures(raw: str) -> dict[str, str]:
    """``zh_Hans=【温州外事】;en=[Wenzhou FAO];default=[Wenzhou FAO]`` → a signature per SMS language
    (``default`` for the others); ``""`` → none. Separated by ``;`` (a signature may hold a comma)."""
    out: dict[str, str] = {}
    for item in raw.split(";"):
        if not item.strip():
            continue
        name, sep, value = item.partition("=")
        key = name.strip()
        text = value.strip()
        if not sep or (key != "default" and key not in SIGNATURE_LOCALES):
            raise ValueError(f"{item.strip()!r}: expected LANGUAGE=SIGNATURE with a language among "
                             f"{', '.join(SIGNATURE_LOCALES)} or default")
        if key in out:
            raise ValueError(f"{key} appears twice")
        if not text or len(text) > 30 or any(ord(c) < 32 or c in "\u2028\u2029" for c in text):
            raise ValueError(f"{key}: a signature of 1 to 30 characters on one line")
        out[key] = text
    return out


def _parse_sms_signatures(raw: str) -> str:
    return ";".join(f"{key}={value}" for key, value in parse_sms_signatures(raw).items())


@dataclass(frozen=True)
class Field:
    name: str
    parse: Callable[[str], Any]
    default: Any
    doc: str
    secret: bool = False


FIELDS: tuple[Field, ...] = (
    Field("CONSULAR_ENV", _choice(ENVIRONMENTS), "development",
          "development (embedded default), production, or test."),
    Field("SECRET_KEY", _parse_secret, None,
          "Signs sessions and CSRF tokens. Required in production; generated into instance/ "
          "otherwise.", secret=True),
    Field("FIELD_ENCRYPTION_KEYS", _parse_field_keys, None,
          "kid:base64(32 bytes)[,kid:key…]. The first key encrypts sensitive fields; all keys "
          "decrypt. Required in production; generated into instance/ otherwise. "
          "`consular keys generate` prints a new key.", secret=True),
    Field("SEARCH_HASH_KEY", _parse_secret, None,
          "Key for the keyed hashes that allow exact-match search of encrypted fields (ID numbers, "
          "phones). Required in production; generated otherwise. Never rotate casually: every "
          "hash must be recomputed.", secret=True),
    Field("DATABASE_URL", _parse_database_url, None,
          "sqlite:///path or postgresql://user@host/db. Default: a SQLite file in instance/."),
    Field("DATABASE_APP_ROLE", _parse_role, "",
          "PostgreSQL role of the web and worker processes, set where `consular db upgrade` and "
          "`consular restore` connect as the owner role: they then grant it the application's "
          "privileges (audit entries append-only). Empty: no grants are made."),
    Field("INSTANCE_PATH", _parse_str, None,
          "Folder for the SQLite file, generated secrets and uploads (attachments). Required in "
          "production (an existing absolute path); otherwise ./instance."),
    Field("DEFAULT_LOCALE", _choice(LOCALES), "zh_Hans", "Interface language before a user picks one."),
    Field("OFFICE_TIMEZONE", _parse_timezone, "Asia/Shanghai",
          "The office's IANA time zone: recurring schedules and office times are in it."),
    Field("DEMO_MODE", _parse_bool, False,
          "Demo install: shows demo logins on the login page, does not require 2FA."),
    Field("REQUIRE_2FA", _parse_bool, None,
          "Require TOTP for admins and coordinators. Default: true, except in demo mode."),
    Field("SESSION_IDLE_MINUTES", _parse_positive_int, 30,
          "A session unused this long is ended."),
    Field("SESSION_ABSOLUTE_HOURS", _parse_positive_int, 12,
          "A session older than this is ended, used or not."),
    Field("LOGIN_MAX_FAILURES", _parse_positive_int, 5,
          "Failed logins for one account (or one address) before it is throttled."),
    Field("LOGIN_LOCK_MINUTES", _parse_positive_int, 15,
          "How long throttling lasts, and the window failures are counted in."),
    Field("PASSWORD_HASH_TIME_COST", _parse_positive_int, 3,
          "argon2id passes per password hash. Raise on fast servers; existing hashes are upgraded "
          "at the next login."),
    Field("PASSWORD_HASH_MEMORY_KIB", _parse_positive_int, 65536,
          "argon2id memory per password hash, in KiB (64 MiB by default, RFC 9106's second "
          "recommendation)."),
    Field("STATION_QUIET_DAYS", _parse_positive_int, 30,
          "A station with no activity for this many days is listed as quiet in the coverage report."),
    Field("PATROL_INTERVAL_MONTHS", _parse_positive_int, 12,
          "An active station not patrolled (巡查) for this many months is listed in the coverage "
          "report as due for a patrol."),
    Field("SECURE_COOKIES", _parse_bool, None,
          "Mark cookies Secure (HTTPS only). Default: true in production."),
    Field("TRUSTED_PROXIES", _parse_count, 0,
          "How many reverse proxies stand in front of the web service (nginx: 1). Their "
          "X-Forwarded-For/-Proto/-Host headers are then trusted for client addresses (throttling, "
          "audit), https and webhook signature URLs; 0 trusts none."),
    Field("PUBLIC_BASE_URL", _parse_url, "",
          "External https:// address of the web service (links in messages, webhook URLs)."),
    Field("SMS_GATEWAY", _choice(SMS_GATEWAYS), "console",
          "console (messages are logged and kept in the database; embedded default) or twilio."),
    Field("SMS_PRICE_PER_SEGMENT", _parse_sms_prices, "default=0.05",
          "Price of one SMS segment by destination country, for the cost estimate on the compose "
          "screen: default=0.05,IT=0.045,… (ISO country codes; a default is required)."),
    Field("SMS_CURRENCY", _parse_currency, "CNY",
          "Currency of SMS_PRICE_PER_SEGMENT (ISO 4217, e.g. CNY, EUR)."),
    Field("TWILIO_ACCOUNT_SID", _parse_str, "", "Twilio account SID (AC…)."),
    Field("TWILIO_AUTH_TOKEN", _parse_str, "", "Twilio auth token; also checks webhook signatures.",
          secret=True),
    Field("TWILIO_MESSAGING_SERVICE_SID", _parse_str, "",
          "Messaging Service SID (MG…); preferred over a From number."),
    Field("TWILIO_FROM_NUMBER", _parse_str, "", "E.164 sender number when no Messaging Service."),
    Field("TWILIO_API_BASE", _parse_url, "",
          "Override of Twilio's API address (a test double on loopback); empty means Twilio itself."),
    Field("SMS_SEGMENTS_PER_SECOND", _parse_rate, None,
          "SMS segments per second sent through the gateway, by all workers together (a token "
          "bucket in the database); set it to the sender's throughput at the provider. Default: "
          "10 with Twilio (one long code), 100 with the console gateway."),
    Field("QUIET_HOURS", _parse_quiet_hours, "22:00-07:00",
          "Quiet hours in each recipient's own time zone: non-urgent alerts wait for the end "
          "(Immediate urgency or Extreme severity go at once). Empty: no quiet hours."),
    Field("DISPATCH_BATCH_SIZE", _int_between(1, 5000), 200,
          "Deliveries a worker claims and sends at once."),
    Field("DISPATCH_LEASE_SECONDS", _int_between(10, 3600), 120,
          "How long a claim lasts; the deliveries of a worker that died are taken over (after "
          "asking the provider what it already sent) once the lease has run out."),
    Field("DISPATCH_MAX_CONCURRENCY", _int_between(1, 2000), 100,
          "Provider requests in flight at once, per worker process."),
    Field("DISPATCH_LANES", _int_between(1, 16), 2,
          "Dispatch loops per worker process (one claims while another sends); the embedded "
          "worker runs one."),
    Field("RETRY_BASE_SECONDS", _int_between(1, 86400), 30,
          "First retry delay after a transient provider error; it doubles per attempt, with full "
          "jitter, up to RETRY_MAX_SECONDS, and never past the alert's expiry."),
    Field("RETRY_MAX_SECONDS", _int_between(1, 86400), 1800,
          "Longest delay between two attempts of one message."),
    Field("SAFETY_CHECK_DEFAULT_MINUTES", _int_between(5, 10080), 120,
          "A safety check unanswered this long after its message went out puts the person on the "
          "call-round list (and re-sends it once when the alert asks for that); an alert may set "
          "its own time."),
    Field("SMS_SIGNATURES", _parse_sms_signatures, "",
          "The sender's signature that opens every alert SMS, per language, separated by ';': "
          "zh_Hans=【温州外事】;en=[Wenzhou FAO];default=[Wenzhou FAO] (default: for the other "
          "languages). Counted in the message's segments. Empty: no signature."),
    Field("BREAK_GLASS_ENABLED", _parse_bool, True,
          "Whether one coordinator may send an Extreme or Immediate alert without a second approval "
          "(break-glass), stating a reason, to be reviewed by another coordinator afterwards."),
    Field("BREAK_GLASS_REVIEW_HOURS", _int_between(1, 168), 12,
          "Hours within which a second coordinator must review a break-glass alert; an unreviewed "
          "one stays flagged on the home page and in the yearly report (overdue after this time)."),
    Field("HOTLINE_NUMBER", _parse_phone, "",
          "The centre's 24-hour hotline, given in HELP answers. Empty: the coordination centre's "
          "hotline from the network registry."),
    Field("WORKER_HEARTBEAT_SECONDS", _parse_positive_int, 15,
          "How often a worker records that it is alive."),
    Field("WORKER_DEAD_AFTER_SECONDS", _parse_positive_int, 60,
          "No heartbeat for this long: coordinators see a red banner and /readyz fails."),
    Field("LOG_FORMAT", _choice(("text", "json")), None,
          "text or json. Default: json in production, text otherwise."),
    Field("RETENTION_CASES", _parse_retention, "default=3650d,lost_documents=1095d,fraud_theft=1825d",
          "How long a closed case keeps its personal data, per category (default required; d, w, m, "
          "y). After it the retention job anonymises the case (figures stay for statistics), "
          "unless it is on legal hold."),
    Field("RETENTION_REGISTRANTS", _parse_duration_days, 365,
          "How long a lapsed registration (ended, stay over, opted out or invalid number) keeps "
          "its personal data before the retention job erases it (unless on legal hold). In days, "
          "or with a unit: 26w, 18m, 1y."),
    Field("METRICS_TOKEN", _parse_str, "",
          "Bearer token that may read /metrics from anywhere; empty: only METRICS_ALLOW networks.",
          secret=True),
    Field("METRICS_ALLOW", _parse_networks, "127.0.0.1/32,::1/128",
          "Networks (CIDR, comma-separated) whose Prometheus may read /metrics without the token."),
    Field("CASE_DEADLINES", _parse_case_deadlines, "P1=30m/2h,P2=2h/8h,P3=8h/24h,P4=24h/72h",
          "Case deadlines per priority: time to first response / time to assignment, from the "
          "moment a case is reported (m, h or d). Every priority P1–P4 once; overdue cases are "
          "raised in the triage queue and the coordinator on duty is notified (in-app and SMS)."),
    Field("CASE_DUPLICATE_WINDOW_DAYS", _parse_positive_int, 180,
          "A new case is compared with cases reported in this many days (same ID or passport "
          "number, phone, or name with birth date or country) for the duplicate warning."),
    Field("ATTACHMENT_MAX_MB", _parse_attachment_mb, 10,
          "Largest case attachment, in MiB (at most 100)."),
    Field("ATTACHMENT_TYPES", _parse_attachment_kinds, ",".join(ATTACHMENT_KINDS),
          "Attachment types accepted, checked by content, not by name: jpeg, png, webp, heic, "
          "pdf, txt, docx, xlsx (comma-separated)."),
)

_BY_NAME = {f.name: f for f in FIELDS}


@dataclass(frozen=True)
class Settings:
    """Validated configuration. Build with :func:`load_settings`; never mutate."""

    env: str
    secret_key: str
    field_encryption_keys: str
    search_hash_key: str
    database_url: str
    instance_path: str
    default_locale: str
    office_timezone: str
    demo_mode: bool
    require_2fa: bool
    session_idle_minutes: int
    session_absolute_hours: int
    login_max_failures: int
    login_lock_minutes: int
    password_hash_time_cost: int
    password_hash_memory_kib: int
    station_quiet_days: int
    patrol_interval_months: int
    secure_cookies: bool
    trusted_proxies: int
    public_base_url: str
    sms_gateway: str
    twilio_account_sid: str
    twilio_auth_token: str = field(repr=False)
    twilio_messaging_service_sid: str = ""
    twilio_from_number: str = ""
    twilio_api_base: str = ""
    worker_heartbeat_seconds: int = 15
    worker_dead_after_seconds: int = 60
    log_format: str = "text"
    retention_cases: str = "default=3650d,lost_documents=1095d,fraud_theft=1825d"
    retention_registrants: int = 365
    metrics_token: str = field(default="", repr=False)
    metrics_allow: str = "127.0.0.1/32,::1/128"
    case_deadlines: str = "P1=30m/2h,P2=2h/8h,P3=8h/24h,P4=24h/72h"
    case_duplicate_window_days: int = 180
    attachment_max_mb: int = 10
    attachment_types: str = ",".join(ATTACHMENT_KINDS)
    sms_price_per_segment: str = "default=0.05"
    sms_currency: str = "CNY"
    sms_segments_per_second: float = 10.0
    quiet_hours: str = "22:00-07:00"
    dispatch_batch_size: int = 200
    dispatch_lease_seconds: int = 120
    dispatch_max_concurrency: int = 100
    dispatch_lanes: int = 2
    retry_base_seconds: int = 30
    retry_max_seconds: int = 1800
    safety_check_default_minutes: int = 120
    hotline_number: str = ""
    sms_signatures: str = ""
    break_glass_enabled: bool = True
    break_glass_review_hours: int = 12
    database_app_role: str = ""

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    def __repr__(self) -> str:  # never print secrets
        shown = {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if f.name not in {"secret_key", "field_encryption_keys", "search_hash_key",
                              "twilio_auth_token", "metrics_token"}
        }
        return f"Settings({shown})"


def _read_file(path: str) -> dict[str, str]:
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError as exc:
        raise ConfigError(f"CONSULAR_CONFIG: file not found: {path}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"CONSULAR_CONFIG: {path} is not valid TOML: {exc}") from exc
    out: dict[str, str] = {}
    for key, value in data.items():
        if key not in _BY_NAME:
            raise ConfigError(f"{key}: unknown setting in {path}")
        out[key] = str(value).lower() if isinstance(value, bool) else str(value)
    return out


def ensure_instance_secrets(instance_path: str) -> dict[str, str]:
    """Create (once) and return the secrets file of an embedded install."""
    folder = Path(instance_path)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "secrets.toml"
    if not path.exists():
        key = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")
        content = (
            "# Generated for this embedded install. Keep private; losing it loses encrypted data.\n"
            f'SECRET_KEY = "{secrets.token_urlsafe(48)}"\n'
            f'FIELD_ENCRYPTION_KEYS = "k1:{key}"\n'
            f'SEARCH_HASH_KEY = "{secrets.token_urlsafe(48)}"\n'
        )
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(content)
    return _read_file(str(path))


def load_settings(
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Defaults → file named by CONSULAR_CONFIG → environment → ``overrides`` (tests)."""
    env = os.environ if environ is None else environ
    raw: dict[str, str] = {}
    config_file = (overrides or {}).get("CONSULAR_CONFIG") or env.get("CONSULAR_CONFIG")
    if config_file:
        raw.update(_read_file(str(config_file)))
    for name in _BY_NAME:
        if name in env and env[name] != "":
            raw[name] = env[name]
    for name, value in (overrides or {}).items():
        if name == "CONSULAR_CONFIG":
            continue
        if name not in _BY_NAME:
            raise ConfigError(f"{name}: unknown setting")
        raw[name] = str(value).lower() if isinstance(value, bool) else str(value)

    values: dict[str, Any] = {}
    for f in FIELDS:
        if f.name in raw:
            try:
                values[f.name] = f.parse(raw[f.name])
            except ValueError as exc:
                raise ConfigError(f"{f.name}: {exc}") from None
        else:
            values[f.name] = f.default

    production = values["CONSULAR_ENV"] == "production"
    if production:
        # No guessing in production: a folder relative to wherever the command was started would
        # be a new, empty instance with keys of its own.
        given = values["INSTANCE_PATH"]
        if not given:
            raise ConfigError("INSTANCE_PATH: required when CONSULAR_ENV=production (the installer "
                              "sets /var/lib/consular)")
        if not os.path.isabs(given):
            raise ConfigError(f"INSTANCE_PATH: must be an absolute path in production, not {given!r}")
        if not os.path.isdir(given):
            raise ConfigError(f"INSTANCE_PATH: {given} does not exist (the installer creates it, "
                              "owned by the service account)")
    instance_path = values["INSTANCE_PATH"] or os.path.abspath("instance")
    values["INSTANCE_PATH"] = instance_path
    secret_names = ("SECRET_KEY", "FIELD_ENCRYPTION_KEYS", "SEARCH_HASH_KEY")
    missing = [n for n in secret_names if not values[n]]
    if missing:
        if production:
            raise ConfigError(f"{missing[0]}: required when CONSULAR_ENV=production")
        generated = ensure_instance_secrets(instance_path)
        for name in missing:
            try:
                values[name] = _BY_NAME[name].parse(generated[name])
            except (KeyError, ValueError) as exc:
                raise ConfigError(
                    f"{name}: bad or missing in {instance_path}/secrets.toml ({exc})"
                ) from None
    if production and values["DEMO_MODE"]:
        raise ConfigError("DEMO_MODE: cannot be true when CONSULAR_ENV=production")
    if values["DATABASE_URL"] is None:
        values["DATABASE_URL"] = "sqlite:///" + os.path.join(instance_path, "consular.db")
    if values["PASSWORD_HASH_MEMORY_KIB"] < 32:
        raise ConfigError("PASSWORD_HASH_MEMORY_KIB: must be at least 32")
    if values["SMS_SEGMENTS_PER_SECOND"] is None:
        values["SMS_SEGMENTS_PER_SECOND"] = 10.0 if values["SMS_GATEWAY"] == "twilio" else 100.0
    if values["RETRY_MAX_SECONDS"] < values["RETRY_BASE_SECONDS"]:
        raise ConfigError("RETRY_MAX_SECONDS: must not be less than RETRY_BASE_SECONDS")
    if values["REQUIRE_2FA"] is None:
        values["REQUIRE_2FA"] = not values["DEMO_MODE"]
    if values["SECURE_COOKIES"] is None:
        values["SECURE_COOKIES"] = production
    if values["LOG_FORMAT"] is None:
        values["LOG_FORMAT"] = "json" if production else "text"
    if values["SMS_GATEWAY"] == "twilio":
        for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN"):
            if not values[name]:
                raise ConfigError(f"{name}: required when SMS_GATEWAY=twilio")
        if not (values["TWILIO_MESSAGING_SERVICE_SID"] or values["TWILIO_FROM_NUMBER"]):
            raise ConfigError(
                "TWILIO_MESSAGING_SERVICE_SID: set it or TWILIO_FROM_NUMBER when SMS_GATEWAY=twilio"
            )
    if production and values["DATABASE_URL"].startswith("sqlite"):
        # Allowed, but production wants PostgreSQL for several workers; say so loudly elsewhere.
        pass

    return Settings(
        env=values["CONSULAR_ENV"],
        secret_key=values["SECRET_KEY"],
        field_encryption_keys=values["FIELD_ENCRYPTION_KEYS"],
        search_hash_key=values["SEARCH_HASH_KEY"],
        database_url=values["DATABASE_URL"],
        instance_path=instance_path,
        default_locale=values["DEFAULT_LOCALE"],
        office_timezone=values["OFFICE_TIMEZONE"],
        demo_mode=values["DEMO_MODE"],
        require_2fa=values["REQUIRE_2FA"],
        session_idle_minutes=values["SESSION_IDLE_MINUTES"],
        session_absolute_hours=values["SESSION_ABSOLUTE_HOURS"],
        login_max_failures=values["LOGIN_MAX_FAILURES"],
        login_lock_minutes=values["LOGIN_LOCK_MINUTES"],
        password_hash_time_cost=values["PASSWORD_HASH_TIME_COST"],
        password_hash_memory_kib=values["PASSWORD_HASH_MEMORY_KIB"],
        station_quiet_days=values["STATION_QUIET_DAYS"],
        patrol_interval_months=values["PATROL_INTERVAL_MONTHS"],
        secure_cookies=values["SECURE_COOKIES"],
        trusted_proxies=values["TRUSTED_PROXIES"],
        public_base_url=values["PUBLIC_BASE_URL"],
        sms_gateway=values["SMS_GATEWAY"],
        twilio_account_sid=values["TWILIO_ACCOUNT_SID"],
        twilio_auth_token=values["TWILIO_AUTH_TOKEN"],
        twilio_messaging_service_sid=values["TWILIO_MESSAGING_SERVICE_SID"],
        twilio_from_number=values["TWILIO_FROM_NUMBER"],
        twilio_api_base=values["TWILIO_API_BASE"],
        worker_heartbeat_seconds=values["WORKER_HEARTBEAT_SECONDS"],
        worker_dead_after_seconds=values["WORKER_DEAD_AFTER_SECONDS"],
        log_format=values["LOG_FORMAT"],
        retention_cases=values["RETENTION_CASES"],
        retention_registrants=values["RETENTION_REGISTRANTS"],
        metrics_token=values["METRICS_TOKEN"],
        metrics_allow=values["METRICS_ALLOW"],
        case_deadlines=values["CASE_DEADLINES"],
        case_duplicate_window_days=values["CASE_DUPLICATE_WINDOW_DAYS"],
        attachment_max_mb=values["ATTACHMENT_MAX_MB"],
        attachment_types=values["ATTACHMENT_TYPES"],
        sms_price_per_segment=values["SMS_PRICE_PER_SEGMENT"],
        sms_currency=values["SMS_CURRENCY"],
        sms_segments_per_second=values["SMS_SEGMENTS_PER_SECOND"],
        quiet_hours=values["QUIET_HOURS"],
        dispatch_batch_size=values["DISPATCH_BATCH_SIZE"],
        dispatch_lease_seconds=values["DISPATCH_LEASE_SECONDS"],
        dispatch_max_concurrency=values["DISPATCH_MAX_CONCURRENCY"],
        dispatch_lanes=values["DISPATCH_LANES"],
        retry_base_seconds=values["RETRY_BASE_SECONDS"],
        retry_max_seconds=values["RETRY_MAX_SECONDS"],
        safety_check_default_minutes=values["SAFETY_CHECK_DEFAULT_MINUTES"],
        hotline_number=values["HOTLINE_NUMBER"],
        sms_signatures=values["SMS_SIGNATURES"],
        break_glass_enabled=values["BREAK_GLASS_ENABLED"],
        break_glass_review_hours=values["BREAK_GLASS_REVIEW_HOURS"],
        database_app_role=values["DATABASE_APP_ROLE"],
    )


def read_env_file(path: str | os.PathLike[str]) -> dict[str, str]:
    """The variables of an environment file as systemd's ``EnvironmentFile=`` reads the simple
    form the installer writes: ``NAME=value`` lines, ``#`` comments, blank lines, a value optionally
    in single or double quotes. A line of any other shape is an error naming the file and line."""
    try:
        with open(path, encoding="utf-8") as fh:
            lines = fh.read().splitlines()
    except FileNotFoundError:
        raise ConfigError(f"--env-file: {path} does not exist") from None
    except PermissionError:
        raise ConfigError(f"--env-file: {path} is not readable by this user (run as root, or as "
                          "the service account)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--env-file: cannot read {path}: {exc}") from None
    values: dict[str, str] = {}
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if not text or text.startswith(("#", ";")):
            continue
        if text.startswith("export "):
            text = text[len("export "):].lstrip()
        name, sep, value = text.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise ConfigError(f"{path}:{number}: expected NAME=value")
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[name] = value
    return values


def config_table_markdown() -> str:
    """The README's configuration table, from the same declarations the loader uses."""
    lines = ["| Variable | Default | Meaning |", "|---|---|---|"]
    for f in FIELDS:
        shown = str(f.default).lower() if isinstance(f.default, bool) else f.default
        default = "—" if f.default in (None, "") else f"`{shown}`"
        lines.append(f"| `{f.name}` | {default} | {f.doc} |")
    lines.append("| `CONSULAR_CONFIG` | — | Path of an optional TOML file with any of the above "
                 "(environment wins over the file). |")
    return "\n".join(lines)
