"""Keyed hashes that make a person's sealed ID number and phone searchable by exact value (the
database never holds them in the clear); shared by the operations, the search and the duplicate
check."""

from __future__ import annotations

import re
import unicodedata

from consular.db import keyring


def normalise_id_number(raw: str) -> str:
    return re.sub(r"[\s\-]", "", unicodedata.normalize("NFKC", raw)).upper()


def id_number_hash(raw: str) -> str:
    return keyring().search_hash(normalise_id_number(raw), "id_number")


def phone_hash(e164: str) -> str:
    return keyring().search_hash(e164, "phone")
