"""The case JSON API: what each role may list, read and do through it (own place and another's),
a case's whole life through the action endpoints, and clear 4xx answers to bad input, never a
500 and nothing half-written."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from consular.audit.models import AuditEntry
from consular.cases import operations as ops
from consular.cases.models import Case, CasePerson, CaseStatus, TimelineEntry
from consular.db import db, utcnow
from consular.network.models import LiaisonPoint
from tests.conftest import csrf_from
from tests.support.cases_api import (
    NEW_CASE,
    Api,
    World,
    act,
    api_world_fixture,  # noqa: F401 (the fixture)
    case_url,
)


def count_cases() -> int:
    return db.session.scalar(sa.select(sa.func.count(Case.id))) or 0


# --- who may read what --------------------------------------------------------------------------

READ_MATRIX = [
    # caller, own case, other case
    ("coordinator", 200, 200),
    ("officer", 200, 404),
    ("other_officer", 404, 200),
    ("volunteer", 200, 404),
    ("other_volunteer", 404, 404),
    ("admin", 404, 404),
    ("anonymous", 401, 401),
]


@pytest.mark.parametrize(("caller", "own_status", "other_status"), READ_MATRIX)
def test_reading_a_case_follows_the_scope(world, caller, own_status, other_status):
    api = world.api[caller]
    assert api.get(case_url(world.own)).status_code == own_status
    assert api.get(case_url(world.other)).status_code == other_status
    assert api.get("/api/v1/cases/999999").status_code == (401 if caller == "anonymous" else 404)


LIST_MATRIX = [
    ("coordinator", 200, {"own", "other"}),
    ("officer", 200, {"own"}),
    ("other_officer", 200, {"other"}),
    ("volunteer", 200, {"own"}),
    ("other_volunteer", 200, set()),
    ("admin", 404, None),
    ("anonymous", 401, None),
]


@pytest.mark.parametrize(("caller", "status", "visible"), LIST_MATRIX)
def test_listing_cases_follows_the_scope(world, caller, status, visible):
    response = world.api[caller].get("/api/v1/cases")
    assert response.status_code == status
    body = response.get_json()
    if visible is None:
        assert set(body) >= {"error", "message"}
        return
    names = {world.own.id: "own", world.other.id: "other"}
    assert {names[item["id"]] for item in body["items"]} == visible
    assert body["total"] == len(visible) and body["limit"] == 50 and body["offset"] == 0


def test_a_case_reads_with_its_people_timeline_and_hand_offs(world):
    body = world.api["coordinator"].get(case_url(world.own)).get_json()
    assert body["reference"] == world.own.reference and body["status"] == "assigned"
    assert body["liaison_point"]["name"] == "丽岙街道联络点"
    [person] = body["persons"]
    assert person["name_zh"] == "王伟" and person["id_number"] == "E12345678"
    assert person["phone"] == "+393311234567" and person["id_number_hidden"] is False
    [assignment] = body["assignments"]
    assert assignment["status"] == "offered" and assignment["station"]["name"] == "普拉托服务站"
    assert assignment["instructions"] == "请去警察局了解情况"
    assert [e["action"] for e in body["timeline"]] == ["create", "triage", "assign"]
    assert "revoke" in body["allowed_actions"] and "triage" not in body["allowed_actions"]
    assert body["version"] == world.own.version


def test_station_volunteers_do_not_see_id_numbers(world):
    body = world.api["volunteer"].get(case_url(world.own)).get_json()
    [person] = body["persons"]
    assert person["id_number"] is None and person["id_number_hidden"] is True
    assert person["name_zh"] == "王伟"
    assert set(body["allowed_actions"]) == {"accept", "decline"}


def test_reading_a_case_is_audited(world):
    world.api["officer"].get(case_url(world.own))
    world.api["other_officer"].get(case_url(world.own))  # 404: not recorded as a view
    views = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "case.view")).all()
    assert [(v.user_id, v.object_id) for v in views] == [(world.officer.id, str(world.own.id))]


# --- listing, searching, paging -----------------------------------------------------------------


def test_coordinators_get_the_queue_order_overdue_first(world):
    # The other case waits for triage; push its deadlines into the past.
    world.other.reported_at = utcnow() - timedelta(days=3)
    world.other.first_response_due_at = utcnow() - timedelta(days=2)
    world.other.assignment_due_at = utcnow() - timedelta(days=1)
    db.session.commit()
    items = world.api["coordinator"].get("/api/v1/cases").get_json()["items"]
    assert [i["id"] for i in items] == [world.other.id, world.own.id]
    assert items[0]["overdue"] is True and items[0]["time_left_seconds"] < 0
    assert items[1]["overdue"] is False
    overdue = world.api["coordinator"].get("/api/v1/cases?overdue=true").get_json()
    assert [i["id"] for i in overdue["items"]] == [world.other.id]


def test_filters_search_and_paging(world):
    api = world.api["coordinator"]
    assert [i["id"] for i in api.get("/api/v1/cases?status=new").get_json()["items"]] == \
        [world.other.id]
    both = api.get("/api/v1/cases?status=new&status=assigned").get_json()
    assert both["total"] == 2
    assert api.get("/api/v1/cases?country=fr").get_json()["total"] == 1
    assert api.get("/api/v1/cases?category=detained&priority=P2").get_json()["total"] == 1
    assert api.get("/api/v1/cases?open=false").get_json()["total"] == 0
    for q in ("王伟", "WANG WEI", "wang wei", "E12345678", "+393311234567", world.own.reference):
        found = api.get("/api/v1/cases", query_string={"q": q}).get_json()
        assert [i["id"] for i in found["items"]] == [world.own.id], q
    page = api.get("/api/v1/cases?limit=1&offset=1&order=recent").get_json()
    assert page["total"] == 2 and len(page["items"]) == 1 and page["limit"] == 1


def test_search_stays_in_scope(world):
    found = world.api["other_officer"].get("/api/v1/cases", query_string={"q": "王伟"}).get_json()
    assert found["items"] == []


@pytest.mark.parametrize("query", [
    "limit=0", "limit=201", "limit=abc", "limit=--1", "limit=1.5", "limit=%EF%BC%91", "offset=-1",
    "status=lost", "priority=P9",
    "station_id=0", "station_id=99999999999999", "overdue=maybe", "order=random", "colour=red",
    "country=ITA", "q=" + "x" * 101, "q=%00", "country=", "status=", "overdue=", "limit=",
])
def test_bad_query_parameters_are_a_400_naming_them(world, query):
    response = world.api["coordinator"].get(f"/api/v1/cases?{query}")
    assert response.status_code == 400
    body = response.get_json()
    assert body["error"] == "bad_query" and body["fields"]
    assert query.split("=")[0] in body["fields"]


# --- logging a case -----------------------------------------------------------------------------


def test_an_officer_logs_a_case_for_their_point(world):
    response = world.api["officer"].post("/api/v1/cases", NEW_CASE)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert response.headers["Location"].endswith(f"/api/v1/cases/{body['id']}")
    assert body["status"] == "new" and body["country_code"] == "ES"
    assert body["liaison_point"]["id"] == world.officer.liaison_point_id
    assert body["channel"] == "walk_in"
    involved, family = body["persons"]
    assert involved["phone"] == "+34612345678"  # read as a Spanish number: the case is in Spain
    assert family["phone"] == "+8613905770123" and family["relationship"] == "父亲"
    assert [e["action"] for e in body["timeline"]] == ["create"]


def test_an_incident_in_the_city_through_the_api(world):
    """The API logs a foreign-related incident at home as the page does: a division of the city,
    no country abroad, a foreign national's nationality and passport number."""
    division = db.session.get(LiaisonPoint, world.officer.liaison_point_id).division
    body = {"kind": "domestic", "division_id": division.id, "place": "五马街 12 号",
            "summary": "意大利游客丢失护照", "category": "lost_documents",
            "persons": [{"name_latin": "ROSSI GIULIA", "nationality": "it", "id_number": "YA1234567"}]}
    response = world.api["officer"].post("/api/v1/cases", body)
    assert response.status_code == 201, response.get_json()
    case = response.get_json()
    assert case["kind"] == "domestic" and case["country_code"] is None
    assert case["division_id"] == division.id and case["division"]["name"] == division.name
    assert (case["persons"][0]["nationality"], case["persons"][0]["id_kind"]) == ("IT", "foreign_passport")
    listed = world.api["coordinator"].get("/api/v1/cases?kind=domestic&q=YA1234567").get_json()
    assert [c["id"] for c in listed["items"]] == [case["id"]]
    abroad = world.api["officer"].post("/api/v1/cases", {**body, "kind": "abroad", "country_code": "IT"})
    assert abroad.status_code == 422 and "division_id" in abroad.get_json()["fields"]


def test_possible_duplicates_answer_409_until_acknowledged(world):
    again = {"summary": "又一次来登记", "category": "detained", "country_code": "IT",
             "persons": [{"name_zh": "王伟", "id_number": "E12345678"}]}
    before = count_cases()
    first = world.api["officer"].post("/api/v1/cases", again)
    assert first.status_code == 409
    body = first.get_json()
    assert body["error"] == "duplicates"
    assert [c["id"] for c in body["candidates"]] == [world.own.id]
    assert body["candidates"][0]["reference"] == world.own.reference
    assert count_cases() == before
    # Another point's officer learns that a similar case exists, not which one.
    hidden = world.api["other_officer"].post("/api/v1/cases", again).get_json()
    assert hidden["candidates"] == [] and hidden["hidden_candidates"] == 1
    logged = world.api["officer"].post("/api/v1/cases",
                                       {**again, "acknowledge_duplicates": [world.own.id]})
    assert logged.status_code == 201
    entry = logged.get_json()["timeline"][-1]
    assert entry["action"] == "duplicate_acknowledged" and entry["detail"] == {
        "case_ids": [world.own.id]}


@pytest.mark.parametrize(("caller", "status"), [
    ("coordinator", 201), ("officer", 201), ("volunteer", 201), ("admin", 404),
    ("anonymous", 400)])  # no credentials: a write without a token is checked as a form (CSRF)
def test_who_may_log_a_case(world, caller, status):
    response = world.api[caller].post("/api/v1/cases", {**NEW_CASE, "acknowledge_duplicates": []})
    assert response.status_code == status, response.get_json()
    if caller == "volunteer":
        body = response.get_json()
        assert body["reporting_station_id"] == world.volunteer.station_id
        assert body["channel"] == "station"


def test_an_officer_cannot_log_for_another_point(world):
    response = world.api["officer"].post("/api/v1/cases", {
        **NEW_CASE, "liaison_point_id": world.other_officer.liaison_point_id})
    assert response.status_code == 422
    assert "liaison_point_id" in response.get_json()["fields"]


BAD_BODIES = [
    ({**NEW_CASE, "summary": 5}, "summary"),
    ({**NEW_CASE, "summary": ""}, "summary"),
    ({**NEW_CASE, "summary": "x" * 201}, "summary"),
    ({**NEW_CASE, "summary": "a\x00b"}, "summary"),
    ({**NEW_CASE, "summary": "a\x85b"}, "summary"),
    ({**NEW_CASE, "summary": "invoice \u202egnp.exe"}, "summary"),
    ({**NEW_CASE, "summary": "lone \ud800 surrogate"}, "summary"),
    ({k: v for k, v in NEW_CASE.items() if k != "summary"}, "summary"),
    ({k: v for k, v in NEW_CASE.items() if k != "persons"}, "persons"),
    ({**NEW_CASE, "persons": []}, "persons"),
    ({**NEW_CASE, "persons": "王伟"}, "persons"),
    ({**NEW_CASE, "persons": [{"name_zh": "王伟"}] * 51}, "persons"),
    ({**NEW_CASE, "persons": [{"name_zh": 7}]}, "persons.0.name_zh"),
    ({**NEW_CASE, "persons": [{"name_zh": "王伟", "phone": "not a phone"}]}, "persons.0.phone"),
    ({**NEW_CASE, "persons": [{"name_zh": "王伟", "shoe_size": 42}]}, "persons.0.shoe_size"),
    ({**NEW_CASE, "persons": [{"relationship": "父亲"}]}, "persons"),
    ({**NEW_CASE, "category": "alien_abduction"}, "category"),
    ({**NEW_CASE, "priority": 1}, "priority"),
    ({**NEW_CASE, "country_code": "XX"}, "country_code"),
    ({**NEW_CASE, "country_code": "I1"}, "country_code"),
    ({**NEW_CASE, "country_code": None}, "country_code"),
    ({**NEW_CASE, "occurred_at": "yesterday"}, "occurred_at"),
    ({**NEW_CASE, "occurred_at": "2999-01-01T10:00"}, "occurred_at"),
    ({**NEW_CASE, "narrative": "x" * 20_001}, "narrative"),
    ({**NEW_CASE, "incident_id": "1"}, "incident_id"),
    ({**NEW_CASE, "acknowledge_duplicates": [True]}, "acknowledge_duplicates.0"),
    ({**NEW_CASE, "id": 5}, "id"),
    ({**NEW_CASE, "status": "closed"}, "status"),
]


@pytest.mark.parametrize(("body", "field"), BAD_BODIES)
def test_bad_values_are_a_422_naming_the_field_and_nothing_is_written(world, body, field):
    before = count_cases()
    response = world.api["officer"].post("/api/v1/cases", body)
    assert response.status_code == 422, response.get_json()
    answer = response.get_json()
    assert answer["error"] == "invalid" and field in answer["fields"], answer
    assert count_cases() == before


@pytest.mark.parametrize(("kwargs", "status", "error"), [
    ({"data": "{not json", "content_type": "application/json"}, 400, "bad_json"),
    ({"data": "[1, 2]", "content_type": "application/json"}, 400, "bad_json"),
    ({"data": "null", "content_type": "application/json"}, 400, "bad_json"),
    ({"data": "summary=x", "content_type": "application/x-www-form-urlencoded"}, 415,
     "unsupported_media_type"),
    ({"data": "[" * 100_000, "content_type": "application/json"}, 400, "bad_json"),
])
def test_bodies_that_are_not_json_objects(world, kwargs, status, error):
    response = world.api["officer"].raw("POST", "/api/v1/cases", **kwargs)
    assert response.status_code == status
    assert response.get_json()["error"] == error


def test_huge_bodies_are_refused(world, app):
    limit = app.config["MAX_CONTENT_LENGTH"]
    response = world.api["officer"].raw("POST", "/api/v1/cases", data="x" * (limit + 1),
                                        content_type="application/json")
    assert response.status_code == 413
    before = count_cases()
    big = world.api["officer"].post("/api/v1/cases", {**NEW_CASE, "narrative": "长" * 1_000_000})
    assert big.status_code == 422 and "narrative" in big.get_json()["fields"]
    assert count_cases() == before


# --- editing ------------------------------------------------------------------------------------


def test_editing_changes_only_the_fields_sent(world):
    api = world.api["officer"]
    version = world.own.version
    response = api.patch(case_url(world.own), {"expected_version": version,
                                                "city": "Firenze", "tags": "学生, 签证"})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["city"] == "Firenze" and body["tags"] == ["学生", "签证"]
    assert body["summary"] == "王伟在普拉托被拘留" and body["version"] == version + 1
    assert body["timeline"][-1]["detail"] == {"fields": ["city", "tags"]}


def test_a_stale_version_is_a_409_with_the_current_one(world):
    api = world.api["officer"]
    stale = world.own.version - 1
    response = api.patch(case_url(world.own), {"expected_version": stale, "city": "Roma"})
    assert response.status_code == 409
    body = response.get_json()
    assert body["error"] == "stale" and body["current_version"] == world.own.version
    db.session.refresh(world.own)
    assert world.own.city == "Prato"


@pytest.mark.parametrize(("caller", "status"), [
    ("officer", 200), ("coordinator", 200), ("volunteer", 403), ("other_officer", 404),
    ("admin", 404)])
def test_who_may_edit(world, caller, status):
    response = world.api[caller].patch(case_url(world.own), {"expected_version": world.own.version,
                                                             "city": "Roma"})
    assert response.status_code == status


@pytest.mark.parametrize("body", [
    {"city": "Roma"}, {"expected_version": "3", "city": "Roma"},
    {"expected_version": True, "city": "Roma"}, {"expected_version": 1.0},
    {"expected_version": 0}, {"expected_version": 2**40}, {"expected_version": 1, "priority": "P1"},
    {"expected_version": 1, "summary": ""},
])
def test_bad_edit_bodies(world, body):
    response = world.api["officer"].patch(case_url(world.own), body)
    assert response.status_code == 422, response.get_json()


# --- the life of a case through the action endpoints ---------------------------------------------


def test_a_case_from_intake_to_closure_and_back(world):
    coordinator, volunteer = world.api["coordinator"], world.api["volunteer"]
    case_id = world.other.id

    def step(api: Api, action: str, **body: Any) -> dict[str, Any]:
        version = db.session.scalar(sa.select(Case.version).where(Case.id == case_id))
        response = act(api, case_id, action, {"expected_version": version, **body})
        assert response.status_code == 200, (action, response.get_json())
        return response.get_json()

    assert step(coordinator, "triage", priority="P1", category="fraud_theft")["status"] == "triaged"
    assigned = step(coordinator, "assign", station_id=world.volunteer.station_id,
                    instructions="请联系当事人")
    assert assigned["status"] == "assigned"
    assert step(volunteer, "accept", note="已联系")["status"] == "in_progress"
    assert step(volunteer, "wait_external", waiting_on="警方报告")["status"] == "waiting_external"
    assert step(volunteer, "resume")["status"] == "in_progress"
    resolved = step(volunteer, "resolve", outcome="assisted", note="已补办证件")
    assert resolved["status"] == "resolved"
    closed = step(coordinator, "close", outcome="documents_reissued")
    assert closed["status"] == "closed" and closed["outcome"] == "documents_reissued"
    reopened = step(coordinator, "reopen", reason="家属再次求助")
    assert reopened["status"] == "triaged" and reopened["outcome"] is None
    actions = [e["action"] for e in reopened["timeline"]]
    assert actions == ["create", "triage", "assign", "accept", "wait_external", "resume", "resolve",
                       "close", "reopen"]


def test_a_station_declines_and_loses_sight_of_the_case(world):
    response = act(world.api["volunteer"], world.own, "decline",
                   {"expected_version": world.own.version, "reason": "人手不足"})
    assert response.status_code == 204  # done; the case went back to the centre, out of sight
    db.session.refresh(world.own)
    assert world.own.status == CaseStatus.triaged
    assert world.api["volunteer"].get(case_url(world.own)).status_code == 404


@pytest.mark.parametrize(("caller", "action", "body", "status"), [
    ("officer", "triage", {"priority": "P1"}, 403),  # a role that may never
    ("volunteer", "close", {"outcome": "assisted"}, 403),
    ("coordinator", "triage", {"priority": "P1"}, 409),  # not in this state (already assigned)
    ("coordinator", "close", {"outcome": "assisted"}, 409),
    ("coordinator", "resume", {}, 409),
    ("other_volunteer", "accept", {}, 404),  # not their case
    ("admin", "accept", {}, 404),
    ("anonymous", "accept", {}, 400),
])
def test_refused_actions(world, caller, action, body, status):
    before = world.own.version
    response = act(world.api[caller], world.own, action, {"expected_version": before, **body})
    assert response.status_code == status, response.get_json()
    assert set(response.get_json()) >= {"error", "message"}
    db.session.refresh(world.own)
    assert world.own.version == before and world.own.status == CaseStatus.assigned


def test_a_stale_action_is_a_409_and_changes_nothing(world):
    response = act(world.api["volunteer"], world.own, "accept",
                   {"expected_version": world.own.version - 1})
    assert response.status_code == 409 and response.get_json()["error"] == "stale"
    db.session.refresh(world.own)
    assert world.own.status == CaseStatus.assigned


@pytest.mark.parametrize(("action", "body", "field"), [
    ("triage", {}, "priority"),
    ("triage", {"priority": "P7"}, "priority"),
    ("assign", {"station_id": "2"}, "station_id"),
    ("decline", {"reason": ""}, "reason"),
    ("decline", {"reason": "   "}, "reason"),
    ("resolve", {"outcome": "assisted"}, "note"),
    ("wait_external", {"waiting_on": "x" * 501}, "waiting_on"),
    ("set_legal_hold", {"hold": 1, "reason": "诉讼"}, "hold"),
    ("set_legal_hold", {"hold": True}, "reason"),
    ("accept", {"note": ["a"]}, "note"),
    ("accept", {"colour": "red"}, "colour"),
])
def test_bad_action_bodies_are_a_422(world, action, body, field):
    response = act(world.api["coordinator"], world.own, action,
                   {"expected_version": world.own.version, **body})
    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["fields"]


def test_an_action_without_a_version_is_a_422(world):
    response = act(world.api["volunteer"], world.own, "accept", {})
    assert response.status_code == 422
    assert "expected_version" in response.get_json()["fields"]


def test_unknown_actions_and_methods(world):
    api = world.api["coordinator"]
    assert act(api, world.own, "explode", {"expected_version": 1}).status_code == 404
    wrong = api.get(case_url(world.own, "/actions/triage"))
    assert wrong.status_code == 405 and "POST" in wrong.headers["Allow"]
    deleted = api.raw("DELETE", case_url(world.own))
    assert deleted.status_code == 405 and set(deleted.headers["Allow"].split(", ")) >= {"GET", "PATCH"}


def test_assign_checks_the_station(world):
    ops.triage(world.other, user=world.coordinator, priority="P3", expected_version=world.other.version)
    db.session.commit()
    response = act(world.api["coordinator"], world.other, "assign",
                   {"expected_version": world.other.version, "station_id": 999_999})
    assert response.status_code == 422 and "station_id" in response.get_json()["fields"]


# --- notes, people, referrals, incidents -------------------------------------------------------


def test_notes(world):
    response = world.api["officer"].post(case_url(world.own, "/notes"), {"text": "家属又打来电话"})
    assert response.status_code == 201
    assert response.get_json()["timeline"][-1]["text"] == "家属又打来电话"
    # An offered (not yet accepted) station may not write on the case yet.
    assert world.api["volunteer"].post(case_url(world.own, "/notes"), {"text": "x"}).status_code == 409
    assert world.api["other_officer"].post(case_url(world.own, "/notes"),
                                           {"text": "x"}).status_code == 404
    bad = world.api["officer"].post(case_url(world.own, "/notes"), {"text": ""})
    assert bad.status_code == 422 and "text" in bad.get_json()["fields"]


def test_adding_a_person(world):
    response = world.api["officer"].post(case_url(world.own, "/persons"), {
        "expected_version": world.own.version, "role": "family", "name_zh": "王建华",
        "phone": "13905770199", "relationship": "父亲"})
    assert response.status_code == 201, response.get_json()
    assert [p["name_zh"] for p in response.get_json()["persons"]] == ["王伟", "王建华"]
    missing_role = world.api["officer"].post(case_url(world.own, "/persons"), {
        "expected_version": world.own.version + 1, "name_zh": "王建华"})
    assert missing_role.status_code == 422 and "role" in missing_role.get_json()["fields"]
    assert db.session.scalar(sa.select(sa.func.count(CasePerson.id))) == 3


def test_referrals(world, make_mission):
    api = world.api["coordinator"]
    mission = make_mission(name="中国驻米兰总领事馆", city="Milano")
    response = api.post(case_url(world.own, "/referrals"), {"target": "mission",
                                                             "mission_id": mission.id,
                                                             "note": "请领馆协助探视"})
    assert response.status_code == 201, response.get_json()
    [referral] = response.get_json()["referrals"]
    assert referral["mission"]["name"] == "中国驻米兰总领事馆" and referral["status"] == "requested"
    updated = api.patch(case_url(world.own, f"/referrals/{referral['id']}"),
                        {"status": "acknowledged", "external_reference": "MI-2026-77"})
    assert updated.status_code == 200
    assert updated.get_json()["referrals"][0]["external_reference"] == "MI-2026-77"
    assert api.patch(case_url(world.other, f"/referrals/{referral['id']}"),
                     {"status": "completed"}).status_code == 404
    assert api.post(case_url(world.own, "/referrals"), {"target": "other"}).status_code == 422
    assert world.api["officer"].post(case_url(world.own, "/referrals"),
                                     {"target": "police", "target_name": "Prato"}).status_code == 403


def test_incidents(world):
    api = world.api["coordinator"]
    created = api.post("/api/v1/cases/incidents", {"title": "米兰大巴事故", "country_code": "IT",
                                                   "city": "Milano"})
    assert created.status_code == 201, created.get_json()
    incident = created.get_json()
    assert incident["case_ids"] == [] and incident["active"] is True
    linked = act(api, world.own, "link_incident", {"expected_version": world.own.version,
                                                   "incident_id": incident["id"]})
    assert linked.status_code == 200 and linked.get_json()["incident_id"] == incident["id"]
    assert api.get(f"/api/v1/cases/incidents/{incident['id']}").get_json()["case_ids"] == [world.own.id]
    assert api.get("/api/v1/cases/incidents").get_json()["total"] == 1
    assert api.get(f"/api/v1/cases?incident_id={incident['id']}").get_json()["total"] == 1
    # The officer of the linked case sees the incident; another point's officer does not.
    assert world.api["officer"].get(f"/api/v1/cases/incidents/{incident['id']}").status_code == 200
    assert world.api["other_officer"].get(
        f"/api/v1/cases/incidents/{incident['id']}").status_code == 404
    assert world.api["officer"].post("/api/v1/cases/incidents", {"title": "x"}).status_code == 403
    assert world.api["admin"].get("/api/v1/cases/incidents").status_code == 404
    assert api.post("/api/v1/cases/incidents", {"title": ""}).status_code == 422
    assert act(api, world.own, "link_incident", {"expected_version": world.own.version + 1,
                                                 "incident_id": 999_999}).status_code == 422


# --- the session cookie instead of a token -------------------------------------------------------


def test_a_wrong_token_is_a_401(world, client):
    headers = {"Authorization": "Bearer cpt_not-a-real-token"}
    assert client.get("/api/v1/cases", headers=headers).status_code == 401
    response = client.post(case_url(world.own, "/notes"), json={"text": "x"}, headers=headers)
    assert response.status_code == 401 and response.get_json()["error"] == 401


def test_cookie_callers_need_the_csrf_header_on_writes(world, logged_in):
    browser = logged_in(world.officer)
    assert browser.client.get(case_url(world.own)).status_code == 200
    refused = browser.client.post(case_url(world.own, "/notes"), json={"text": "便条"})
    assert refused.status_code == 400 and refused.get_json()["error"] == "csrf"
    token = csrf_from(browser.client.get("/").get_data(as_text=True))
    ok = browser.client.post(case_url(world.own, "/notes"), json={"text": "便条"},
                             headers={"X-CSRFToken": token})
    assert ok.status_code == 201
    notes = db.session.scalars(sa.select(TimelineEntry).where(TimelineEntry.action == "add_note")).all()
    assert len(notes) == 1


# --- the whole matrix: every endpoint × every role × own place and another's ---------------------

ROLES = ("coordinator", "officer", "other_officer", "volunteer", "other_volunteer", "admin")


def _call(world: World, caller: str, endpoint: str, case: Case) -> int:
    api, version = world.api[caller], case.version
    calls = {
        "read": lambda: api.get(case_url(case)),
        "edit": lambda: api.patch(case_url(case), {"expected_version": version, "city": "Lucca"}),
        "note": lambda: api.post(case_url(case, "/notes"), {"text": "家属来电"}),
        "person": lambda: api.post(case_url(case, "/persons"), {
            "expected_version": version, "role": "family", "name_zh": "王建华"}),
        "refer": lambda: api.post(case_url(case, "/referrals"), {"target": "police",
                                                                  "target_name": "Questura di Prato"}),
        "accept": lambda: act(api, case, "accept", {"expected_version": version}),
        "triage": lambda: act(api, case, "triage", {"expected_version": version, "priority": "P2"}),
        "legal_hold": lambda: act(api, case, "set_legal_hold", {"expected_version": version,
                                                                "hold": True, "reason": "诉讼"}),
    }
    return int(calls[endpoint]().status_code)


def answers(coordinator: tuple[int, int], officer: tuple[int, int],
            volunteer: tuple[int, int]) -> dict[str, tuple[int, int]]:
    """Each role's (own case, other case) statuses: the other point's officer answers as the officer
    with the two cases swapped; the other station's volunteer and the admin see neither (404)."""
    return {"coordinator": coordinator, "officer": officer, "other_officer": (officer[1], officer[0]),
            "volunteer": volunteer, "other_volunteer": (404, 404), "admin": (404, 404)}


# endpoint → role → (status on the case of the caller's place, status on another place's case).
# "Own" is the case logged at the officer's point and offered to the volunteer's station (state:
# assigned); "other" is a new case of another point that no station has seen.
MATRIX: dict[str, dict[str, tuple[int, int]]] = {
    "read": answers(coordinator=(200, 200), officer=(200, 404), volunteer=(200, 404)),
    "edit": answers(coordinator=(200, 200), officer=(200, 404), volunteer=(403, 404)),
    "note": answers(coordinator=(201, 201), officer=(201, 404), volunteer=(409, 404)),
    "person": answers(coordinator=(201, 201), officer=(201, 404), volunteer=(403, 404)),
    "refer": answers(coordinator=(201, 201), officer=(403, 404), volunteer=(403, 404)),
    "accept": answers(coordinator=(200, 409), officer=(403, 404), volunteer=(200, 404)),
    "triage": answers(coordinator=(409, 200), officer=(403, 404), volunteer=(403, 404)),
    "legal_hold": answers(coordinator=(200, 200), officer=(403, 404), volunteer=(403, 404)),
}


@pytest.mark.parametrize("caller", ROLES)
@pytest.mark.parametrize("endpoint", sorted(MATRIX))
def test_every_endpoint_for_every_role_and_place(world, endpoint, caller):
    own_status, other_status = MATRIX[endpoint][caller]
    assert (_call(world, caller, endpoint, world.own), _call(world, caller, endpoint, world.other)) \
        == (own_status, other_status)


@pytest.mark.parametrize(("caller", "list_status", "create_status"), [
    ("coordinator", 200, 201), ("officer", 200, 403), ("volunteer", 200, 403), ("admin", 404, 404)])
def test_incident_endpoints_for_every_role(world, caller, list_status, create_status):
    api = world.api[caller]
    assert api.get("/api/v1/cases/incidents").status_code == list_status
    assert api.post("/api/v1/cases/incidents", {"title": "罗马地铁事故"}).status_code == create_status
    assert api.get("/api/v1/cases/incidents/999999").status_code == 404
