"""Keyed hashes that make a person's sealed ID number searchable by exact value (the database
never holds it in the clear); shared by the operations, the search and the duplicate check. (A
phone's is ``consular.phones.search_hash``, the same for every table.)"""

from __future__ import annotations

import re
import unicodedata

from consular.db import keyring


def normalise_id_number(raw: str) -> str:
    return re.sub(r"[\s\-]", "", unicodedata.normalize("NFKC", raw)).upper()


def id_number_hash(raw: str) -> str:
    return keyring().search_hash(normalise_id_number(raw), "id_number")
