"""The languages alert texts are written in: a tag or a language's name read as one of them, and
a language named for the reader.
"""

from __future__ import annotations

import re
from functools import cache, lru_cache

from babel import Locale

import i18n
from consular.network.checks import normalise_language

# The languages alert texts are written in (the alerts side keeps the same list: the registry
# cannot import it, since ``consular`` never imports ``alerts``).
SMS_LOCALES: tuple[str, ...] = ("zh_Hans", "zh_Hant", "en", "it", "fr", "es", "de", "pt", "ru", "ja",
                                "ko", "ar")


_CHINESE_REGIONS_TRADITIONAL = {"TW", "HK", "MO"}


@lru_cache(maxsize=256)
def normalise_sms_locale(tag: str) -> str:
    """One of ``SMS_LOCALES`` for a language tag: ``zh``, ``zh-CN``, ``zh_Hans`` → zh_Hans;
    ``zh-TW``, ``zh-HK``, ``zh-Hant`` → zh_Hant; ``pt-BR`` → pt; ``EN`` → en. Raises ValueError
    for anything else."""
    if not isinstance(tag, str):
        raise ValueError(tag)
    parts = normalise_language(tag).split("-")  # well-formed and known to Babel, or ValueError
    language, rest = parts[0], parts[1:]
    script = rest[0] if rest and len(rest[0]) == 4 else ""
    region = rest[-1] if rest and len(rest[-1]) != 4 else ""
    if language == "zh":
        if script == "Hant" or (not script and region in _CHINESE_REGIONS_TRADITIONAL):
            return "zh_Hant"
        if script in ("", "Hans"):
            return "zh_Hans"
        raise ValueError(tag)
    if language in SMS_LOCALES and not script:
        return language
    raise ValueError(tag)


@cache
def _language_names() -> dict[str, str]:
    """Lower-cased language names (in Chinese, English and each language itself) → SMS locale."""
    names: dict[str, str] = {}
    for code in reversed(SMS_LOCALES):  # zh_Hans last, so plain "中文" / "Chinese" is simplified
        locale = Locale.parse(code)
        for reader in ("zh_Hans", "zh_Hant", "en", code):
            for name in (locale.get_display_name(reader), locale.get_language_name(reader)):
                if name:
                    names[name.casefold()] = code
    extra = {"简体中文": "zh_Hans", "中文简体": "zh_Hans", "简体": "zh_Hans", "汉语": "zh_Hans",
             "普通话": "zh_Hans", "华语": "zh_Hans", "繁体中文": "zh_Hant", "繁體中文": "zh_Hant",
             "中文繁体": "zh_Hant", "繁体": "zh_Hant", "繁體": "zh_Hant", "英文": "en",
             "意大利文": "it", "法文": "fr", "西班牙文": "es", "德文": "de", "葡萄牙文": "pt",
             "俄文": "ru", "日文": "ja", "韩文": "ko", "韓文": "ko", "阿拉伯文": "ar"}
    names.update(extra)
    return names


def language_from_text(value: str) -> str:
    """An SMS locale from a tag (``zh-CN``) or a language's name in Chinese, English or itself
    (``中文``, ``English``, ``italiano``, ``意大利语``). Raises ValueError."""
    try:
        return normalise_sms_locale(value)
    except ValueError:
        pass
    found = _language_names().get(re.sub(r"\s+", " ", value.strip()).casefold())
    if found is None:
        raise ValueError(value)
    return found


def language_label(code: str, reader: Locale | str | None = None) -> str:
    """A language named in itself, and in the reader's language when that differs:
    "italiano · 意大利语", "中文 (简体)"."""
    locale = Locale.parse(code)
    native = locale.get_display_name(code) or code
    shown = i18n.language_name(code.replace("_", "-"), reader)
    return native if shown.casefold() == native.casefold() else f"{native} · {shown}"
