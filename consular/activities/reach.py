"""What the activities need to know of safety alerts (a drill's Exercise alert and its reach, the year's
alerts for the report), read through a reader the alerts side registers at start-up
(``alerts.ops_hooks``), so that ``consular`` never imports ``alerts``. Without one (a bare
``consular`` app), there are no alerts: nothing to link, nothing reached."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

# Answer times a drill report shows: answered within 10, 30 and 60 minutes of the message going out.
ANSWER_WINDOWS = (10, 30, 60)


@dataclass(frozen=True)
class AlertInfo:
    """An alert as an activity or a risk point names it."""

    id: int
    label: str  # its event and headline, in the alert's base language
    exercise: bool  # CAP status Exercise (a drill's)
    state: str
    sent_at: datetime | None


@dataclass(frozen=True)
class Reach:
    """How far one or more alerts got: messages planned, handed to the provider, delivered, failed,
    answered, and answered within each of ``ANSWER_WINDOWS`` minutes of being sent."""

    planned: int = 0
    sent: int = 0
    delivered: int = 0
    failed: int = 0
    answered: int = 0
    within: dict[int, int] = field(default_factory=lambda: dict.fromkeys(ANSWER_WINDOWS, 0))

    def __add__(self, other: Reach) -> Reach:
        return Reach(self.planned + other.planned, self.sent + other.sent,
                     self.delivered + other.delivered, self.failed + other.failed,
                     self.answered + other.answered,
                     {m: self.within.get(m, 0) + other.within.get(m, 0) for m in ANSWER_WINDOWS})


@dataclass(frozen=True)
class BreakGlassInfo:
    """An alert one coordinator sent without a second approval (break-glass), and its review."""

    id: int
    label: str
    sent_at: datetime
    reviewed: bool
    overdue: bool  # not reviewed, and its review time has passed


class AlertReader(Protocol):
    def describe(self, alert_ids: Iterable[int]) -> dict[int, AlertInfo]:
        """The alerts of ``alert_ids`` that exist."""

    def issued(self, limit: int, *, exercise: bool) -> list[AlertInfo]:
        """Alerts past their draft and approval, newest first: Exercise alerts (for a drill to
        name the one it sent) or real ones (for a risk point to name those it led to)."""

    def reach(self, alert_ids: Iterable[int]) -> dict[int, Reach]:
        """The reach of each alert of ``alert_ids``."""

    def sent_between(self, start: datetime, end: datetime) -> tuple[int, Reach]:
        """Actual alerts (not exercises or tests) whose sending began in [start, end): how many,
        and their reach together."""

    def break_glass_between(self, start: datetime, end: datetime) -> list[BreakGlassInfo]:
        """Alerts sent by break-glass in [start, end), unreviewed first, then oldest first."""


class _NoAlerts:
    def describe(self, alert_ids: Iterable[int]) -> dict[int, AlertInfo]:
        return {}

    def issued(self, limit: int, *, exercise: bool) -> list[AlertInfo]:
        return []

    def reach(self, alert_ids: Iterable[int]) -> dict[int, Reach]:
        return {}

    def sent_between(self, start: datetime, end: datetime) -> tuple[int, Reach]:
        return 0, Reach()

    def break_glass_between(self, start: datetime, end: datetime) -> list[BreakGlassInfo]:
        return []


_reader: list[AlertReader] = [_NoAlerts()]


def register_alert_reader(reader: AlertReader) -> None:
    """Set how alerts are read (the alerts side calls this once at start-up; again replaces it)."""
    _reader[0] = reader


def alerts() -> AlertReader:
    return _reader[0]
