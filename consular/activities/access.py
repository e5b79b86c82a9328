"""Who may reach an activity or a risk point, for the pages and the API alike: whoever may not see
them at all gets 404 (they do not exist for them), whoever may see but not change gets 403."""

from __future__ import annotations

import sqlalchemy as sa
from flask import abort

from consular.activities.models import Activity, FollowUp, RiskMeasure, RiskPoint
from consular.auth.models import User
from consular.auth.scoping import (
    can_edit_activity,
    can_see_activities,
    can_see_risk_points,
    get_scoped_or_404,
)
from consular.auth.session import require_user_who
from consular.db import db


def activity_worker() -> User:
    return require_user_who(can_see_activities, 404)


def editable_activity(activity_id: int) -> tuple[User, Activity]:
    user = activity_worker()
    activity = get_scoped_or_404(Activity, activity_id, user)
    if not can_edit_activity(user, activity):
        abort(403)
    return user, activity


def risk_reader() -> User:
    return require_user_who(can_see_risk_points, 404)


def readable_risk(risk_id: int) -> tuple[User, RiskPoint]:
    user = risk_reader()
    return user, get_scoped_or_404(RiskPoint, risk_id, user)


def follow_up_of(activity: Activity, follow_up_id: int) -> FollowUp:
    """One of ``activity``'s follow-up actions; 404 for any other id."""
    found = db.session.scalar(sa.select(FollowUp).where(FollowUp.id == follow_up_id,
                                                        FollowUp.activity_id == activity.id)) \
        if 0 < follow_up_id < 2**31 else None
    if found is None:
        abort(404)
    return found


def measure_of(risk: RiskPoint, measure_id: int) -> RiskMeasure:
    """One of ``risk``'s measures; 404 for any other id."""
    measure = db.session.scalar(sa.select(RiskMeasure).where(
        RiskMeasure.id == measure_id, RiskMeasure.risk_point_id == risk.id)) \
        if 0 < measure_id < 2**31 else None
    if measure is None:
        abort(404)
    return measure
