"""The system's own SMS texts (drill marker, opt-out footer, safety-check prompt, HELP answer,
confirmations, case notices) in the recipient's language, and the alert message as sent.

The texts are entries of the ``sms`` catalog domain (``i18n/translations/<locale>/LC_MESSAGES/
sms.po``; source ``i18n/sms.pot``), marked in this module with ``_sms`` and extracted by
``make i18n-extract``. They are loaded with Babel outside any request or app context, because
the worker renders messages. Dates, times and durations inside a message are formatted by Babel
in the recipient's locale and time zone.

Keywords named in a text (STOP, START, HELP, AIUTO …) are ones ``alerts.replies.keywords`` recognises in
that language; STOP and START stay in ASCII everywhere because the carrier-side opt-out (Twilio)
acts on exactly those words.
"""

from __future__ import annotations

import functools
import gettext
import io
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale
from babel.dates import (
    format_date,
    format_skeleton,
    format_time,
    format_timedelta,
    get_datetime_format,
)
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

from alerts.channels.sms.encoding import is_gsm7

log = logging.getLogger(__name__)

TRANSLATIONS_DIR = Path(__file__).parents[3] / "i18n" / "translations"
SMS_DOMAIN = "sms"
SMS_LOCALES: tuple[str, ...] = (
    "zh_Hans", "zh_Hant", "en", "it", "fr", "es", "de", "pt", "ru", "ja", "ko", "ar",
)
DEFAULT_SMS_LOCALE = "zh_Hans"  # for a recipient whose language is not one of SMS_LOCALES
RTL_LOCALES = frozenset({"ar"})
# Languages whose system texts (marker, validity, prompt, footer) are written in GSM-7 so that an
# alert in them costs one septet per character; the dates inside those texts must be too.
GSM7_LOCALES = frozenset({"en", "it", "fr", "es", "de", "pt"})
ALERT_STATUSES = ("Actual", "Exercise", "Test")  # CAP 1.2 statuses an alert can have here

# Readers of one Chinese script can mostly read the other: each is the other's first fallback.
_SCRIPT_FALLBACK = {"zh_Hant": "zh_Hans", "zh_Hans": "zh_Hant"}
_TRADITIONAL_REGIONS = {"tw", "hk", "mo"}
_LRM = "\u200e"
_SPACES = str.maketrans({"\u00a0": " ", "\u202f": " ", "\u2009": " ", "\u2007": " "})


def _sms(message: str) -> str:
    """Marks a message of the ``sms`` domain for extraction; translated when rendered."""
    return message


# TRANSLATORS: put in front of every SMS of a drill (CAP status Exercise). Keep it short.
EXERCISE_MARKER = _sms("[EXERCISE]")
# TRANSLATORS: put in front of every SMS of a technical test (CAP status Test).
TEST_MARKER = _sms("[TEST]")
# TRANSLATORS: put in front of an alert that updates an earlier one (CAP msgType Update). Keep it short.
UPDATE_MARKER = _sms("[UPDATE]")
# TRANSLATORS: put in front of a notice withdrawing an earlier alert (CAP msgType Cancel). Keep it short.
CANCEL_MARKER = _sms("[CANCELLED]")
# TRANSLATORS: put in front of the one re-send of a safety check nobody answered. Keep it short.
REMINDER_MARKER = _sms("[REMINDER]")
# TRANSLATORS: the safety check's question at the end of an alert: short, keep the digits 1 and 2.
ALERT_SAFETY_PROMPT = _sms("Reply 1 if safe, 2 if you need help")
# TRANSLATORS: the last line of every alert: until when it applies, and how to unsubscribe. Keep it
# short and keep the ASCII word STOP. %(when)s is a day, time and zone, e.g. "Mar 1, 5:30 PM CET".
ALERT_CLOSING = _sms("Valid until %(when)s. STOP to unsubscribe")
# TRANSLATORS: the last line of every alert. Keep the ASCII word STOP (the carrier acts on it).
OPT_OUT_FOOTER = _sms("Reply STOP to unsubscribe")
# TRANSLATORS: keep the digits 1 and 2; the reply is read by the system.
SAFETY_CHECK_PROMPT = _sms("Reply 1 if you are safe, 2 if you need help")
# TRANSLATORS: %(when)s is a date and time with its time zone, e.g. "Mar 1, 2026, 5:30 PM CET".
VALID_UNTIL = _sms("Valid until %(when)s")
HELP_STATION = _sms("Nearest service station: %(name)s, tel. %(phone)s")
HELP_STATION_NO_PHONE = _sms("Nearest service station: %(name)s")
# TRANSLATORS: %(name)s is an embassy or consulate, e.g. "Embassy of China in Italy".
HELP_MISSION = _sms("%(name)s emergency phone: %(phone)s")
HELP_MISSION_NO_NAME = _sms("Embassy or consulate emergency phone: %(phone)s")
HELP_HOTLINE = _sms("Consular protection hotline (24h): %(phone)s")
HELP_NO_CONTACT = _sms("Contact the nearest embassy or consulate.")
# TRANSLATORS: keep the ASCII word START (the carrier acts on it).
STOP_CONFIRMATION = _sms("You have unsubscribed and will get no more alerts. Reply START to subscribe again.")
START_CONFIRMATION = _sms("You will receive safety alerts again. Reply STOP to unsubscribe.")
SAFE_ACK = _sms("Thank you. We have recorded that you are safe.")
NEED_HELP_ACK = _sms(
    "We have received your request for help and will contact you as soon as possible. "
    "In immediate danger, call the local emergency number."
)
UNKNOWN_REPLY = _sms("Sorry, we could not understand your reply.")
# TRANSLATORS: spoken at the end of a voice call of a safety check (keys of the phone's keypad).
VOICE_QUESTION = _sms("Press 1 if you are safe. Press 2 if you need help. Press 9 to hear this "
                      "message again.")
# TRANSLATORS: spoken when the person on a voice call pressed no key.
VOICE_NO_ANSWER = _sms("We did not receive an answer. Goodbye.")
# TRANSLATORS: to someone whose unreadable reply to a safety check opened a case: a person will call.
UNCLEAR_REPLY_FOLLOW_UP = _sms(
    "We could not read your reply automatically, so someone from our team will contact you."
)
# TRANSLATORS: HELP may be the local help keyword (AIUTO, AIDE, AYUDA, HILFE, AJUDA); keep STOP.
REPLY_OPTIONS = _sms("Reply HELP for contacts or STOP to unsubscribe.")
# TRANSLATORS: to a service station. %(reference)s like 2026-000123; %(country)s a country name.
ASSIGNMENT_NOTICE = _sms("New case %(reference)s assigned to your station (%(country)s). Open the app.")
ASSIGNMENT_NOTICE_NO_COUNTRY = _sms("New case %(reference)s assigned to your station. Open the app.")
# TRANSLATORS: %(priority)s is P1-P4; %(overdue)s a duration such as "45 minutes" or "3 hours".
ESCALATION_NOTICE = _sms("Case %(reference)s (%(priority)s) is overdue by %(overdue)s. Open the app.")
# TRANSLATORS: the ladder's SMS to the next of kin of someone silent after a safety check; %(event)s is
# the alert's event ("earthquake"), %(place)s where it happened.
NEXT_OF_KIN = _sms("We could not reach %(name)s after the %(event)s near %(place)s. If you have "
                   "news of them, please let us know.")
NEXT_OF_KIN_NO_PLACE = _sms("We could not reach %(name)s after the %(event)s. If you have news of "
                            "them, please let us know.")
# TRANSLATORS: the one-time code of self-enrolment; %(code)s is 6 digits. Say it expires in 10 minutes.
ENROLMENT_CODE = _sms("Your registration code: %(code)s. It expires in 10 minutes. Do not share it.")
# TRANSLATORS: the answer to JOIN (or its word in the language): %(url)s is the self-enrolment page.
JOIN_ANSWER = _sms("Register for safety alerts here: %(url)s")


# TRANSLATORS: the headline of a cancel notice; %(headline)s is the cancelled alert's headline.
CANCEL_HEADLINE = _sms("Cancelled: %(headline)s")
# TRANSLATORS: the message of a cancel notice; %(date)s is the day the alert was sent, e.g. "Mar 1, 2026".
CANCEL_BODY = _sms("Our alert of %(date)s is withdrawn. Please disregard it.")
# TRANSLATORS: the headline of an update; %(headline)s is the updated alert's headline.
UPDATE_HEADLINE = _sms("Update: %(headline)s")

# The kind of event of each CAP category, for an alert's CAP <info> in a language it has no event
# of its own written in (CAP's <event> must be in the <info>'s language).
# TRANSLATORS: a short name for a kind of event, as an alerting system lists it.
CATEGORY_EVENTS = {
    "Geo": _sms("Geological hazard"),
    "Met": _sms("Severe weather"),
    "Safety": _sms("Safety warning"),
    "Security": _sms("Security threat"),
    "Rescue": _sms("Rescue operation"),
    "Fire": _sms("Fire"),
    "Health": _sms("Health risk"),
    "Env": _sms("Environmental hazard"),
    "Transport": _sms("Transport disruption"),
    "Infra": _sms("Infrastructure failure"),
    "CBRNE": _sms("Chemical, biological, nuclear or explosive threat"),
    "Other": _sms("Safety notice"),
}


# --- locales ---------------------------------------------------------------------------------


def normalise_sms_locale(tag: str | None) -> str | None:
    """One of SMS_LOCALES for a language tag (``zh-CN``, ``zh_TW``, ``pt-BR``, ``EN``), else None."""
    if not tag:
        return None
    parts = [p.lower() for p in tag.strip().replace("-", "_").split("_") if p]
    if not parts:
        return None
    language = parts[0]
    if language in {"zh", "cmn", "yue"}:
        if "hant" in parts[1:]:
            return "zh_Hant"
        if "hans" in parts[1:]:
            return "zh_Hans"
        if language == "yue" or _TRADITIONAL_REGIONS & set(parts[1:]):
            return "zh_Hant"
        return "zh_Hans"
    return language if language in SMS_LOCALES else None


def resolve_sms_locale(tag: str | None) -> str:
    """Like :func:`normalise_sms_locale`, with DEFAULT_SMS_LOCALE for an unknown language."""
    return normalise_sms_locale(tag) or DEFAULT_SMS_LOCALE


def fallback_chain(recipient_locale: str | None, base_locale: str) -> list[str]:
    """Languages to try for an alert's text: the recipient's, then the other Chinese script (for
    Chinese readers), then the alert's base language. Unknown tags are left out."""
    chain: list[str] = []
    recipient = normalise_sms_locale(recipient_locale)
    if recipient is not None:
        chain.append(recipient)
        if recipient in _SCRIPT_FALLBACK:
            chain.append(_SCRIPT_FALLBACK[recipient])
    chain.append(normalise_sms_locale(base_locale) or base_locale)
    return list(dict.fromkeys(chain))


# --- catalog ---------------------------------------------------------------------------------


@functools.cache
def translations(locale: str) -> gettext.NullTranslations:
    """The ``sms`` catalog of one SMS locale, compiled (``.mo``) or, if that is missing or older
    than its ``.po``, built from the ``.po`` in memory."""
    if locale not in SMS_LOCALES:
        raise ValueError(f"not an SMS locale: {locale!r}")
    folder = TRANSLATIONS_DIR / locale / "LC_MESSAGES"
    po, mo = folder / f"{SMS_DOMAIN}.po", folder / f"{SMS_DOMAIN}.mo"
    if mo.exists() and (not po.exists() or mo.stat().st_mtime >= po.stat().st_mtime):
        return Translations.load(str(TRANSLATIONS_DIR), [locale], domain=SMS_DOMAIN)
    if not po.exists():
        raise LookupError(f"no {SMS_DOMAIN} catalog for {locale} in {folder}")
    log.info("sms catalog for %s read from its .po (run `make i18n-compile`)", locale)
    with open(po, "rb") as fh:
        catalog = read_po(fh, locale=locale, domain=SMS_DOMAIN)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer, domain=SMS_DOMAIN)


def _text(locale: str, message: str, **params: str) -> str:
    translated = translations(resolve_sms_locale(locale)).gettext(message)
    return translated % params if params else translated


def _phrase(message: str) -> Callable[[str], str]:
    """The function that gives ``message`` in a recipient's language (``locale``)."""

    def phrase(locale: str) -> str:
        return _text(locale, message)

    return phrase


def _ltr(value: str, locale: str) -> str:
    """A phone number keeps its order inside right-to-left text."""
    return f"{_LRM}{value}{_LRM}" if resolve_sms_locale(locale) in RTL_LOCALES else value


def _babel_locale(locale: str) -> Locale:
    return Locale.parse(resolve_sms_locale(locale))


# --- formatting ------------------------------------------------------------------------------


def _zone(tz_name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(tz_name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        log.warning("unknown time zone %r: times shown in UTC", tz_name)
        return ZoneInfo("UTC")


def _gmt_pattern(loc: Locale) -> str:
    """The locale's CLDR GMT format with the word before the offset. CLDR 47 writes Portuguese
    offsets after it ("+8 GMT"), which in a text message reads like a sum; "GMT+8", as the other
    SMS languages write it (and Portuguese phones show it), is what a reader recognises."""
    pattern = str(loc.zone_formats.get("gmt", "GMT%s"))
    if pattern.startswith("%s"):
        pattern = pattern[2:].strip() + "%s"
    return pattern


def _zone_label(moment: datetime, zone: ZoneInfo, loc: Locale) -> str:
    """The zone's abbreviation where the locale has one (CET, MESZ, EDT), else its offset in the
    locale's GMT format (GMT+8, UTC+5:30, غرينتش+3)."""
    abbreviation = str(format_time(moment, "z", tzinfo=zone, locale=loc))
    if any(c.isalpha() for c in abbreviation):
        return abbreviation
    offset = moment.astimezone(zone).utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    hours, rest = divmod(abs(minutes), 60)
    return _gmt_pattern(loc) % (f"{sign}{hours}" + (f":{rest:02d}" if rest else "") if minutes else "")


def _date_text(local: datetime, locale: str, loc: Locale) -> str:
    """CLDR's medium date, or its numeric date where a month name would cost a GSM-7 language its
    encoding (see ``format_when``)."""
    date = str(format_date(local, "medium", locale=loc))
    if resolve_sms_locale(locale) in GSM7_LOCALES and not all(is_gsm7(c) for c in date.translate(_SPACES)):
        date = str(format_date(local, "short", locale=loc))
    return date


def format_day(dt_utc: datetime, locale: str, tz_name: str | None) -> str:
    """The day of a UTC instant in the recipient's zone and language ("5 dic 2026")."""
    moment = dt_utc if dt_utc.tzinfo is not None else dt_utc.replace(tzinfo=UTC)
    return _date_text(moment.astimezone(_zone(tz_name)), locale, _babel_locale(locale)).translate(_SPACES)


def format_when(dt_utc: datetime, locale: str, tz_name: str | None) -> str:
    """A UTC instant as the recipient reads it: CLDR's medium date, short time and date-time
    pattern for the language, then the zone (all in the recipient's zone). In a language whose
    system texts are GSM-7, a month name outside GSM-7 (French "août") would double the price of
    every alert of that month: CLDR's numeric date is used instead."""
    loc = _babel_locale(locale)
    zone = _zone(tz_name)
    moment = dt_utc if dt_utc.tzinfo is not None else dt_utc.replace(tzinfo=UTC)
    date = _date_text(moment.astimezone(zone), locale, loc)
    time = str(format_time(moment, "short", tzinfo=zone, locale=loc))
    pattern = str(get_datetime_format("medium", locale=loc)).replace("'", "")
    text = pattern.replace("{0}", time).replace("{1}", date)
    return f"{text} {_zone_label(moment, zone, loc)}".translate(_SPACES)


def format_until(dt_utc: datetime, locale: str, tz_name: str | None) -> str:
    """Like :func:`format_when` without the year ("6 dic, 02:10 CET"): an alert's expiry is within
    the coming months, and every character of the line is paid for in every message."""
    loc = _babel_locale(locale)
    zone = _zone(tz_name)
    moment = dt_utc if dt_utc.tzinfo is not None else dt_utc.replace(tzinfo=UTC)
    local = moment.astimezone(zone)
    date = str(format_skeleton("MMMd", local, locale=loc))
    if resolve_sms_locale(locale) in GSM7_LOCALES and not all(is_gsm7(c) for c in date.translate(_SPACES)):
        date = str(format_skeleton("Md", local, locale=loc))
    time = str(format_time(moment, "short", tzinfo=zone, locale=loc))
    pattern = str(get_datetime_format("medium", locale=loc)).replace("'", "")
    text = pattern.replace("{0}", time).replace("{1}", date)
    return f"{text} {_zone_label(moment, zone, loc)}".translate(_SPACES)


def format_overdue(minutes: int, locale: str) -> str:
    """A delay in whole minutes (under 2 hours), hours (under 2 days) or days, in words."""
    loc = _babel_locale(locale)
    minutes = max(1, int(minutes))
    unit: Literal["minute", "hour", "day"]
    if minutes < 120:
        value, unit, factor = minutes, "minute", 1
    elif minutes < 48 * 60:
        value, unit, factor = minutes // 60, "hour", 60
    else:
        value, unit, factor = minutes // 1440, "day", 1440
    text = format_timedelta(timedelta(minutes=value * factor), threshold=value, granularity=unit,
                            locale=loc)
    return str(text).translate(_SPACES)


# --- the texts -------------------------------------------------------------------------------


def _marker(locale: str, message: str) -> str:
    marker = _text(locale, message)
    # A full-width bracket (【演练】) carries its own spacing; others are followed by a space.
    return marker if marker.endswith(("】", "」", "）")) else f"{marker} "


def drill_marker(locale: str) -> str:
    """"[EXERCISE] " / "【演练】": the prefix of every message of a drill, separator included."""
    return _marker(locale, EXERCISE_MARKER)


def test_marker(locale: str) -> str:
    """"[TEST] " / "【测试】": the prefix of every message of a technical test."""
    return _marker(locale, TEST_MARKER)


def kind_marker(locale: str, msg_type: str, *, reminder: bool = False) -> str:
    """"[UPDATE] " / "【更新】", "[CANCELLED] ", "[REMINDER] ": what kind of message this is, for an
    update, a cancel notice or the re-send of an unanswered safety check ("" for a first alert)."""
    out = ""
    if msg_type == "Update":
        out += _marker(locale, UPDATE_MARKER)
    elif msg_type == "Cancel":
        out += _marker(locale, CANCEL_MARKER)
    if reminder:
        out += _marker(locale, REMINDER_MARKER)
    return out


def signature_for(spec: str, locale: str) -> str:
    """The sender's signature for ``locale`` from ``SMS_SIGNATURES`` (its ``default`` for a language
    without its own), separator included: "【温州外事】" / "[Wenzhou FAO] "; "" when none is set."""
    from config import parse_sms_signatures

    if not spec:
        return ""
    parsed = getattr(spec, "value", None)  # a setting keeps its table parsed (``config.Parsed``)
    table = parsed if isinstance(parsed, dict) else parse_sms_signatures(spec)
    value = table.get(resolve_sms_locale(locale)) or table.get("default", "")
    if not value:
        return ""
    return value if value.endswith(("】", "」", "）", ")")) and not value.isascii() else f"{value} "


opt_out_footer = _phrase(OPT_OUT_FOOTER)
safety_check_prompt = _phrase(SAFETY_CHECK_PROMPT)
voice_question = _phrase(VOICE_QUESTION)
voice_no_answer = _phrase(VOICE_NO_ANSWER)
# "We could not understand your reply" (the SMS's words), before the question again.
voice_unknown_key = _phrase(UNKNOWN_REPLY)


def help_answer(
    locale: str,
    *,
    station_name: str | None = None,
    station_phone: str | None = None,
    mission_name: str | None = None,
    mission_phone: str | None = None,
    hotline: str | None = None,
) -> str:
    """The answer to HELP: nearest station, the mission's emergency phone, the hotline (the lines
    that are known), or where to turn when none is."""
    lines: list[str] = []
    if station_name and station_phone:
        lines.append(_text(locale, HELP_STATION, name=station_name, phone=_ltr(station_phone, locale)))
    elif station_name:
        lines.append(_text(locale, HELP_STATION_NO_PHONE, name=station_name))
    if mission_phone and mission_name:
        lines.append(_text(locale, HELP_MISSION, name=mission_name, phone=_ltr(mission_phone, locale)))
    elif mission_phone:
        lines.append(_text(locale, HELP_MISSION_NO_NAME, phone=_ltr(mission_phone, locale)))
    if hotline:
        lines.append(_text(locale, HELP_HOTLINE, phone=_ltr(hotline, locale)))
    if not (station_name or mission_phone):
        lines.append(_text(locale, HELP_NO_CONTACT))
    return "\n".join(lines)


stop_confirmation = _phrase(STOP_CONFIRMATION)
start_confirmation = _phrase(START_CONFIRMATION)
safety_ack_safe = _phrase(SAFE_ACK)
# "We will contact you" (and: call the local emergency number if in immediate danger).
safety_ack_help = _phrase(NEED_HELP_ACK)


def unknown_reply(locale: str, *, safety_check: bool = False) -> str:
    """"We could not understand", then the safety-check prompt again (during a safety check) or
    the HELP and STOP keywords."""
    follow = safety_check_prompt(locale) if safety_check else _text(locale, REPLY_OPTIONS)
    return f"{_text(locale, UNKNOWN_REPLY)}\n{follow}"


def unclear_reply_followed_up(locale: str) -> str:
    """To someone whose reply to a safety check nobody could read, and for whom a case was opened:
    a person will follow up; then the safety-check prompt again (a "1" still records them as safe)."""
    return f"{_text(locale, UNCLEAR_REPLY_FOLLOW_UP)}\n{safety_check_prompt(locale)}"


def enrolment_code(locale: str, code: str) -> str:
    return _text(locale, ENROLMENT_CODE, code=code)


def join_answer(locale: str, url: str) -> str:
    return _text(locale, JOIN_ANSWER, url=url)


def _fit(template: str, value: str, limit: int) -> str:
    """``template % value``, the value cut so that the whole stays within ``limit`` characters."""
    room = max(0, limit - len(template % {"headline": ""}))
    return template % {"headline": value[:room].rstrip()}


def update_headline(locale: str, headline: str, limit: int = 160) -> str:
    """"Update: <the original's headline>" in ``locale``, within ``limit`` characters."""
    return _fit(_text(locale, UPDATE_HEADLINE), headline, limit)


def cancel_notice(locale: str, headline: str, sent_at: datetime, tz_name: str | None,
                  limit: int = 160) -> tuple[str, str]:
    """The headline and message of a notice withdrawing the alert ``headline`` sent on ``sent_at``
    (the day as the recipients in ``tz_name`` saw it)."""
    return (_fit(_text(locale, CANCEL_HEADLINE), headline, limit),
            _text(locale, CANCEL_BODY, date=format_day(sent_at, locale, tz_name)))


def category_event(locale: str, category: str) -> str:
    """The kind of event of a CAP category (``Geo``, ``Security``…) in ``locale``."""
    return _text(locale, CATEGORY_EVENTS.get(str(category), CATEGORY_EVENTS["Other"]))


def assignment_notice(locale: str, reference: str, country: str | None) -> str:
    """To a station: a new case is theirs. ``country`` is an ISO code, shown as a country name."""
    if not country:
        return _text(locale, ASSIGNMENT_NOTICE_NO_COUNTRY, reference=reference)
    name = str(_babel_locale(locale).territories.get(country.upper(), country.upper()))
    return _text(locale, ASSIGNMENT_NOTICE, reference=reference, country=name)


def next_of_kin_message(locale: str, name: str, event: str, place: str, *, hotline: str = "",
                        signature: str = "") -> str:
    """To the next of kin of someone who answered no rung of the ladder: we could not reach them
    after the event (near the place), with the hotline to call when one is known."""
    if place:
        text = _text(locale, NEXT_OF_KIN, name=name, event=event, place=place)
    else:
        text = _text(locale, NEXT_OF_KIN_NO_PLACE, name=name, event=event)
    if hotline:
        text = f"{text} {_text(locale, HELP_HOTLINE, phone=_ltr(hotline, locale))}"
    return signature + text


def escalation_notice(locale: str, reference: str, priority: str, overdue_minutes: int) -> str:
    """A case is past its deadline; no personal data, only the reference and the priority."""
    return _text(locale, ESCALATION_NOTICE, reference=reference, priority=str(priority),
                 overdue=format_overdue(overdue_minutes, locale))


def render_alert_sms(
    *,
    headline: str,
    body: str,
    locale: str,
    status: str,
    safety_check: bool,
    expires_at: datetime | None,
    tz_name: str | None,
    with_footer: bool = True,
    instruction: str = "",
    signature: str = "",
    msg_type: str = "Alert",
    reminder: bool = False,
) -> str:
    """The SMS of one alert in one language: the sender's signature, markers (drill or test;
    update, cancelled, reminder) and headline, then body, instruction, validity, safety-check prompt
    and opt-out footer, one per line. ``status`` is the CAP status, ``msg_type`` its msgType;
    ``signature`` comes from :func:`signature_for`."""
    if status not in ALERT_STATUSES:
        raise ValueError(f"unknown alert status {status!r}: expected one of {', '.join(ALERT_STATUSES)}")
    marker = {"Exercise": drill_marker, "Test": test_marker}.get(status)
    prefix = signature + (marker(locale) if marker is not None else "") \
        + kind_marker(locale, msg_type, reminder=reminder)
    first = headline.strip()
    if prefix:
        first = f"{prefix}{first}" if first else prefix.rstrip()
    lines = [first, body.strip(), instruction.strip(), *alert_tail(locale, safety_check=safety_check,
                                                                    expires_at=expires_at,
                                                                    tz_name=tz_name,
                                                                    with_footer=with_footer)]
    return "\n".join(line for line in lines if line)


def alert_tail(locale: str, *, safety_check: bool, expires_at: datetime | None, tz_name: str | None,
               with_footer: bool = True) -> list[str]:
    """The lines the system adds after an alert's text, kept short because every message pays
    for them: the safety check's question, then one line with the validity (without the year) and
    the opt-out keyword."""
    lines: list[str] = []
    if safety_check:
        lines.append(_text(locale, ALERT_SAFETY_PROMPT))
    if expires_at is not None and with_footer:
        lines.append(_text(locale, ALERT_CLOSING, when=format_until(expires_at, locale, tz_name)))
    elif expires_at is not None:
        lines.append(_text(locale, VALID_UNTIL, when=format_until(expires_at, locale, tz_name)))
    elif with_footer:
        lines.append(opt_out_footer(locale))
    return lines
