"""Bad and hostile input for the bad-input sweeps: one value per class of trouble a user, a broken
client or an attacker sends, and helpers to put them into a form or a JSON body."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote_from_bytes

# Text that is not valid input anywhere, or is valid only as plain text (then stored as given and
# shown escaped).
SCRIPT = "<script>alert('x')</script>"
# Each value is one class of trouble; classes that cannot mask each other share a value, so a form
# is swept in a dozen requests.
HOSTILE_TEXT: dict[str, str] = {  # the likeliest to break something first
    "nul_and_control": "a\x00b\x01\x07\x1b[31mc\x7f",
    "long": "长" * 1500 + "e" + "\u0301" * 1500,  # over every length limit; a combining run
    "hostile_text": f"{SCRIPT}' OR 1=1 --; DROP TABLE cases; -- \u202egpj.exe 王Wáng Ван ﻭﺍﻧﻎ",
    "empty": "",
    "number_overflow": "9" * 40,
    "bad_date": "2026-02-30",
    "negative": "-1",
    "blank": " \t\u00a0\u3000\u200b\u2060\ufeff ",  # spaces and invisible characters only
    "bad_phone_country": "+00 000 XX",
}

# The same trouble in raw bytes (not text): sent as they are in a form or JSON body.
INVALID_UTF8 = b"\xff\xfe\xc3\x28\xa0\xa1"
GBK = "王小明".encode("gbk")

# Wrong JSON types, tried on every field of an API body.
WRONG_TYPES: dict[str, Any] = {"number": 12345, "bool": True, "object": {"zh": "名"}, "list": ["a"],
                               "null": None, "huge_list": ["x"] * 10_000}

# Whole bodies that are not a JSON object of fields.
JSON_BODIES: dict[str, tuple[bytes, str]] = {
    "no_body": (b"", "application/json"),
    "broken": (b'{"name": "x",', "application/json"),
    "list": (b"[1, 2, 3]", "application/json"),
    "string": (b'"just a string"', "application/json"),
    "null": (b"null", "application/json"),
    "deep": (b"[" * 100_000 + b"]" * 100_000, "application/json"),
    "invalid_utf8": (b'{"name": "' + INVALID_UTF8 + b'"}', "application/json"),
    "gbk": (b'{"name": "' + GBK + b'"}', "application/json"),
    "form_encoded": (b"name=x", "application/x-www-form-urlencoded"),
    "text": (b"name=x", "text/plain"),
}


def encode_form(fields: dict[str, Any]) -> bytes:
    """A urlencoded body from text or raw-byte values (a list value repeats the key), so that bytes
    which are not UTF-8 reach the server as they are."""
    parts: list[str] = []
    for key, value in fields.items():
        for item in value if isinstance(value, list) else [value]:
            raw = item if isinstance(item, bytes) else str(item).encode("utf-8")
            parts.append(f"{quote_from_bytes(key.encode())}={quote_from_bytes(raw)}")
    return "&".join(parts).encode("ascii")


def has_cjk(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)
