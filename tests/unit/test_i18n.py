"""Every UI string is translated into both interface languages (and every string of the public
self-enrolment page into each of its six), and users get their language."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from consular.auth.models import Role
from i18n import PUBLIC_LOCALES

ROOT = Path(__file__).parents[2]
TRANSLATIONS = ROOT / "i18n" / "translations"
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|%[sd]|\{\w*\}")


def source_messages(under: str = "") -> dict[str, str]:
    """Every msgid of the source (``under``: only those used in files below that folder)."""
    with open(ROOT / "i18n" / "babel.cfg", encoding="utf-8") as fh:
        method_map, options_map = parse_mapping_cfg(fh)
    keywords = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None}
    found: dict[str, str] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=keywords
    ):
        # A plural (ngettext) is one catalog entry, keyed by its singular.
        msgid = message[0] if isinstance(message, tuple) else message
        if msgid and filename.replace("\\", "/").startswith(under):
            found.setdefault(msgid, f"{filename}:{lineno}")
    return found


# Strings of other packages the public page shows: the registry's checks of the fields it shares
# with the officers' forms, and the form-expired answer.
PUBLIC_SHARED = (
    "%(country)s has several time zones: enter the city or choose the zone.",
    "%(zone)s is not a time zone of %(country)s. Choose one from the list.",
    "At most %(num)d character.", "Choose a country", "Choose one of the alert languages: %(choices)s.",
    "Choose one of: %(choices)s.", "City", "Continue", "Enter text.", "Language", "Mobile number",
    "Not a country code. Use the two-letter ISO code, for example IT.",
    "Not a date. Use the form 2025-09-30.",
    "Not a valid phone number. Use the international format, for example %(example)s.",
    "Remove the control characters or text-direction overrides from this field.",
    "The stay cannot end before it starts.", "This field is required.",
    "This is a landline number: text messages cannot reach it. Enter a mobile number.",
    "This number cannot receive text messages (a toll-free, premium or service number). Enter a "
    "mobile number.",
    "Time zone", "Unknown or read-only field.",
    "We cannot tell the time zone of %(city)s. Choose it from the list.",
    "Your form expired or was not sent from this site. Please reload the page and try again.",
)


def public_messages() -> dict[str, str]:
    found = source_messages("alerts/enrolment/")
    for msgid in PUBLIC_SHARED:
        found.setdefault(msgid, "shared")
    return found


@pytest.mark.parametrize("locale", ["zh_Hans", "en"])
def test_every_ui_string_has_a_translation(locale: str) -> None:
    missing = catalog_problems(locale, source_messages())
    assert not missing, f"{len(missing)} problem(s) in {locale}:\n" + "\n".join(missing[:40])


@pytest.mark.parametrize("locale", sorted(PUBLIC_LOCALES))
def test_every_public_page_string_has_a_translation(locale: str) -> None:
    """The other strings of the new catalogs may stay empty (they fall back to English)."""
    messages = public_messages()
    assert len(messages) > 60 and "Register for safety alerts" in messages
    missing = catalog_problems(locale, messages)
    assert not missing, f"{len(missing)} problem(s) in {locale}:\n" + "\n".join(missing[:40])


def catalog_problems(locale: str, messages: dict[str, str]) -> list[str]:
    path = TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po"
    with open(path, "rb") as fh:
        catalog = read_po(fh, locale=locale)
    missing = []
    for msgid, where in sorted(messages.items()):
        entry = catalog.get(msgid)
        if entry is None:
            missing.append(f"{where}: not in catalog: {msgid!r}")
            continue
        strings = entry.string if isinstance(entry.string, tuple) else (entry.string,)
        if entry.fuzzy or not all(strings):
            missing.append(f"{where}: untranslated or fuzzy: {msgid!r}")
            continue
        if entry.pluralizable:
            # A plural's forms may drop the count ("A similar case…") but use nothing else.
            allowed = set(PLACEHOLDER.findall(entry.id[0])) | set(PLACEHOLDER.findall(entry.id[1]))
            for s in strings:
                if not set(PLACEHOLDER.findall(s)) <= allowed:
                    missing.append(f"{where}: unknown placeholder: {msgid!r} → {s!r}")
            continue
        for s in strings:
            if sorted(PLACEHOLDER.findall(s)) != sorted(PLACEHOLDER.findall(msgid)):
                missing.append(f"{where}: placeholders differ: {msgid!r} → {s!r}")
    return missing


def test_chinese_catalog_is_really_chinese() -> None:
    with open(TRANSLATIONS / "zh_Hans" / "LC_MESSAGES" / "messages.po", "rb") as fh:
        catalog = read_po(fh, locale="zh_Hans")
    # Every translation that contains letters should contain CJK characters (or be a code/name).
    latin_only = [m.id for m in catalog if m.id and isinstance(m.string, str) and m.string
                  and re.search(r"[A-Za-z]{4,}", m.string) and not re.search(r"[\u4e00-\u9fff]",
                                                                            m.string)]
    assert len(latin_only) <= 8, latin_only


def test_compiled_catalogs_are_built_by_setup() -> None:
    for locale in PUBLIC_LOCALES:
        assert (TRANSLATIONS / locale / "LC_MESSAGES" / "messages.mo").exists(), (
            "run `make i18n-compile` (part of `make setup`)"
        )


def test_default_language_is_chinese_and_english_is_complete(client, make_user) -> None:
    page = client.get("/login").get_data(as_text=True)
    assert "登录" in page and "Log in" not in page
    en = client.get("/login", headers={"Accept-Language": "en-GB,en;q=0.9"}).get_data(as_text=True)
    assert "Log in" in en and "登录" not in en.replace('lang="zh-Hans">简体中文', "")


def test_users_choice_is_remembered_across_sessions(app, make_user, logged_in) -> None:
    user = make_user(Role.coordinator)
    first = logged_in(user)
    assert first.post("/language", {"locale": "en", "next": "/"}).status_code == 302
    second = logged_in(user)  # a new browser, same user
    assert "Welcome" in second.get("/").get_data(as_text=True)
    assert first.post("/language", {"locale": "zh_Hans", "next": "/"}).status_code == 302
    assert "欢迎" in second.get("/").get_data(as_text=True)


def test_unknown_language_is_a_clear_400(browser) -> None:
    response = browser.post("/language", {"locale": "xx"})
    assert response.status_code == 400


def test_language_switch_does_not_redirect_off_site(browser) -> None:
    response = browser.post("/language", {"locale": "en", "next": "https://evil.example/"})
    assert response.status_code == 302
    assert response.headers["Location"] in ("/", "http://localhost/")


def test_country_names_and_dates_follow_the_viewer(app) -> None:
    from datetime import UTC, datetime

    from flask_babel import force_locale

    from i18n import country_name, format_dt

    moment = datetime(2026, 3, 1, 16, 30, tzinfo=UTC)
    with app.test_request_context("/"):
        with force_locale("zh_Hans"):
            assert country_name("IT") == "意大利"
            assert "2026年3月2日" in format_dt(moment)  # 00:30 next day in Shanghai
        with force_locale("en"):
            assert country_name("IT") == "Italy"
            assert format_dt(moment, tz="Europe/Rome").startswith("Mar 1, 2026")
