"""Splits a text into graphemes exactly as Twilio's segment calculator does.

The calculator (npm ``sms-segments-calculator``, our reference for what a text costs) never cuts a
grapheme between two UCS-2 parts, and finds graphemes with ``grapheme-splitter`` 1.0.4, which
follows the Unicode 10.0 rules. Current libraries (``regex``'s ``\\X``, ``grapheme``, ICU's
``Intl.Segmenter``) follow later rules and disagree with it where it matters for billing: a
Devanagari conjunct (क्ष is two graphemes for it, one for them), a ZWJ sequence whose second
emoji came after 2017 (🧑‍🤝‍🧑, ❤️‍🔥), a skin tone on a newer emoji (🥷🏽). So this module applies
grapheme-splitter's own rules, transcribed from its source, to its own break classes
(``alerts.channels.sms.grapheme_table``, generated from the pinned package by
``scripts/segments-corpus/generate.js``); ``tests/data/sms_segments_corpus.json`` checks the result
against the calculator. The browser uses the same pinned splitter (``static/vendor``).

As the calculator does, a CR LF pair is returned as two graphemes.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Sequence

from alerts.channels.sms.grapheme_table import (
    CLASSES,
    CONTROL,
    CR,
    E_BASE,
    E_BASE_GAZ,
    E_MODIFIER,
    EXTEND,
    GLUE_AFTER_ZWJ,
    LF,
    LV,
    LVT,
    OTHER,
    PREPEND,
    REGIONAL_INDICATOR,
    SPACINGMARK,
    STARTS,
    ZWJ,
    L,
    T,
    V,
)

__all__ = ["break_class", "split_graphemes"]

# Results of grapheme-splitter's shouldBreak: only NOT_BREAK keeps two code points together.
NOT_BREAK, BREAK_START, BREAK, BREAK_LAST_REGIONAL, BREAK_PENULTIMATE_REGIONAL = 0, 1, 2, 3, 4

# Code points whose class can join them to a neighbour. Where none occurs (plain Latin, Cyrillic,
# Greek, CJK…) every code point is a grapheme (a CR LF pair too, as the calculator counts it) and
# the rules need not run.
def _joining_pattern() -> re.Pattern[str]:
    ends = [*STARTS[1:], 0x110000]
    ranges = [f"{re.escape(chr(start))}-{re.escape(chr(end - 1))}"
              for start, end, cls in zip(STARTS, ends, CLASSES, strict=True)
              if cls not in (OTHER, CR, LF, CONTROL)]
    return re.compile("[" + "".join(ranges) + "]")


_JOINING = _joining_pattern()


def break_class(code_point: int) -> int:
    """The grapheme break class grapheme-splitter gives ``code_point``."""
    return CLASSES[bisect_right(STARTS, code_point) - 1]


def _last_index(values: Sequence[int], value: int) -> int:
    for i in range(len(values) - 1, -1, -1):
        if values[i] == value:
            return i
    return -1


def _should_break(start: int, mid: list[int], end: int) -> int:  # noqa: C901 (one rule per branch)
    """grapheme-splitter 1.0.4's ``shouldBreak``, rule for rule (its quirks included)."""
    every = [start, *mid, end]
    previous, following = every[-2], end

    # Look-ahead terminator for GB10: (E_Base | EBG) Extend* × E_Modifier
    e_modifier = _last_index(every, E_MODIFIER)
    if e_modifier > 1 and all(c == EXTEND for c in every[1:e_modifier]) \
            and start not in (EXTEND, E_BASE, E_BASE_GAZ):
        return BREAK
    # Look-ahead terminator for GB12 and GB13 (pairs of regional indicators)
    regional = _last_index(every, REGIONAL_INDICATOR)
    if regional > 0 and all(c == REGIONAL_INDICATOR for c in every[1:regional]) \
            and previous not in (PREPEND, REGIONAL_INDICATOR):
        if every.count(REGIONAL_INDICATOR) % 2 == 1:
            return BREAK_LAST_REGIONAL
        return BREAK_PENULTIMATE_REGIONAL

    if previous == CR and following == LF:  # GB3
        return NOT_BREAK
    if previous in (CONTROL, CR, LF):  # GB4
        if following == E_MODIFIER and all(c == EXTEND for c in mid):
            return BREAK
        return BREAK_START
    if following in (CONTROL, CR, LF):  # GB5
        return BREAK_START
    if previous == L and following in (L, V, LV, LVT):  # GB6
        return NOT_BREAK
    if previous in (LV, V) and following in (V, T):  # GB7
        return NOT_BREAK
    if previous in (LVT, T) and following == T:  # GB8
        return NOT_BREAK
    if following in (EXTEND, ZWJ):  # GB9
        return NOT_BREAK
    if following == SPACINGMARK:  # GB9a
        return NOT_BREAK
    if previous == PREPEND:  # GB9b
        return NOT_BREAK

    # GB10: (E_Base | EBG) Extend* × E_Modifier
    before = _last_index(every, EXTEND) - 1 if EXTEND in every else len(every) - 2
    base = every[before] if before >= 0 else None  # JavaScript's all[-1] is undefined
    if base in (E_BASE, E_BASE_GAZ) and all(c == EXTEND for c in every[before + 1:-1]) \
            and following == E_MODIFIER:
        return NOT_BREAK
    # GB11: ZWJ × (Glue_After_Zwj | EBG)
    if previous == ZWJ and following in (GLUE_AFTER_ZWJ, E_BASE_GAZ):
        return NOT_BREAK
    # GB12, GB13
    if REGIONAL_INDICATOR in mid:
        return BREAK
    if previous == REGIONAL_INDICATOR and following == REGIONAL_INDICATOR:
        return NOT_BREAK
    return BREAK_START  # GB999


def _next_break(classes: Sequence[int], index: int) -> int:
    """grapheme-splitter's ``nextBreak``, over code points rather than UTF-16 units."""
    if index >= len(classes) - 1:
        return len(classes)
    start, mid = classes[index], list[int]()
    for i in range(index + 1, len(classes)):
        following = classes[i]
        if _should_break(start, mid, following):
            return i
        mid.append(following)
    return len(classes)


def _join_surrogates(text: str) -> str:
    """A surrogate pair left as two code points (possible in a Python str) is one character, as
    in JavaScript; a lone surrogate stays as it is."""
    if not any("\ud800" <= ch <= "\udfff" for ch in text):
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")


def split_graphemes(text: str) -> list[str]:
    """The graphemes of ``text`` as Twilio's calculator sees them (a CR LF pair is two)."""
    text = _join_surrogates(text)
    if not _JOINING.search(text):
        return list(text)
    classes = [break_class(ord(ch)) for ch in text]
    out: list[str] = []
    index = 0
    while index < len(text):
        end = _next_break(classes, index)
        grapheme = text[index:end]
        out.extend(("\r", "\n") if grapheme == "\r\n" else (grapheme,))
        index = end
    return out
