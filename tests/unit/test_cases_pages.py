"""The case screens as people use them: a liaison officer logs a case (with two people, a draft
that survives a dropped connection, a duplicate warning), the coordinator triages and assigns it,
the station accepts and reports back, and the case page shows who did what."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

from consular.audit.models import AuditEntry
from consular.auth.models import User
from consular.cases import operations as ops
from consular.cases.models import (
    AssignmentStatus,
    Case,
    CaseDraft,
    CasePerson,
    CaseStatus,
    DuplicateState,
    Notification,
    PersonRole,
    PossibleDuplicate,
    Priority,
    TimelineEntry,
)
from consular.db import db
from consular.network.models import LiaisonPoint
from tests.conftest import Browser, signed_in
from tests.support.cases import advance, pages_world

# --- helpers ----------------------------------------------------------------------------------


def text(response: Any) -> str:
    return str(response.get_data(as_text=True))


def new_case_form(**overrides: Any) -> dict[str, Any]:
    """What a liaison officer types on the phone form: two people, Italy, detained."""
    form = {
        "persons-0-name_zh": "王小明", "persons-0-name_latin": "WANG XIAOMING",
        "persons-0-phone": "+39 331 765 4321", "persons-0-relationship_to_involved": "儿子",
        "persons-0-gender": "male",
        "persons-1-name_zh": "李华", "persons-1-name_latin": "LI HUA", "persons-1-phone": "",
        "persons-1-relationship_to_involved": "同事", "persons-1-gender": "unknown",
        "country_code": "IT", "city": "Prato", "category": "detained",
        "summary": "儿子在普拉托被警方扣留", "narrative": "家属称周一晚被带走，至今联系不上。",
        "priority": "P2", "family_name": "王大伟", "family_phone": "139 0577 1234",
        "family_relationship": "父亲", "channel": "walk_in", "kind": "abroad",
        "occurred_at": "", "timezone": "", "place": "", "tags": "",
    }
    form.update(overrides)
    return form


def audit_actions(action_prefix: str = "case.") -> list[str]:
    return list(db.session.scalars(sa.select(AuditEntry.action)
                                   .where(AuditEntry.action.startswith(action_prefix))
                                   .order_by(AuditEntry.id)))


def counts() -> tuple[int, int, int]:
    return (db.session.scalar(sa.select(sa.func.count()).select_from(Case)) or 0,
            db.session.scalar(sa.select(sa.func.count()).select_from(CasePerson)) or 0,
            db.session.scalar(sa.select(sa.func.count()).select_from(TimelineEntry)) or 0)


@pytest.fixture
def world(make_user: Callable[..., User], make_point: Callable[..., Any],
          make_station: Callable[..., Any]) -> dict[str, Any]:
    """Two liaison points, two stations, a coordinator, an admin, and one user of each place."""
    return pages_world(make_user, make_point, make_station)


@pytest.fixture
def make_case(world: dict[str, Any]) -> Callable[..., Case]:
    """``make_case(officer, **fields)``: a case logged through the operation, committed."""

    def make(user: User | None = None, persons: list[dict[str, Any]] | None = None,
             **fields: Any) -> Case:
        user = user or world["officer_a"]
        data = {"country_code": "IT", "city": "Prato", "category": "detained",
                "summary": "在普拉托被扣留", "priority": "P2", **fields}
        people = persons or [{"role": "involved", "name_zh": "陈一", "name_latin": "CHEN YI",
                              "phone": "+393310000001", "id_number": "E12345678"}]
        case = ops.create_case(data, people, user=user)
        db.session.commit()
        return case

    return make


@pytest.fixture
def offered(world: dict[str, Any], logged_in: Callable[[User], Browser],
            make_case: Callable[..., Case]) -> tuple[Case, Browser]:
    """A new case triaged and offered to the Prato station, and that station's volunteer signed in."""
    case = advance(make_case(), world["coordinator"], "triage", "assign", station=world["prato"])
    return case, signed_in(logged_in, world["volunteer_prato"])


# --- log a case -------------------------------------------------------------------------------


def test_officer_logs_a_case_with_two_people_and_the_family(world, logged_in):
    officer = signed_in(logged_in, world["officer_a"])
    page = officer.get("/cases/new")
    assert page.status_code == 200
    html = text(page)
    assert "Who needs help?" in html and "Where did it happen?" in html and "What happened?" in html
    assert "Life or liberty at risk now" in html  # the priority meaning in plain words
    assert 'name="persons-0-name_zh"' in html and "data-person-template" in html

    response = officer.post("/cases/new", new_case_form())
    assert response.status_code == 303, text(response)[:2000]
    case = db.session.scalar(sa.select(Case))
    assert case is not None and case.liaison_point_id == world["point_a"].id
    assert response.headers["Location"].endswith(f"/cases/{case.id}?created=1")
    assert case.status == CaseStatus.new and case.priority == Priority.P2
    assert case.timezone == "Europe/Rome"  # Italy has one time zone: local times are known
    roles = sorted((p.role.value, p.name_zh) for p in case.persons)
    assert roles == [("family", "王大伟"), ("involved", "李华"), ("involved", "王小明")]
    family = next(p for p in case.persons if p.role == PersonRole.family)
    assert family.phone == "+8613905771234" and family.relationship_to_involved == "父亲"

    shown = text(officer.get(response.headers["Location"]))
    assert case.reference in shown and "儿子在普拉托被警方扣留" in shown
    assert "data-clear-draft" in shown  # the phone forgets its local copy
    assert "WANG XIAOMING".lower() in shown.lower() and "+393317654321" in shown


def test_an_incident_in_the_city_is_logged_as_one(world, logged_in, make_division):
    """A foreign-related incident at home (涉外案件): the place is a township of the city, the
    person a foreign national with a nationality and a passport number (sealed, found by search);
    no country abroad is asked for."""
    officer_user = world["officer_a"]
    own = db.session.get(LiaisonPoint, officer_user.liaison_point_id).division
    elsewhere = make_division("五马街道", parent=own.parent)
    officer = signed_in(logged_in, officer_user)
    form = text(officer.get("/cases/new"))
    assert 'name="kind" type="radio" value="domestic"' in form or 'value="domestic"' in form
    assert re.search(rf'<option selected value="{own.id}">', form)  # the officer's own township first
    r = officer.post("/cases/new", new_case_form(
        kind="domestic", country_code="", city="", division_id=str(elsewhere.id), place="五马街 12 号",
        category="lost_documents", summary="意大利游客丢失护照",
        **{"persons-0-name_zh": "罗西", "persons-0-name_latin": "ROSSI GIULIA",
           "persons-0-nationality": "IT", "persons-0-id_kind": "", "persons-0-id_number": "YA1234567",
           "persons-0-phone": "+39 331 765 4321", "persons-1-name_zh": "", "persons-1-name_latin": ""}))
    assert r.status_code == 303, text(r)[:3000]
    case = db.session.scalar(sa.select(Case))
    assert case is not None and case.kind.value == "domestic" and case.country_code is None
    assert case.division_id == elsewhere.id and case.place == "五马街 12 号"
    person = case.persons[0]
    assert (person.nationality, person.id_kind.value, person.id_number) == (
        "IT", "foreign_passport", "YA1234567")
    page = text(officer.get(f"/cases/{case.id}"))
    # The township's Chinese name is marked as Chinese on the English page (a screen reader's voice).
    assert 'In the city · <span lang="zh-Hans">五马街道</span>' in page and "Nationality: Italy" in page
    assert "Foreign passport" in page
    coordinator = signed_in(logged_in, world["coordinator"])
    found = text(coordinator.get("/cases/queue", query_string={"q": "YA1234567", "status": "all"}))
    assert case.reference in found
    queue = text(coordinator.get("/cases/queue", query_string={"kind": "domestic", "status": "all"}))
    assert case.reference in queue
    assert case.reference not in text(coordinator.get("/cases/queue", query_string={
        "kind": "abroad", "status": "all"}))
    # A township is for an incident in the city, never for a case abroad.
    refused = officer.post("/cases/new", new_case_form(division_id=str(own.id), kind="abroad"))
    assert refused.status_code in (200, 303)  # the form leaves the other kind's fields out
    with pytest.raises(ops.CaseInputError) as bad:
        ops.create_case({"kind": "abroad", "country_code": "IT", "division_id": own.id, "summary": "x"},
                        [{"name_zh": "王五"}], user=officer_user)
    assert "division_id" in bad.value.errors


def test_a_station_logs_cases_abroad_only(world, logged_in):
    volunteer = signed_in(logged_in, world["volunteer_prato"])
    form = text(volunteer.get("/cases/new"))
    assert 'value="domestic"' not in form and 'name="kind" value="abroad"' in form
    r = volunteer.post("/cases/new", new_case_form(kind="domestic", division_id="1"))
    assert r.status_code == 303, text(r)[:2000]
    assert db.session.scalar(sa.select(Case.kind)).value == "abroad"


def test_add_another_person_works_without_javascript(world, logged_in):
    officer = signed_in(logged_in, world["officer_a"])
    form = new_case_form()
    form = {k: v for k, v in form.items() if not k.startswith("persons-1-")}
    response = officer.post("/cases/new", {**form, "add_person": "1"})
    assert response.status_code == 200
    html = text(response)
    assert 'name="persons-1-name_zh"' in html and 'value="王小明"' in html
    assert counts()[0] == 0  # nothing saved yet

    # Junk person indices and too many people never break the form.
    many = {f"persons-{i}-name_zh": f"人{i}" for i in range(0, 40)}
    response = officer.post("/cases/new", {**form, **many, "persons-99999-name_zh": "某", "add_person": "1"})
    assert response.status_code == 200
    response = officer.post("/cases/new", {**form, "remove_person": "7"})
    assert response.status_code == 200


def test_bad_input_re_renders_the_form_with_messages_and_saves_nothing(world, logged_in):
    officer = signed_in(logged_in, world["officer_a"])
    before = counts()
    response = officer.post("/cases/new", new_case_form(
        summary="", country_code="ZZ", category="haunted", **{"persons-0-phone": "12"}))
    assert response.status_code == 400
    html = text(response)
    assert "Nothing was saved. Please correct the marked fields." in html
    assert "Choose an entry from the list." in html  # country and category
    assert 'value="王小明"' in html  # what was typed stays
    assert counts() == before

    # A phone number the operation refuses comes back on that person's field.
    response = officer.post("/cases/new", new_case_form(**{"persons-1-phone": "12"}))
    assert response.status_code == 400
    assert "Not a valid phone number" in text(response)
    assert counts() == before


def test_bad_input_message_in_chinese_for_a_chinese_user(world, logged_in):
    officer = signed_in(logged_in, world["officer_zh"])
    response = officer.post("/cases/new", new_case_form(summary=""))
    assert response.status_code == 400
    html = text(response)
    assert "未保存" in html  # "Nothing was saved…" in the user's language
    assert "Nothing was saved" not in html


# --- drafts -----------------------------------------------------------------------------------


def test_a_draft_is_saved_as_json_and_restored_on_the_form(world, logged_in):
    officer = signed_in(logged_in, world["officer_a"])
    payload = {"persons-0-name_zh": "张三", "summary": "在巴黎失联", "country_code": "FR",
               "persons-1-name_zh": "张四", "category": "missing"}
    saved = officer.client.post("/cases/drafts", json={"draft_id": None, "payload": payload},
                                headers={"X-CSRFToken": officer.token()})
    assert saved.status_code == 200, text(saved)
    draft_id = saved.get_json()["id"]
    # Autosave again into the same draft.
    again = officer.client.post("/cases/drafts", json={"draft_id": draft_id,
                                                       "payload": {**payload, "city": "Paris"}},
                                headers={"X-CSRFToken": officer.token()})
    assert again.get_json()["id"] == draft_id
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CaseDraft)) == 1

    listing = text(officer.get("/cases/drafts"))
    assert "在巴黎失联" in listing
    form = text(officer.get(f"/cases/new?draft={draft_id}"))
    assert 'value="张三"' in form and 'value="张四"' in form and 'value="Paris"' in form
    assert 'data-fresh="false"' in form and f'value="{draft_id}"' in form

    # Saving the case discards the draft.
    response = officer.post("/cases/new", new_case_form(draft_id=str(draft_id), confirm_different="1"))
    assert response.status_code == 303
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CaseDraft)) == 0


def test_drafts_are_private_and_bad_drafts_are_refused(world, logged_in):
    mine = signed_in(logged_in, world["officer_a"])
    other = signed_in(logged_in, world["officer_b"])
    saved = mine.client.post("/cases/drafts", json={"payload": {"summary": "私人草稿"}},
                             headers={"X-CSRFToken": mine.token()})
    draft_id = saved.get_json()["id"]
    assert other.get(f"/cases/new?draft={draft_id}").status_code == 404
    assert "私人草稿" not in text(other.get("/cases/drafts"))
    assert other.post(f"/cases/drafts/{draft_id}/discard").status_code == 404
    # Someone else's draft id is never written to: a new draft is made instead.
    theirs = other.client.post("/cases/drafts", json={"draft_id": draft_id, "payload": {"summary": "x"}},
                               headers={"X-CSRFToken": other.token()})
    assert theirs.status_code == 200 and theirs.get_json()["id"] != draft_id
    assert ops.draft_payload(db.session.get(CaseDraft, draft_id))["summary"] == "私人草稿"

    bad = mine.client.post("/cases/drafts", data="{", content_type="application/json",
                           headers={"X-CSRFToken": mine.token()})
    assert bad.status_code == 400 and bad.get_json()["message"]
    no_csrf = mine.client.post("/cases/drafts", json={"payload": {"summary": "x"}})
    assert no_csrf.status_code == 400

    assert mine.post(f"/cases/drafts/{draft_id}/discard").status_code == 303
    assert db.session.get(CaseDraft, draft_id) is None


# --- the duplicate warning --------------------------------------------------------------------


def test_duplicate_warning_then_continue(world, logged_in, make_case):
    earlier = make_case(world["officer_a"], persons=[
        {"role": "involved", "name_zh": "王小明", "phone": "+393317654321"}])
    officer = signed_in(logged_in, world["officer_a"])
    before = counts()
    warned = officer.post("/cases/new", new_case_form())
    assert warned.status_code == 200
    html = text(warned)
    assert 'data-testid="duplicates"' in html and earlier.reference in html
    assert "Same phone number" in html
    assert "This is the same person" in html and "It is a different case" in html
    assert counts() == before  # nothing saved yet

    saved = officer.post("/cases/new", new_case_form(confirm_different="1",
                                                     acknowledged=str(earlier.id)))
    assert saved.status_code == 303
    case = db.session.scalar(sa.select(Case).where(Case.id != earlier.id))
    assert case is not None
    actions = [e.action for e in case.timeline]
    assert "duplicate_acknowledged" in actions


def test_duplicate_same_person_adds_a_note_to_the_existing_case(world, logged_in, make_case):
    earlier = make_case(world["officer_a"], persons=[
        {"role": "involved", "name_zh": "王小明", "phone": "+393317654321"}])
    officer = signed_in(logged_in, world["officer_a"])
    response = officer.post("/cases/new", new_case_form(same_as=str(earlier.id)))
    assert response.status_code == 303
    assert response.headers["Location"].split("?")[0].endswith(f"/cases/{earlier.id}")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Case)) == 1
    note = db.session.scalar(sa.select(TimelineEntry).where(TimelineEntry.case_id == earlier.id,
                                                            TimelineEntry.action == "add_note"))
    assert note is not None and "儿子在普拉托被警方扣留" in (note.text or "")


def test_a_similar_case_at_another_point_is_mentioned_not_shown(world, logged_in, make_case):
    hidden = make_case(world["officer_b"], persons=[
        {"role": "involved", "name_zh": "王小明", "phone": "+393317654321"}])
    officer = signed_in(logged_in, world["officer_a"])
    warned = text(officer.post("/cases/new", new_case_form()))
    assert "A similar case exists at the centre." in warned
    assert hidden.reference not in warned
    # Naming a case one may not see as "the same" is not found.
    assert officer.post("/cases/new", new_case_form(same_as=str(hidden.id))).status_code == 404


def test_a_similar_case_out_of_scope_is_linked_for_the_centre_to_compare(world, logged_in, make_case):
    """The officer is told "the centre will see your case next to it": it does. The new case is
    linked to the one it resembles (which the officer may not see), the coordinator finds both with
    a badge in the queue and on each other's timeline, compares them, and the officer learns
    nothing more than before."""
    hidden = make_case(world["officer_b"], persons=[
        {"role": "involved", "name_zh": "王小明", "phone": "+393317654321"}])
    officer = signed_in(logged_in, world["officer_a"])
    saved = officer.post("/cases/new", new_case_form(confirm_different="1"))
    assert saved.status_code == 303
    new = db.session.scalar(sa.select(Case).where(Case.id != hidden.id))
    assert new is not None
    [link] = db.session.scalars(sa.select(PossibleDuplicate)).all()
    assert (link.case_id, link.other_case_id, link.reason_list, link.state) == (
        new.id, hidden.id, ["phone", "name_country"], DuplicateState.open)
    assert audit_actions("case.possible_duplicate") == ["case.possible_duplicate"]

    # The officer's page and API answer say nothing of the other case.
    page = text(officer.get(f"/cases/{new.id}"))
    assert hidden.reference not in page and 'data-testid="possible-duplicates"' not in page
    detail = officer.client.get(f"/api/v1/cases/{new.id}").get_json()
    assert detail["possible_duplicates"] == [] and hidden.reference not in json.dumps(detail)

    coordinator = signed_in(logged_in, world["coordinator"])
    queue = text(coordinator.get("/cases/queue", query_string={"status": "all"}))
    assert queue.count('data-testid="duplicate-badge"') == 2  # both cases
    for case, other in ((new, hidden), (hidden, new)):
        page = text(coordinator.get(f"/cases/{case.id}"))
        timeline = page.split('data-testid="timeline"')[1]
        assert "Possibly the same as another case" in timeline and other.reference in timeline
        assert "Same phone number" in page.split('data-testid="possible-duplicates"')[1]
    detail = coordinator.client.get(f"/api/v1/cases/{new.id}").get_json()
    assert [(d["case"]["reference"], d["reasons"], d["state"]) for d in detail["possible_duplicates"]] \
        == [(hidden.reference, ["phone", "name_country"], "open")]
    assert "decide_duplicate" in detail["allowed_actions"]

    # The coordinator compares them: not the same person after all.
    r = coordinator.post(f"/cases/{hidden.id}/act/decide_duplicate", {
        "decide_duplicate-version": hidden.version, "decide_duplicate-link_id": link.id,
        "decide_duplicate-decision": "different", "decide_duplicate-note": "同名同号码的两位亲戚"})
    assert r.status_code == 303, text(r)[:3000]
    db.session.refresh(link)
    assert link.state == DuplicateState.different and link.decided_by_id == world["coordinator"].id
    assert audit_actions("case.duplicate_decided") == ["case.duplicate_decided"] * 2
    queue = text(coordinator.get("/cases/queue", query_string={"status": "all"}))
    assert 'data-testid="duplicate-badge"' not in queue
    timeline = text(coordinator.get(f"/cases/{new.id}")).split('data-testid="timeline"')[1]
    assert "Compared with a similar case: not the same" in timeline and "同名同号码的两位亲戚" in timeline
    # Deciding twice is refused; officers may not decide at all.
    again = coordinator.post(f"/cases/{hidden.id}/act/decide_duplicate", {
        "decide_duplicate-version": hidden.version, "decide_duplicate-link_id": link.id,
        "decide_duplicate-decision": "same"})
    assert again.status_code == 409
    refused = officer.post(f"/cases/{new.id}/act/decide_duplicate", {
        "decide_duplicate-version": new.version, "decide_duplicate-link_id": link.id,
        "decide_duplicate-decision": "same"})
    assert refused.status_code == 403
    db.session.refresh(link)
    assert link.state == DuplicateState.different


# --- the triage queue -------------------------------------------------------------------------


def test_queue_lists_p1_first_with_filters_that_stay_put(world, logged_in, make_case):
    calm = make_case(summary="咨询护照补办", priority="P4", category="lost_documents")
    urgent = make_case(summary="遭遇车祸重伤", priority="P1", category="injured", country_code="FR",
                       city="Paris")
    coordinator = signed_in(logged_in, world["coordinator"])
    html = text(coordinator.get("/cases/queue"))
    assert html.index(urgent.reference) < html.index(calm.reference)
    assert "France" in html and "Italy" in html  # countries in the reader's language
    assert 'data-keynav' in html

    filtered = coordinator.get("/cases/queue?country=FR&priority=P1")
    assert urgent.reference in text(filtered) and calm.reference not in text(filtered)
    # Coming back without arguments keeps the filters (from the session).
    back = coordinator.get("/cases/queue")
    assert back.status_code == 303 and "country=FR" in back.headers["Location"]
    cleared = coordinator.get("/cases/queue?reset=1")
    assert cleared.status_code == 303
    assert calm.reference in text(coordinator.get("/cases/queue"))

    # Junk in the URL is ignored, never an error.
    junk = coordinator.get("/cases/queue?status=zzz&priority=P9&country=QQ&station=abc&page=-4")
    assert junk.status_code == 200


def test_queue_search_by_name_phone_and_reference(world, logged_in, make_case):
    target = make_case(summary="失联", persons=[{"role": "involved", "name_zh": "赵敏",
                                                "name_latin": "ZHAO MIN", "phone": "+393319998887"}])
    other = make_case(summary="其他", persons=[{"role": "involved", "name_zh": "钱多"}])
    coordinator = signed_in(logged_in, world["coordinator"])
    for query in ("赵敏", "zhao min", "+39 331 999 8887", target.reference):
        html = text(coordinator.get("/cases/queue", query_string={"q": query, "status": "all"}))
        assert target.reference in html and other.reference not in html, query


def test_search_by_a_national_phone_number_and_a_city_in_another_script(world, logged_in, make_case):
    """A phone typed as people say it (no country code) is read in the country of the cases; a
    city typed in Latin letters finds the cases written in Chinese, and the other way round."""
    italy = make_case(summary="在普拉托被扣留", city="普拉托", persons=[
        {"role": "involved", "name_zh": "孙丽", "phone": "+39 331 555 0101"},
        {"role": "family", "name_zh": "孙父", "phone": "+86 139 0577 1234"}])
    milan = make_case(summary="护照被偷", city="Milano", persons=[{"role": "involved", "name_zh": "周强"}])
    paris = make_case(summary="遭遇诈骗", country_code="FR", city="Paris",
                      persons=[{"role": "involved", "name_zh": "吴芳", "phone": "+33 6 12 34 56 78"}])
    coordinator = signed_in(logged_in, world["coordinator"])

    def found(query: str, **extra: str) -> set[str]:
        html = text(coordinator.get("/cases/queue", query_string={"q": query, "status": "all", **extra}))
        return {c.reference for c in (italy, milan, paris) if c.reference in html}

    assert found("331 555 0101") == {italy.reference}
    assert found("331 555 0101", country="IT") == {italy.reference}
    assert found("06 12 34 56 78") == {paris.reference}
    assert found("139 0577 1234") == {italy.reference}  # the family at home: a Chinese number
    assert found("Prato") == {italy.reference}
    assert found("prato") == {italy.reference}
    assert found("米兰") == {milan.reference}
    assert found("Milan") == {milan.reference}
    assert found("巴黎") == {paris.reference}
    # The API searches the same way, and scope still holds.
    api = coordinator.client.get("/api/v1/cases", query_string={"q": "331 555 0101"})
    assert [i["reference"] for i in api.get_json()["items"]] == [italy.reference]
    officer_b = signed_in(logged_in, world["officer_b"])
    mine = text(officer_b.get("/cases/mine", query_string={"q": "Prato", "show": "all"}))
    assert italy.reference not in mine


@pytest.mark.postgres
def test_search_stays_an_indexed_lookup(world, make_case, app):
    """Each kind of match reads an index: on PostgreSQL, with sequential scans priced out, the plan
    of a search by a national phone number and by a city touches no table row by row."""
    from consular.cases import queries

    assert db.engine.dialect.name == "postgresql"
    make_case(city="普拉托", persons=[{"role": "involved", "name_zh": "孙丽", "phone": "+393315550101"}])
    coordinator = world["coordinator"]
    for query, index in (("331 555 0101", "ix_case_person_phone_hash"), ("Prato", "ix_case_file_city_key")):
        statement = queries.search_cases(query, coordinator)
        compiled = statement.compile(db.engine, compile_kwargs={"literal_binds": True})
        with db.engine.connect() as conn:
            conn.execute(sa.text("SET enable_seqscan = off"))
            plan = "\n".join(r[0] for r in conn.execute(sa.text(f"EXPLAIN {compiled}")))
        assert index in plan, plan
        assert "Seq Scan" not in plan, plan


def test_queue_is_for_coordinators(world, logged_in):
    assert signed_in(logged_in, world["officer_a"]).get("/cases/queue").status_code == 403
    assert signed_in(logged_in, world["volunteer_prato"]).get("/cases/queue").status_code == 403
    assert signed_in(logged_in, world["admin"]).get("/cases/queue").status_code == 404


# --- the case page ----------------------------------------------------------------------------


def test_case_page_shows_the_story_people_and_both_times(world, logged_in, make_case):
    case = make_case(occurred_at="2026-01-10T20:30", timezone="Europe/Rome", narrative="详细经过")
    officer = signed_in(logged_in, world["officer_a"])
    html = text(officer.get(f"/cases/{case.id}"))
    assert "在普拉托被扣留" in html and "详细经过" in html and "Italy" in html
    assert "local time" in html  # the time abroad beside the office's
    assert "E12345678" in html  # the officer's own case: ID numbers shown
    assert "Add an update" in html
    assert audit_actions("case.view") == ["case.view"]


def test_case_view_and_scope_by_role_and_place(world, logged_in, make_case):
    case = make_case(world["officer_a"])
    expect = {"coordinator": 200, "officer_a": 200, "officer_zh": 200, "officer_b": 404,
              "admin": 404, "volunteer_prato": 404, "volunteer_paris": 404}
    for name, status in expect.items():
        browser = signed_in(logged_in, world[name])
        assert browser.get(f"/cases/{case.id}").status_code == status, name
        assert browser.get(f"/cases/{case.id}/edit").status_code in (
            (200,) if status == 200 else (404,)), name
    assert signed_in(logged_in, world["coordinator"]).get("/cases/999999").status_code == 404

    # Once offered to Prato, its volunteer sees it, without ID numbers or birth dates.
    advance(case, world["coordinator"], "triage", "assign", station=world["prato"])
    volunteer = signed_in(logged_in, world["volunteer_prato"])
    html = text(volunteer.get(f"/cases/{case.id}"))
    assert "在普拉托被扣留" in html and "E12345678" not in html and "+393310000001" in html
    assert signed_in(logged_in, world["volunteer_paris"]).get(f"/cases/{case.id}").status_code == 404


def test_coordinator_triages_assigns_and_the_station_works_it(world, logged_in, make_case):
    case = make_case()
    coordinator = signed_in(logged_in, world["coordinator"])
    page = text(coordinator.get(f"/cases/{case.id}"))
    assert 'name="triage-priority"' in page and f'name="triage-version" value="{case.version}"' in page

    r = coordinator.post(f"/cases/{case.id}/act/triage", {
        "triage-version": case.version, "triage-priority": "P1", "triage-category": "detained",
        "triage-kind": "abroad", "triage-note": "家属很着急"})
    assert r.status_code == 303, text(r)[:3000]
    db.session.refresh(case)
    assert case.status == CaseStatus.triaged and case.priority == Priority.P1

    r = coordinator.post(f"/cases/{case.id}/act/assign", {
        "assign-version": case.version, "assign-station_id": world["prato"].id,
        "assign-coordinator_id": 0, "assign-instructions": "请去警局了解情况"})
    assert r.status_code == 303, text(r)[:3000]
    db.session.refresh(case)
    assert case.status == CaseStatus.assigned

    volunteer = signed_in(logged_in, world["volunteer_prato"])
    inbox = text(volunteer.get("/cases/inbox"))
    assert case.reference in inbox and "请去警局了解情况" in inbox and "Accept this case" in inbox
    r = volunteer.post(f"/cases/{case.id}/act/accept", {"accept-version": case.version, "next": "inbox"})
    assert r.status_code == 303 and r.headers["Location"].endswith("/cases/inbox")
    db.session.refresh(case)
    assert case.status == CaseStatus.in_progress
    assert case.assignments[0].status == AssignmentStatus.accepted

    r = volunteer.post(f"/cases/{case.id}/act/add_note", {"add_note-version": case.version,
                                                          "add_note-text": "已见到当事人，身体无恙"})
    assert r.status_code == 303
    db.session.refresh(case)
    r = volunteer.post(f"/cases/{case.id}/act/resolve", {
        "resolve-version": case.version, "resolve-outcome": "released", "resolve-note": "已获释"})
    assert r.status_code == 303, text(r)[:3000]
    db.session.refresh(case)
    assert case.status == CaseStatus.resolved

    r = coordinator.post(f"/cases/{case.id}/act/close", {
        "close-version": case.version, "close-outcome": "released", "close-note": "同意结案"})
    assert r.status_code == 303
    db.session.refresh(case)
    assert case.status == CaseStatus.closed

    timeline = text(coordinator.get(f"/cases/{case.id}"))
    for words in ("Case logged", "Triaged by the centre", "Assigned", "Accepted by the station",
                  "已见到当事人，身体无恙", "Marked as done", "Closed by the centre"):
        assert words in timeline, words
    assert {"case.create", "case.triage", "case.assign", "case.accept", "case.note", "case.resolve",
            "case.close"} <= set(audit_actions())


def test_an_action_with_bad_input_is_400_and_keeps_the_form_open(offered):
    case, volunteer = offered
    r = volunteer.post(f"/cases/{case.id}/act/decline", {"decline-version": case.version,
                                                         "decline-reason": ""})
    assert r.status_code == 400
    html = text(r)
    assert "This field is required." in html and "<details open" in html
    r = volunteer.post(f"/cases/{case.id}/act/accept", {"accept-version": "abc"})
    assert r.status_code in (400, 409)
    db.session.refresh(case)
    assert case.status == CaseStatus.assigned


def test_a_stale_version_is_409_and_keeps_what_was_typed(world, logged_in, make_case):
    case = advance(make_case(), world["coordinator"], "triage")
    seen = case.version
    # Someone else changes the priority meanwhile.
    ops.set_priority(case, user=world["coordinator"], priority="P2", expected_version=seen)
    db.session.commit()
    coordinator = signed_in(logged_in, world["coordinator"])
    r = coordinator.post(f"/cases/{case.id}/act/assign", {
        "assign-version": seen, "assign-station_id": world["prato"].id, "assign-coordinator_id": 0,
        "assign-instructions": "我写的指示不能丢"})
    assert r.status_code == 409
    html = text(r)
    assert "changed this case" in html and "我写的指示不能丢" in html
    assert html.count("changed this case") == 1  # said once, at the top; the form stays unfolded
    assert re.search(r'<details open[^>]*data-action="assign"', html)
    db.session.refresh(case)
    assert case.status == CaseStatus.triaged and not case.assignments

    # The edit page too.
    r = coordinator.post(f"/cases/{case.id}/edit", {
        "version": seen, "country_code": "IT", "city": "Milano", "place": "", "category": "detained",
        "summary": "我改的摘要", "narrative": "", "occurred_at": "", "timezone": "", "tags": ""})
    assert r.status_code == 409 and "我改的摘要" in text(r)
    assert text(r).count("changed this case") == 1


def test_a_refused_action_is_403_or_409(world, logged_in, make_case):
    case = make_case()
    officer = signed_in(logged_in, world["officer_a"])
    r = officer.post(f"/cases/{case.id}/act/triage", {"triage-version": case.version,
                                                       "triage-priority": "P1",
                                                       "triage-category": "detained",
                                                       "triage-kind": "abroad"})
    assert r.status_code == 403
    coordinator = signed_in(logged_in, world["coordinator"])
    r = coordinator.post(f"/cases/{case.id}/act/close", {"close-version": case.version,
                                                          "close-outcome": "assisted"})
    assert r.status_code == 409
    assert coordinator.post(f"/cases/{case.id}/act/fly", {}).status_code == 404
    db.session.refresh(case)
    assert case.status == CaseStatus.new


def test_officer_edits_the_details(world, logged_in, make_case):
    case = make_case()
    officer = signed_in(logged_in, world["officer_a"])
    form = text(officer.get(f"/cases/{case.id}/edit"))
    assert 'value="在普拉托被扣留"' in form
    r = officer.post(f"/cases/{case.id}/edit", {
        "version": case.version, "country_code": "IT", "city": "Firenze", "place": "警察局",
        "category": "detained", "summary": "在佛罗伦萨被扣留", "narrative": "新情况",
        "occurred_at": "2026-01-02T08:00", "timezone": "Europe/Rome", "tags": "学生"})
    assert r.status_code == 303, text(r)[:2000]
    db.session.refresh(case)
    assert case.city == "Firenze" and case.summary == "在佛罗伦萨被扣留" and case.tags == "学生"
    bad = officer.post(f"/cases/{case.id}/edit", {
        "version": case.version, "country_code": "IT", "city": "", "place": "", "category": "detained",
        "summary": "", "narrative": "", "occurred_at": "yesterday", "timezone": "Mars/Base",
        "tags": ""})
    assert bad.status_code == 400 and "This field is required." in text(bad)


# --- files ------------------------------------------------------------------------------------

PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00"
       b"\x90wS\xde\x00\x00\x00\x0cIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00"
       b"\x00IEND\xaeB`\x82")


def test_file_upload_and_scoped_audited_download(world, logged_in, make_case):
    import io

    case = make_case()
    officer = signed_in(logged_in, world["officer_a"])
    r = officer.post(f"/cases/{case.id}/act/add_attachment", {
        "add_attachment-version": case.version,
        "add_attachment-file": (io.BytesIO(PNG), "护照照片.png", "image/png")},
        content_type="multipart/form-data")
    assert r.status_code == 303, text(r)[:2000]
    db.session.refresh(case)
    att = case.attachments[0]
    url = f"/cases/{case.id}/attachments/{att.id}"
    assert url in text(officer.get(f"/cases/{case.id}"))

    download = officer.get(url)
    body = download.data
    download.close()  # the file is streamed: release it
    assert download.status_code == 200 and body == PNG
    assert download.headers["Content-Disposition"].startswith("attachment")
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    assert audit_actions("case.attachment.download") == ["case.attachment.download"]

    assert signed_in(logged_in, world["officer_b"]).get(url).status_code == 404
    assert signed_in(logged_in, world["admin"]).get(url).status_code == 404
    other = make_case(world["officer_b"])
    assert officer.get(f"/cases/{other.id}/attachments/{att.id}").status_code == 404
    assert audit_actions("case.attachment.download") == ["case.attachment.download"]

    # A file that is not what it claims is refused with a message, and nothing is kept.
    bad = officer.post(f"/cases/{case.id}/act/add_attachment", {
        "add_attachment-version": case.version,
        "add_attachment-file": (io.BytesIO(b"MZ\x90\x00 not a picture"), "photo.png", "image/png")},
        content_type="multipart/form-data")
    assert bad.status_code == 400 and "not accepted" in text(bad)
    db.session.refresh(case)
    assert len(case.attachments) == 1
    empty = officer.post(f"/cases/{case.id}/act/add_attachment",
                         {"add_attachment-version": case.version})
    assert empty.status_code == 400


def test_log_a_case_with_a_photo(world, logged_in):
    import io

    officer = signed_in(logged_in, world["officer_a"])
    form = new_case_form(attachments=(io.BytesIO(PNG), "证件.png", "image/png"))
    r = officer.post("/cases/new", form, content_type="multipart/form-data")
    assert r.status_code == 303, text(r)[:2000]
    case = db.session.scalar(sa.select(Case))
    assert case is not None and len(case.attachments) == 1


# --- my cases, inbox, notifications ---------------------------------------------------------------


def test_my_cases_shows_status_in_words_and_what_the_centre_asks(world, logged_in, make_case):
    mine = make_case(world["officer_a"], summary="我的案件")
    theirs = make_case(world["officer_b"], summary="别人的案件")
    ops.add_note(mine, user=world["coordinator"], text="请补充当事人的护照号码")
    db.session.commit()
    officer = signed_in(logged_in, world["officer_a"])
    html = text(officer.get("/cases/mine"))
    assert "我的案件" in html and "别人的案件" not in html and theirs.reference not in html
    assert "New: waiting for the centre" in html
    assert "请补充当事人的护照号码" in html and "The centre asks:" in html
    assert signed_in(logged_in, world["volunteer_prato"]).get("/cases/mine").status_code == 403
    assert signed_in(logged_in, world["admin"]).get("/cases/mine").status_code == 404


def test_inbox_offers_accept_and_decline_with_a_reason(world, logged_in, offered):
    case, volunteer = offered
    html = text(volunteer.get("/cases/inbox"))
    assert case.reference in html and "Decline" in html and 'name="decline-reason"' in html
    assert "E12345678" not in html
    r = volunteer.post(f"/cases/{case.id}/act/decline", {"decline-version": case.version,
                                                         "decline-reason": "人手不足", "next": "inbox"})
    assert r.status_code == 303
    db.session.refresh(case)
    assert case.status == CaseStatus.triaged
    assert case.reference not in text(volunteer.get("/cases/inbox"))
    assert signed_in(logged_in, world["officer_a"]).get("/cases/inbox").status_code == 403
    assert signed_in(logged_in, world["coordinator"]).get("/cases/inbox").status_code == 403


def test_notifications_list_bell_and_mark_read(world, logged_in, offered):
    case, volunteer = offered
    home = text(volunteer.get("/"))
    assert 'data-testid="bell"' in home and 'data-testid="unread-count">1<' in home
    listing = text(volunteer.get("/notifications"))
    assert case.reference in listing and 'data-unread="1"' in listing
    note = db.session.scalar(sa.select(Notification).where(
        Notification.user_id == world["volunteer_prato"].id))
    assert volunteer.post("/notifications/read", {"id": "x"}).status_code == 400
    r = volunteer.post("/notifications/read", {"id": str(note.id)})
    assert r.status_code == 303
    db.session.refresh(note)
    assert note.read_at is not None
    assert 'data-testid="unread-count"' not in text(volunteer.get("/"))
    # Nobody marks another user's notices.
    coordinator = signed_in(logged_in, world["coordinator"])
    coordinator.post("/notifications/read", {})
    assert signed_in(logged_in, world["admin"]).get("/notifications").status_code == 404
    assert 'data-testid="bell"' not in text(signed_in(logged_in, world["admin"]).get("/"))


def test_navigation_per_role(world, logged_in):
    nav = {
        "coordinator": ("/cases/queue", "/cases/new"),
        "officer_a": ("/cases/new", "/cases/mine"),
        "volunteer_prato": ("/cases/inbox", "/cases/new"),
    }
    for name, links in nav.items():
        html = text(signed_in(logged_in, world[name]).get("/"))
        for link in links:
            assert f'href="{link}"' in html, (name, link)
    admin = text(signed_in(logged_in, world["admin"]).get("/"))
    assert 'href="/cases/' not in admin


# --- incidents and mass intake ---------------------------------------------------------------------


def test_incident_with_mass_intake_preview_then_all_at_once(world, logged_in):
    coordinator = signed_in(logged_in, world["coordinator"])
    assert coordinator.get("/cases/incidents").status_code == 200
    bad = coordinator.post("/cases/incidents", {"title": "", "country_code": "IT", "city": "",
                                                "occurred_at": "", "description": ""})
    assert bad.status_code == 400 and "This field is required." in text(bad)
    r = coordinator.post("/cases/incidents", {"title": "米兰大巴事故", "country_code": "IT",
                                              "city": "Milano", "occurred_at": "", "description": ""})
    assert r.status_code == 303, text(r)[:2000]
    url = r.headers["Location"]
    incident_id = int(url.rstrip("/").rsplit("/", 1)[1])

    rows = "张伟,ZHANG WEI,1990-01-02,E11111111,+393311111111\n李娜,LI NA,,E22222222,+393312222222"
    preview = coordinator.post(f"/cases/incidents/{incident_id}/mass", {
        "text": rows, "category": "injured", "priority": "P1", "summary": "", "preview": "1"})
    assert preview.status_code == 200
    assert 'data-testid="mass-preview"' in text(preview) and "ZHANG WEI" in text(preview)
    assert "2 cases will be created" in text(preview)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Case)) == 0

    broken = coordinator.post(f"/cases/incidents/{incident_id}/mass", {
        "text": rows + "\n,,,,+39", "category": "injured", "priority": "P1", "summary": "",
        "confirm": "1"})
    assert broken.status_code == 400 and 'data-line="3" data-ready="0"' in text(broken)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Case)) == 0

    done = coordinator.post(f"/cases/incidents/{incident_id}/mass", {
        "text": rows, "category": "injured", "priority": "P1", "summary": "", "confirm": "1"})
    assert done.status_code == 303, text(done)[:2000]
    cases = db.session.scalars(sa.select(Case).where(Case.incident_id == incident_id)).all()
    assert len(cases) == 2 and all(c.priority == Priority.P1 for c in cases)
    page = text(coordinator.get(url))
    assert all(c.reference in page for c in cases)

    import io

    csv_file = ("姓名,护照姓名,电话\n王五,WANG WU,+393313333333\n").encode("gb18030")
    up = coordinator.post(f"/cases/incidents/{incident_id}/mass", {
        "text": "", "upload": (io.BytesIO(csv_file), "名单.csv", "text/csv"), "category": "injured",
        "priority": "P2", "summary": "", "preview": "1"}, content_type="multipart/form-data")
    assert up.status_code == 200 and "WANG WU" in text(up)

    for name in ("officer_a", "volunteer_prato"):
        assert signed_in(logged_in, world[name]).get("/cases/incidents").status_code == 403
    assert signed_in(logged_in, world["admin"]).get(url).status_code == 404


def _mass_post(browser, incident_id, rows, **extra):
    return browser.post(f"/cases/incidents/{incident_id}/mass", {
        "text": rows, "category": "injured", "priority": "P1", "summary": "", **extra})


def test_the_mass_preview_checks_every_line_and_promises_only_what_create_does(world, logged_in):
    """Bad dates and phones are shown on their own line with the reason; "will create" counts only
    the lines that are ready, and nothing can be created until every line is."""
    incident = ops.create_incident({"title": "米兰大巴事故", "country_code": "IT"},
                                   user=world["coordinator"])
    db.session.commit()
    coordinator = signed_in(logged_in, world["coordinator"])
    good = [f"{zh},{latin},1990-01-0{n},E1111111{n},+39331111111{n}"
            for n, (zh, latin) in enumerate([("张伟", "ZHANG WEI"), ("李娜", "LI NA"), ("王芳", "WANG FANG"),
                                             ("刘洋", "LIU YANG"), ("陈静", "CHEN JING"),
                                             ("杨帆", "YANG FAN")], start=1)]
    rows = "\n".join([*good[:3], "赵雷,ZHAO LEI,1988-13-45,E22222222,", *good[3:],
                      "孙丽,SUN LI,,E33333333,+39 abc"])
    preview = _mass_post(coordinator, incident.id, rows, preview="1")
    assert preview.status_code == 400
    html = text(preview)
    problems = dict(re.findall(r'<tr data-line="(\d+)" data-ready="0">.*?data-testid="mass-row-problem">'
                               r'([^<]+)<', html, re.S))
    assert set(problems) == {"4", "8"}
    assert "Birth date" in problems["4"] and "YYYY-MM-DD" in problems["4"]
    assert "Phone" in problems["8"] and "phone number" in problems["8"]
    assert html.count('data-ready="1"') == 6
    assert "2 lines need correcting" in html and "6 of 8 lines are ready" in html
    assert "cases will be created" not in html and 'data-testid="mass-confirm"' not in html
    # Sending "create" anyway creates nothing.
    assert _mass_post(coordinator, incident.id, rows, confirm="1").status_code == 400
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Case)) == 0
    # Once the lines are right, the count is what is created.
    fixed = rows.replace("1988-13-45", "1988-12-15").replace("+39 abc", "+39 331 444 5555")
    html = text(_mass_post(coordinator, incident.id, fixed, preview="1"))
    assert "8 cases will be created" in html and "Create all 8 cases" in html
    assert _mass_post(coordinator, incident.id, fixed, confirm="1").status_code == 303
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Case)) == 8


def test_mass_intake_finds_people_already_logged_and_twice_in_the_list(world, logged_in, make_case):
    earlier = make_case(world["officer_a"], persons=[
        {"role": "involved", "name_zh": "周强", "id_number": "E55555555", "phone": "+393317777777"}])
    incident = ops.create_incident({"title": "普拉托火灾", "country_code": "IT"}, user=world["coordinator"])
    db.session.commit()
    coordinator = signed_in(logged_in, world["coordinator"])
    twice = ("周强,ZHOU QIANG,1985-05-05,E55555555,\n"
             "吴敏,WU MIN,1990-02-02,,+393318888888\n"
             "吴敏,WU MIN,1990-02-02,,\n"
             "郑丽,ZHENG LI,,,+393318888888\n")
    html = text(_mass_post(coordinator, incident.id, twice, preview="1"))
    assert "The same person (name and date of birth) is on line 2." in html
    assert re.search(r'data-line="1" data-ready="1">.*?Resembles <a class="mono" href="/cases/'
                     rf'{earlier.id}">{earlier.reference}</a> · Same passport or ID number', html, re.S)
    assert "Same phone as line 2" in html
    # Without the repeated line every case is created, and the one already logged is linked to it.
    once = "\n".join(line for n, line in enumerate(twice.splitlines()) if n != 2)
    html = text(_mass_post(coordinator, incident.id, once, preview="1"))
    assert "3 cases will be created" in html and "1 of them resembles a case already logged" in html
    assert _mass_post(coordinator, incident.id, once, confirm="1").status_code == 303
    links = db.session.scalars(sa.select(PossibleDuplicate)).all()
    assert sorted((link.other_case_id, link.reason_list[0]) for link in links) == sorted(
        [(earlier.id, "id_number"), (links[-1].other_case_id, "phone")])

    # The incident's list tells its cases apart by the people's names.
    page = text(coordinator.get(f"/cases/incidents/{incident.id}"))
    names = re.findall(r'data-testid="incident-case-name">([^<]+)<', page)
    assert sorted(names) == ["吴敏 · WU MIN", "周强 · ZHOU QIANG", "郑丽 · ZHENG LI"]
    assert audit_actions("incident.view")


def test_link_a_case_to_an_incident_and_see_its_siblings(world, logged_in, make_case):
    coordinator_user = world["coordinator"]
    incident = ops.create_incident({"title": "巴黎骚乱", "country_code": "FR"}, user=coordinator_user)
    db.session.commit()
    first, second = make_case(summary="第一"), make_case(summary="第二")
    coordinator = signed_in(logged_in, coordinator_user)
    for case in (first, second):
        r = coordinator.post(f"/cases/{case.id}/act/link_incident", {
            "link_incident-version": case.version, "link_incident-incident_id": incident.id})
        assert r.status_code == 303, text(r)[:2000]
    html = text(coordinator.get(f"/cases/{first.id}"))
    assert "巴黎骚乱" in html and second.reference in html
    r = coordinator.post(f"/cases/{first.id}/act/link_incident", {
        "link_incident-version": first.version, "link_incident-incident_id": 99999})
    assert r.status_code == 400


# --- every route × every role ------------------------------------------------------------------


def test_every_route_for_every_role_and_place(app, world, logged_in, make_case):
    own = advance(make_case(world["officer_a"]), world["coordinator"], "triage", "assign",
                  station=world["prato"])
    other = make_case(world["officer_b"], summary="别处的案件")
    incident = ops.create_incident({"title": "演练事件", "country_code": "IT"}, user=world["coordinator"])
    db.session.commit()
    routes = {
        "/cases/new": (200, 200, 200, 404),
        "/cases/drafts": (200, 200, 200, 404),
        "/cases/queue?reset=1": (303, 403, 403, 404),
        "/cases/mine": (200, 200, 403, 404),
        "/cases/inbox": (403, 403, 200, 404),
        "/notifications": (200, 200, 200, 404),
        "/cases/incidents": (200, 403, 403, 404),
        f"/cases/incidents/{incident.id}": (200, 403, 403, 404),
        f"/cases/{own.id}": (200, 200, 200, 404),
        f"/cases/{other.id}": (200, 404, 404, 404),
        f"/cases/{own.id}/edit": (200, 200, 403, 404),
        f"/cases/{other.id}/edit": (200, 404, 404, 404),
    }
    browsers = [signed_in(logged_in, world[name])
                for name in ("coordinator", "officer_a", "volunteer_prato", "admin")]
    problems = []
    for url, expected in routes.items():
        for browser, status in zip(browsers, expected, strict=True):
            got = browser.get(url).status_code
            if got != status:
                problems.append(f"{url} as {browser.client}: {got} != {status}")
    assert not problems, "\n".join(problems)

    # Not logged in: every case page sends to the login page.
    guest = app.test_client()
    for url in routes:
        assert guest.get(url).status_code == 302, url


def test_every_action_form_refuses_bad_input(world, logged_in, make_case):
    coordinator_user = world["coordinator"]
    coordinator = signed_in(logged_in, coordinator_user)
    new = make_case()
    triaged = advance(make_case(), coordinator_user, "triage")
    working = advance(make_case(), coordinator_user, "triage", "assign", "accept",
                      station=world["prato"])
    resolved = advance(make_case(), coordinator_user, "triage", "assign", "accept", "resolve",
                       station=world["prato"])
    ops.refer(triaged, user=coordinator_user, target="police", target_name="普拉托警察局")
    db.session.commit()
    referral = triaged.referrals[0]
    cases_bad = [
        (new, "triage", {"triage-priority": "P9", "triage-category": "detained", "triage-kind": "abroad"}),
        (new, "set_priority", {"set_priority-priority": ""}),
        (new, "add_person", {"add_person-role": "involved", "add_person-phone": "12"}),
        (new, "add_note", {"add_note-text": ""}),
        (new, "set_legal_hold", {"set_legal_hold-hold": "y", "set_legal_hold-reason": ""}),
        (new, "refer", {"refer-target": "other", "refer-mission_id": 0, "refer-target_name": ""}),
        (triaged, "assign", {"assign-station_id": 0, "assign-coordinator_id": 0}),
        (triaged, "assign", {"assign-station_id": "abc"}),
        (triaged, "update_referral", {"update_referral-referral_id": referral.id,
                                      "update_referral-status": "lost"}),
        (working, "wait_external", {"wait_external-waiting_on": ""}),
        (working, "resolve", {"resolve-outcome": "", "resolve-note": ""}),
        (resolved, "close", {"close-outcome": "teleported"}),
        (resolved, "reopen", {"reopen-reason": ""}),
    ]
    problems = []
    for case, action, fields in cases_bad:
        db.session.refresh(case)
        before = (case.version, case.status, len(case.timeline))
        r = coordinator.post(f"/cases/{case.id}/act/{action}",
                             {f"{action}-version": case.version, **fields})
        db.session.refresh(case)
        if r.status_code != 400 or "Nothing was saved" not in text(r):
            problems.append(f"{action}: {r.status_code}")
        if (case.version, case.status, len(case.timeline)) != before:
            problems.append(f"{action}: the case changed")
    assert not problems, "\n".join(problems)


def test_the_other_actions_work_from_the_case_page(world, logged_in, make_case, make_mission):
    coordinator_user = world["coordinator"]
    mission = make_mission("IT")
    case = advance(make_case(), coordinator_user, "triage")
    coordinator = signed_in(logged_in, coordinator_user)

    def act(action: str, **fields: Any) -> Any:
        db.session.refresh(case)
        response = coordinator.post(f"/cases/{case.id}/act/{action}",
                                    {f"{action}-version": case.version,
                                     **{f"{action}-{k}": v for k, v in fields.items()}})
        assert response.status_code == 303, (action, text(response)[:3000])
        db.session.refresh(case)
        return response

    act("set_priority", priority="P1", note="情况恶化")
    assert case.priority == Priority.P1
    act("refer", target="mission", mission_id=mission.id, target_name="", note="请使馆协助")
    referral = case.referrals[0]
    act("update_referral", referral_id=referral.id, status="acknowledged", external_reference="IT-88",
        note="")
    assert case.referrals[0].external_reference == "IT-88"
    act("add_person", role="family", name_zh="王妈妈", phone="13905770000", relationship_to_involved="母亲",
        gender="female")
    assert any(p.name_zh == "王妈妈" for p in case.persons)
    act("set_legal_hold", hold="y", reason="涉诉")
    assert case.legal_hold is True
    act("assign", station_id=world["prato"].id, coordinator_id=coordinator_user.id, instructions="")
    act("revoke", reason="改派")
    assert case.status == CaseStatus.triaged
    html = text(coordinator.get(f"/cases/{case.id}"))
    for words in ("Priority changed", "Referred", "Referral updated", "Person added", "IT-88",
                  "Taken back by the centre"):
        assert words in html, words
    # The referral's entries on the timeline say to whom the case went.
    act("refer", target="police", mission_id=0, target_name="普拉托警察局", note="")
    timeline = text(coordinator.get(f"/cases/{case.id}")).split('data-testid="timeline"')[1]
    named = re.findall(r'data-testid="referral-target">→ ([^<]+)<', timeline)
    assert named == [f"Embassy or consulate: {mission.name}"] * 2 + ["Police: 普拉托警察局"]


def test_the_close_form_starts_from_the_outcome_the_station_proposed(world, logged_in, offered):
    case, volunteer = offered
    assert volunteer.post(f"/cases/{case.id}/act/accept",
                          {"accept-version": case.version}).status_code == 303
    db.session.refresh(case)
    assert volunteer.post(f"/cases/{case.id}/act/resolve", {
        "resolve-version": case.version, "resolve-outcome": "located",
        "resolve-note": "已在米兰找到，已与家属通话"}).status_code == 303
    html = text(signed_in(logged_in, world["coordinator"]).get(f"/cases/{case.id}"))
    close = html.split('data-action="close"')[1].split("</details>")[0]
    assert re.search(r'<option selected value="located">', close)
    proposal = close.split('data-testid="proposed-outcome"')[1]
    assert world["volunteer_prato"].display_name in proposal and "Found: in contact again" in proposal
    assert "已在米兰找到，已与家属通话" in proposal


def test_an_upload_over_the_limit_says_the_limit_and_leads_back(world, logged_in, make_case, app):
    case = make_case()
    limit = app.extensions["consular.settings"].attachment_max_mb
    too_big = "x" * (app.config["MAX_CONTENT_LENGTH"] + 1)
    for user, words in ((world["officer_a"], f"at most {limit} MB"),
                        (world["officer_zh"], f"最多 {limit} MB")):
        officer = signed_in(logged_in, user)
        r = officer.post(f"/cases/{case.id}/act/add_attachment",
                         {"add_attachment-version": case.version, "add_attachment-file": too_big},
                         headers={"Referer": f"http://localhost/cases/{case.id}"})
        assert r.status_code == 413
        html = text(r)
        assert words in html, html[-2000:]
        assert f'href="/cases/{case.id}" data-testid="error-back"' in html
        # No way back to another site.
        r = officer.post("/cases/new", {"summary": too_big},
                         headers={"Referer": "http://evil.example/cases/new"})
        assert r.status_code == 413 and 'data-testid="error-back"' not in text(r)
    api = signed_in(logged_in, world["officer_a"]).client.post(
        "/api/v1/cases", data=too_big, content_type="application/json")
    assert api.status_code == 413 and f"{limit} MB" in api.get_json()["message"]


JUNK = ["\x00", "x" * 6000, "-1", "‮evil"]


def test_junk_on_every_form_is_a_clear_4xx_never_a_500(world, logged_in, make_case):
    case = advance(make_case(), world["coordinator"], "triage")
    incident = ops.create_incident({"title": "事件"}, user=world["coordinator"])
    db.session.commit()
    coordinator = signed_in(logged_in, world["coordinator"])
    officer = signed_in(logged_in, world["officer_a"])
    targets: list[tuple[Browser, str, list[str]]] = [
        (officer, "/cases/new", ["persons-0-name_zh", "persons-0-phone", "persons-0-birth_date",
                                 "persons-0-id_number", "country_code", "category", "summary",
                                 "priority", "occurred_at", "timezone", "tags", "family_phone"]),
        (coordinator, f"/cases/{case.id}/edit", ["version", "summary", "occurred_at", "timezone"]),
        (coordinator, f"/cases/{case.id}/act/assign", ["assign-version", "assign-station_id",
                                                        "assign-coordinator_id", "assign-instructions"]),
        (coordinator, f"/cases/{case.id}/act/add_note", ["add_note-version", "add_note-text"]),
        (coordinator, "/cases/incidents", ["title", "country_code", "occurred_at"]),
        (coordinator, f"/cases/incidents/{incident.id}/mass", ["text", "category", "priority"]),
        (coordinator, "/notifications/read", ["id"]),
    ]
    problems = []
    for browser, url, fields in targets:
        for junk in JUNK:
            base = new_case_form() if url == "/cases/new" else {}
            for name in fields:
                response = browser.post(url, {**base, name: junk})
                if response.status_code >= 500:
                    problems.append(f"{url} {name}={junk[:10]!r}: {response.status_code}")
    assert not problems, "\n".join(problems)
    db.session.refresh(case)
    assert case.summary == "在普拉托被扣留" and len(case.persons) == 1
