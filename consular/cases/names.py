"""Normalised forms of a person's name, so one person written as 张伟, "ZHANG WEI", "Wei Zhang" or
"zhāng wěi" gives at least one equal key; the keys are stored only as keyed hashes.

Keys: the characters as typed (spaces and the middle dot of transliterated names removed); their
pinyin without tones, surname first and given name first (every reading of the surname
character, since 单, 曾, 解… read differently as surnames; ü as u, v and yu, as passports write
吕 as LU, LV or LYU); the Latin spelling folded to lower-case ASCII without spaces, hyphens or
apostrophes, in both name orders. A traditional-character name meets its simplified twin through
the pinyin keys.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Iterable

from pypinyin import Style, lazy_pinyin, pinyin

from consular.db import keyring

MIN_KEY_LENGTH = 2
MAX_SURNAME_READINGS = 4
COMPOUND_SURNAMES = frozenset({
    "欧阳", "司马", "诸葛", "上官", "东方", "皇甫", "尉迟", "公孙", "慕容", "令狐", "夏侯", "长孙",
    "宇文", "司徒", "端木", "轩辕", "独孤", "南宫", "西门", "百里", "呼延", "澹台", "公冶", "太史",
    "申屠", "钟离", "闻人", "赫连", "万俟", "濮阳", "淳于", "单于", "司空", "歐陽", "司馬", "諸葛",
    "東方", "尉遲", "公孫", "長孫", "軒轅", "獨孤", "鍾離", "聞人", "赫連", "濮陽",
})

_SEPARATORS_RE = re.compile(r"[\s·•‧・.,，。'’‘`´\-‐‑–—_/]+")
_LATIN_TOKEN_RE = re.compile(r"[\s,，]+")


def is_han(ch: str) -> bool:
    return "\u3400" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff" or "\U00020000" <= ch <= "\U0003134f"


def has_han(text: str) -> bool:
    return any(is_han(ch) for ch in text)


def fold_latin(text: str) -> str:
    """Lower-case ASCII letters only: accents and tone marks dropped, ü → u, separators gone."""
    decomposed = unicodedata.normalize("NFKD", text)
    kept = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return "".join(ch for ch in kept.lower() if ch.isascii() and ch.isalnum())


def _u_variants(token: str) -> set[str]:
    """A syllable written with ü (or pypinyin's v) in the three ways passports and people do."""
    if "ü" in token or "v" in token:
        base = token.replace("ü", "v")
        return {base, base.replace("v", "u"), base.replace("v", "yu")}
    return {token}


def _syllable_variants(tokens: Iterable[str]) -> list[set[str]]:
    return [{fold_latin(v) for v in _u_variants(t.lower())} - {""} or {""} for t in tokens]


def _join_all(parts: list[set[str]], limit: int = 32) -> set[str]:
    out: set[str] = set()
    for combo in itertools.islice(itertools.product(*(sorted(p) for p in parts)), limit):
        out.add("".join(combo))
    return out


def _han_keys(name: str) -> set[str]:
    text = _SEPARATORS_RE.sub("", unicodedata.normalize("NFKC", name))
    if not text:
        return set()
    keys = {text.lower()}
    if not has_han(text):
        return keys
    surname_len = 2 if text[:2] in COMPOUND_SURNAMES and len(text) > 2 else 1
    surname, given = text[:surname_len], text[surname_len:]
    # Every reading of the surname characters (heteronyms), the given name read in context.
    surname_parts: list[set[str]] = []
    for readings in pinyin(surname, style=Style.NORMAL, heteronym=True, errors="default"):
        options = {fold_latin(r) for r in readings[:MAX_SURNAME_READINGS]} - {""}
        surname_parts.append(set().union(*(_u_variants(o) for o in options)) if options else {""})
    given_parts = _syllable_variants(lazy_pinyin(given, style=Style.NORMAL, errors="default")) \
        if given else []
    surnames = _join_all(surname_parts)
    givens = _join_all(given_parts) if given_parts else {""}
    for s, g in itertools.product(surnames, givens):
        keys.add(fold_latin(s + g))
        if g:
            keys.add(fold_latin(g + s))
    return keys


def _latin_keys(name: str) -> set[str]:
    text = unicodedata.normalize("NFKC", name).strip()
    if re.search(r"[,，]", text):  # "ZHANG, WEI": the surname before the comma
        tokens = [t for t in re.split(r"[,，]", text, maxsplit=1) if fold_latin(t)]
    else:
        tokens = [t for t in _LATIN_TOKEN_RE.split(text) if fold_latin(t)]
    folded = [fold_latin(t) for t in tokens]
    if not folded:
        return set()
    orders = [folded, folded[::-1]]
    if len(folded) > 2:  # "Zhang Xiao Ming" ↔ "Xiao Ming Zhang"
        orders += [folded[1:] + folded[:1], folded[-1:] + folded[:-1]]
    return {"".join(order) for order in orders}


def name_keys(name_zh: str | None, name_latin: str | None) -> set[str]:
    """Every normalised form of the name (plain text, never stored: see :func:`name_hashes`)."""
    keys: set[str] = set()
    if name_zh and name_zh.strip():
        if has_han(name_zh):
            keys |= _han_keys(name_zh)
        else:  # a Latin name typed into the Chinese field is still a name
            keys |= _latin_keys(name_zh)
    if name_latin and name_latin.strip():
        if has_han(name_latin):
            keys |= _han_keys(name_latin)
        else:
            keys |= _latin_keys(name_latin)
    return {k for k in keys if len(k) >= MIN_KEY_LENGTH}


def hash_keys(keys: Iterable[str]) -> set[str]:
    ring = keyring()
    return {ring.search_hash(key, "name") for key in keys}


def name_hashes(name_zh: str | None, name_latin: str | None) -> set[str]:
    return hash_keys(name_keys(name_zh, name_latin))


def query_name_hashes(query: str) -> set[str]:
    """Hashes to look a typed search up with, in whatever script it was typed."""
    return name_hashes(query, None) if has_han(query) else name_hashes(None, query)
