"""Quiet hours in each recipient's own time zone: when a non-urgent alert may reach someone.

``QUIET_HOURS`` (``22:00-07:00`` by default, empty for none) is read in the recipient's zone, so
one alert reaches Rome in the morning and New York in the afternoon. Alerts of Immediate urgency
or Extreme severity ignore quiet hours. A time that does not exist in a zone (the hour skipped when
clocks go forward) is read as the clock shows it right after the change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from alerts.models import CapSeverity, CapUrgency
from config import Parsed, parse_quiet_hours

__all__ = ["QuietHours", "is_urgent", "zone"]


@lru_cache(maxsize=512)
def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def zone(name: str | None, fallback: str = "UTC") -> ZoneInfo:
    """The IANA zone ``name``, or ``fallback`` when it is empty or unknown."""
    return (_zone(name) if name else None) or _zone(fallback) or ZoneInfo("UTC")


def is_urgent(urgency: CapUrgency | str, severity: CapSeverity | str) -> bool:
    """Alerts that go at once, whatever the hour where the recipient is."""
    return urgency == CapUrgency.Immediate or severity == CapSeverity.Extreme


@dataclass(frozen=True)
class QuietHours:
    start: int  # minutes after local midnight
    end: int

    @classmethod
    def from_setting(cls, value: str) -> QuietHours | None:
        """QUIET_HOURS as the settings hold it (parsed at load) or as written."""
        bounds = value.value if isinstance(value, Parsed) else parse_quiet_hours(value)
        return cls(*bounds) if bounds is not None else None

    def _contains(self, minute: int) -> bool:
        if self.start < self.end:
            return self.start <= minute < self.end
        return minute >= self.start or minute < self.end  # across midnight

    def ends_at(self, now: datetime, tz: ZoneInfo) -> datetime | None:
        """The end of the quiet hours (UTC) when ``now`` falls inside them in ``tz``; None when a
        message may go now."""
        local = now.astimezone(tz)
        minute = local.hour * 60 + local.minute
        if not self._contains(minute):
            return None
        day = local.date()
        if self.start > self.end and minute >= self.start:
            day += timedelta(days=1)  # evening: the quiet hours end tomorrow morning
        end = datetime.combine(day, time(self.end // 60, self.end % 60), tzinfo=tz)
        return end.astimezone(UTC)

    def holds_past(self, now: datetime, tz: ZoneInfo, expires_at: datetime) -> bool:
        """Whether a non-urgent message due at ``now`` in ``tz`` would wait for quiet hours that
        end at or after ``expires_at``: then it is never sent (skipped, ``quiet_hours``)."""
        ends = self.ends_at(now, tz)
        return ends is not None and ends >= expires_at
