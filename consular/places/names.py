"""How place names compare: "São Paulo", "sao  paulo" and "SAO-PAULO" are one key."""

from __future__ import annotations

import re
import unicodedata

_SUFFIXES = ("市", " city")
_DROP = re.compile(r"[\W_]+", re.UNICODE)


def normalise_place(name: str) -> str:
    """Case-, accent-, space- and punctuation-insensitive form of a place name ("São Paulo",
    "sao  paulo" and "SAO-PAULO" are one key); a trailing "市" or " City" is dropped."""
    text = unicodedata.normalize("NFKC", name).strip().casefold()
    for suffix in _SUFFIXES:
        if text.endswith(suffix) and len(text) > len(suffix):
            text = text[: -len(suffix)]
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _DROP.sub("", bare)
