"""Every setting, declared once: its name, type, default, parser and documentation.

A setting is an attribute of :class:`Settings` declared with :func:`setting`: the attribute's type is
the type of its value; the environment variable is the attribute's name in capitals (``env`` is
``CONSULAR_ENV``); the default is written as it would be in the environment, and parsed like a given
value (``None``: the loader derives it, see ``config.load_settings``); the documentation is the
README's configuration table (``consular config doc``). The order here is the table's.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from decimal import Decimal
from typing import Any

from config import parsers as p
from config.parsers import Network, Parsed


def setting(parse: Any, default: str | None, doc: str, *, var: str | None = None,
            secret: bool = False, names: str | None = None) -> Any:
    """One setting's declaration (see the module's docstring). ``secret``: never shown (repr,
    ``consular config check``); ``names``: the keys of its table are names of that kind (besides
    "default"), checked by the loader once they are registered (``config.register_names``)."""
    return field(repr=not secret, metadata={"parse": parse, "default": default, "doc": doc,
                                            "var": var, "secret": secret, "names": names})


@dataclass(frozen=True)
class Settings:
    """Validated configuration. Build with ``config.load_settings``; never mutate. (``setting()``
    gives no dataclass default: every value is passed in, parsed, by the loader.)"""

    env: str = setting(
        p.choice(p.ENVIRONMENTS), "development",
        "development (embedded default), production, or test.",
        var="CONSULAR_ENV")
    secret_key: str = setting(
        p.parse_secret, None,
        "Signs sessions and CSRF tokens. Required in production; generated into instance/ "
        "otherwise.",
        secret=True)
    field_encryption_keys: Parsed[tuple[tuple[str, bytes], ...]] = setting(
        p.field_keys, None,
        "kid:base64(32 bytes)[,kid:key…]. The first key encrypts sensitive fields; all keys "
        "decrypt. Required in production; generated into instance/ otherwise. `consular keys "
        "generate` prints a new key.",
        secret=True)
    search_hash_key: str = setting(
        p.parse_secret, None,
        "Key for the keyed hashes that allow exact-match search of encrypted fields (ID numbers, "
        "phones). Required in production; generated otherwise. Never rotate casually: every hash "
        "must be recomputed.",
        secret=True)
    database_url: str = setting(
        p.parse_database_url, None,
        "sqlite:///path or postgresql://user@host/db. Default: a SQLite file in instance/.")
    database_app_role: str = setting(
        p.parse_role, "",
        "PostgreSQL role of the web and worker processes, set where `consular db upgrade` and "
        "`consular restore` connect as the owner role: they then grant it the application's "
        "privileges (audit entries append-only). Empty: no grants are made.")
    instance_path: str = setting(
        p.parse_str, None,
        "Folder for the SQLite file, generated secrets and uploads (attachments). Required in "
        "production (an existing absolute path); otherwise ./instance.")
    default_locale: str = setting(
        p.choice(p.LOCALES), "zh_Hans",
        "Interface language before a user picks one.")
    office_timezone: str = setting(
        p.parse_timezone, "Asia/Shanghai",
        "The office's IANA time zone: recurring schedules and office times are in it.")
    demo_mode: bool = setting(
        p.parse_bool, "false",
        "Demo install: shows demo logins on the login page, does not require 2FA.")
    require_2fa: bool = setting(
        p.parse_bool, None,
        "Require TOTP for admins and coordinators. Default: true, except in demo mode.")
    session_idle_minutes: int = setting(
        p.parse_positive_int, "30",
        "A session unused this long is ended.")
    session_absolute_hours: int = setting(
        p.parse_positive_int, "12",
        "A session older than this is ended, used or not.")
    login_max_failures: int = setting(
        p.parse_positive_int, "5",
        "Failed logins for one account (or one address) before it is throttled.")
    login_lock_minutes: int = setting(
        p.parse_positive_int, "15",
        "How long throttling lasts, and the window failures are counted in.")
    password_hash_time_cost: int = setting(
        p.parse_positive_int, "3",
        "argon2id passes per password hash. Raise on fast servers; existing hashes are upgraded "
        "at the next login.")
    password_hash_memory_kib: int = setting(
        p.parse_positive_int, "65536",
        "argon2id memory per password hash, in KiB (64 MiB by default, RFC 9106's second "
        "recommendation).")
    station_quiet_days: int = setting(
        p.parse_positive_int, "30",
        "A station with no activity for this many days is listed as quiet in the coverage report.")
    patrol_interval_months: int = setting(
        p.parse_positive_int, "12",
        "An active station not patrolled (巡查) for this many months is listed in the coverage "
        "report as due for a patrol.")
    secure_cookies: bool = setting(
        p.parse_bool, None,
        "Mark cookies Secure (HTTPS only). Default: true in production.")
    trusted_proxies: int = setting(
        p.parse_proxy_count, "0",
        "How many reverse proxies stand in front of the web service (nginx: 1). Their "
        "X-Forwarded-For/-Proto/-Host headers are then trusted for client addresses (throttling, "
        "audit), https and webhook signature URLs; 0 trusts none.")
    public_base_url: str = setting(
        p.parse_url, "",
        "External https:// address of the web service (links in messages, webhook URLs).")
    sms_gateway: str = setting(
        p.choice(p.SMS_GATEWAYS), "console",
        "console (messages are logged and kept in the database; embedded default) or twilio.")
    sms_price_per_segment: Parsed[dict[str, Decimal]] = setting(
        p.sms_prices, "default=0.05",
        "Price of one SMS segment by destination country, for the cost estimate on the compose "
        "screen: default=0.05,IT=0.045,… (ISO country codes; a default is required).")
    sms_currency: str = setting(
        p.parse_currency, "CNY",
        "Currency of SMS_PRICE_PER_SEGMENT (ISO 4217, e.g. CNY, EUR).")
    twilio_account_sid: str = setting(
        p.parse_str, "",
        "Twilio account SID (AC…).")
    twilio_auth_token: str = setting(
        p.parse_str, "",
        "Twilio auth token; also checks webhook signatures.",
        secret=True)
    twilio_messaging_service_sid: str = setting(
        p.parse_str, "",
        "Messaging Service SID (MG…); preferred over a From number.")
    twilio_from_number: str = setting(
        p.parse_str, "",
        "E.164 sender number when no Messaging Service.")
    twilio_whatsapp_from: str = setting(
        p.parse_str, "",
        "E.164 number of the WhatsApp sender (Twilio's WhatsApp-enabled number); empty: WhatsApp "
        "messages go through the Messaging Service.")
    twilio_voice_from: str = setting(
        p.parse_str, "",
        "E.164 number voice calls come from; empty: TWILIO_FROM_NUMBER.")
    calls_per_second: float = setting(
        p.parse_rate, "1",
        "Voice calls started per second by all workers together (a bucket of its own, apart from "
        "the SMS segments).")
    twilio_api_base: str = setting(
        p.parse_url, "",
        "Override of Twilio's API address (a test double on loopback); empty means Twilio itself.")
    sms_segments_per_second: float = setting(
        p.parse_rate, None,
        "SMS segments per second sent through the gateway, by all workers together (a token "
        "bucket in the database); set it to the sender's throughput at the provider. Default: 10 "
        "with Twilio (one long code), 100 with the console gateway.")
    sms_senders: Parsed[tuple[tuple[str, float | None], ...]] = setting(
        p.sms_senders, "",
        "Several senders, each with a send rate of its own: From numbers (E.164) or Messaging "
        "Service SIDs (MG…) with their segments per second, e.g. +15550001=50,+15550002=50 "
        "(without =rate a sender has SMS_SEGMENTS_PER_SECOND). Dispatch spreads each batch across "
        "them by free capacity and records which one sent each message; the compose estimate and "
        "send plan use their total rate. Empty: the one sender of TWILIO_MESSAGING_SERVICE_SID or "
        "TWILIO_FROM_NUMBER at SMS_SEGMENTS_PER_SECOND.")
    sms_provider_segments_per_second: float = setting(
        p.parse_rate, None,
        "SMS segments per second the provider actually sends for us (all our senders together). "
        "Above it, messages wait in the provider's queue (Twilio keeps about 10 hours of traffic "
        "per sender); the send plan warns before that queue would overflow. Default: the senders' "
        "total rate (SMS_SEGMENTS_PER_SECOND with one sender).")
    map_tile_url: str = setting(
        p.parse_tile_url, "",
        "Map tiles for the alert maps, as a URL template with {z}, {x} and {y} (e.g. an intranet "
        "tile server). Empty: the maps show the bundled country outlines only (no tile server "
        "needed).")
    quiet_hours: Parsed[tuple[int, int] | None] = setting(
        p.quiet_hours, "22:00-07:00",
        "Quiet hours in each recipient's own time zone: non-urgent alerts wait for the end "
        "(Immediate urgency or Extreme severity go at once). Empty: no quiet hours.")
    dispatch_batch_size: int = setting(
        p.int_between(1, 5000), "200",
        "Deliveries a worker claims and sends at once.")
    dispatch_lease_seconds: int = setting(
        p.int_between(10, 3600), "120",
        "How long a claim lasts; the deliveries of a worker that died are taken over (after "
        "asking the provider what it already sent) once the lease has run out.")
    dispatch_max_concurrency: int = setting(
        p.int_between(1, 2000), "100",
        "Provider requests in flight at once, per worker process.")
    dispatch_lanes: int = setting(
        p.int_between(1, 16), "2",
        "Dispatch loops per worker process (one claims while another sends); the embedded worker "
        "runs one.")
    retry_base_seconds: int = setting(
        p.int_between(1, 86400), "30",
        "First retry delay after a transient provider error; it doubles per attempt, with full "
        "jitter, up to RETRY_MAX_SECONDS, and never past the alert's expiry.")
    retry_max_seconds: int = setting(
        p.int_between(1, 86400), "1800",
        "Longest delay between two attempts of one message.")
    safety_check_default_minutes: int = setting(
        p.int_between(5, 10080), "120",
        "A safety check unanswered this long after its message went out puts the person on the "
        "call-round list (and re-sends it once when the alert asks for that: the ladder's first "
        "rung, the reminder); an alert may set its own time.")
    ladder_call_minutes: int = setting(
        p.int_between(0, 10080), "60",
        "The ladder for the silent of a safety check (its first rung, the reminder, is the re-send "
        "after SAFETY_CHECK_DEFAULT_MINUTES): minutes after the reminder before a voice call to "
        "someone who still has not answered on any channel; an alert keeps the value it was "
        "created with. 0: no call rung.")
    ladder_kin_minutes: int = setting(
        p.int_between(0, 10080), "120",
        "Minutes after the ladder's call before an SMS to the next of kin on record of someone "
        "still silent. 0: no next-of-kin rung.")
    ladder_visit_minutes: int = setting(
        p.int_between(0, 10080), "240",
        "Minutes after the next-of-kin SMS before a welfare visit: a case for the nearest service "
        "station, linked to the alert. 0: no welfare-visit rung.")
    ladder_visit_radius_km: int = setting(
        p.int_between(1, 5000), "300",
        "How far the nearest active service station may be from the person for a welfare visit; "
        "with none in reach the case waits unassigned in triage.")
    receipt_expected_percent: int = setting(
        p.int_between(0, 100), "50",
        "Share (percent) of the recent messages to a destination country that must have had a final "
        "delivery receipt for receipts to be expected there; below it the progress page says \"sent, "
        "no receipt expected\" for messages to that country instead of waiting for one. 0: "
        "always wait for receipts.")
    receipt_window_days: int = setting(
        p.int_between(1, 365), "30",
        "How far back the receipt share of a destination country looks (at most its latest "
        "RECEIPT_SAMPLE_SIZE messages).")
    receipt_sample_size: int = setting(
        p.int_between(20, 100000), "500",
        "How many of the latest messages to a destination country the receipt share is taken over; "
        "with fewer than 20 in the window, receipts are expected.")
    sms_signatures: Parsed[dict[str, str]] = setting(
        p.sms_signatures, "",
        "The sender's signature that opens every alert SMS, per language, separated by ';': "
        "zh_Hans=【温州外事】;en=[Wenzhou FAO];default=[Wenzhou FAO] (default: for the other "
        "languages). Counted in the message's segments. Empty: no signature.")
    break_glass_enabled: bool = setting(
        p.parse_bool, "true",
        "Whether one coordinator may send an Extreme or Immediate alert without a second approval "
        "(break-glass), stating a reason, to be reviewed by another coordinator afterwards.")
    break_glass_review_hours: int = setting(
        p.int_between(1, 168), "12",
        "Hours within which a second coordinator must review a break-glass alert; an unreviewed "
        "one stays flagged on the home page and in the yearly report (overdue after this time).")
    webhook_allow_networks: Parsed[tuple[Network, ...]] = setting(
        p.networks, "",
        "Networks (CIDR, comma-separated) where webhook receivers may be although they are private, "
        "loopback or link-local addresses (refused otherwise, at saving and at each send). Empty: "
        "public addresses only.")
    webhook_max_attempts: int = setting(
        p.int_between(1, 50), "10",
        "Attempts of one webhook delivery before it is marked failed (its last answer is kept).")
    webhook_retry_base_seconds: int = setting(
        p.int_between(1, 86400), "10",
        "First delay before a webhook delivery is tried again; it doubles per attempt (its second "
        "half random), up to WEBHOOK_RETRY_MAX_SECONDS.")
    webhook_retry_max_seconds: int = setting(
        p.int_between(1, 86400), "3600",
        "Longest delay between two attempts of one webhook delivery.")
    webhook_timeout_seconds: int = setting(
        p.int_between(1, 60), "10",
        "How long the worker waits for a webhook receiver to connect and to answer; a claim lasts "
        "a minute longer than this.")
    hotline_number: str = setting(
        p.parse_phone, "",
        "The centre's 24-hour hotline, given in HELP answers. Empty: the coordination centre's "
        "hotline from the network registry.")
    worker_heartbeat_seconds: int = setting(
        p.parse_positive_int, "15",
        "How often a worker records that it is alive.")
    worker_dead_after_seconds: int = setting(
        p.parse_positive_int, "60",
        "No heartbeat for this long: coordinators see a red banner and /readyz fails.")
    log_format: str = setting(
        p.choice(("text", "json")), None,
        "text or json. Default: json in production, text otherwise.")
    retention_cases: Parsed[dict[str, int]] = setting(
        p.retention, "default=3650d,lost_documents=1095d,fraud_theft=1825d",
        "How long a closed case keeps its personal data, per category (default required; d, w, m, "
        "y). After it the retention job anonymises the case (figures stay for statistics), unless "
        "it is on legal hold.",
        names="case category")
    retention_registrants: int = setting(
        p.parse_duration_days, "365",
        "How long a lapsed registration (ended, stay over, opted out or invalid number) keeps its "
        "personal data before the retention job erases it (unless on legal hold). In days, or "
        "with a unit: 26w, 18m, 1y.")
    metrics_token: str = setting(
        p.parse_str, "",
        "Bearer token that may read /metrics from anywhere; empty: only METRICS_ALLOW networks.",
        secret=True)
    metrics_allow: Parsed[tuple[Network, ...]] = setting(
        p.networks, "127.0.0.1/32,::1/128",
        "Networks (CIDR, comma-separated) whose Prometheus may read /metrics without the token.")
    case_deadlines: Parsed[dict[str, tuple[int, int]]] = setting(
        p.case_deadlines, "P1=30m/2h,P2=2h/8h,P3=8h/24h,P4=24h/72h",
        "Case deadlines per priority: time to first response / time to assignment, from the "
        "moment a case is reported (m, h or d). Every priority P1–P4 once; overdue cases are "
        "raised in the triage queue and the coordinator on duty is notified (in-app and SMS).")
    case_duplicate_window_days: int = setting(
        p.parse_positive_int, "180",
        "A new case is compared with cases reported in this many days (same ID or passport "
        "number, phone, or name with birth date or country) for the duplicate warning.")
    attachment_max_mb: int = setting(
        p.parse_attachment_mb, "10",
        "Largest case attachment, in MiB (at most 100).")
    attachment_types: Parsed[frozenset[str]] = setting(
        p.attachment_kinds, "jpeg,png,webp,heic,pdf,txt,docx,xlsx",
        "Attachment types accepted, checked by content, not by name: jpeg, png, webp, heic, pdf, "
        "txt, docx, xlsx (comma-separated).")
    hazard_feeds: Parsed[tuple[tuple[str, str, str], ...]] = setting(
        p.hazard_feeds, "",
        "Hazard feeds the worker watches, as name=kind:url separated by ';': kind cap (CAP 1.2 "
        "alerts in an Atom or RSS feed, embedded or linked, as national weather services and GDACS "
        "publish them) or usgs (a USGS earthquake GeoJSON summary), e.g. "
        "usgs=usgs:https://earthquake.usgs.gov/earthquakes/feed/v1.0/summary/4.5_day.geojson. "
        "Empty: no hazard watch.")
    hazard_poll_minutes: int = setting(
        p.int_between(1, 1440), "5",
        "Minutes between two polls of the hazard feeds (each asks only for what changed: ETag, "
        "Last-Modified).")
    hazard_fetch_timeout_seconds: int = setting(
        p.int_between(1, 300), "20",
        "Seconds a hazard feed may take to connect, and between two reads of its answer.")
    hazard_feed_max_mb: int = setting(
        p.int_between(1, 100), "10",
        "Largest hazard feed document read, in MiB: reading stops past it and the poll counts as "
        "that feed's error.")
    hazard_cap_min_severity: str = setting(
        p.choice(p.CAP_SEVERITIES), "Severe",
        "A CAP alert from a hazard feed becomes a draft alert from this severity up (Extreme, "
        "Severe, Moderate or Minor)…")
    hazard_cap_min_registrants: int = setting(
        p.parse_positive_int, "1",
        "…when at least this many registrants are in its area.")
    hazard_quake_min_magnitude: float = setting(
        p.parse_magnitude, "5.5",
        "An earthquake from a hazard feed becomes a draft alert from this magnitude up…")
    hazard_quake_radius_km: int = setting(
        p.int_between(1, 2000), "100",
        "…counting the registrants within this many kilometres of its epicentre (the draft's "
        "circle)…")
    hazard_quake_min_registrants: int = setting(
        p.parse_positive_int, "10",
        "…when at least this many are there.")

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    def missing_secrets(self) -> list[str]:
        """The secrets that are not set: outside production they come from the instance's
        ``secrets.toml``, which ``config.ensure_instance_secrets`` writes (the ``consular`` command
        does, for an embedded install)."""
        return [f.name for f in FIELDS if f.secret and f.default is None
                and not getattr(self, f.attribute)]

    def __repr__(self) -> str:  # never print secrets
        shown = {f.attribute: getattr(self, f.attribute) for f in FIELDS if not f.secret}
        return f"Settings({shown})"


@dataclass(frozen=True)
class Field:
    """A setting as the loader and the documentation see it, read from its declaration."""

    name: str  # the environment variable
    attribute: str
    parse: Any
    default: str | None
    doc: str
    secret: bool
    names: str | None


FIELDS: tuple[Field, ...] = tuple(
    Field(name=f.metadata["var"] or f.name.upper(), attribute=f.name, parse=f.metadata["parse"],
          default=f.metadata["default"], doc=f.metadata["doc"], secret=f.metadata["secret"],
          names=f.metadata["names"])
    for f in fields(Settings)
)
BY_NAME = {f.name: f for f in FIELDS}
