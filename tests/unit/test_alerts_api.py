"""The alerts API (/api/v1/alerts) end to end: one coordinator's token writes an alert, a second
coordinator's approves it, and the progress is followed until the messages reach the fake Twilio;
the two-person rule, break-glass, reject, cancel, updates and cancel notices; list filters; the
call round and the masked deliveries; a retried create with the same Idempotency-Key makes one
alert (also two at the same moment, on PostgreSQL); bad input is refused per field in the caller's
language and writes nothing."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from alerts import jobs
from alerts.authoring.models import AlertCreateKey
from alerts.models import Alert, AlertState, Delivery, DeliveryState, ReplyKind
from consular.audit.models import AuditEntry
from consular.auth.models import Role, User
from consular.db import db, utcnow
from tests.conftest import api_headers
from tests.support.dispatch import TwilioSetup, make_registrant

NEW = {
    "event": "Earthquake", "category": "Geo", "urgency": "Immediate", "severity": "Severe",
    "certainty": "Observed", "base_language": "zh_Hans", "safety_check": True,
    "safety_check_minutes": 30,
    "texts": {"zh_Hans": {"headline": "普拉托发生地震", "body": "请远离建筑物，回复1报平安。"},
              "en": {"headline": "Earthquake near Prato", "body": "Stay away from buildings."}},
    "areas": [{"shape": "circle", "latitude": 43.88, "longitude": 11.10, "radius_km": 30}],
}


class Caller:
    def __init__(self, app: Flask, user: User, language: str = "en") -> None:
        self.client = app.test_client()
        self.headers = {**api_headers(user), "Accept-Language": language}

    def get(self, url: str) -> Any:
        return self.client.get(url, headers=self.headers)

    def post(self, url: str, body: Any = None, **headers: str) -> Any:
        return self.client.post(url, json=body if body is not None else {},
                                headers={**self.headers, **headers})

    def patch(self, url: str, body: Any) -> Any:
        return self.client.patch(url, json=body, headers=self.headers)


@pytest.fixture
def pair(app: Flask, make_user: Callable[..., User]) -> tuple[Caller, Caller]:
    return (Caller(app, make_user(Role.coordinator, locale="en")),
            Caller(app, make_user(Role.coordinator, locale="en")))


def _count(model: Any) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model)) or 0


def test_created_by_one_coordinator_approved_by_another_and_followed_to_the_fake_twilio(
        app: Flask, make_user: Callable[..., User], twilio: TwilioSetup) -> None:
    people = [make_registrant(language="zh_Hans"), make_registrant(language="en"),
              make_registrant(language="it")]
    far = make_registrant(country="FR", city="Paris", timezone="Europe/Paris")
    author = Caller(twilio.app, make_user(Role.coordinator, locale="en"))
    approver = Caller(twilio.app, make_user(Role.coordinator, locale="zh_Hans"))

    made = author.post("/api/v1/alerts", {**NEW, "areas": [{"country_code": "IT"}]})
    assert made.status_code == 201, made.get_json()
    alert = made.get_json()
    assert made.headers["Location"].endswith(f"/api/v1/alerts/{alert['id']}")
    assert alert["state"] == "draft" and alert["safety_check"] and alert["safety_check_minutes"] == 30
    assert set(alert["texts"]) == {"zh_Hans", "en"}
    assert alert["links"]["cap"].endswith(f"/alerts/{alert['identifier']}.cap.xml")
    url = f"/api/v1/alerts/{alert['id']}"

    assert author.post(f"{url}/submit").get_json()["state"] == "pending_approval"
    own = author.post(f"{url}/approve")  # the two-person rule
    assert own.status_code == 403 and "another coordinator" in own.get_json()["message"]
    approved = approver.post(f"{url}/approve")
    assert approved.status_code == 200, approved.get_json()
    assert approved.get_json()["state"] == "scheduled"
    assert approved.get_json()["approver_id"] != approved.get_json()["author_id"]

    with twilio.app.app_context():
        assert jobs.due_alerts() == 1
    assert twilio.run_until_idle() == 3
    assert twilio.fake.wait_idle(60)
    progress: dict[str, Any] = {}
    for _ in range(100):  # the signed status callbacks arrive on their own thread
        progress = author.get(f"{url}/progress").get_json()
        if progress["totals"]["delivered"] == 3:
            break
        twilio.fake.wait_idle(1)
    assert progress["totals"]["planned"] == 3 and progress["totals"]["delivered"] == 3
    assert progress["state"] == "sent" and progress["finished"] and progress["percent"] == 100
    assert {row["code"]: row["planned"] for row in progress["by_language"]} == {"zh_Hans": 2, "en": 1}
    sent_to = {m["to"] for m in twilio.fake.messages()}
    assert sent_to == {p.phone for p in people} and far.phone not in sent_to

    # The deliveries, paged, with the numbers masked.
    page = author.get(f"{url}/deliveries?limit=2").get_json()
    assert page["total"] == 3 and len(page["items"]) == 2
    shown = [item["phone"] for item in page["items"]]
    assert all(p.phone not in shown for p in people)
    assert all(phone.startswith("+39") and phone.endswith(p.phone[-2:]) and "\u2022" in phone
               for phone, p in zip(shown, people, strict=False))
    assert {item["state"] for item in page["items"]} == {"delivered"}
    assert author.get(f"{url}/deliveries?offset=2").get_json()["items"][0]["phone"].endswith(
        people[2].phone[-2:])


def test_reject_edit_cancel_and_the_states_that_refuse(app: Flask, pair: tuple[Caller, Caller]) -> None:
    author, other = pair
    alert = author.post("/api/v1/alerts", NEW).get_json()
    url = f"/api/v1/alerts/{alert['id']}"
    assert author.post(f"{url}/approve").status_code == 409  # not waiting for approval
    author.post(f"{url}/submit")
    refused = other.post(f"{url}/reject", {})
    assert refused.status_code == 422 and set(refused.get_json()["fields"]) == {"reason"}
    back = other.post(f"{url}/reject", {"reason": "Say where exactly."})
    assert back.get_json()["state"] == "draft" and back.get_json()["review_note"] == "Say where exactly."

    changed = author.patch(url, {"place": "Prato", "texts": {"zh_Hans": {"headline": "地震",
                                                                         "body": "请报平安。"}}})
    assert changed.status_code == 200, changed.get_json()
    body = changed.get_json()
    assert body["place"] == "Prato" and set(body["texts"]) == {"zh_Hans"}
    assert body["event"] == "Earthquake" and body["areas"][0]["shape"] == "circle"  # kept
    stale = author.patch(url, {"place": "Firenze", "expected_version": body["version"] - 1})
    assert stale.status_code == 409 and stale.get_json()["error"] == "stale"
    assert other.patch(url, {"bogus": 1}).get_json()["fields"] == {"bogus": "Unknown or read-only field."}

    cancelled = other.post(f"{url}/cancel", {"reason": "A false report."})
    assert cancelled.get_json()["state"] == "cancelled"
    assert author.patch(url, {"place": "Roma"}).status_code == 409
    assert author.post(f"{url}/cancel", {"reason": "again"}).status_code == 409
    assert author.post(f"{url}/update").status_code == 409  # never went out
    assert author.get(f"{url}/call-round").status_code == 200  # a safety check: the (empty) round


def test_break_glass_needs_a_reason_and_another_coordinators_review(
        app: Flask, pair: tuple[Caller, Caller]) -> None:
    author, other = pair
    alert = author.post("/api/v1/alerts", {**NEW, "severity": "Extreme"}).get_json()
    url = f"/api/v1/alerts/{alert['id']}"
    before = _count(AuditEntry)
    missing = author.post(f"{url}/break-glass", {"reason": " "})
    assert missing.status_code == 422 and set(missing.get_json()["fields"]) == {"reason"}
    assert _count(AuditEntry) == before  # nothing written
    sent = author.post(f"{url}/break-glass", {"reason": "Only one coordinator on duty tonight."})
    assert sent.status_code == 200, sent.get_json()
    glass = sent.get_json()["break_glass"]
    assert sent.get_json()["state"] == "scheduled" and glass["reason"].startswith("Only one")
    assert author.post(f"{url}/break-glass/review", {"note": "mine"}).status_code == 403
    reviewed = other.post(f"{url}/break-glass/review", {"note": "Right call."}).get_json()
    assert reviewed["break_glass"]["reviewed_at"] and reviewed["break_glass"]["review_note"] == "Right call."


def test_updates_and_cancel_notices_of_an_alert_that_went_out(app: Flask,
                                                              pair: tuple[Caller, Caller]) -> None:
    author, other = pair
    make_registrant()
    alert = author.post("/api/v1/alerts", {**NEW, "areas": [{"country_code": "IT"}]}).get_json()
    url = f"/api/v1/alerts/{alert['id']}"
    author.post(f"{url}/submit")
    other.post(f"{url}/approve")
    assert jobs.due_alerts() == 1
    db.session.commit()
    update = author.post(f"{url}/update")
    assert update.status_code == 201
    assert update.get_json()["msg_type"] == "Update" and update.get_json()["references_id"] == alert["id"]
    unchanged = author.post(f"/api/v1/alerts/{update.get_json()['id']}/submit")
    assert unchanged.status_code == 422 and "texts.zh_Hans.body" in unchanged.get_json()["fields"]
    notice = author.post(f"{url}/cancel-notice").get_json()
    assert notice["msg_type"] == "Cancel" and notice["state"] == "draft"
    listed = author.get("/api/v1/alerts?kind=Update").get_json()
    assert [a["id"] for a in listed["items"]] == [update.get_json()["id"]]
    cap = author.get(f"{url}/cap").get_json()
    assert cap["identifier"] == alert["identifier"] and cap["url"].endswith(".cap.xml")
    assert cap["document"].startswith("<?xml") and alert["identifier"] in cap["document"]
    assert app.test_client().get(cap["url"]).status_code == 404  # not public: not for everyone


def test_list_filters_and_paging(app: Flask, pair: tuple[Caller, Caller]) -> None:
    author, _other = pair
    ids = [author.post("/api/v1/alerts", {**NEW, "status": status}).get_json()["id"]
           for status in ("Actual", "Exercise", "Actual")]
    author.post(f"/api/v1/alerts/{ids[0]}/submit")
    assert author.get("/api/v1/alerts").get_json()["total"] == 3
    waiting = author.get("/api/v1/alerts?state=pending_approval").get_json()["items"]
    assert [a["id"] for a in waiting] == [ids[0]]
    assert [a["id"] for a in author.get("/api/v1/alerts?status=Exercise").get_json()["items"]] == [ids[1]]
    page = author.get("/api/v1/alerts?limit=2&offset=1").get_json()
    assert page["total"] == 3 and [a["id"] for a in page["items"]] == [ids[1], ids[0]]
    today = utcnow().date()
    assert author.get(f"/api/v1/alerts?created_from={today}").get_json()["total"] == 3
    assert author.get(f"/api/v1/alerts?created_until={today - timedelta(days=1)}").get_json()["total"] == 0
    bad = author.get("/api/v1/alerts?state=lost&created_from=yesterday&limit=0")
    assert bad.status_code == 400 and set(bad.get_json()["fields"]) == {"state", "created_from", "limit"}


def test_from_a_template_with_a_polygon(app: Flask, pair: tuple[Caller, Caller]) -> None:
    from alerts.authoring.demo_templates import load_demo_templates
    from alerts.authoring.models import AlertTemplate

    author, _other = pair
    load_demo_templates()
    db.session.commit()
    template = db.session.scalars(sa.select(AlertTemplate).order_by(AlertTemplate.id)).first()
    assert template is not None
    square = [[43.8, 11.0], [43.8, 11.2], [44.0, 11.2], [44.0, 11.0]]
    made = author.post("/api/v1/alerts", {"template_id": template.id, "place": "Prato",
                                          "event_time": utcnow().isoformat(),
                                          "areas": [{"shape": "polygon", "polygon": square}]})
    assert made.status_code == 201, made.get_json()
    alert = made.get_json()
    assert alert["template_id"] == template.id and alert["event"] == template.event
    assert set(alert["texts"]) == {t.language for t in template.texts}
    assert alert["areas"][0]["shape"] == "polygon" and alert["areas"][0]["country_code"] == "IT"
    missing = author.post("/api/v1/alerts", {"template_id": 999_999})
    assert missing.status_code == 422 and set(missing.get_json()["fields"]) == {"template_id"}


def test_a_retried_create_with_the_same_key_makes_one_alert(app: Flask, pair: tuple[Caller, Caller]) -> None:
    author, other = pair
    first = author.post("/api/v1/alerts", NEW, **{"Idempotency-Key": "retry-1"})
    again = author.post("/api/v1/alerts", NEW, **{"Idempotency-Key": "retry-1"})
    assert first.status_code == 201 and again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json()["id"] == first.get_json()["id"]
    assert _count(Alert) == 1 and _count(AuditEntry.__table__.select().where(
        AuditEntry.action == "alert.create").subquery()) == 1
    # Another body under the same key is refused, saying why; another caller's key is their own.
    reused = author.post("/api/v1/alerts", {**NEW, "event": "Flood"}, **{"Idempotency-Key": "retry-1"})
    assert reused.status_code == 422 and reused.get_json()["error"] == "idempotency_key_reused"
    assert "Idempotency-Key" in reused.get_json()["fields"]
    theirs = other.post("/api/v1/alerts", NEW, **{"Idempotency-Key": "retry-1"})
    assert theirs.status_code == 201 and _count(Alert) == 2
    # A refused first try keeps no key: the corrected retry makes the alert.
    bad = author.post("/api/v1/alerts", {**NEW, "event": ""}, **{"Idempotency-Key": "retry-2"})
    assert bad.status_code == 422 and _count(AlertCreateKey) == 2
    assert author.post("/api/v1/alerts", NEW, **{"Idempotency-Key": "retry-2"}).status_code == 201
    junk = author.post("/api/v1/alerts", NEW, **{"Idempotency-Key": "x" * 201})
    assert junk.status_code == 400 and "Idempotency-Key" in junk.get_json()["fields"]


@pytest.mark.postgres
def test_concurrent_retries_with_one_key_make_one_alert(app: Flask, backend: str,
                                                        make_user: Callable[..., User]) -> None:
    """Four copies of one create arrive at once (four connections): the unique key lets one make
    the alert; the others answer that same alert."""
    user = make_user(Role.coordinator, locale="en")
    headers = {**api_headers(user), "Idempotency-Key": "storm-1"}
    start = threading.Barrier(4)
    answers: list[Any] = []

    def post() -> None:
        with app.app_context():  # a thread of its own: its own session and connection
            client = app.test_client()
            start.wait(10)
            answers.append(client.post("/api/v1/alerts", json=NEW, headers=headers))

    threads = [threading.Thread(target=post) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(a.status_code for a in answers) == [200, 200, 200, 201]
    assert len({a.get_json()["id"] for a in answers}) == 1
    db.session.expire_all()
    assert _count(Alert) == 1 and _count(AlertCreateKey) == 1


def test_bad_input_is_refused_per_field_in_the_callers_language(
        app: Flask, make_user: Callable[..., User]) -> None:
    user = make_user(Role.coordinator, locale="zh_Hans")
    caller = Caller(app, user, language="zh_Hans")
    before = (_count(Alert), _count(AuditEntry))
    bad = caller.post("/api/v1/alerts", {
        "event": "", "severity": "Catastrophic", "send_at": "tomorrow", "safety_check": True,
        "safety_check_minutes": 1, "ladder_visit_minutes": -1, "ladder_kin_minutes": "soon",
        "texts": {"xx": {"headline": "a", "body": "b"}},
        "areas": [{"shape": "circle", "latitude": 200, "longitude": 11, "radius_km": 10},
                  {"shape": "polygon", "polygon": [[1, 2], [3]]}, {"country_code": "ZZ"}],
        "colour": "red"})
    assert bad.status_code == 422
    fields = bad.get_json()["fields"]
    assert {"event", "severity", "send_at", "safety_check_minutes", "ladder_visit_minutes",
            "ladder_kin_minutes", "texts.xx", "areas.0.latitude",
            "areas.1.polygon", "areas.2.country_code", "colour"} <= set(fields)
    assert all(any("\u4e00" <= ch <= "\u9fff" for ch in message) for message in fields.values())
    assert (_count(Alert), _count(AuditEntry)) == before
    for body in (b"[1, 2]", b"{", b'{"texts": "none", "areas": {"a": 1}}'):
        answer = caller.client.post("/api/v1/alerts", data=body, content_type="application/json",
                                    headers=caller.headers)
        assert 400 <= answer.status_code < 500 and answer.get_json()["message"]
    assert caller.client.post("/api/v1/alerts", data="x", headers=caller.headers).status_code == 415
    assert (_count(Alert), _count(AuditEntry)) == before


def test_only_coordinators_see_the_alerts_api(app: Flask, make_user: Callable[..., User]) -> None:
    coordinator = Caller(app, make_user(Role.coordinator))
    alert = coordinator.post("/api/v1/alerts", NEW).get_json()
    for role in (Role.admin, Role.liaison_officer, Role.station_volunteer):
        other = Caller(app, make_user(role))
        for url in ("/api/v1/alerts", f"/api/v1/alerts/{alert['id']}",
                    f"/api/v1/alerts/{alert['id']}/progress"):
            answer = other.get(url)
            assert answer.status_code == 404 and alert["identifier"] not in answer.get_data(as_text=True)
        assert other.post(f"/api/v1/alerts/{alert['id']}/submit").status_code == 404
    assert app.test_client().get("/api/v1/alerts").status_code == 401
    assert db.session.get(Alert, alert["id"]).state == AlertState.draft


def test_the_call_round_lists_who_needs_a_call(app: Flask, pair: tuple[Caller, Caller]) -> None:
    author, other = pair
    helpless, quiet = make_registrant(), make_registrant()
    alert = author.post("/api/v1/alerts", {**NEW, "areas": [{"country_code": "IT"}]}).get_json()
    url = f"/api/v1/alerts/{alert['id']}"
    author.post(f"{url}/submit")
    other.post(f"{url}/approve")
    jobs.due_alerts()
    db.session.commit()
    long_ago = utcnow() - timedelta(hours=2)
    for delivery in db.session.scalars(sa.select(Delivery).where(Delivery.alert_id == alert["id"])):
        delivery.state, delivery.submitted_at = DeliveryState.delivered, long_ago
        if delivery.registrant_id == helpless.id:
            delivery.reply_kind, delivery.replied_at = ReplyKind.need_help, long_ago
    db.session.commit()
    before = _count(AuditEntry)
    rows = author.get(f"{url}/call-round").get_json()["items"]
    assert [(r["registrant_id"], r["why"]) for r in rows] == [(helpless.id, "need_help"),
                                                              (quiet.id, "no_answer")]
    assert rows[0]["phone"] == helpless.phone
    assert _count(AuditEntry) == before + 1  # the read is in the audit trail
    assert author.get(f"{url}/progress").get_json()["replies"]["need_help"] == 1


def test_the_openapi_document_describes_the_whole_lifecycle(app: Flask) -> None:
    doc = app.test_client().get("/api/openapi.json").get_json()
    one = "/api/v1/alerts/{alert_id}"
    described = {(path, method) for path, operations in doc["paths"].items() for method in operations
                 if path.startswith("/api/v1/alerts")}
    assert described == {
        ("/api/v1/alerts", "get"), ("/api/v1/alerts", "post"), (one, "get"), (one, "patch"),
        *((f"{one}/{tail}", "post") for tail in ("submit", "approve", "reject", "cancel", "break-glass",
                                                 "break-glass/review", "update", "cancel-notice")),
        *((f"{one}/{tail}", "get") for tail in ("progress", "call-round", "deliveries", "cap"))}
    create = doc["paths"]["/api/v1/alerts"]["post"]
    assert {"name": "Idempotency-Key", "in": "header"}.items() <= next(
        p for p in create["parameters"] if p["name"] == "Idempotency-Key").items()
    assert {"200", "201", "422"} <= set(create["responses"])
    assert "403" in doc["paths"][f"{one}/approve"]["post"]["responses"]  # the two-person rule
