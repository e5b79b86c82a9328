"""The hazard watch: every few minutes the worker polls each configured feed (HAZARD_FEEDS) and turns
what it reads into events, their exposure and, above the thresholds, a draft alert.

Each feed is polled on its own: its answer is read outside any transaction, its events are written
in one transaction, and whatever goes wrong (a timeout, a 50 MB answer, a wrong content type, hostile
XML, a bug) rolls back that feed's work and is recorded as that feed's last error; the next feed
is polled all the same.

One event, however many entries name it:

- an entry carrying a key the event already has (a USGS id, any of a USGS event's ``ids``; a CAP
  alert's "sender,identifier", or one its ``references`` names) is that event: when the entry is
  newer (``updated``, or the CAP alert's ``sent``) it updates the event, and its draft while that is
  still a draft;
- an entry of another feed of the same hazard within ``SAME_EVENT_KM`` and ``SAME_EVENT_MINUTES`` of
  an event (an earthquake told by USGS and by a national agency's CAP feed) is that event too: it
  adds its keys, and the first reading stays.

Linked CAP documents are fetched once (their address is a key of the event they gave), and only
from the feed's own site. The exposure is the registrants in the event's area, counted with the
alerts' own aim conditions per place (``alerts.targeting.count_in_shapes``): a CAP polygon or
circle, or a circle of HAZARD_QUAKE_RADIUS_KM around an epicentre. A polygon the aim cannot take
as it is (more than 100 corners, crossing itself) is counted as the circle around it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import requests
import sqlalchemy as sa

from alerts import geo, targeting
from alerts.hazards import drafts
from alerts.hazards.fetch import FetchError, fetch, new_session
from alerts.hazards.parse import (
    CAP_TYPES,
    SEVERITY_RANK,
    FeedDocument,
    FeedFormatError,
    ParsedEvent,
    parse_cap_alert,
    parse_cap_feed,
    parse_usgs,
)
from alerts.models import HazardEvent, HazardEventKey, HazardFeed
from config import Settings, current_settings
from consular.auth.models import User
from consular.db import commit_step, db, utcnow

log = logging.getLogger("alerts.hazards")

SAME_EVENT_KM = 50.0
SAME_EVENT_MINUTES = 30
MAX_LINKED = 50  # linked CAP documents fetched per feed and poll (the rest at the next poll)


@dataclass
class FeedReport:
    """How one feed's poll went (for the log, the tests and the bench)."""

    name: str
    error: str = ""
    unchanged: bool = False
    events: int = 0  # entries read
    new: int = 0
    updated: int = 0
    drafts: int = 0
    draft_ids: list[int] = field(default_factory=list)


def poll_feeds(now: datetime | None = None, *, min_gap: timedelta | None = None) -> list[FeedReport]:
    """Poll every configured feed once: one report per feed. With ``min_gap`` (the worker's job),
    a feed another worker polled less than that long ago is left alone (the claim is one UPDATE)."""
    settings = current_settings()
    session = new_session()
    try:
        return [poll_feed(session, name, kind, url, settings, now)
                for name, kind, url in settings.hazard_feeds.value
                if min_gap is None or _claim(name, kind, url, (now or utcnow()) - min_gap)]
    finally:
        session.close()


def _claim(name: str, kind: str, url: str, before: datetime) -> bool:
    _feed_row(name, kind, url)
    commit_step()
    result = db.session.execute(
        sa.update(HazardFeed).where(HazardFeed.name == name, sa.or_(
            HazardFeed.last_polled_at.is_(None), HazardFeed.last_polled_at < before))
        .values(last_polled_at=utcnow()).execution_options(synchronize_session=False))
    commit_step()
    return bool(getattr(result, "rowcount", 0))


def _feed_row(name: str, kind: str, url: str) -> HazardFeed:
    row = db.session.get(HazardFeed, name)
    if row is None:
        row = HazardFeed(name=name, kind=kind, url=url)
        db.session.add(row)
    elif row.url != url or row.kind != kind:  # the setting changed: forget what the old one said
        row.url, row.kind, row.etag, row.last_modified = url, kind, None, None
    return row


def poll_feed(session: requests.Session, name: str, kind: str, url: str, settings: Settings,
              now: datetime | None = None) -> FeedReport:
    """Fetch, read and record one feed; never raises (its failure is the feed's last error)."""
    report = FeedReport(name)
    row = _feed_row(name, kind, url)
    etag, last_modified = row.etag, row.last_modified
    commit_step()  # the row exists, and no transaction stays open while the network answers
    limits: dict[str, Any] = {"timeout": settings.hazard_fetch_timeout_seconds,
                              "max_bytes": settings.hazard_feed_max_mb * 1024 * 1024}
    try:
        fetched = fetch(session, url, kind, etag=etag, last_modified=last_modified, **limits)
        document: FeedDocument | None = None
        link_errors: list[str] = []
        if fetched.body is not None:
            document = (parse_usgs(fetched.body, float(settings.hazard_quake_radius_km)) if kind == "usgs"
                        else parse_cap_feed(fetched.body))
            _read_links(session, url, document, link_errors, limits)
        moment = now or utcnow()
        row = _feed_row(name, kind, url)
        if document is None:
            report.unchanged = True
        else:
            record_events(name, document.events, settings, moment, report)
        row.etag = (fetched.etag or "")[:200] or None
        row.last_modified = (fetched.last_modified or "")[:100] or None
        row.last_polled_at = row.last_success_at = moment
        if document is not None:
            row.last_events = report.events
        if link_errors:
            report.error = f"{len(link_errors)} linked CAP document(s) unreadable: {link_errors[0]}"
            row.last_error, row.last_error_at = report.error[:300], moment
        commit_step()
    except (FetchError, FeedFormatError) as exc:
        _failed(name, kind, url, str(exc), now, report)
    except Exception as exc:  # a bug must not stop the other feeds: recorded, logged, rolled back
        log.exception("hazard feed %s: the poll failed", name)
        _failed(name, kind, url, f"internal error ({type(exc).__name__})", now, report)
    if report.error:
        log.warning("hazard feed %s: %s", name, report.error)
    return report


def _failed(name: str, kind: str, url: str, error: str, now: datetime | None, report: FeedReport) -> None:
    db.session.rollback()
    moment = now or utcnow()
    row = _feed_row(name, kind, url)
    row.last_polled_at = row.last_error_at = moment
    row.last_error = error[:300]
    report.error = error
    report.draft_ids.clear()
    commit_step()


def _read_links(session: requests.Session, feed_url: str, document: FeedDocument, errors: list[str],
                limits: dict[str, Any]) -> None:
    """Fetch the linked CAP documents not read before (their address is a key of their event).
    Only links to the feed's own site are followed (as publishers link their CAP files): a feed's
    text cannot send the worker to any other address, an inside one least of all."""
    site = urlsplit(feed_url)[:2]
    links = [link for link in dict.fromkeys(document.cap_links) if urlsplit(link)[:2] == site]
    if len(links) < len(set(document.cap_links)):
        log.info("hazard feed %s: links to CAP documents on other sites were not followed", feed_url)
    if not links:
        return
    known = set(db.session.scalars(sa.select(HazardEventKey.key).where(
        HazardEventKey.key.in_([_link_key(link) for link in links]))))
    db.session.rollback()  # a read only: nothing stays open while the network answers
    for link in [link for link in links if _link_key(link) not in known][:MAX_LINKED]:
        try:
            fetched = fetch(session, link, "cap", accepted=CAP_TYPES, **limits)
            if fetched.body is None:
                continue
            for event in parse_cap_alert(fetched.body, link):
                event.keys = (*event.keys, _link_key(link))
                document.events.append(event)
        except (FetchError, FeedFormatError) as exc:
            errors.append(f"{link[:120]}: {exc}")


def _link_key(link: str) -> str:
    return f"link:{link}"[:250]


# --- events ------------------------------------------------------------------------------------


def record_events(source: str, events: Sequence[ParsedEvent], settings: Settings, now: datetime,
                  report: FeedReport) -> None:
    """Store each event once (new, updated or already known), count its exposure, and make or
    change its draft. In three passes, so that a feed of thousands costs a few statements plus one
    count per changed event: the events are matched and written (what is known is read at once,
    everything written in one flush), then counted, then drafted. Flushes; the caller commits."""
    report.events += len(events)
    keys_of = [list(dict.fromkeys(k[:250] for k in parsed.keys)) for parsed in events]
    known = _known_events({k for keys in keys_of for k in keys})
    nearby = _events_elsewhere(source, events)
    changed: dict[int, tuple[HazardEvent, str]] = {}  # by id(): the new ones have no id yet
    with db.session.no_autoflush:
        for parsed, keys in zip(events, keys_of, strict=True):
            event = next((known[k] for k in keys if k in known), None)
            state = ""
            if event is None:
                event = _same_event(nearby, parsed)
                if event is None:
                    event = HazardEvent(source=source, external_id=parsed.external_id[:200],
                                        first_seen_at=now)
                    _apply(event, parsed, settings, now)
                    db.session.add(event)
                    state = "new"
            elif parsed.updated_at > event.source_updated_at:
                _apply(event, parsed, settings, now)
                state = "updated"
            for key in keys:
                if key not in known:
                    event.keys.append(HazardEventKey(key=key))
                    known[key] = event
            if state and id(event) not in changed:
                changed[id(event)] = (event, state)
    db.session.flush()
    for event, state in changed.values():
        if state == "new":
            report.new += 1
        else:
            report.updated += 1
        event.exposure = exposure(event)
    coordinators: list[User] | None = None
    for event, state in changed.values():
        if event.alert_id is None and meets_threshold(event, settings):
            if coordinators is None:
                from consular.cases.deadlines import coordinators_on_duty

                coordinators = coordinators_on_duty()
            alert = drafts.create_draft(event, coordinators)
            if alert is not None:
                report.drafts += 1
                report.draft_ids.append(alert.id)
        elif event.alert_id is not None and state == "updated" and event.alert is not None:
            drafts.update_draft(event, event.alert)
    db.session.flush()


def _known_events(keys: set[str]) -> dict[str, HazardEvent]:
    """The events these keys name, by key (read in a few statements)."""
    ordered = sorted(keys)
    owner: dict[str, int] = {}
    for start in range(0, len(ordered), 1000):
        owner.update((key, event_id) for key, event_id in db.session.execute(
            sa.select(HazardEventKey.key, HazardEventKey.event_id)
            .where(HazardEventKey.key.in_(ordered[start:start + 1000]))))
    ids = sorted(set(owner.values()))
    rows: dict[int, HazardEvent] = {}
    for start in range(0, len(ids), 1000):
        rows.update((e.id, e) for e in db.session.scalars(
            sa.select(HazardEvent).where(HazardEvent.id.in_(ids[start:start + 1000]))))
    return {key: rows[event_id] for key, event_id in owner.items() if event_id in rows}


def _apply(event: HazardEvent, parsed: ParsedEvent, settings: Settings, now: datetime) -> None:
    event.kind, event.event, event.severity = parsed.kind, parsed.event[:120], parsed.severity
    event.magnitude = parsed.magnitude
    event.occurred_at, event.source_updated_at = parsed.occurred_at, parsed.updated_at
    event.headline, event.place, event.link = parsed.headline[:300], parsed.place[:120], parsed.link[:500]
    event.cancelled = parsed.cancelled
    event.updated_at = now
    event.polygon = None
    event.latitude, event.longitude, event.radius_km = parsed.latitude, parsed.longitude, parsed.radius_km
    if parsed.polygon:
        _take_polygon(event, parsed.polygon)


def _take_polygon(event: HazardEvent, text: str) -> None:
    """The polygon as the aim takes it, or the circle around it (see the module's docstring)."""
    try:
        points = geo.parse_polygon(text)
    except geo.GeoInputError:
        points = None
    if points is not None:
        event.polygon = geo.polygon_text(points)
        box = geo.polygon_box(points)
        event.latitude, event.longitude = (box.south + box.north) / 2, sum(box.lon_ranges[0]) / 2
        event.radius_km = None
        return
    corners: list[tuple[float, float]] = []
    for pair in text.split()[:10_000]:
        lat_text, _comma, lon_text = pair.partition(",")
        try:
            lat, lon = float(lat_text), float(lon_text)
        except ValueError:
            continue
        if math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180:
            corners.append((lat, lon))
    if not corners:
        return
    lat = (min(p[0] for p in corners) + max(p[0] for p in corners)) / 2
    lon = (min(p[1] for p in corners) + max(p[1] for p in corners)) / 2
    from consular.places.cities import distance_km

    radius = max(distance_km(lat, lon, p[0], p[1]) for p in corners)
    event.latitude, event.longitude = lat, lon
    event.radius_km = min(max(radius, 1.0), geo.MAX_RADIUS_KM)


def _events_elsewhere(source: str, events: Sequence[ParsedEvent]) -> list[HazardEvent]:
    """The events of other feeds that an entry of this document could be (same hazard, near in
    time): one statement for the whole document."""
    placed = [p for p in events if p.latitude is not None and p.longitude is not None]
    if not placed:
        return []
    window = timedelta(minutes=SAME_EVENT_MINUTES)
    return list(db.session.scalars(sa.select(HazardEvent).where(
        HazardEvent.kind.in_(sorted({p.kind for p in placed})), HazardEvent.source != source,
        HazardEvent.occurred_at.between(min(p.occurred_at for p in placed) - window,
                                        max(p.occurred_at for p in placed) + window),
        HazardEvent.latitude.is_not(None)).order_by(HazardEvent.id)))


def _same_event(candidates: Sequence[HazardEvent], parsed: ParsedEvent) -> HazardEvent | None:
    """An event of another feed of the same hazard, near in place and time (see the docstring)."""
    if parsed.latitude is None or parsed.longitude is None:
        return None
    from consular.places.cities import distance_km

    window = timedelta(minutes=SAME_EVENT_MINUTES)
    for event in candidates:
        assert event.latitude is not None and event.longitude is not None
        if event.kind == parsed.kind and abs(event.occurred_at - parsed.occurred_at) <= window \
                and distance_km(event.latitude, event.longitude, parsed.latitude,
                                parsed.longitude) <= SAME_EVENT_KM:
            return event
    return None


def area_target(event: HazardEvent) -> targeting.Target | None:
    """The event's area as the aim query takes it (None: the feed gave no area)."""
    if event.polygon:
        area = targeting.TargetArea("", shape="polygon", polygon=event.polygon)
    elif event.latitude is not None and event.longitude is not None and event.radius_km:
        area = targeting.TargetArea("", shape="circle", latitude=event.latitude,
                                    longitude=event.longitude, radius_km=event.radius_km)
    else:
        return None
    return targeting.Target(areas=(area,), languages=(), base_language="zh_Hans")


def exposure(event: HazardEvent) -> int:
    """Registrants in the event's area who can be reached: the recipients' own conditions."""
    target = area_target(event)
    if target is None:
        return 0
    return targeting.count_in_shapes(target, utcnow().date())


def meets_threshold(event: HazardEvent, settings: Settings) -> bool:
    """An earthquake: magnitude and registrants within its radius; any other event (and an
    earthquake told by CAP without a magnitude): CAP severity and registrants in its area."""
    if event.cancelled:
        return False
    if event.kind == "earthquake" and event.magnitude is not None:
        return (event.magnitude >= settings.hazard_quake_min_magnitude
                and event.exposure >= settings.hazard_quake_min_registrants)
    return (SEVERITY_RANK.get(event.severity, 0) >= SEVERITY_RANK[settings.hazard_cap_min_severity]
            and event.exposure >= settings.hazard_cap_min_registrants)
