"""The case API's small world (one caller per role, a case on each side of a scope boundary) and
helpers to call it: the ``world`` fixture of the API tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from consular.auth.models import Role, User
from consular.cases import operations as ops
from consular.cases.models import Case
from consular.db import db
from tests.conftest import api_headers


class Api:
    """One caller with a bearer token."""

    def __init__(self, client: Any, user: User | None) -> None:
        self.client = client
        self.user = user
        self.headers = {"Accept-Language": "en"}
        if user is not None:
            self.headers.update(api_headers(user))

    @classmethod
    def with_headers(cls, client: Any, user: User | None, headers: dict[str, str]) -> Api:
        """The caller whose request headers (its token) are ``headers``: no new token is made."""
        api = cls(client, None)
        api.user, api.headers = user, dict(headers)
        return api

    def get(self, url: str, **kw: Any) -> Any:
        return self.client.get(url, headers=self.headers, **kw)

    def post(self, url: str, body: Any = None, **kw: Any) -> Any:
        return self.client.post(url, json=body if body is not None else {}, headers=self.headers, **kw)

    def patch(self, url: str, body: Any, **kw: Any) -> Any:
        return self.client.patch(url, json=body, headers=self.headers, **kw)

    def raw(self, method: str, url: str, **kw: Any) -> Any:
        return self.client.open(url, method=method, headers={**self.headers, **kw.pop("headers", {})},
                                **kw)


@dataclass
class World:
    coordinator: User
    admin: User
    officer: User  # of point A
    other_officer: User  # of point B
    volunteer: User  # of station X
    other_volunteer: User  # of station Y
    own: Case  # logged at point A, offered to station X
    other: Case  # logged at point B, not handed to anyone
    api: dict[str, Api]


@pytest.fixture(name="world")
def api_world_fixture(app, client, make_user, make_point, make_station, make_mission) -> World:
    return build_api_world(client, make_user, make_point, make_station, make_mission)


def build_api_world(client: Any, make_user: Any, make_point: Any, make_station: Any,
                    make_mission: Any) -> World:
    """The API world's rows, made with the factory fixtures, and its callers on ``client``."""
    point_a, point_b = make_point(name="丽岙街道联络点"), make_point(name="玉壶镇联络点")
    station_x = make_station(name="普拉托服务站")
    station_y = make_station(name="巴黎服务站", country_code="FR", city="Paris",
                             timezone="Europe/Paris")
    make_mission()
    coordinator = make_user(Role.coordinator)
    officer = make_user(Role.liaison_officer, liaison_point_id=point_a.id)
    other_officer = make_user(Role.liaison_officer, liaison_point_id=point_b.id)
    volunteer = make_user(Role.station_volunteer, station_id=station_x.id)
    other_volunteer = make_user(Role.station_volunteer, station_id=station_y.id)
    admin = make_user(Role.admin)

    own = ops.create_case({"summary": "王伟在普拉托被拘留", "category": "detained", "country_code": "IT",
                           "city": "Prato", "priority": "P2"}, [PERSON], user=officer)
    other = ops.create_case({"summary": "护照在巴黎丢失", "category": "lost_documents",
                             "country_code": "FR", "city": "Paris"},
                            [{"name_zh": "李娜", "phone": "+33 6 12 34 56 78"}], user=other_officer)
    db.session.commit()
    ops.triage(own, user=coordinator, priority="P2", expected_version=own.version)
    ops.assign(own, user=coordinator, station_id=station_x.id, coordinator_id=None,
               instructions="请去警察局了解情况", expected_version=own.version)
    db.session.commit()
    users = {"coordinator": coordinator, "admin": admin, "officer": officer,
             "other_officer": other_officer, "volunteer": volunteer,
             "other_volunteer": other_volunteer}
    apis = {name: Api(client, user) for name, user in users.items()}
    apis["anonymous"] = Api(client, None)
    return World(coordinator, admin, officer, other_officer, volunteer, other_volunteer, own, other,
                 apis)


def case_url(case: Case, tail: str = "") -> str:
    return f"/api/v1/cases/{case.id}{tail}"


NEW_CASE = {"summary": "陈静在马德里住院", "category": "ill", "country_code": "es", "city": "Madrid",
            "priority": "P2", "persons": [{"name_zh": "陈静", "name_latin": "CHEN JING",
                                           "phone": "612 345 678", "birth_date": "1985-04-02"},
                                          {"role": "family", "name_zh": "陈建国",
                                           "phone": "13905770123", "relationship": "父亲"}]}


def act(api: Api, case: Case | int, action: str, body: dict[str, Any]) -> Any:
    case_id = case if isinstance(case, int) else case.id
    return api.post(f"/api/v1/cases/{case_id}/actions/{action}", body)


PERSON = {"name_zh": "王伟", "name_latin": "WANG WEI", "id_number": "E12345678",
          "phone": "+39 331 123 4567", "gender": "male"}
