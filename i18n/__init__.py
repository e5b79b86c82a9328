"""Locale negotiation and locale-aware formatting (country names, dates, numbers) with Babel.

The interface speaks Simplified Chinese by default and English completely; catalogs live in
``i18n/translations`` and are compiled by the setup (``make i18n-compile``), never committed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date as _babel_format_date
from babel.dates import format_datetime as _babel_format_datetime
from babel.numbers import format_decimal
from flask import current_app, g, has_request_context, request, session
from flask_babel import get_locale as babel_get_locale
from flask_babel import get_translations

TRANSLATIONS_DIR = Path(__file__).parent / "translations"
UI_LOCALES: dict[str, str] = {"zh_Hans": "简体中文", "en": "English"}
# The public pages (self-enrolment) speak more languages than the staff's interface: each has a
# ``messages`` catalog whose public strings are complete (the rest falls back to English).
PUBLIC_LOCALES: dict[str, str] = {"zh_Hans": "简体中文", "zh_Hant": "繁體中文", "en": "English",
                                  "it": "Italiano", "fr": "Français", "es": "Español"}
PUBLIC_BLUEPRINTS = frozenset({"enrol"})
_PUBLIC_SESSION_KEY = "public_locale"


def _public_locale(default: str) -> str:
    """A public page's language: ``?lang=`` (kept for the visit), the visitor's earlier choice,
    then Accept-Language (``zh-TW``/``zh-HK``/``zh-Hant`` read as Traditional Chinese)."""
    asked = request.args.get("lang", "")
    if asked in PUBLIC_LOCALES:
        session[_PUBLIC_SESSION_KEY] = asked
        return asked
    chosen = session.get(_PUBLIC_SESSION_KEY)
    if chosen in PUBLIC_LOCALES:
        return str(chosen)
    for tag, _quality in request.accept_languages:
        parts = tag.replace("_", "-").split("-")
        language = parts[0].lower()
        rest = {p.lower() for p in parts[1:]}
        if language == "zh":
            return "zh_Hant" if rest & {"hant", "tw", "hk", "mo"} else "zh_Hans"
        if language in PUBLIC_LOCALES:
            return language
    return default


def select_locale() -> str:
    """The user's saved choice → this browser's choice → Accept-Language → the default."""
    default: str = current_app.extensions["consular.settings"].default_locale
    if not has_request_context():
        return default
    if request.blueprint in PUBLIC_BLUEPRINTS:
        return _public_locale(default)
    user = getattr(g, "user", None)
    if user is not None and user.locale in UI_LOCALES:
        return str(user.locale)
    chosen = session.get("locale")
    if chosen in UI_LOCALES:
        return str(chosen)
    best = request.accept_languages.best_match(["zh-Hans", "zh-CN", "zh", "en"])
    if best is None:
        return default
    return "en" if best == "en" else "zh_Hans"


def remembered_gettext(limit: int = 20_000) -> Callable[[str], str]:
    """``gettext`` for the templates, remembering each message's translation per locale: a page
    asks for dozens of fixed messages, and each look-up through Flask-Babel finds the locale,
    the domain and the catalog again. The catalogs do not change while the app runs (Flask-Babel
    keeps them for its lifetime too); ``limit`` bounds what is kept."""
    seen: dict[tuple[Locale | None, str], str] = {}

    def gettext(message: str) -> str:
        key = (babel_get_locale(), message)
        try:
            return seen[key]
        except KeyError:
            text: str = get_translations().ugettext(message)
            if len(seen) < limit:
                seen[key] = text
            return text

    return gettext


def label_lookup(labels: Mapping[Any, object]) -> Callable[[Any], str]:
    """The label ``labels`` gives a key (a lazy text, in the reader's language), or the key itself
    when it has none."""
    return lambda key: str(labels.get(key, key))


def current_locale() -> Locale:
    loc = babel_get_locale()
    return loc if loc is not None else Locale.parse("zh_Hans")


def country_name(code: str | None, locale: Locale | str | None = None) -> str:
    if not code:
        return ""
    loc = Locale.parse(locale) if locale is not None else current_locale()
    return str(loc.territories.get(code.upper(), code.upper()))


def country_choices(locale: Locale | str | None = None) -> list[tuple[str, str]]:
    """ISO 3166-1 alpha-2 countries (no regions like 001 or 150), sorted by localised name."""
    loc = Locale.parse(locale) if locale is not None else current_locale()
    items = [
        (code, str(name))
        for code, name in loc.territories.items()
        if len(code) == 2 and code.isalpha() and code not in {"ZZ", "EU", "EZ", "UN", "QO", "XA", "XB", "XK"}
    ]
    return sorted(items, key=lambda item: item[1])


def is_country_code(code: str) -> bool:
    return code.upper() in {c for c, _ in country_choices("en")}


def format_dt(value: datetime | None, tz: str | None = None, fmt: str = "medium") -> str:
    """A UTC datetime shown in ``tz`` (default: the office's zone), in the viewer's locale."""
    if value is None:
        return ""
    zone = tz or current_app.extensions["consular.settings"].office_timezone
    return str(_babel_format_datetime(value, format=fmt, tzinfo=ZoneInfo(zone),
                                      locale=current_locale()))


def format_day(value: date | None, fmt: str = "medium") -> str:
    """A calendar day (an activity's, a due date) in the viewer's locale."""
    if value is None:
        return ""
    return str(_babel_format_date(value, format=fmt, locale=current_locale()))


def format_number(value: float | int) -> str:
    return str(format_decimal(value, locale=current_locale()))


def plural_count(value: float | int) -> int:
    """The whole number ``ngettext`` chooses a plural form by, for a measure that may have a
    fraction (a rate of 0.5 segments per second): gettext's plural rules take whole numbers only.
    A fraction counts as 2, which is the plural in English (CLDR: "1.5 hours") and changes nothing
    in Chinese (one form)."""
    return int(value) if float(value).is_integer() else 2


def language_name(code: str, locale: Locale | str | None = None) -> str:
    """A language tag (``zh``, ``zh-Hant``, ``pt_BR``) named in the reader's language."""
    loc = Locale.parse(locale) if locale is not None else current_locale()
    try:
        return str(Locale.parse(code.replace("_", "-"), sep="-").get_display_name(loc) or code)
    except (ValueError, TypeError):
        return code
