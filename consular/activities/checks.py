"""Input checks of the activities package: the network's field checks (``consular.network.operations``)
plus days, head counts, yes/no answers and lists of places, every problem collected before any is
reported, in the user's language."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from enum import StrEnum
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask_babel import gettext as _

from config import current_settings
from consular.db import MAX_ID, db
from consular.network.checks import _Input
from consular.registry.operations import parse_day
from consular.validation import day_of

E = TypeVar("E", bound=StrEnum)

EARLIEST = date(2000, 1, 1)
MAX_HEAD_COUNT = 100_000  # the largest audience one activity can have (an online talk)
MAX_PLACES = 200  # points or stations named in one activity
MAX_NOTES = 5000


class ActivityInputError(ValueError):
    """Input that cannot be saved; ``errors`` maps each field to a message for the user."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        super().__init__("; ".join(f"{key}: {message}" for key, message in errors.items()))
        self.errors = dict(errors)


class ActivityConflict(ValueError):
    """A change the present state does not allow; the message is for the user."""


def office_today() -> date:
    zone = ZoneInfo(current_settings().office_timezone)
    return datetime.now(zone).date()


class Check(_Input):
    """One mapping of field values, checked field by field."""

    def done(self) -> dict[str, Any]:
        if self.errors:
            raise ActivityInputError(self.errors)
        return self.out

    def enum(self, key: str, enum: type[E], allowed: Iterable[E] | None = None,
             *, required: bool = False) -> E | None:
        if key not in self.data or self.data[key] in (None, ""):
            if required:
                self.fail(key, _("This field is required."))
            elif key in self.data:
                self.out[key] = None
            return None
        raw = self.data[key]
        values = [member.value for member in (allowed if allowed is not None else enum)]
        value = raw.strip() if isinstance(raw, str) else raw
        if value not in values:
            self.fail(key, _("Choose one of: %(choices)s.", choices=", ".join(values)))
            return None
        self.out[key] = enum(value)
        return enum(value)

    def day(self, key: str, *, required: bool = False, past: bool = False,
            not_before: date | None = None, not_before_text: str = "") -> date | None:
        """A day written year first (2025-09-30, 2025年9月30日). ``past``: not after today (office
        time); ``not_before``: on or after that day, else ``not_before_text``."""
        if key not in self.data or self.data[key] in (None, ""):
            if required:
                self.fail(key, _("This field is required."))
            return None
        value = day_of(self.data[key], lambda text: parse_day(text) if len(text) <= 40 else None)
        if value is None:
            self.fail(key, _("Not a date. Use the form 2025-09-30."))
            return None
        return self.keep_unless(
            key, value, (value < EARLIEST, _("This date is too far in the past.")),
            (past and value > office_today(),
             _("This day has not come yet: log an activity once it was held.")),
            (not_before is not None and value < not_before, not_before_text))

    def count(self, key: str, *, maximum: int = MAX_HEAD_COUNT, required: bool = False) -> int | None:
        """A whole number from 0 to ``maximum`` (a form sends it as text)."""
        if key not in self.data or self.data[key] in (None, ""):
            if required:
                self.fail(key, _("This field is required."))
            return None
        raw = self.data[key]
        if isinstance(raw, str):
            text = raw.strip().replace(",", "")
            raw = int(text) if text.isascii() and text.isdigit() and len(text) < 12 else raw
        return self.keep_unless(
            key, raw, (not isinstance(raw, int) or isinstance(raw, bool) or not 0 <= raw <= maximum,
                       _("A whole number from %(low)d to %(high)d.", low=0, high=maximum)))

    def yes_no(self, key: str) -> bool | None:
        """A checkbox (a form sends "y" or nothing) or a JSON true / false."""
        if key not in self.data:
            return None
        raw = self.data[key]
        if isinstance(raw, bool):
            value = raw
        elif raw in (None, "", "n", "no", "false", "0", "off"):
            value = False
        elif raw in ("y", "yes", "true", "1", "on"):
            value = True
        else:
            self.fail(key, _("Answer yes or no."))
            return None
        return self.keep(key, value)

    def ids(self, key: str) -> list[int] | None:
        """A list of record ids: a JSON list of numbers, a form's repeated values, or text "1,2"."""
        if key not in self.data:
            return None
        raw = self.data[key]
        if raw is None or raw == "":
            self.out[key] = []
            return []
        if isinstance(raw, str):
            raw = [part for part in raw.replace(" ", "").split(",") if part]
        if not isinstance(raw, list | tuple) or len(raw) > MAX_PLACES:
            self.fail(key, _("Choose entries from the list."))
            return None
        found: list[int] = []
        for item in raw:
            if isinstance(item, str) and item.isascii() and item.isdigit() and len(item) < 12:
                item = int(item)
            if not isinstance(item, int) or isinstance(item, bool) or not 0 < item <= MAX_ID:
                self.fail(key, _("Choose entries from the list."))
                return None
            if item not in found:
                found.append(item)
        return self.keep(key, found)

    def existing(self, key: str, model: Any, ids: list[int] | None, *, active_only: bool = True,
                 inactive_text: str = "") -> list[Any]:
        """The rows of ``model`` named by ``ids``; a missing one (or an inactive one) fails ``key``."""
        if not ids:
            return []
        rows = {row.id: row for row in db.session.scalars(sa.select(model).where(model.id.in_(ids)))}
        if len(rows) != len(ids):
            self.fail(key, _("Choose entries from the list."))
            return []
        if active_only and any(not row.active for row in rows.values()):
            self.fail(key, inactive_text or _("This place is deactivated."))
            return []
        return [rows[i] for i in ids]

    def notes(self, key: str, max_len: int = MAX_NOTES) -> str | None:
        """A multi-line text: line breaks kept, everything else under the one text rule."""
        return self.text(key, max_len, multiline=True)
