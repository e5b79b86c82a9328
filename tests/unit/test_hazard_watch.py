"""The hazard watch over HTTP on loopback: a local publisher serves feeds in their public formats (a
USGS GeoJSON summary, CAP 1.2 in Atom, embedded and linked, updates of the same events, hostile XML,
a 50 MB answer, a wrong content type, 304 on a conditional GET), the watch polls them as the worker
does, and what a coordinator would see is checked: one draft per event near registrants, with the
right count and every language of its template, a notice (in-app and SMS) to the coordinator on
duty, an update that changes the draft, nothing for a far event, and each broken feed recorded as
its own error while the others are read."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask_babel import force_locale

from alerts.authoring.demo_templates import load_demo_templates
from alerts.authoring.models import AlertTemplate, Hazard
from alerts.hazards.watch import FeedReport, poll_feeds
from alerts.models import Alert, AlertState, AreaShape, HazardEvent, HazardFeed
from consular.auth.models import Role, User
from consular.cases.models import Notification, SmsState
from consular.cases.operations.notifications import notification_text
from consular.db import db, utcnow
from tests.conftest import Browser
from tests.fakes.hazard_feeds import HazardFeedServer
from tests.support.alerts import make_registrant
from tests.support.hazards import (
    BILLION_LAUGHS,
    EXTERNAL_ENTITY,
    FAR_AWAY,
    PRATO,
    CapAlert,
    Quake,
    box,
    cap_atom,
    usgs_summary,
)

FIFTY_MB = 50 * 1024 * 1024


@pytest.fixture
def server() -> Iterator[HazardFeedServer]:
    with HazardFeedServer() as running:
        yield running


@pytest.fixture
def watch_app(same_db_app: Callable[..., Flask], server: HazardFeedServer) -> Flask:
    feeds = {"usgs": ("usgs", "/usgs.geojson"), "meteo": ("cap", "/cap.atom"),
             "laughs": ("cap", "/laughs.atom"), "xxe": ("cap", "/xxe.atom"),
             "huge": ("usgs", "/huge.geojson"), "html": ("cap", "/page.atom")}
    setting = ";".join(f"{name}={kind}:{server.url(path)}" for name, (kind, path) in feeds.items())
    return same_db_app(HAZARD_FEEDS=setting, HAZARD_FETCH_TIMEOUT_SECONDS=10)


@pytest.fixture
def people(app: Flask, make_user: Any) -> dict[str, Any]:
    """The library, a coordinator on duty (with a phone), one off duty, and 12 registrants in Prato."""
    load_demo_templates()
    db.session.commit()
    on_duty = make_user(Role.coordinator, phone="+8613800000001", locale="en")
    on_duty.on_duty = True
    off_duty = make_user(Role.coordinator, phone="+8613800000002")
    db.session.commit()
    for i in range(12):
        make_registrant(language=("zh_Hans", "it", "en")[i % 3])
    return {"on_duty": on_duty.id, "off_duty": off_duty.id}


def poll(app: Flask) -> dict[str, FeedReport]:
    with app.app_context():
        reports = {r.name: r for r in poll_feeds()}
        db.session.remove()
    db.session.expire_all()
    return reports


def publish(server: HazardFeedServer, quakes: list[Quake], alerts: list[CapAlert],
            linked: list[str] = ()) -> None:  # type: ignore[assignment]
    server.put("/usgs.geojson", usgs_summary(*quakes), "application/geo+json; charset=utf-8")
    server.put("/cap.atom", cap_atom(alerts, [server.url(p) for p in linked]), "application/atom+xml")


def test_events_near_registrants_become_one_draft_each(app: Flask, watch_app: Flask,
                                                        server: HazardFeedServer,
                                                        people: dict[str, Any]) -> None:
    now = utcnow().replace(microsecond=0)
    hit = now - timedelta(minutes=12)
    quake = Quake("us7000prato", 6.1, PRATO, hit, hit + timedelta(minutes=3), ids=("us7000prato", "at2026x"))
    storm = CapAlert("meteo-1", now - timedelta(minutes=5), "Severe thunderstorm", "Met", "Severe",
                     polygon=box(PRATO, 0.3))
    publish(server, [
        quake,
        Quake("us7000tonga", 6.8, FAR_AWAY, hit, hit),  # far from everyone
        Quake("us7000small", 4.2, PRATO, hit - timedelta(hours=2), hit),  # too small
        Quake("us7000blast", 6.0, PRATO, hit, hit, type="quarry blast"),  # not an earthquake
    ], [
        storm,
        CapAlert("meteo-2", now, "Wind", "Met", "Moderate", polygon=box(PRATO, 0.3)),  # not severe
        CapAlert("meteo-3", now, "Flood", "Met", "Extreme", polygon=box(FAR_AWAY, 1)),  # far
        CapAlert("meteo-4", now, "Flood", "Met", "Extreme", polygon=box(PRATO, 1),
                 status="Exercise"),  # a drill of the agency's
    ], linked=["/quake.cap"])
    # The national agency's CAP of the same earthquake, linked from the feed: the same event.
    server.put("/quake.cap", CapAlert("ingv-1", hit + timedelta(minutes=4), "Earthquake", "Geo", "Severe",
                                      circle=f"{PRATO[0] + 0.05},{PRATO[1]} 80").xml(),
               "application/cap+xml")
    server.put("/laughs.atom", BILLION_LAUGHS, "application/atom+xml")
    server.put("/xxe.atom", EXTERNAL_ENTITY, "application/atom+xml")
    server.endless("/huge.geojson", FIFTY_MB)
    server.put("/page.atom", "<html><body>Maintenance</body></html>", "text/html")

    from consular.webhooks.models import WebhookDelivery, WebhookSubscription

    with watch_app.app_context():  # a receiver that wants to hear of hazard drafts
        db.session.add(WebhookSubscription(url="http://127.0.0.1:9/hooks", events=["hazard.draft_created"],
                                           secret="s" * 32, active=True))
        db.session.commit()
    reports = poll(watch_app)

    assert reports["usgs"].error == "" and reports["usgs"].events == 3
    assert reports["meteo"].error == "" and reports["meteo"].events == 4  # 3 embedded + 1 linked
    assert "refused XML" in reports["laughs"].error
    assert "refused XML" in reports["xxe"].error
    assert reports["huge"].error == "larger than 10 MiB"
    assert server.wait_sent("/huge.geojson") < FIFTY_MB  # reading stopped at the cap
    assert reports["html"].error == "unexpected content type text/html"

    events = db.session.scalars(sa.select(HazardEvent).order_by(HazardEvent.id)).all()
    quake_row = next(e for e in events if e.external_id == "us7000prato")
    assert quake_row.exposure == 12 and quake_row.kind == "earthquake" and quake_row.magnitude == 6.1
    assert not any(e.external_id == "ingv-1" for e in events)  # told twice, stored once
    drafts = db.session.scalars(sa.select(Alert).order_by(Alert.id)).all()
    assert len(drafts) == 2  # the Prato earthquake and the Prato storm; nothing else
    assert {e.external_id for e in events if e.alert_id} == {"us7000prato", "meteo-1"}
    tonga = next(e for e in events if e.external_id == "us7000tonga")
    assert tonga.exposure == 0 and tonga.alert_id is None

    draft = db.session.get(Alert, quake_row.alert_id)
    assert draft is not None and draft.state == AlertState.draft
    template = db.session.scalar(sa.select(AlertTemplate).where(AlertTemplate.hazard == Hazard.earthquake))
    assert draft.template_id == template.id
    assert {t.language for t in draft.texts} == {t.language for t in template.texts}
    assert len(draft.texts) == 12 and all(t.headline and t.body for t in draft.texts)
    assert draft.place == "Prato" and draft.event_time == hit
    [area] = draft.areas
    assert area.shape == AreaShape.circle and area.radius_km == 100
    assert (round(area.latitude, 4), round(area.longitude, 4)) == PRATO and area.country_code == "IT"
    assert draft.author_id == people["on_duty"]  # so that another coordinator approves it

    notices = db.session.scalars(sa.select(Notification).where(Notification.kind == "hazard_draft")
                                 .order_by(Notification.id)).all()
    assert {n.user_id for n in notices} == {people["on_duty"]}  # the coordinator on duty only
    hooks = db.session.scalars(sa.select(WebhookDelivery).where(
        WebhookDelivery.event_type == "hazard.draft_created")).all()
    assert sorted(json.loads(h.body)["data"]["alert_id"] for h in hooks) == sorted(
        n.params["alert_id"] for n in notices)  # one webhook event per draft, naming it
    assert len(notices) == 2 and all(n.sms_state == SmsState.pending for n in notices)
    told = next(n for n in notices if n.params["alert_id"] == draft.id)
    assert told.params["count"] == 12
    with force_locale("en"):
        assert "12 registrants" in notification_text(told)
    with force_locale("zh_Hans"):
        assert notification_text(told).startswith("灾害监测：")
    # The SMS the dispatcher sends them, claimed as it claims them, in their language (English).
    from alerts.dispatch.notices import claim_notifications, render_notice

    claimed = claim_notifications("test-worker")
    assert {c.notification_id for c in claimed} == {n.id for n in notices}
    sms = render_notice(next(c for c in claimed if c.notification_id == told.id), utcnow())
    assert sms.startswith("Hazard watch:") and "12 registrants" in sms

    feeds = {f.name: f for f in db.session.scalars(sa.select(HazardFeed))}
    assert feeds["usgs"].last_success_at is not None and feeds["usgs"].etag
    assert feeds["huge"].last_success_at is None and feeds["huge"].last_error == "larger than 10 MiB"

    # Unchanged: the publisher answers 304 to the conditional GET, and nothing moves.
    again = poll(watch_app)
    assert again["usgs"].unchanged and again["meteo"].unchanged
    assert server.headers_of("/usgs.geojson")[-1]["If-None-Match"] == feeds["usgs"].etag
    assert server.headers_of("/usgs.geojson")[-1]["If-Modified-Since"]
    assert len(server.headers_of("/quake.cap")) == 1  # a linked document is read once

    # An update of both events: the same rows, the same drafts, changed.
    moved = (PRATO[0] + 0.1, PRATO[1] + 0.1)
    publish(server, [Quake("us7000prato", 6.3, moved, hit, hit + timedelta(minutes=20),
                           ids=("us7000prato", "at2026x"))],
            [CapAlert("meteo-1b", now + timedelta(minutes=1), "Severe thunderstorm", "Met", "Extreme",
                      polygon=box(PRATO, 0.5), msg_type="Update",
                      references=f"meteoalarm@example.org,meteo-1,{storm.sent.isoformat()}")])
    updated = poll(watch_app)
    assert updated["usgs"].updated == 1 and updated["meteo"].updated == 1
    assert updated["usgs"].drafts == updated["meteo"].drafts == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Alert)) == 2
    assert db.session.scalar(sa.select(sa.func.count()).select_from(HazardEvent)) == len(events)
    draft = db.session.get(Alert, quake_row.alert_id)
    [area] = draft.areas
    assert (round(area.latitude, 4), round(area.longitude, 4)) == moved
    quake_row = db.session.get(HazardEvent, quake_row.id)
    assert quake_row.magnitude == 6.3
    storm_row = db.session.scalar(sa.select(HazardEvent).where(HazardEvent.external_id == "meteo-1"))
    assert storm_row.severity == "Extreme"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Notification)
                             .where(Notification.kind == "hazard_draft")) == 2  # no new notice


def test_a_draft_in_review_is_left_alone_by_updates(app: Flask, watch_app: Flask,
                                                     server: HazardFeedServer,
                                                     people: dict[str, Any]) -> None:
    from alerts.authoring.operations import submit_for_approval

    hit = utcnow().replace(microsecond=0) - timedelta(minutes=5)
    publish(server, [Quake("us7000prato", 6.1, PRATO, hit, hit)], [])
    poll(watch_app)
    event = db.session.scalar(sa.select(HazardEvent))
    alert = db.session.get(Alert, event.alert_id)
    submit_for_approval(alert, user=db.session.get(User, people["on_duty"]))
    db.session.commit()
    later = hit + timedelta(minutes=9)
    publish(server, [Quake("us7000prato", 6.4, (PRATO[0] + 0.2, PRATO[1]), hit, later)], [])
    poll(watch_app)
    alert = db.session.get(Alert, event.alert_id)
    assert alert.state == AlertState.pending_approval
    assert round(alert.areas[0].latitude, 4) == PRATO[0]  # what the approver reads is what was sent
    assert db.session.get(HazardEvent, event.id).magnitude == 6.4


def test_few_registrants_near_a_strong_earthquake_make_no_draft(app: Flask, watch_app: Flask,
                                                                 server: HazardFeedServer,
                                                                 make_user: Any) -> None:
    load_demo_templates()
    make_user(Role.coordinator)
    for _ in range(9):  # one fewer than HAZARD_QUAKE_MIN_REGISTRANTS
        make_registrant()
    hit = utcnow().replace(microsecond=0)
    publish(server, [Quake("us7000prato", 7.0, PRATO, hit, hit)], [])
    reports = poll(watch_app)
    assert reports["usgs"].new == 1 and reports["usgs"].drafts == 0
    assert db.session.scalar(sa.select(HazardEvent.exposure)) == 9
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Alert)) == 0


def test_the_hazard_page_shows_events_exposure_drafts_and_each_feeds_health(
        app: Flask, watch_app: Flask, server: HazardFeedServer, people: dict[str, Any],
        logged_in: Any, make_user: Any) -> None:
    hit = utcnow().replace(microsecond=0) - timedelta(minutes=5)
    publish(server, [Quake("us7000prato", 6.1, PRATO, hit, hit),
                     Quake("us7000tonga", 6.8, FAR_AWAY, hit, hit)], [])
    server.put("/page.atom", "<html></html>", "text/html")
    poll(watch_app)
    event = db.session.scalar(sa.select(HazardEvent).where(HazardEvent.external_id == "us7000prato"))

    # The page runs with the worker's settings (the feeds it lists are HAZARD_FEEDS).
    browser = Browser(watch_app.test_client())
    browser.login(db.session.get(User, people["off_duty"]).username)
    page = browser.get("/alerts/hazards", headers={"Accept-Language": "en"})
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert f'href="/alerts/{event.alert_id}"' in html
    assert html.count('data-testid="draft-link"') == 1
    rows = html.split('data-testid="hazard-events"', 1)[1].split("</table>", 1)[0]
    assert 'data-testid="exposure">12<' in rows and 'data-testid="exposure">0<' in rows
    assert "M 6.1 - 5 km NNE of Prato, Italy" in rows
    feeds = html.split('data-testid="hazard-feeds"', 1)[1].split("</table>", 1)[0]
    html_row = feeds.split('data-feed="html"', 1)[1].split("</tr>", 1)[0]
    assert "unexpected content type text/html" in html_row and "Never" in html_row
    usgs_row = feeds.split('data-feed="usgs"', 1)[1].split("</tr>", 1)[0]
    assert "Never" not in usgs_row and 'data-testid="feed-error"' not in usgs_row
    liaison = logged_in(make_user(Role.liaison_officer))
    assert liaison.get("/alerts/hazards").status_code == 404


def test_the_worker_polls_the_feeds_on_its_schedule_and_leaves_a_feed_just_polled(
        app: Flask, watch_app: Flask, server: HazardFeedServer, people: dict[str, Any]) -> None:
    from alerts.scheduler import Worker

    hit = utcnow().replace(microsecond=0)
    publish(server, [Quake("us7000prato", 6.1, PRATO, hit, hit)], [])
    worker = Worker(watch_app)
    scheduler = worker.build_scheduler(blocking=False)
    job = scheduler.get_job("hazard_watch")
    assert job is not None and job.trigger.interval == timedelta(minutes=5)
    assert Worker(app).build_scheduler(blocking=False).get_job("hazard_watch") is None  # no feeds

    worker.hazard_watch()
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Alert)) == 1
    asked = len(server.headers_of("/usgs.geojson"))
    worker.hazard_watch()  # another worker's poll a moment later: the feed was just polled
    assert len(server.headers_of("/usgs.geojson")) == asked == 1
