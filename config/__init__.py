"""Settings: one typed, frozen object built from defaults, then an optional TOML file, then the environment.

Every variable is declared once in ``FIELDS`` with its type, default and a line of documentation; the
README's configuration table is generated from the same list (``consular config doc``).
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["ConfigError", "FIELDS", "Settings", "load_settings", "ensure_instance_secrets"]


class ConfigError(ValueError):
    """A configuration value is missing or wrong; the message names the variable."""


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


def _parse_url(raw: str) -> str:
    value = raw.strip().rstrip("/")
    if value and not (value.startswith("http://") or value.startswith("https://")):
        raise ValueError("must start with http:// or https://")
    return value


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
    Field("INSTANCE_PATH", _parse_str, None,
          "Folder for the SQLite file, generated secrets and uploads. Default: ./instance."),
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
    Field("TWILIO_ACCOUNT_SID", _parse_str, "", "Twilio account SID (AC…)."),
    Field("TWILIO_AUTH_TOKEN", _parse_str, "", "Twilio auth token; also checks webhook signatures.",
          secret=True),
    Field("TWILIO_MESSAGING_SERVICE_SID", _parse_str, "",
          "Messaging Service SID (MG…); preferred over a From number."),
    Field("TWILIO_FROM_NUMBER", _parse_str, "", "E.164 sender number when no Messaging Service."),
    Field("TWILIO_API_BASE", _parse_url, "",
          "Override of Twilio's API address (a test double on loopback); empty means Twilio itself."),
    Field("WORKER_HEARTBEAT_SECONDS", _parse_positive_int, 15,
          "How often a worker records that it is alive."),
    Field("LOG_FORMAT", _choice(("text", "json")), None,
          "text or json. Default: json in production, text otherwise."),
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
    log_format: str = "text"

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    def __repr__(self) -> str:  # never print secrets
        shown = {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if f.name not in {"secret_key", "field_encryption_keys", "search_hash_key",
                              "twilio_auth_token"}
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
        log_format=values["LOG_FORMAT"],
    )


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
