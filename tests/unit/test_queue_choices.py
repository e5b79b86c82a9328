"""The triage queue's filter choices (countries, stations, liaison points): a process keeps the
coordinators' for a while, forgets them when one of its commits changes a case, a point or a
station, and never hands them to anyone whose scope is narrower."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

from consular.auth.models import User
from consular.cases import operations as ops
from consular.cases import queries
from consular.cases.models import Case
from consular.db import db
from consular.network.models import LiaisonPoint, ServiceStation
from tests.conftest import signed_in
from tests.support.cases import pages_world


@pytest.fixture
def world(make_user: Callable[..., User], make_point: Callable[..., Any],
          make_station: Callable[..., Any]) -> dict[str, Any]:
    return pages_world(make_user, make_point, make_station)


def make_case(officer: User, country_code: str) -> None:
    ops.create_case({"country_code": country_code, "city": "", "category": "detained",
                     "summary": "被扣留", "priority": "P2"},
                    [{"role": "involved", "name_zh": "陈一", "phone": "+393310000001"}], user=officer)
    db.session.commit()


def station_options(html: str) -> list[str]:
    select = html[html.index('<select class="form-select" name="station"'):]
    return [part.split("</option>")[0].split(">")[-1]
            for part in select[:select.index("</select>")].split("<option")[2:]]


def names(places: tuple[queries.NamedPlace, ...]) -> set[str]:
    return {p.name for p in places}


def test_a_new_station_shows_in_the_filter_once_created(world, logged_in, make_station):
    coordinator = signed_in(logged_in, world["coordinator"])
    page = coordinator.get("/cases/queue?status=").get_data(as_text=True)
    assert station_options(page) == ["巴黎服务站", "普拉托服务站"]  # by country, then name
    make_station("马德里服务站", "ES", city="Madrid")  # committed through the ORM
    page = coordinator.get("/cases/queue?status=").get_data(as_text=True)
    assert "马德里服务站" in station_options(page)


def test_a_closed_station_and_a_case_in_a_new_country_show_at_once(world, logged_in):
    coordinator = signed_in(logged_in, world["coordinator"])
    before = coordinator.get("/cases/queue?status=").get_data(as_text=True)
    assert '<option value="DE"' not in before
    station = db.session.get(ServiceStation, world["paris"].id)
    station.active = False
    db.session.commit()
    make_case(world["officer_a"], "DE")
    after = coordinator.get("/cases/queue?status=").get_data(as_text=True)
    assert "巴黎服务站" not in station_options(after)
    assert '<option value="DE">Germany</option>' in after


def test_a_case_moved_to_another_country_shows_at_once(world, logged_in):
    make_case(world["officer_a"], "IT")
    coordinator = signed_in(logged_in, world["coordinator"])
    assert '<option value="JP"' not in coordinator.get("/cases/queue?status=").get_data(as_text=True)
    case = db.session.scalars(sa.select(Case)).one()
    case.country_code = "JP"
    db.session.commit()
    after = coordinator.get("/cases/queue?status=").get_data(as_text=True)
    assert '<option value="JP">Japan</option>' in after and '<option value="IT"' not in after


def test_a_change_without_the_orm_shows_after_the_time_kept(world, app, monkeypatch):
    coordinator = world["coordinator"]
    with app.test_request_context():
        kept = queries.queue_choices(coordinator)
        assert queries.queue_choices(coordinator) is kept  # kept, not read again
        db.session.execute(sa.update(LiaisonPoint).where(LiaisonPoint.id == world["point_b"].id)
                           .values(active=False))
        db.session.commit()
        assert queries.queue_choices(coordinator) is kept  # a bulk statement: not noticed at once
        monkeypatch.setattr(queries, "CHOICES_SECONDS", 0.0)
        fresh = queries.queue_choices(coordinator)
        assert names(fresh.points) == {"七都街道联络点"}


def test_others_get_only_their_own_choices_never_the_coordinators(world, app):
    make_case(world["officer_a"], "IT")
    with app.test_request_context():
        everything = queries.queue_choices(world["coordinator"])
        assert names(everything.stations) == {"普拉托服务站", "巴黎服务站"}
        assert names(everything.points) == {"七都街道联络点", "五马街道联络点"}
        volunteer = queries.queue_choices(world["volunteer_prato"])
        assert names(volunteer.stations) == {"普拉托服务站"}
        assert volunteer.points == () and volunteer.countries == ()  # no case handed to it
        officer = queries.queue_choices(world["officer_a"])
        assert names(officer.points) == {"七都街道联络点"}
        assert officer.countries == ("IT",)
        assert queries.queue_choices(world["coordinator"]) is everything


def test_the_queue_stays_for_coordinators(world, logged_in):
    assert signed_in(logged_in, world["volunteer_prato"]).get("/cases/queue").status_code == 403
    assert signed_in(logged_in, world["officer_a"]).get("/cases/queue").status_code == 403
