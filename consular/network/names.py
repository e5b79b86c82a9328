"""The names of the network's places (liaison points, stations, missions, the centre) in each
language a message or a page may be in, and the order in which a missing name falls back.

A place has ``name`` (Simplified Chinese, required), ``name_en`` (English) and ``names``, a map of
the other languages (the SMS locales zh_Hant, it, fr, es, de, pt, ru, ja, ko, ar) to a name. The
name in a language is:

- Simplified Chinese: ``name``.
- Traditional Chinese: its own, else ``name`` converted by OpenCC (Simplified to Traditional
  characters, a maintained converter), so that Traditional text never carries Simplified names.
- English: ``name_en``, else ``name``.
- Any other language: its own, else the English name, else ``name``.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any, Protocol

import opencc

# The languages a place may be named in besides Simplified Chinese (``name``) and English
# (``name_en``): the SMS locales (``alerts.channels.sms.texts.SMS_LOCALES``) less those two.
NAME_LOCALES: tuple[str, ...] = ("zh_Hant", "it", "fr", "es", "de", "pt", "ru", "ja", "ko", "ar")
_TRADITIONAL_REGIONS = {"tw", "hk", "mo"}


class Named(Protocol):
    name: str
    name_en: str
    names: dict[str, str]


@functools.cache
def _simplified_to_traditional() -> Any:
    return opencc.OpenCC("s2t")


def traditional(text: str) -> str:
    """Simplified Chinese characters written in Traditional ones (OpenCC's s2t)."""
    return str(_simplified_to_traditional().convert(text)) if text else text


def name_language(tag: str | None) -> str:
    """The language a name is looked up in for a locale tag: ``zh_Hans``, ``zh_Hant``, ``en`` or
    the bare language (``it`` for ``it_IT``); Simplified Chinese for none."""
    parts = [p.lower() for p in (tag or "").strip().replace("-", "_").split("_") if p]
    if not parts or parts[0] in {"zh", "cmn", "yue"}:
        rest = set(parts[1:])
        if "hans" in rest:
            return "zh_Hans"
        if "hant" in rest or (parts and parts[0] == "yue") or _TRADITIONAL_REGIONS & rest:
            return "zh_Hant"
        return "zh_Hans"
    return parts[0]


def name_in(name: str, name_en: str, names: Mapping[str, str] | None, locale: str | None) -> str:
    """The place's name in ``locale``, by the fallback order of this module's docstring."""
    language = name_language(locale)
    own = (names or {}).get(language, "")
    if language == "zh_Hans":
        return name
    if language == "zh_Hant":
        return own or traditional(name)
    if language == "en":
        return name_en or name
    return own or name_en or name


def place_name(place: Named, locale: str | None) -> str:
    """``name_in`` for a point, station, mission or the centre."""
    return name_in(place.name, place.name_en, place.names, locale)
