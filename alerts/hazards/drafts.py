"""The draft alert made for a hazard event: the hazard's template (its CAP presets and its texts in
every language it has), with the event's place, time and area filled in; kept in step with later
updates of the event while it is still a draft; and the one announcement that a draft was made.

The draft is written in the name of the first coordinator on duty (the one told of it), so that the
two-person rule holds as for any draft: another coordinator approves it, or the coordinator on duty
sends it alone by break-glass, with a reason. The audit trail says the hazard watch wrote it.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from alerts import geo
from alerts.authoring.library import alert_input_from
from alerts.authoring.models import AlertTemplate, Hazard
from alerts.authoring.operations import _apply, _summary, new_identifier
from alerts.authoring.validation import MAX_PLACE, AlertInputError, clean_input
from alerts.models import Alert, AlertState, CapMsgType, HazardEvent
from consular.audit.operations import record
from consular.auth.models import User
from consular.db import db, utcnow

log = logging.getLogger("alerts.hazards")

DRAFT_VALIDITY = timedelta(hours=24)  # a draft's expiry, from when it is written or changed
PLACE_NEAR_KM = 150.0  # the draft's place is the nearest city of the index within this distance
WATCH = "hazard watch"  # the audit trail's name for the worker's hazard watch


def template_for(kind: str) -> AlertTemplate | None:
    """The active template of the event's hazard (the oldest, when there are several)."""
    if kind not in {h.value for h in Hazard}:
        return None
    return db.session.scalar(sa.select(AlertTemplate).where(
        AlertTemplate.hazard == Hazard(kind), AlertTemplate.active.is_(True))
        .order_by(AlertTemplate.id).limit(1))


def place_of(event: HazardEvent) -> str:
    """A place readers know: the nearest city of the index near the event, else the feed's words."""
    from consular.places import cities

    if event.latitude is not None and event.longitude is not None:
        found = cities.nearest(event.latitude, event.longitude, limit=1)
        if found and found[0][1] <= PLACE_NEAR_KM:
            return found[0][0].name[:MAX_PLACE]
    return event.place[:MAX_PLACE]


def area_of(event: HazardEvent) -> dict[str, str]:
    """The event's area as the compose form would hold it: its polygon, or its circle."""
    if event.polygon:
        return {"country_code": "", "city": "", "shape": "polygon", "polygon": event.polygon}
    assert event.latitude is not None and event.longitude is not None and event.radius_km is not None
    return {"country_code": "", "city": "", "shape": "circle", "latitude": repr(event.latitude),
            "longitude": repr(event.longitude),
            "radius_km": repr(min(max(event.radius_km, 1.0), geo.MAX_RADIUS_KM))}


def _input(event: HazardEvent, template: AlertTemplate, refused: str
           ) -> tuple[dict[str, Any], Any, Any] | None:
    """The draft's values, texts and areas from ``template`` for ``event``; None (and a warning that
    says ``refused``) when the template's texts do not fit the event."""
    data, texts = alert_input_from(template)
    now = utcnow()
    data.update(status="Actual", audience_kinds=[], present_only=False, public=False, send_at=None,
                expires_at=now + DRAFT_VALIDITY, place=place_of(event),
                event_time=min(event.occurred_at, now))
    try:
        return clean_input(data, texts, [area_of(event)], now=now)
    except AlertInputError as exc:
        log.warning("hazard event %s: %s: %s", event.id, refused, sorted(exc.errors))
        return None


def create_draft(event: HazardEvent, coordinators: list[User]) -> Alert | None:
    """The draft for ``event`` from its hazard's template, then the announcement; None (and a line
    in the log) when there is no template or the template's texts do not fit the event."""
    template = template_for(event.kind)
    if template is None:
        log.info("hazard event %s: no active template for %s, no draft", event.id, event.kind)
        return None
    cleaned = _input(event, template, f"the draft from template {template.id} was refused")
    if cleaned is None:
        return None
    values, texts, areas = cleaned
    author = coordinators[0] if coordinators else None
    alert = Alert(identifier=new_identifier(), state=AlertState.draft, msg_type=CapMsgType.Alert,
                  template_id=template.id, author_id=author.id if author is not None else None,
                  last_edited_by_id=author.id if author is not None else None, created_at=utcnow())
    _apply(alert, values, texts, areas)
    db.session.add(alert)
    db.session.flush()
    event.alert_id = alert.id
    record("alert.create", "alert", alert.id,
           {**_summary(alert), "hazard_event": event.id, "template": template.id}, username=WATCH)
    announce_draft_created(event, alert, coordinators)
    return alert


def update_draft(event: HazardEvent, alert: Alert) -> bool:
    """An update of the event changes its draft's place, time and area (and moves its expiry on),
    while it is still a draft; True when it did. A draft a coordinator has sent for approval, or
    that is sent, is theirs: it is left as it is."""
    template = db.session.get(AlertTemplate, alert.template_id) if alert.template_id else None
    if alert.state != AlertState.draft or template is None:
        return False
    cleaned = _input(event, template, f"its draft {alert.id} could not follow the update")
    if cleaned is None:
        return False
    values, _texts, areas = cleaned
    texts = {t.language: {"headline": t.headline, "body": t.body, "instruction": t.instruction,
                          "event": t.event} for t in alert.texts}  # a coordinator's edits stay
    changed = {key: values[key] for key in ("place", "event_time", "expires_at")}
    _apply(alert, changed, texts, areas)
    db.session.flush()
    record("alert.update", "alert", alert.id, {**_summary(alert), "hazard_event": event.id},
           username=WATCH)
    return True


def announce_draft_created(event: HazardEvent, alert: Alert, coordinators: list[User]) -> None:
    """The one place that says "a draft was made for a hazard": an in-app notice and an SMS to each
    coordinator on duty (written in this transaction, texted by the dispatcher after the commit)."""
    from consular.cases.operations.notifications import notify
    from consular.webhooks.events import emit

    notify(coordinators, case=None, kind="hazard_draft", sms=True,
           params={"alert_id": alert.id, "event": (event.headline or event.event)[:120],
                   "count": event.exposure})
    emit("hazard.draft_created", {
        "alert_id": alert.id, "identifier": alert.identifier, "hazard_source": event.source,
        "hazard_id": event.external_id, "kind": event.kind, "severity": event.severity,
        "exposed": event.exposure})
