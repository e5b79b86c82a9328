"""The access-matrix world: two liaison points, two stations and the records around them, each record
carrying canary personal values, the URL arguments that address each one by relation, and the calls
of every route of the URL map on them (the access matrix and the page-language walk share them)."""

from __future__ import annotations

import copy
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from flask import Flask
from werkzeug.routing import Rule

from alerts.models import WorkerHeartbeat
from alerts.targeting import fan_out
from consular.activities import operations as activities
from consular.activities import risks
from consular.auth.models import Role, User
from consular.auth.operations import create_api_token
from consular.cases import attachments
from consular.cases import operations as cases
from consular.cases.models import Case
from consular.db import db, utcnow
from consular.network.models import CoordinationCentre, Division, LiaisonPoint, Mission, ServiceStation
from consular.registry import operations as registry
from consular.registry.models import ImportState, RegistrantImport
from consular.webhooks.models import WebhookSubscription
from tests.access_policy import (
    ANON,
    NONE,
    OK,
    OTHER_PLACE,
    OTHER_STATION,
    OTHER_USER,
    OWN_PLACE,
    OWN_STATION,
    POLICY,
    SELF,
    UNASSIGNED,
    expected,
)
from tests.support.built_once import built_once
from tests.support.dispatch import make_alert

# One distinctive person per relation: a name in 汉字 and passport spelling, a phone, a passport.
CANARIES: dict[str, tuple[str, str, str, str]] = {
    OWN_PLACE: ("欧阳甲雀", "OUYANG JIAQUE", "+393339100001", "E91000001"),
    OTHER_PLACE: ("司马乙雀", "SIMA YIQUE", "+393339100002", "E91000002"),
    OWN_STATION: ("诸葛丙雀", "ZHUGE BINGQUE", "+393339100003", "E91000003"),
    OTHER_STATION: ("上官丁雀", "SHANGGUAN DINGQUE", "+393339100004", "E91000004"),
    UNASSIGNED: ("皇甫戊雀", "HUANGFU WUQUE", "+393339100005", "E91000005"),
}
# Registrants of each relation (their phones differ from the case people's: one number, one record).
REGISTRANT_CANARIES: dict[str, tuple[str, str]] = {
    OWN_PLACE: ("令狐甲登", "+393339200001"),
    OTHER_PLACE: ("东方乙登", "+393339200002"),
    OWN_STATION: ("独孤丙登", "+393339200003"),
    OTHER_STATION: ("慕容丁登", "+393339200004"),
    UNASSIGNED: ("宇文戊登", "+393339200005"),
}
PLACE_CANARIES = {OWN_PLACE: "甲雀联络点", OTHER_PLACE: "乙雀秘密联络点",
                  OWN_STATION: "丙雀服务站", OTHER_STATION: "丁雀别家服务站"}


def canaries_of(relation: str) -> tuple[str, ...]:
    """Every value that only someone allowed to see ``relation``'s records may read."""
    values: list[str] = []
    if relation in CANARIES:
        name, latin, phone, passport = CANARIES[relation]
        values += [name, latin, phone, phone.replace("+39", ""), passport]
    if relation in REGISTRANT_CANARIES:
        name, phone = REGISTRANT_CANARIES[relation]
        values += [name, phone, phone.replace("+39", "")]
    return tuple(values)


@dataclass
class World:
    users: dict[Role, User]
    other_user: User  # an account nobody but an admin manages
    tokens: dict[Role, str]
    # URL argument name -> relation -> value
    args: dict[str, dict[str, Any]] = field(default_factory=dict)
    # relation -> the case row addressed (to check a refused change left it alone)
    cases: dict[str, int] = field(default_factory=dict)


def _person(relation: str) -> dict[str, Any]:
    name, latin, phone, passport = CANARIES[relation]
    return {"name_zh": name, "name_latin": latin, "birth_date": "1980-03-15", "phone": phone,
            "id_number": passport}


def _case(relation: str, user: User) -> Case:
    data = {"summary": f"{CANARIES[relation][0]}在普拉托被拘留", "category": "detained",
            "country_code": "IT", "city": "Prato", "narrative": f"家属称{CANARIES[relation][1]}被带走。"}
    return cases.create_case(data, [_person(relation)], user=user)


def _hand_to(case: Case, station: ServiceStation, coordinator: User, volunteer: User) -> None:
    cases.triage(case, user=coordinator, priority="P2", expected_version=case.version)
    cases.assign(case, user=coordinator, station_id=station.id, coordinator_id=None, instructions=None,
                 expected_version=case.version)
    cases.accept_assignment(case, user=volunteer, expected_version=case.version)


def build_world(make_point: Callable[..., LiaisonPoint], make_station: Callable[..., ServiceStation],
                make_mission: Callable[..., Mission], make_user: Callable[..., User],
                make_division: Callable[..., Division]) -> World:
    own_point = make_point(PLACE_CANARIES[OWN_PLACE])
    other_point = make_point(PLACE_CANARIES[OTHER_PLACE])
    own_station = make_station(PLACE_CANARIES[OWN_STATION])
    other_station = make_station(PLACE_CANARIES[OTHER_STATION], country_code="IT", city="Milano")
    mission = make_mission()
    db.session.add(CoordinationCentre(name="协调中心", city="温州"))
    coordinator = make_user(Role.coordinator, locale="en")
    users = {
        Role.admin: make_user(Role.admin, locale="en"),
        Role.coordinator: coordinator,
        Role.liaison_officer: make_user(Role.liaison_officer, liaison_point_id=own_point.id, locale="en"),
        Role.station_volunteer: make_user(Role.station_volunteer, station_id=own_station.id, locale="en"),
    }
    other_officer = make_user(Role.liaison_officer, liaison_point_id=other_point.id)
    other_volunteer = make_user(Role.station_volunteer, station_id=other_station.id)
    officer, volunteer = users[Role.liaison_officer], users[Role.station_volunteer]

    by_relation = {
        OWN_PLACE: _case(OWN_PLACE, officer),
        OTHER_PLACE: _case(OTHER_PLACE, other_officer),
        # Handed cases are logged at the other point, so only the hand-off can open them.
        OWN_STATION: _case(OWN_STATION, other_officer),
        OTHER_STATION: _case(OTHER_STATION, other_officer),
        UNASSIGNED: _case(UNASSIGNED, coordinator),
    }
    _hand_to(by_relation[OWN_STATION], own_station, coordinator, volunteer)
    _hand_to(by_relation[OTHER_STATION], other_station, coordinator, other_volunteer)
    attached = {}
    for relation, case in by_relation.items():
        name = f"{CANARIES[relation][1].replace(' ', '_')}.txt"
        body = f"passport {CANARIES[relation][3]}".encode()
        attached[relation] = attachments.store_attachment(case, name, io.BytesIO(body), "text/plain",
                                                          user=coordinator).id
    referrals = {relation: cases.refer(case, user=coordinator, target="police").id
                 for relation, case in by_relation.items()}
    incidents = {}
    for relation in (OWN_PLACE, OTHER_PLACE):
        incident = cases.create_incident({"title": f"{CANARIES[relation][0]}事件", "country_code": "IT",
                                          "city": "Prato"}, user=coordinator)
        cases.link_incident(by_relation[relation], incident, user=coordinator)
        incidents[relation] = incident.id

    places = {OWN_PLACE: {"liaison_point_id": own_point.id},
              OTHER_PLACE: {"liaison_point_id": other_point.id},
              OWN_STATION: {"station_id": own_station.id},
              OTHER_STATION: {"station_id": other_station.id},
              UNASSIGNED: {}}
    registrants = {}
    for relation, (name, phone) in REGISTRANT_CANARIES.items():
        registrants[relation] = registry.register(
            {"name": name, "phone": phone, "country_code": "IT", "city": "Prato",
             "consent_method": "written", **places[relation]}, user=coordinator).id

    drafts = {SELF: {}, OTHER_USER: {}}
    for who, author in ((SELF, None), (OTHER_USER, other_officer)):
        for role in (Role.coordinator, Role.liaison_officer, Role.station_volunteer):
            drafts[who][role] = cases.save_draft(author or users[role], {"summary": "草稿"}).id
    imports = {SELF: {}, OTHER_USER: {}}
    for who, owner in ((SELF, None), (OTHER_USER, other_officer)):
        for role in Role:
            row = RegistrantImport(batch=f"batch-{who}-{role.value}", user_id=(owner or users[role]).id,
                                   state=ImportState.previewed, sha256="0" * 64, filename="list.csv")
            db.session.add(row)
            db.session.flush()
            imports[who][role] = row.id
    tokens, token_ids = {}, {}
    for role, user in users.items():
        tokens[role] = create_api_token(user, "matrix")[1]
        token_ids[role] = create_api_token(user, "to revoke")[0].id
    other_token, _secret = create_api_token(other_officer, "not yours")
    db.session.add(WorkerHeartbeat(id="matrix:1:0", host="matrix", pid=1))  # /readyz: a worker is alive
    subscription = WebhookSubscription(url="https://hooks.example.org/in", events=["alert.sent"],
                                       secret="whsec_matrix", active=True)
    db.session.add(subscription)
    db.session.commit()

    alert = make_alert(country="IT", safety_check=True)
    alert.public = True
    fan_out(alert, utcnow())
    db.session.commit()

    from alerts.authoring.demo_templates import load_demo_templates
    from alerts.authoring.models import AlertTemplate

    load_demo_templates()
    template_id = db.session.scalar(sa.select(sa.func.min(AlertTemplate.id)))
    db.session.commit()

    work = _network_work(coordinator, officer, other_officer, volunteer, other_volunteer,
                         own_point.division_id)
    db.session.commit()
    divisions = {OWN_PLACE: own_point.division_id, OTHER_PLACE: other_point.division_id}
    world = World(users=users, other_user=other_officer, tokens=tokens)
    world.cases = {relation: case.id for relation, case in by_relation.items()}
    world.args = {
        "case_id": world.cases,
        "attachment_id": attached,
        "incident_id": incidents,
        "registrant_id": registrants,
        "point_id": {OWN_PLACE: own_point.id, OTHER_PLACE: other_point.id},
        "station_id": {OWN_STATION: own_station.id, OTHER_STATION: other_station.id},
        "division_id": divisions,
        "mission_id": {NONE: mission.id},
        "alert_id": {NONE: alert.id},
        "template_id": {NONE: template_id},
        "identifier": {NONE: alert.identifier},
        "delivery_id": {NONE: db.session.scalar(sa.text("SELECT min(id) FROM delivery"))},
        "user_id": {OTHER_USER: other_officer.id},
        "subscription_id": {NONE: subscription.id},
        "token_id": {SELF: token_ids, OTHER_USER: other_token.id},
        "draft_id": drafts,
        "import_id": imports,
        "year": {NONE: datetime.now(UTC).year},
        "fmt": {NONE: "csv"},
        "action_name": {NONE: "add_note"},
        "filename": {NONE: "css/app.css"},
        "referral_id": referrals,
        **work,
    }
    return world


def world_once(make_point: Callable[..., LiaisonPoint], make_station: Callable[..., ServiceStation],
               make_mission: Callable[..., Mission], make_user: Callable[..., User],
               make_division: Callable[..., Division]) -> World:
    """What ``build_world`` returns, with its rows, built once per database: the later calls put
    those rows back (see ``tests.support.built_once``) and return a world of the same ids."""

    def build() -> tuple[dict[Role, int], int, World]:
        world = build_world(make_point, make_station, make_mission, make_user, make_division)
        return {role: user.id for role, user in world.users.items()}, world.other_user.id, world

    ids, other_id, kept = built_once("access_world", build)
    users = {role: db.session.get(User, user_id) for role, user_id in ids.items()}
    other = db.session.get(User, other_id)
    assert other is not None and all(user is not None for user in users.values())
    return World(users={role: user for role, user in users.items() if user is not None}, other_user=other,
                 tokens=dict(kept.tokens), args=copy.deepcopy(kept.args), cases=dict(kept.cases))


def _network_work(coordinator: User, officer: User, other_officer: User, volunteer: User,
                  other_volunteer: User, division_id: int) -> dict[str, dict[str, Any]]:
    """Activities, attachments, follow-ups, risk points and measures of each relation: a talk of
    each point, a drill of each station, a training of the centre's; a risk each station reported
    and one the centre entered."""
    held = {"held_on": "2026-01-15", "head_count": 30}
    home = {"place_kind": "home", "division_id": division_id}
    logged = {
        OWN_PLACE: activities.log_activity({"kind": "talk", "title": "本点宣讲", "audience": "residents",
                                            "setting": "community", **home, **held}, user=officer),
        OTHER_PLACE: activities.log_activity({"kind": "talk", "title": "他点宣讲", "audience": "students",
                                              "setting": "university", **home, **held}, user=other_officer),
        OWN_STATION: activities.log_activity({"kind": "drill", "title": "本站演练", "audience": "volunteers",
                                              "place_kind": "online", **held}, user=volunteer),
        OTHER_STATION: activities.log_activity({"kind": "drill", "title": "他站演练",
                                                "audience": "volunteers", "place_kind": "online", **held},
                                               user=other_volunteer),
        UNASSIGNED: activities.log_activity({"kind": "training", "title": "中心培训",
                                             "audience": "centre_staff", **home, **held}, user=coordinator),
    }
    files = {relation: activities.add_attachment(a, "sign-in.txt", io.BytesIO(b"sign-in sheet"),
                                                 user=coordinator).id for relation, a in logged.items()}
    follow_ups = {relation: activities.add_follow_up(a, {"action": "寄送材料", "owner": "中心",
                                                         "due_on": "2026-02-01"}, user=coordinator).id
                  for relation, a in logged.items()}
    risk = {"kind": "scam", "level": "medium", "found_on": "2026-01-10"}
    reported = {
        OWN_STATION: risks.report_risk({"title": "本站诈骗", **risk}, user=volunteer),
        OTHER_STATION: risks.report_risk({"title": "他站诈骗", **risk}, user=other_volunteer),
        UNASSIGNED: risks.report_risk({"title": "中心风险点", **risk}, user=coordinator),
    }
    measures = {relation: risks.add_measure(r, {"action": "发布提醒", "owner": "中心",
                                                "due_on": "2026-02-01"}, user=coordinator).id
                for relation, r in reported.items()}
    return {"activity_id": {relation: a.id for relation, a in logged.items()}, "file_id": files,
            "follow_up_id": follow_ups, "risk_id": {relation: r.id for relation, r in reported.items()},
            "measure_id": measures}


# --- the calls that address each record ---------------------------------------------------------

# The URL argument ``object_id`` of the network API names a different register per endpoint.
OBJECT_KINDS = {"liaison_point": "point_id", "station": "station_id", "division": "division_id",
                "mission": "mission_id"}


@dataclass(frozen=True)
class Call:
    endpoint: str
    method: str
    relation: str
    path: str
    api: bool


def arg_values(world: World, rule: Rule) -> dict[str, dict[str, Any]]:
    values = {}
    for name in rule.arguments:
        key = name
        if name == "object_id":
            key = next(v for k, v in OBJECT_KINDS.items() if rule.endpoint.split(".")[1].startswith(k))
        values[name] = world.args[key]
    return values


def relations(world: World, rule: Rule) -> list[str]:
    """The relations a route can be asked about: those every one of its record arguments has."""
    found: set[str] | None = None
    for by_relation in arg_values(world, rule).values():
        keys = set(by_relation) - {NONE}
        if keys:
            found = keys if found is None else found & keys
    return sorted(found) if found else [NONE]


def pick(value: Any, who: str) -> Any:
    if isinstance(value, dict):  # a row per role (drafts, imports, tokens)
        return value.get(who if who != ANON else Role.coordinator, next(iter(value.values())))
    return value


def calls(app: Flask, world: World, who: str) -> Iterator[tuple[Rule, Call]]:
    with app.test_request_context():
        for rule in sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint)):
            values = arg_values(world, rule)
            for relation in relations(world, rule):
                filled = {}
                for name, by_relation in values.items():
                    chosen = by_relation.get(relation, by_relation.get(NONE))
                    if chosen is None:  # e.g. a draft asked about as SELF and OTHER_USER
                        chosen = next(iter(by_relation.values()))
                    filled[name] = pick(chosen, who)
                path = app.url_for(rule.endpoint, **filled)
                for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
                    yield rule, Call(rule.endpoint, method, relation, path, path.startswith("/api/"))


def pages_of(app: Flask, world: World, who: str) -> list[str]:
    """Each page (GET, not the API) the role may open, once per route (its first relation in
    scope): the page walks (language, accessibility) read these, so a new route joins them."""
    key = who if who == ANON else Role(who)
    chosen: dict[str, str] = {}
    for _rule, call in calls(app, world, who):
        if call.method != "GET" or call.api or call.endpoint in chosen or call.endpoint == "static":
            continue
        if expected(POLICY[(call.endpoint, call.method)], key, call.relation) == OK:
            chosen[call.endpoint] = call.path
    return list(chosen.values())
