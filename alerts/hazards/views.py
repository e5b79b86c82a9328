"""The coordinators' hazard page: recent events read from the feeds, with the registrants in each
one's area and the draft made for it, and every configured feed's last success and last error.
Everyone else gets 404, as for the alert pages."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from flask import Blueprint, abort, render_template
from flask_babel import gettext as _

from alerts.models import AlertState, HazardEvent, HazardFeed
from config import current_settings
from consular.auth.scoping import can_work_on_alerts
from consular.auth.session import require_user
from consular.db import db, utcnow

bp = Blueprint("hazard_pages", __name__, template_folder="templates")

RECENT = timedelta(days=14)
MAX_ROWS = 200


def draft_labels() -> dict[str, str]:
    """The alert pages' state labels, but a draft's alert once approved is "Approved" here, whether
    it is scheduled or not."""
    from alerts.authoring.forms import STATE_LABELS

    labels = {state.value: str(text) for state, text in STATE_LABELS.items()}
    labels[AlertState.scheduled.value] = _("Approved")
    return labels


def kind_labels() -> dict[str, str]:
    from alerts.authoring.library_views import hazard_labels

    return hazard_labels()


@bp.get("/alerts/hazards")
def hazard_list() -> str:
    if not can_work_on_alerts(require_user()):
        abort(404)
    settings = current_settings()
    events = db.session.scalars(
        sa.select(HazardEvent).where(HazardEvent.occurred_at >= utcnow() - RECENT)
        .order_by(HazardEvent.occurred_at.desc(), HazardEvent.id.desc()).limit(MAX_ROWS)
        .options(sa.orm.joinedload(HazardEvent.alert))).unique().all()
    known = {row.name: row for row in db.session.scalars(sa.select(HazardFeed))}
    feeds = [(name, kind, url, known.get(name)) for name, kind, url in settings.hazard_feeds.value]
    return render_template("hazards/list.html", events=events, feeds=feeds, kinds=kind_labels(),
                           states=draft_labels(), poll_minutes=settings.hazard_poll_minutes,
                           quake_radius=settings.hazard_quake_radius_km)
