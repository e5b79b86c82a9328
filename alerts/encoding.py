"""How an SMS text is encoded and billed: GSM 03.38 (7-bit) or UCS-2, characters and segments.

The rules are the ones carriers bill by (3GPP TS 23.038 and TS 23.040):

- A text made only of characters from the GSM 7-bit default alphabet is sent as GSM-7. Characters
  of the basic table cost one septet; those of the extension table (``^ { } \\ [ ~ ] | €`` and form
  feed) are sent as ESC + character and cost two.
- Any other character forces the whole message into UCS-2, where every UTF-16 code unit counts:
  a character outside the Basic Multilingual Plane (most emoji) costs two.
- One segment holds 160 septets or 70 UCS-2 units. A longer message is split into parts that
  each carry a 6-byte concatenation header and so hold 153 septets or 67 units. An escape
  sequence or a surrogate pair is never split between two parts: when it does not fit in what is
  left of a part it moves to the next one, which is why the segment count is computed by packing
  rather than by dividing.

``consular/web/static/js/sms-counter.js`` implements the same algorithm for the compose screen;
``tests/unit/sms_vectors.json`` holds the cases both must agree on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

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
    units: int  # septets for GSM-7, UTF-16 code units for UCS-2: the characters as billed
    segments: int  # 0 for an empty text
    per_segment: int  # 160/153 (GSM-7) or 70/67 (UCS-2), as applies to this length
    remaining_in_segment: int  # what still fits before another segment is needed
    ucs2_chars: tuple[str, ...]  # distinct characters outside GSM-7, in order of appearance
    replaceable: dict[str, str] = field(default_factory=dict, hash=False)  # of those: GSM stand-in

    def as_dict(self) -> dict[str, Any]:
        """The same fields as ``SmsCounter.analyse`` returns in the browser (JSON-ready)."""
        return {
            "encoding": self.encoding,
            "units": self.units,
            "segments": self.segments,
            "per_segment": self.per_segment,
            "remaining_in_segment": self.remaining_in_segment,
            "ucs2_chars": list(self.ucs2_chars),
            "replaceable": dict(self.replaceable),
        }


def is_gsm7(char: str) -> bool:
    return char in GSM_BASIC or char in GSM_EXTENSION


def _pack(costs: list[int], single: int, multi: int) -> tuple[int, int, int]:
    """(segments, per_segment, remaining) for characters of the given costs."""
    units = sum(costs)
    if units == 0:
        return 0, single, single
    if units <= single:
        return 1, single, single - units
    segments, used = 1, 0
    for cost in costs:
        if used + cost > multi:  # an escape pair or a surrogate pair stays in one part
            segments, used = segments + 1, 0
        used += cost
    return segments, multi, multi - used


def analyse(text: str) -> SmsEncoding:
    """Encoding, billed units and segments of ``text`` exactly as it would be sent."""
    forcing = tuple(dict.fromkeys(ch for ch in text if not is_gsm7(ch)))
    if not forcing:
        costs = [2 if ch in GSM_EXTENSION else 1 for ch in text]
        encoding: Encoding = "GSM-7"
        single, multi = GSM_SINGLE, GSM_MULTI
    else:
        costs = [2 if ord(ch) > 0xFFFF else 1 for ch in text]
        encoding = "UCS-2"
        single, multi = UCS2_SINGLE, UCS2_MULTI
    segments, per_segment, remaining = _pack(costs, single, multi)
    return SmsEncoding(
        encoding=encoding,
        units=sum(costs),
        segments=segments,
        per_segment=per_segment,
        remaining_in_segment=remaining,
        ucs2_chars=forcing,
        replaceable={ch: LOOKALIKES[ch] for ch in forcing if ch in LOOKALIKES},
    )


def replace_lookalikes(text: str) -> str:
    """``text`` with every replaceable UCS-2 character swapped for its GSM-7 stand-in."""
    return "".join(LOOKALIKES.get(ch, ch) for ch in text)


def segments(text: str) -> int:
    return analyse(text).segments
