"""A registrant's number: found by its keyed hash (``consular.phones`` reads and hashes numbers the
same way for every table), and the keyed hash of a name for exact-match search."""

from __future__ import annotations

import sqlalchemy as sa

from consular import phones
from consular.db import db, keyring
from consular.registry.models import Registrant


def name_key(name: str) -> str:
    """The keyed hash of a name for exact-match search (case and spaces ignored)."""
    return keyring().search_hash(name, "registrant_name")


def find_by_phone(e164: str) -> Registrant | None:
    """The current registration of a number (E.164; another international spelling is
    normalised first), or None. For the alerts side: inbound STOP/START/HELP and replies."""
    number = phones.normalise_or_none(e164) or e164.strip()
    return db.session.scalar(sa.select(Registrant).where(
        Registrant.current_phone_hash == phones.search_hash(number)))
