"""Cleaning an alert's text input: a line, a block of lines (as an SMS carries them), and whether
a text would show a reader nothing at all."""

from __future__ import annotations

import re
import unicodedata

from consular.validation import is_plain_text


def clean_line(value: str) -> str:
    return re.sub(r"[\t\r\n\v\f]+", " ", value).strip()


def clean_block(value: str) -> str:
    """Multi-line text (that follows ``consular.validation``'s rule): line ends made uniform,
    trailing spaces and tabs dropped (an SMS carries line breaks, nothing else)."""
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    value = "".join(ch for ch in value if ch == "\n" or unicodedata.category(ch) != "Cc")
    return "\n".join(line.rstrip() for line in value.split("\n")).strip()


def plain_block(value: str) -> str | None:
    """``clean_block``'s text, or ``None`` when ``value`` is not plain text."""
    return clean_block(value) if is_plain_text(value, multiline=True) else None


# Characters that show nothing although Python's str.isspace() says otherwise: the Hangul and
# Braille blanks, the combining grapheme joiner, the Mongolian vowel separator.
_SHOWS_NOTHING = frozenset("\u115f\u1160\u3164\uffa0\u2800\u034f\u180e")


def is_blank(text: str) -> bool:
    """True when ``text`` would show a reader nothing: only spaces of any width, line breaks,
    control and format characters (zero-width space and joiners, word joiner, byte-order mark,
    direction marks, soft hyphen), variation selectors and the like."""
    return all(ch.isspace() or ch in _SHOWS_NOTHING or "\ufe00" <= ch <= "\ufe0f"
               or unicodedata.category(ch) in ("Cc", "Cf", "Zs", "Zl", "Zp") for ch in text)
