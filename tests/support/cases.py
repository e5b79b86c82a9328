"""Shared fixtures for the case-register domain tests: a small network with one user per role on
each side of a scope boundary, and ``build(state)`` that drives a case through the real operations
to any lifecycle state. (No tests here; the other ``test_cases_core_*`` modules import it.)"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest

from consular.auth.models import Role, User
from consular.cases import operations as ops
from consular.cases.models import Case, CaseStatus, Incident
from consular.db import db
from consular.network.models import LiaisonPoint, Mission, ServiceStation

STATES = tuple(CaseStatus)


@dataclass
class World:
    point_a: LiaisonPoint
    point_b: LiaisonPoint
    station_a: ServiceStation
    station_b: ServiceStation
    mission: Mission
    admin: User
    coordinator: User  # on duty, with a phone
    coordinator2: User  # not on duty, no phone
    officer_a: User
    officer_b: User
    volunteer_a: User
    volunteer_b: User
    incident: Incident
    incident2: Incident

    def user(self, name: str) -> User:
        user: User = getattr(self, name)
        return user


@pytest.fixture(name="world")
def world_fixture(app: Any, make_point: Callable[..., LiaisonPoint],
                  make_station: Callable[..., ServiceStation], make_mission: Callable[..., Mission],
                  make_user: Callable[..., User]) -> World:
    point_a, point_b = make_point("甲镇联络点"), make_point("乙镇联络点")
    station_a = make_station("普拉托服务站")
    station_b = make_station("里昂服务站", country_code="FR", city="Lyon", timezone="Europe/Paris")
    mission = make_mission()
    coordinator = make_user(Role.coordinator, phone="+8613905770001")
    coordinator.on_duty = True
    w = World(
        point_a=point_a, point_b=point_b, station_a=station_a, station_b=station_b, mission=mission,
        admin=make_user(Role.admin), coordinator=coordinator, coordinator2=make_user(Role.coordinator),
        officer_a=make_user(Role.liaison_officer, liaison_point_id=point_a.id),
        officer_b=make_user(Role.liaison_officer, liaison_point_id=point_b.id),
        volunteer_a=make_user(Role.station_volunteer, station_id=station_a.id, phone="+393331234567"),
        volunteer_b=make_user(Role.station_volunteer, station_id=station_b.id),
        incident=Incident(title="普拉托大巴事故", country_code="IT", city="Prato"),
        incident2=Incident(title="里昂疏散", country_code="FR", city="Lyon"),
    )
    db.session.add_all([w.incident, w.incident2])
    db.session.commit()
    return w


def pages_world(make_user: Callable[..., User], make_point: Callable[..., Any],
                make_station: Callable[..., Any]) -> dict[str, Any]:
    """Two liaison points, two stations (Prato, Paris), a coordinator, an admin, and one user of each
    place (two officers at the first point, one of them reading Chinese), by name."""
    point_a, point_b = make_point("七都街道联络点"), make_point("五马街道联络点")
    prato, paris = make_station("普拉托服务站", "IT", city="Prato"), make_station(
        "巴黎服务站", "FR", city="Paris", timezone="Europe/Paris")
    return {
        "point_a": point_a, "point_b": point_b, "prato": prato, "paris": paris,
        "coordinator": make_user(Role.coordinator, username="coord", locale="en"),
        "admin": make_user(Role.admin, username="root", locale="en"),
        "officer_a": make_user(Role.liaison_officer, username="officer_a",
                               liaison_point_id=point_a.id, locale="en"),
        "officer_b": make_user(Role.liaison_officer, username="officer_b",
                               liaison_point_id=point_b.id, locale="en"),
        "officer_zh": make_user(Role.liaison_officer, username="officer_zh",
                                liaison_point_id=point_a.id, locale="zh_Hans"),
        "volunteer_prato": make_user(Role.station_volunteer, username="vol_prato",
                                     station_id=prato.id, locale="en", phone="+393311234501"),
        "volunteer_paris": make_user(Role.station_volunteer, username="vol_paris",
                                     station_id=paris.id, locale="en"),
    }


def case_data(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"summary": "在普拉托被拘留", "category": "detained", "country_code": "IT",
                            "city": "Prato", "narrative": "家属称其于周一被带走。"}
    data.update(overrides)
    return data


def person(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"name_zh": "张伟", "name_latin": "ZHANG WEI", "birth_date": "1980-03-15",
                            "id_number": "E12345678", "phone": "+39 333 765 4321"}
    data.update(overrides)
    return data


_BUILT = itertools.count(1)


def build(w: World, state: CaseStatus, *, commit: bool = True, linked: bool = True) -> Case:
    """A case logged at point A, referred and linked to an incident, then driven to ``state`` with
    a hand-off to station A (offered, then accepted, then done) and the on-duty coordinator. Each
    case is about another person (their own birth date, passport and phone): no two built cases
    are possible duplicates of each other."""
    c = w.coordinator
    n = next(_BUILT)
    someone = person(birth_date=(date(1980, 1, 1) + timedelta(days=n)).isoformat(),
                     id_number=f"E{n:08d}", phone=f"+39 333 765 {n % 10_000:04d}")
    case = ops.create_case(case_data(), [someone], user=w.officer_a)
    ops.refer(case, user=c, target="police", target_name="Prato Questura")
    if linked:
        ops.link_incident(case, w.incident, user=c)
    if state != CaseStatus.new:
        ops.triage(case, user=c, priority="P2", expected_version=case.version)
    if state not in (CaseStatus.new, CaseStatus.triaged):
        ops.assign(case, user=c, station_id=w.station_a.id, coordinator_id=c.id,
                   instructions="请去医院探视", expected_version=case.version)
    if state in (CaseStatus.in_progress, CaseStatus.waiting_external, CaseStatus.resolved,
                 CaseStatus.closed):
        ops.accept_assignment(case, user=w.volunteer_a, expected_version=case.version)
    if state == CaseStatus.waiting_external:
        ops.wait_external(case, user=w.volunteer_a, waiting_on="等待警方回复", expected_version=case.version)
    if state in (CaseStatus.resolved, CaseStatus.closed):
        ops.resolve(case, user=w.volunteer_a, outcome="released", note="已获释放",
                    expected_version=case.version)
    if state == CaseStatus.closed:
        ops.close_case(case, user=c, outcome="released", expected_version=case.version)
    if commit:
        db.session.commit()
    assert case.status == state
    return case


def advance(case: Case, user: User, *steps: str, station: Any = None, volunteer: User | None = None,
            priority: str = "P1", instructions: str = "请派人去警局了解情况") -> Case:
    """Moves ``case`` through ``steps`` ("triage", "assign", "accept", "resolve") with the operations,
    as the other screens would, committing each: ``user`` triages (at ``priority``) and assigns (to
    ``station``), ``volunteer`` (``user`` when none is given) accepts and resolves."""
    for step in steps:
        db.session.refresh(case)
        v = case.version
        if step == "triage":
            ops.triage(case, user=user, priority=priority, expected_version=v)
        elif step == "assign":
            ops.assign(case, user=user, station_id=station.id, coordinator_id=None,
                       instructions=instructions, expected_version=v)
        elif step == "accept":
            ops.accept_assignment(case, user=volunteer or user, expected_version=v)
        elif step == "resolve":
            ops.resolve(case, user=volunteer or user, outcome="released", note="已获释", expected_version=v)
        db.session.commit()
    db.session.refresh(case)
    return case
