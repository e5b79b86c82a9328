"""Who sees which case: each role against a case of its own place and of another place, through
``scoped(Case, user)`` and ``get_scoped_or_404`` (what every case page and API route uses), and the
rows that belong to a case (people, timeline, hand-offs, referrals, attachments) through it."""

from __future__ import annotations

import io

import pytest
from werkzeug.exceptions import NotFound

from consular.auth.models import User
from consular.auth.scoping import get_scoped_or_404, scoped
from consular.cases import attachments
from consular.cases import operations as ops
from consular.cases.models import (
    Attachment,
    Case,
    CasePerson,
    CaseStatus,
    Incident,
    Notification,
    Referral,
    StationAssignment,
    TimelineEntry,
)
from consular.cases.policy import in_scope
from consular.db import db
from tests.support.cases import World, build, case_data, person


@pytest.fixture
def places(world: World) -> dict[str, Case]:
    """One case per kind of place: point A, point B, reported by station A, offered to station B,
    declined by station A."""
    w = world
    point_a = build(w, CaseStatus.in_progress)  # point A, accepted by station A
    point_b = ops.create_case(case_data(), [person()], user=w.officer_b)
    reported_a = ops.create_case(case_data(summary="服务站报告"), [{"name_zh": "陈静"}], user=w.volunteer_a)
    offered_b = ops.create_case(case_data(), [{"name_zh": "王芳"}], user=w.officer_b)
    ops.triage(offered_b, user=w.coordinator, priority="P2", expected_version=offered_b.version)
    ops.assign(offered_b, user=w.coordinator, station_id=w.station_b.id, coordinator_id=None,
               instructions=None, expected_version=offered_b.version)
    declined_a = ops.create_case(case_data(), [{"name_zh": "赵磊"}], user=w.officer_b)
    ops.triage(declined_a, user=w.coordinator, priority="P3", expected_version=declined_a.version)
    ops.assign(declined_a, user=w.coordinator, station_id=w.station_a.id, coordinator_id=None,
               instructions=None, expected_version=declined_a.version)
    ops.decline_assignment(declined_a, user=w.volunteer_a, reason="远", expected_version=declined_a.version)
    attachments.store_attachment(point_b, "a.txt", io.BytesIO(b"x"), "text/plain", user=w.officer_b)
    db.session.commit()
    return {"point_a": point_a, "point_b": point_b, "reported_a": reported_a, "offered_b": offered_b,
            "declined_a": declined_a}


VISIBLE = {
    "admin": set(),
    "coordinator": {"point_a", "point_b", "reported_a", "offered_b", "declined_a"},
    "officer_a": {"point_a"},
    "officer_b": {"point_b", "offered_b", "declined_a"},
    "volunteer_a": {"point_a", "reported_a"},
    "volunteer_b": {"offered_b"},
}


@pytest.mark.parametrize("who", list(VISIBLE))
def test_each_role_sees_its_own_places_cases_only(world: World, places: dict[str, Case], who: str) -> None:
    user: User = world.user(who)
    ids = {name: case.id for name, case in places.items()}
    seen = set(db.session.scalars(scoped(Case, user).with_only_columns(Case.id)))
    assert seen == {ids[name] for name in VISIBLE[who]}
    for name, case in places.items():
        assert in_scope(case, user) == (name in VISIBLE[who]), name
        if name in VISIBLE[who]:
            assert get_scoped_or_404(Case, case.id, user).id == case.id
        else:
            with pytest.raises(NotFound):
                get_scoped_or_404(Case, case.id, user)

    # Rows of a case are reached through the case only.
    for model in (CasePerson, TimelineEntry, StationAssignment, Referral, Attachment):
        case_ids = set(db.session.scalars(scoped(model, user).with_only_columns(model.case_id)))
        assert case_ids <= {ids[name] for name in VISIBLE[who]}, model
    persons = set(db.session.scalars(scoped(CasePerson, user).with_only_columns(CasePerson.case_id)))
    assert persons == {ids[name] for name in VISIBLE[who]}


def test_incidents_and_notifications_follow_their_cases_and_owners(world: World,
                                                                   places: dict[str, Case]) -> None:
    assert set(db.session.scalars(scoped(Incident, world.coordinator))) == {world.incident, world.incident2}
    assert set(db.session.scalars(scoped(Incident, world.officer_a))) == {world.incident}
    assert list(db.session.scalars(scoped(Incident, world.officer_b))) == []
    assert list(db.session.scalars(scoped(Incident, world.admin))) == []
    mine = list(db.session.scalars(scoped(Notification, world.volunteer_b)))
    assert mine and all(n.user_id == world.volunteer_b.id for n in mine)


def test_out_of_range_ids_are_simply_not_found(world: World) -> None:
    for bad in (0, -1, 2**31, 2**63):
        with pytest.raises(NotFound):
            get_scoped_or_404(Case, bad, world.coordinator)
