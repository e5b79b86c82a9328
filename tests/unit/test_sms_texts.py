"""System SMS texts: complete in all twelve languages, consistent with the reply keywords, dates
in the recipient's zone, and the alert message as a recipient gets it."""

from __future__ import annotations

import functools
import re
import shutil
import unicodedata
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from alerts.channels.sms import texts  # the module, not its names: ``texts.test_marker`` is not a test
from alerts.channels.sms.encoding import analyse
from alerts.replies.keywords import ReplyKind, parse_reply

ROOT = Path(__file__).parents[2]
TRANSLATIONS = ROOT / "i18n" / "translations"
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|%[sd]|\{\w*\}")
LATIN = ("en", "it", "fr", "es", "de", "pt")
MOMENT = datetime(2026, 3, 1, 16, 30, tzinfo=UTC)  # 17:30 in Rome, 00:30 on 2 March in Shanghai


@pytest.fixture(autouse=True)
def _fresh_catalogs() -> Iterator[None]:
    texts.translations.cache_clear()
    yield
    texts.translations.cache_clear()


@functools.cache
def source_messages() -> frozenset[str]:
    with open(ROOT / "i18n" / "babel.cfg", encoding="utf-8") as fh:
        method_map, options_map = parse_mapping_cfg(fh)
    found: set[str] = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords={"_sms": None}
    ):
        found.update(m for m in (message if isinstance(message, tuple) else (message,)) if m)
    return frozenset(found)


def catalog(locale: str) -> dict[str, str]:
    with open(TRANSLATIONS / locale / "LC_MESSAGES" / "sms.po", "rb") as fh:
        cat = read_po(fh, locale=locale, domain="sms")
    return {m.id: ("" if m.fuzzy else m.string) for m in cat if m.id}


# --- catalogs --------------------------------------------------------------------------------


def test_template_is_up_to_date_with_the_code() -> None:
    with open(ROOT / "i18n" / "sms.pot", "rb") as fh:
        pot = {m.id for m in read_po(fh) if m.id}
    assert source_messages() == pot, "run `make i18n-extract` and `make i18n-update`"
    assert len(pot) >= 20


@pytest.mark.parametrize("locale", texts.SMS_LOCALES)
def test_every_sms_text_is_translated_with_the_same_placeholders(locale: str) -> None:
    strings = catalog(locale)
    problems = []
    for msgid in sorted(source_messages()):
        translated = strings.get(msgid)
        if not translated:
            problems.append(f"untranslated: {msgid!r}")
        elif sorted(PLACEHOLDER.findall(translated)) != sorted(PLACEHOLDER.findall(msgid)):
            problems.append(f"placeholders differ: {msgid!r} → {translated!r}")
    assert not problems, f"{locale}:\n" + "\n".join(problems)


@pytest.mark.parametrize("locale", [loc for loc in texts.SMS_LOCALES if loc != "en"])
def test_translations_are_in_the_language_not_copies_of_english(locale: str) -> None:
    strings = catalog(locale)
    same = [m for m, s in strings.items() if s == m and m not in {"[TEST]"}]
    assert not same, same


@pytest.mark.parametrize(("locale", "script"), [
    ("zh_Hans", "CJK"), ("zh_Hant", "CJK"), ("ja", "HIRAGANA"), ("ko", "HANGUL"),
    ("ru", "CYRILLIC"), ("ar", "ARABIC"),
])
def test_non_latin_catalogs_are_in_their_script(locale: str, script: str) -> None:
    strings = catalog(locale)
    for msgid in ("Reply 1 if you are safe, 2 if you need help",
                  "Sorry, we could not understand your reply."):
        assert any(script in unicodedata.name(c, "") for c in strings[msgid]), (locale, strings[msgid])


def test_compiled_catalogs_are_built_by_setup() -> None:
    for locale in texts.SMS_LOCALES:
        assert (TRANSLATIONS / locale / "LC_MESSAGES" / "sms.mo").exists(), "run `make i18n-compile`"


def test_catalog_is_read_from_the_po_when_not_compiled(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "it" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    shutil.copy(TRANSLATIONS / "it" / "LC_MESSAGES" / "sms.po", folder / "sms.po")
    monkeypatch.setattr(texts, "TRANSLATIONS_DIR", tmp_path)
    texts.translations.cache_clear()
    assert texts.opt_out_footer("it") == "Risponda STOP per annullare l'iscrizione"
    with pytest.raises(LookupError, match="no sms catalog for de"):
        texts.opt_out_footer("de")


def test_texts_render_without_any_app_or_request_context() -> None:
    from flask import has_app_context

    assert not has_app_context()
    assert texts.safety_check_prompt("zh_Hans") == "平安请回复1，需要帮助请回复2"


# --- locales ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("tag", "expected"), [
    ("zh-CN", "zh_Hans"), ("zh", "zh_Hans"), ("zh_Hans", "zh_Hans"), ("zh-Hans-SG", "zh_Hans"),
    ("zh-TW", "zh_Hant"), ("zh-HK", "zh_Hant"), ("zh_MO", "zh_Hant"), ("zh-Hant", "zh_Hant"),
    ("zh-Hant-CN", "zh_Hant"), ("yue", "zh_Hant"), ("pt-BR", "pt"), ("pt_PT", "pt"), ("en-GB", "en"),
    ("EN", "en"), ("it-IT", "it"), ("fr_CA", "fr"), ("es-419", "es"), ("de-AT", "de"), ("ru", "ru"),
    ("ja-JP", "ja"), ("ko_KR", "ko"), ("ar-EG", "ar"), (" ar ", "ar"),
    ("xx", None), ("nl", None), ("", None), (None, None), ("-", None),
])
def test_normalise_sms_locale(tag: str | None, expected: str | None) -> None:
    assert texts.normalise_sms_locale(tag) == expected


def test_unknown_language_gets_the_default_texts() -> None:
    assert texts.resolve_sms_locale("nl") == texts.DEFAULT_SMS_LOCALE == "zh_Hans"
    assert texts.opt_out_footer("nl") == texts.opt_out_footer("zh_Hans")
    assert texts.opt_out_footer("pt-BR") == texts.opt_out_footer("pt")


@pytest.mark.parametrize(("recipient", "base", "chain"), [
    ("it", "zh_Hans", ["it", "zh_Hans"]),
    ("zh-TW", "en", ["zh_Hant", "zh_Hans", "en"]),
    ("zh_Hans", "en", ["zh_Hans", "zh_Hant", "en"]),
    ("zh-HK", "zh_Hans", ["zh_Hant", "zh_Hans"]),
    ("pt-BR", "pt", ["pt"]),
    ("nl", "en", ["en"]),
    (None, "zh-CN", ["zh_Hans"]),
])
def test_fallback_chain(recipient: str | None, base: str, chain: list[str]) -> None:
    assert texts.fallback_chain(recipient, base) == chain


# --- texts and keywords agree ----------------------------------------------------------------

KEYWORD = re.compile(r"(?<![A-Za-zÀ-ÿ])[A-ZÀ-Ý]{3,}(?![A-Za-zÀ-ÿ])")  # CJK next to it is fine


@pytest.mark.parametrize("locale", texts.SMS_LOCALES)
def test_footer_names_a_keyword_that_unsubscribes(locale: str) -> None:
    footer = texts.opt_out_footer(locale)
    words = KEYWORD.findall(footer)
    assert words, footer
    assert all(parse_reply(word).kind is ReplyKind.stop for word in words), (footer, words)
    assert "STOP" in words  # the carrier-side opt-out acts on exactly this word


@pytest.mark.parametrize("locale", texts.SMS_LOCALES)
def test_confirmations_name_keywords_that_do_what_they_say(locale: str) -> None:
    stop_text = texts.stop_confirmation(locale)
    assert [parse_reply(w).kind for w in KEYWORD.findall(stop_text)] == [ReplyKind.start], stop_text
    start_text = texts.start_confirmation(locale)
    assert [parse_reply(w).kind for w in KEYWORD.findall(start_text)] == [ReplyKind.stop], start_text
    options = texts.unknown_reply(locale).split("\n")[1]
    kinds = [parse_reply(w).kind for w in KEYWORD.findall(options)]
    assert kinds == [ReplyKind.help, ReplyKind.stop], options


@pytest.mark.parametrize("locale", texts.SMS_LOCALES)
def test_safety_prompt_offers_the_digits_the_parser_reads(locale: str) -> None:
    prompt = texts.safety_check_prompt(locale)
    assert re.findall(r"\d", prompt) == ["1", "2"], prompt
    assert parse_reply("1").kind is ReplyKind.safe and parse_reply("2").kind is ReplyKind.need_help


@pytest.mark.parametrize("locale", LATIN)
def test_texts_in_every_alert_stay_gsm7_in_latin_languages(locale: str) -> None:
    # Marker, validity, prompt and footer go out with every alert: one smart quote or accent
    # outside GSM-7 would make every message cost twice as much.
    sms = texts.render_alert_sms(headline="Alert", body="Stay at home.", locale=locale, status="Exercise",
                                 safety_check=True, expires_at=MOMENT, tz_name="America/New_York")
    result = analyse(sms)
    assert result.encoding == "GSM-7", (sms, result.ucs2_chars)
    assert analyse(texts.safety_ack_safe(locale)).encoding == "GSM-7"
    assert analyse(texts.format_when(MOMENT, locale, "Europe/Rome")).encoding == "GSM-7"


FUNCTIONS: dict[str, Callable[[str], str]] = {
    "drill_marker": texts.drill_marker,
    "test_marker": texts.test_marker,
    "opt_out_footer": texts.opt_out_footer,
    "safety_check_prompt": texts.safety_check_prompt,
    "help_answer": lambda loc: texts.help_answer(loc, station_name="Milano", station_phone="+39 02 1234",
                                                 mission_name="CG Milano", mission_phone="+39 02 5555",
                                                 hotline="+86 10 12308"),
    "stop_confirmation": texts.stop_confirmation,
    "start_confirmation": texts.start_confirmation,
    "safety_ack_safe": texts.safety_ack_safe,
    "safety_ack_help": texts.safety_ack_help,
    "unknown_reply": texts.unknown_reply,
    "unclear_reply_followed_up": texts.unclear_reply_followed_up,
    "assignment_notice": lambda loc: texts.assignment_notice(loc, "2026-000123", "IT"),
    "escalation_notice": lambda loc: texts.escalation_notice(loc, "2026-000123", "P1", 45),
    "format_when": lambda loc: texts.format_when(MOMENT, loc, "Europe/Rome"),
}


@pytest.mark.parametrize("name", FUNCTIONS)
def test_each_text_differs_between_chinese_english_and_arabic(name: str) -> None:
    rendered = {loc: FUNCTIONS[name](loc) for loc in ("zh_Hans", "en", "ar")}
    assert len(set(rendered.values())) == 3, rendered
    assert all(value.strip() for value in rendered.values())
    assert re.search(r"[\u0600-\u06ff]", rendered["ar"]), rendered["ar"]


def test_arabic_is_kept_in_logical_order_with_phone_numbers_left_to_right() -> None:
    answer = texts.help_answer("ar", station_name="Milano", station_phone="+39 02 1234")
    assert answer.startswith("أقرب مركز خدمة")  # logical order: no reversing, no shaping
    assert "\u200e+39 02 1234\u200e" in answer
    assert "\u200e" not in texts.help_answer("en", station_name="Milano", station_phone="+39 02 1234")
    assert texts.drill_marker("ar") == "[تمرين] "


def test_markers() -> None:
    assert texts.drill_marker("zh_Hans") == "【演练】"
    assert texts.drill_marker("en") == "[EXERCISE] "
    assert texts.drill_marker("it") == "[ESERCITAZIONE] "
    assert texts.test_marker("en") == "[TEST] "
    assert texts.test_marker("zh_Hant") == "【測試】"


# --- dates -----------------------------------------------------------------------------------


def test_dates_are_in_the_recipients_zone_and_language() -> None:
    assert texts.format_when(MOMENT, "it", "Europe/Rome") == "1 mar 2026, 17:30 CET"
    assert texts.format_when(MOMENT, "zh_Hans", "Asia/Shanghai") == "2026年3月2日 00:30 GMT+8"
    assert texts.format_when(MOMENT, "zh_Hans", "Europe/Rome") == "2026年3月1日 17:30 GMT+1"
    assert texts.format_when(MOMENT, "it", "Asia/Shanghai") == "2 mar 2026, 00:30 GMT+8"
    arabic = texts.format_when(MOMENT, "ar", "Asia/Shanghai")
    assert "12:30" in arabic and "02" in arabic and "غرينتش+8" in arabic
    assert "5:30" in texts.format_when(MOMENT, "ar", "Europe/Rome")


def test_summer_time_and_half_hour_zones() -> None:
    july = datetime(2026, 7, 1, 16, 30, tzinfo=UTC)
    assert texts.format_when(july, "it", "Europe/Rome") == "1 lug 2026, 18:30 CEST"
    assert texts.format_when(july, "de", "Europe/Berlin") == "01.07.2026, 18:30 MESZ"
    assert texts.format_when(july, "en", "Asia/Kolkata").endswith("10:00 PM GMT+5:30")
    assert texts.format_when(july, "en", "America/New_York") == "Jul 1, 2026, 12:30 PM EDT"


# Every month (abbreviations differ), zones with a CLDR abbreviation or only an offset, whole and
# half hours, east and west of Greenwich, before and after noon.
DATE_MOMENTS = [datetime(2026, month, 5, hour, 42, tzinfo=UTC) for month in range(1, 13) for hour in (3, 15)]
DATE_ZONES = ("Asia/Shanghai", "Europe/Rome", "Europe/Berlin", "America/New_York", "America/Sao_Paulo",
              "Asia/Kolkata", "Africa/Lagos")
GSM7_LOCALES = ("en", "it", "fr", "es", "de", "pt")  # their system texts are GSM-7; so their dates


def _cldr_when(moment: datetime, locale: str, zone_name: str) -> tuple[str, str, str, str]:
    """What CLDR (through Babel) writes for this moment: medium and short date, short time, and the
    date-time pattern that joins them."""
    from babel import Locale
    from babel.dates import format_date, format_time, get_datetime_format

    loc, zone = Locale.parse(locale), ZoneInfo(zone_name)
    local = moment.astimezone(zone)
    same = str.maketrans({"\u00a0": " ", "\u202f": " ", "\u2009": " "})
    return (str(format_date(local, "medium", locale=loc)).translate(same),
            str(format_date(local, "short", locale=loc)).translate(same),
            str(format_time(local, "short", tzinfo=zone, locale=loc)).translate(same),
            str(get_datetime_format("medium", locale=loc)).replace("'", "").translate(same))


@pytest.mark.parametrize("locale", texts.SMS_LOCALES)
def test_every_sms_date_reads_as_cldr_writes_it_in_every_language(locale: str) -> None:
    """"Valid until …" in each of the twelve languages: CLDR's own date, time and date-time
    pattern for the language (via Babel), then the zone as the language names it: its CLDR
    abbreviation where it has one (CET, MESZ, EDT), else the CLDR GMT word followed by the offset
    ("GMT+8", "UTC+5:30", "غرينتش-3"), never the offset before the word ("+8 GMT")."""
    from babel import Locale
    from babel.dates import format_time

    loc = Locale.parse(locale)
    gmt_word = str(loc.zone_formats["gmt"]).replace("%s", "").strip()
    problems = []
    for moment in DATE_MOMENTS:
        for zone_name in DATE_ZONES:
            text = texts.format_when(moment, locale, zone_name)
            medium, short, time, pattern = _cldr_when(moment, locale, zone_name)
            abbreviation = str(format_time(moment, "z", tzinfo=ZoneInfo(zone_name), locale=loc))
            offset = moment.astimezone(ZoneInfo(zone_name)).utcoffset()
            assert offset is not None
            minutes = int(offset.total_seconds() // 60)
            hours, rest = divmod(abs(minutes), 60)
            sign = "+" if minutes >= 0 else "-"
            zone = abbreviation if any(c.isalpha() for c in abbreviation) else \
                f"{gmt_word}{sign}{hours}" + (f":{rest:02d}" if rest else "")
            allowed = {pattern.replace("{0}", time).replace("{1}", date) + f" {zone}"
                       for date in (medium, short)}
            if text not in allowed:
                problems.append(f"{zone_name} {moment:%m-%d %H:%M}: {text!r}, CLDR: {sorted(allowed)}")
            if locale in GSM7_LOCALES and analyse(text).encoding != "GSM-7":
                problems.append(f"{text!r} forces UCS-2 ({analyse(text).ucs2_chars})")
            if text != texts.format_when(moment, locale, zone_name).strip() or "  " in text:
                problems.append(f"{text!r}: stray spaces")
            # The medium date (with the month's name) unless it would cost a GSM-7 language its
            # encoding: then CLDR's numeric date.
            named = locale not in GSM7_LOCALES or analyse(medium).encoding == "GSM-7"
            if named and medium not in text:
                problems.append(f"{text!r}: not the medium date {medium!r}")
    assert not problems, f"{locale}:\n" + "\n".join(problems[:12])


def test_portuguese_and_french_dates_read_naturally() -> None:
    august = datetime(2026, 8, 15, 15, 42, tzinfo=UTC)
    december = datetime(2026, 12, 5, 15, 42, tzinfo=UTC)
    assert texts.format_when(december, "pt", "Asia/Shanghai") == "5 de dez. de 2026 23:42 GMT+8"
    assert texts.format_when(december, "pt", "America/Sao_Paulo") == "5 de dez. de 2026 12:42 BRT"
    assert texts.format_when(december, "pt", "Africa/Luanda") == "5 de dez. de 2026 16:42 GMT+1"
    # "août" has a û outside GSM-7: the numeric date keeps every French alert in August at half price.
    assert texts.format_when(august, "fr", "Europe/Paris") == "15/08/2026, 17:42 UTC+2"
    assert texts.format_when(december, "fr", "Europe/Paris") == "5 déc. 2026, 16:42 UTC+1"


def test_babel_spaces_do_not_force_ucs2() -> None:
    # CLDR puts narrow no-break spaces in English times ("5:30 PM") and French durations.
    assert "\u202f" not in texts.format_when(MOMENT, "en", "Europe/Rome")
    assert texts.format_overdue(300, "fr") == "5 heures"


def test_unknown_or_missing_zone_is_shown_as_utc() -> None:
    assert texts.format_when(MOMENT, "en", "Mars/Olympus") == "Mar 1, 2026, 4:30 PM UTC"
    assert texts.format_when(MOMENT, "en", None) == "Mar 1, 2026, 4:30 PM UTC"
    naive = datetime(2026, 3, 1, 16, 30)  # noqa: DTZ001 - a naive value is taken as UTC
    assert texts.format_when(naive, "it", "Europe/Rome") == "1 mar 2026, 17:30 CET"


@pytest.mark.parametrize(("minutes", "locale", "expected"), [
    (45, "en", "45 minutes"), (1, "en", "1 minute"), (0, "en", "1 minute"), (95, "en", "95 minutes"),
    (125, "en", "2 hours"), (300, "ru", "5 часов"), (3000, "en", "2 days"), (45, "zh_Hans", "45分钟"),
    (60 * 24 * 2, "ar", "يومان"),
])
def test_overdue_durations(minutes: int, locale: str, expected: str) -> None:
    assert texts.format_overdue(minutes, locale) == expected


# --- the alert message -----------------------------------------------------------------------


def test_alert_sms_in_chinese_with_drill_marker_prompt_and_footer() -> None:
    sms = texts.render_alert_sms(headline="台风预警", body="今晚有强台风，请留在室内。", locale="zh_Hans",
                                 status="Exercise", safety_check=True, expires_at=MOMENT,
                                 tz_name="Asia/Shanghai")
    assert sms == ("【演练】台风预警\n今晚有强台风，请留在室内。\n平安请回1，求助请回2\n"
                   "有效期至3月2日 00:30 GMT+8。回复STOP退订")


def test_alert_sms_actual_has_no_marker_and_test_has_its_own() -> None:
    common = {"headline": "Heavy rain", "body": "Avoid underpasses.", "locale": "en", "safety_check": False,
              "expires_at": None, "tz_name": "Europe/Rome"}
    assert texts.render_alert_sms(status="Actual", **common) == (
        "Heavy rain\nAvoid underpasses.\nReply STOP to unsubscribe")
    assert texts.render_alert_sms(status="Test", with_footer=False, **common) == (
        "[TEST] Heavy rain\nAvoid underpasses.")
    assert "[EXERCISE] Heavy rain" in texts.render_alert_sms(status="Exercise", **common)


def test_alert_sms_with_instruction_and_expiry_in_the_recipients_zone() -> None:
    sms = texts.render_alert_sms(headline="Allerta meteo", body="Forti piogge.",
                                 instruction="Evitare i sottopassi.", locale="it", status="Actual",
                                 safety_check=True, expires_at=MOMENT, tz_name="Europe/Rome")
    assert sms.split("\n") == [
        "Allerta meteo", "Forti piogge.", "Evitare i sottopassi.", "Risponda 1 se sta bene, 2 se serve aiuto",
        "Valido fino al 1 mar, 17:30 CET. STOP per disiscriversi",
    ]


@pytest.mark.parametrize("locale", texts.SMS_LOCALES)
def test_the_lines_every_alert_carries_are_short_and_keep_the_keywords(locale: str) -> None:
    """The automatic part of an alert (validity, safety-check question, opt-out) is paid for in
    every message: one line for the question, one for validity and STOP, each shorter than the
    three lines they replace; the question offers the digits the parser reads, the last line the
    word the carrier acts on."""
    prompt, closing = texts.alert_tail(locale, safety_check=True, expires_at=MOMENT, tz_name="Europe/Rome")
    assert re.findall(r"\d", prompt) == ["1", "2"], prompt
    assert len(prompt) <= len(texts.safety_check_prompt(locale))
    words = KEYWORD.findall(closing.replace(texts.format_until(MOMENT, locale, "Europe/Rome"), ""))
    assert words == ["STOP"], closing
    old = (texts._text(locale, texts.VALID_UNTIL, when=texts.format_when(MOMENT, locale, "Europe/Rome"))
           + "\n" + texts.opt_out_footer(locale))
    assert len(closing) < len(old), (closing, old)
    if locale in LATIN:
        assert analyse(prompt + "\n" + closing).encoding == "GSM-7", (prompt, closing)


def test_drill_without_headline_still_starts_with_the_marker() -> None:
    sms = texts.render_alert_sms(headline=" ", body="Esercitazione di evacuazione.", locale="it",
                                 status="Exercise", safety_check=False, expires_at=None,
                                 tz_name="Europe/Rome", with_footer=False)
    assert sms == "[ESERCITAZIONE]\nEsercitazione di evacuazione."


@pytest.mark.parametrize("status", ["System", "actual", "", "Draft"])
def test_unknown_status_is_refused(status: str) -> None:
    with pytest.raises(ValueError, match="unknown alert status"):
        texts.render_alert_sms(headline="x", body="y", locale="en", status=status, safety_check=False,
                               expires_at=None, tz_name="UTC")


def test_cap_status_enum_is_accepted() -> None:
    from alerts.models import CapStatus

    sms = texts.render_alert_sms(headline="x", body="y", locale="en", status=CapStatus.Exercise,
                                 safety_check=False, expires_at=None, tz_name="UTC")
    assert sms.startswith("[EXERCISE] x")


# --- HELP answer and notices -----------------------------------------------------------------


def test_help_answer_with_everything() -> None:
    answer = texts.help_answer("en", station_name="Milano Centro", station_phone="+39 02 1234567",
                               mission_name="Consulate General in Milan", mission_phone="+39 02 5555",
                               hotline="+86 10 12308")
    assert answer.split("\n") == [
        "Nearest service station: Milano Centro, tel. +39 02 1234567",
        "Consulate General in Milan emergency phone: +39 02 5555",
        "Consular protection hotline (24h): +86 10 12308",
    ]


def test_help_answer_when_station_or_mission_is_missing() -> None:
    no_station = texts.help_answer("zh_Hans", mission_name="驻米兰总领馆", mission_phone="+39 02 5555")
    assert no_station == "驻米兰总领馆应急电话：+39 02 5555"
    no_mission = texts.help_answer("it", station_name="Milano Centro", station_phone=None,
                                   hotline="+86 10 12308")
    assert no_mission == "Punto di assistenza più vicino: Milano Centro\nTutela consolare (24h): +86 10 12308"
    unnamed = texts.help_answer("en", mission_phone="+39 02 5555")
    assert unnamed == "Embassy or consulate emergency phone: +39 02 5555"
    hotline_only = texts.help_answer("en", hotline="+86 10 12308")
    assert hotline_only == ("Consular protection hotline (24h): +86 10 12308\n"
                            "Contact the nearest embassy or consulate.")
    assert texts.help_answer("ar") == "تواصل مع أقرب سفارة أو قنصلية."


def test_unknown_reply_repeats_the_prompt_during_a_safety_check() -> None:
    assert texts.unknown_reply("en") == ("Sorry, we could not understand your reply.\n"
                                         "Reply HELP for contacts or STOP to unsubscribe.")
    assert texts.unknown_reply("en", safety_check=True) == ("Sorry, we could not understand your reply.\n"
                                                            "Reply 1 if you are safe, 2 if you need help")


@pytest.mark.parametrize("locale", texts.SMS_LOCALES)
def test_an_unreadable_reply_that_opened_a_case_says_someone_will_follow_up(locale: str) -> None:
    text = texts.unclear_reply_followed_up(locale)
    first, prompt = text.split("\n")
    assert first != texts.unknown_reply(locale).split("\n")[0]  # not just "sorry, not understood"
    assert prompt == texts.safety_check_prompt(locale)
    assert texts.unclear_reply_followed_up("en").startswith(
        "We could not read your reply automatically, so someone from our team will contact you.")


def test_case_notices_name_the_country_in_the_readers_language() -> None:
    assert texts.assignment_notice("en", "2026-000123", "IT") == (
        "New case 2026-000123 assigned to your station (Italy). Open the app.")
    assert "意大利" in texts.assignment_notice("zh_Hans", "2026-000123", "it")
    assert texts.assignment_notice("en", "2026-000123", None) == (
        "New case 2026-000123 assigned to your station. Open the app.")
    assert "(XQ)" in texts.assignment_notice("en", "2026-000123", "xq")
    assert texts.escalation_notice("de", "2026-000124", "P2", 130) == (
        "Fall 2026-000124 (P2) ist 2 Stunden überfällig. Bitte App öffnen.")
    assert texts.escalation_notice("zh_Hans", "2026-000124", "P1", 45) == (
        "案件2026-000124（P1）已超时45分钟，请打开应用处理。")
