"""What the network coverage report adds from the network's own work: active stations nobody has
patrolled for ``PATROL_INTERVAL_MONTHS``, and active liaison points where nobody took part in a
training this year, each within what the reader may see (``consular.auth.scoping``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from config import current_settings
from consular.activities.checks import office_today
from consular.activities.stats import PatrolGap, patrol_gaps, untrained_points
from consular.auth.models import User
from consular.auth.scoping import liaison_point_scope, station_scope
from consular.network.models import LiaisonPoint


@dataclass(frozen=True)
class WorkGaps:
    today: date
    patrol_months: int
    unpatrolled: list[PatrolGap]
    untrained: list[LiaisonPoint]


def work_gaps(user: User) -> WorkGaps:
    months = current_settings().patrol_interval_months
    today = office_today()
    return WorkGaps(today=today, patrol_months=months,
                    unpatrolled=patrol_gaps(station_scope(user), today, months),
                    untrained=untrained_points(liaison_point_scope(user), today.year))
