"""How an SMS text is encoded and billed: GSM 03.38 (7-bit) or UCS-2, characters and segments.

This is the one segment counter of the system: the compose screen, the cost and duration
estimates, the length check, the dispatcher's rate limit, the segments recorded for a delivery
and the gateways (console, fake Twilio) all call :func:`analyse` or :func:`count_segments`.
It counts as Twilio's segment calculator (npm ``sms-segments-calculator``, default options) does:

- A text made only of characters from the GSM 7-bit default alphabet is sent as GSM-7. Characters
  of the basic table cost one septet; those of the extension table (``^ { } \\ [ ~ ] | €`` and form
  feed) are sent as ESC + character and cost two.
- Any other character forces the whole message into UCS-2, where every UTF-16 code unit counts:
  a character outside the Basic Multilingual Plane (most emoji) costs two.
- One segment holds 140 octets: 160 septets or 70 UCS-2 units. A longer message is split into
  parts that each carry a 6-octet concatenation header and so hold 153 septets or 67 units.
- Nothing is cut between two parts: not an escape pair, and in UCS-2 not a grapheme (a flag, an
  emoji with its skin tone, a ZWJ family, a keycap, a letter with its combining accents, an Indic
  syllable), found as the calculator finds them (:mod:`alerts.channels.sms.graphemes`). When one
  does not fit in what is left of a part it moves whole to the next, which is why segments are
  counted by packing rather than by dividing. A CR LF pair counts as two characters that may be parted.
- An empty text is one (empty) segment, as the calculator says; the compose screen refuses it.

``consular/web/static/js/sms-counter.js`` implements the same algorithm for the compose screen.
``tests/data/sms_segments_corpus.json`` holds what the calculator reports for a few hundred texts
(both counters are tested against it); ``tests/unit/sms_vectors.json`` holds the cases of our own
additions (the characters that force UCS-2 and their GSM-7 stand-ins).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

from alerts.channels.sms.graphemes import split_graphemes

# The basic table in code-point order (0x00-0x7F); 0x1B is the escape to the extension table.
_BASIC_TABLE = (
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
GSM_BASIC: frozenset[str] = frozenset(_BASIC_TABLE) - {"\x1b"}
GSM_EXTENSION: frozenset[str] = frozenset("\f^{}\\[~]|€")

GSM_SINGLE, GSM_MULTI = 160, 153
UCS2_SINGLE, UCS2_MULTI = 70, 67

# Characters that force UCS-2 but have a GSM-7 stand-in a reader will not miss: typographic
# quotes, dashes, the ellipsis, invisible or special spaces. Letters are never "replaced" (an
# accent or a script is part of the text), and neither is CJK punctuation: a Chinese or Japanese
# text is UCS-2 anyway.
LOOKALIKES: dict[str, str] = {
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'",
    "\u02bc": "'", "\u00b4": "'", "`": "'", "\u2039": "'", "\u203a": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"',
    "\u00ab": '"', "\u00bb": '"',
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2015": "-",
    "\u2212": "-", "\u2022": "-",
    "\u2026": "...",
    "\u00a0": " ", "\u2000": " ", "\u2001": " ", "\u2002": " ", "\u2003": " ", "\u2004": " ",
    "\u2005": " ", "\u2006": " ", "\u2007": " ", "\u2008": " ", "\u2009": " ", "\u200a": " ",
    "\u202f": " ", "\u205f": " ", "\t": " ",
    "\u200b": "", "\u2060": "", "\ufeff": "", "\u00ad": "",
    "\u00d7": "x", "\u2044": "/",
}

Encoding = Literal["GSM-7", "UCS-2"]


@dataclass(frozen=True)
class SmsEncoding:
    """What a text costs: its encoding, billed units, segments and what forces UCS-2."""

    encoding: Encoding
    units: int  # septets for GSM-7, UTF-16 code units for UCS-2: the text as billed
    characters: int  # as the calculator counts them: septets (GSM-7) or graphemes (UCS-2)
    segments: int  # 1 for an empty text, as Twilio's calculator counts it
    segment_units: tuple[int, ...]  # units carried by each segment, in order
    per_segment: int  # 160/153 (GSM-7) or 70/67 (UCS-2), as applies to this length
    remaining_in_segment: int  # what still fits in the last segment before another is needed
    ucs2_chars: tuple[str, ...]  # distinct characters outside GSM-7, in order of appearance
    replaceable: dict[str, str] = field(default_factory=dict, hash=False)  # of those: GSM stand-in

    def as_dict(self) -> dict[str, Any]:
        """The same fields as ``SmsCounter.analyse`` returns in the browser (JSON-ready)."""
        return {
            "encoding": self.encoding,
            "units": self.units,
            "characters": self.characters,
            "segments": self.segments,
            "segment_units": list(self.segment_units),
            "per_segment": self.per_segment,
            "remaining_in_segment": self.remaining_in_segment,
            "ucs2_chars": list(self.ucs2_chars),
            "replaceable": dict(self.replaceable),
        }


def is_gsm7(char: str) -> bool:
    return char in GSM_BASIC or char in GSM_EXTENSION


def _pack(costs: list[int], single: int, multi: int) -> list[int]:
    """Units in each segment when characters (GSM-7) or graphemes (UCS-2) of the given costs are
    laid in order, as the calculator builds its segments: the first segment fills up to
    ``single``; when something does not fit, the first segment gets its header (keeping ``multi``
    units; what no longer fits moves on whole), and every later segment holds ``multi``."""
    parts: list[list[int]] = [[]]
    used = [0]
    for cost in costs:
        capacity = single if len(parts) == 1 else multi
        if capacity - used[-1] < cost:
            parts.append([])
            used.append(0)
            if len(parts) == 2:  # the first segment now carries a header: it holds less
                moved: list[int] = []
                while used[0] > multi:
                    last = parts[0].pop()
                    used[0] -= last
                    moved.insert(0, last)
                parts[1].extend(moved)
                used[1] += sum(moved)
        parts[-1].append(cost)
        used[-1] += cost
    return used


@lru_cache(maxsize=512)
def _count(text: str) -> tuple[Encoding, int, tuple[int, ...]]:
    """(encoding, characters, units per segment) of ``text``: the calculator's figures."""
    if all(is_gsm7(ch) for ch in text):
        # Every GSM-7 character is a grapheme of its own (a CR LF pair counts as two).
        costs = [2 if ch in GSM_EXTENSION else 1 for ch in text]
        used = _pack(costs, GSM_SINGLE, GSM_MULTI)
        return "GSM-7", sum(costs), tuple(used)
    # A grapheme costs its UTF-16 units: two for a character outside the Basic Multilingual Plane.
    costs = [len(g) + sum(1 for ch in g if ch > "\uffff") for g in split_graphemes(text)]
    return "UCS-2", len(costs), tuple(_pack(costs, UCS2_SINGLE, UCS2_MULTI))


def analyse(text: str) -> SmsEncoding:
    """Encoding, billed units, characters and segments of ``text`` exactly as it would be sent."""
    encoding, characters, segment_units = _count(text)
    gsm = encoding == "GSM-7"
    single, multi = (GSM_SINGLE, GSM_MULTI) if gsm else (UCS2_SINGLE, UCS2_MULTI)
    per_segment = single if len(segment_units) == 1 else multi
    forcing = () if gsm else tuple(dict.fromkeys(ch for ch in text if not is_gsm7(ch)))
    return SmsEncoding(
        encoding=encoding,
        units=sum(segment_units),
        characters=characters,
        segments=len(segment_units),
        segment_units=segment_units,
        per_segment=per_segment,
        remaining_in_segment=max(0, per_segment - segment_units[-1]),
        ucs2_chars=forcing,
        replaceable={ch: LOOKALIKES[ch] for ch in forcing if ch in LOOKALIKES},
    )


def count_segments(text: str) -> int:
    """How many SMS segments ``text`` takes (what the provider bills and the rate limit spends)."""
    return len(_count(text)[2])


def replace_lookalikes(text: str) -> str:
    """``text`` with every replaceable UCS-2 character swapped for its GSM-7 stand-in."""
    return "".join(LOOKALIKES.get(ch, ch) for ch in text)
