"""Network operations: the only code that creates or changes divisions, liaison points, overseas
stations, missions and the coordination centre.

Each operation validates all of its input before it touches a row, so a refusal leaves nothing
half-written; then it writes, flushes and records an audit entry. The caller commits once. Nothing
is ever deleted: cases and users refer to these places, so a place that closes is deactivated.

Input is checked by ``consular.network.checks`` (the fields, limits and errors of each place).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar, cast

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from consular.audit.operations import record
from consular.auth.models import Role, User
from consular.db import db, utcnow
from consular.network.checks import (
    CENTRE_FIELDS,
    CODE_RE,
    DIVISION_FIELDS,
    HOME_REGION,
    MAX,
    MISSION_FIELDS,
    PARENT_LEVEL,
    POINT_FIELDS,
    STATION_FIELDS,
    NetworkConflict,
    _Input,
    _unchanged_dropped,
)
from consular.network.models import (
    CoordinationCentre,
    Division,
    DivisionLevel,
    HostKind,
    LiaisonPoint,
    Mission,
    MissionKind,
    ServiceStation,
)


def _apply(obj: Any, values: Mapping[str, Any]) -> list[str]:
    changed = [key for key, value in values.items() if getattr(obj, key) != value]
    for key in changed:
        setattr(obj, key, values[key])
    return sorted(changed)


def _created(obj: Any, object_type: str, values: Mapping[str, Any]) -> None:
    db.session.add(obj)
    db.session.flush()
    record(f"{object_type}.create", object_type, obj.id,
           {"fields": sorted(k for k, v in values.items() if v not in ("", None))})


def _updated(obj: Any, object_type: str, changed: list[str]) -> None:
    if changed:
        db.session.flush()
        record(f"{object_type}.update", object_type, obj.id, {"fields": changed})


Place = TypeVar("Place", Division, LiaisonPoint, ServiceStation, Mission)


def _create(model: type[Place], object_type: str, fields: tuple[str, ...],
            data: Mapping[str, Any], required: tuple[str, ...],
            checks: Callable[[_Input, Place | None], None]) -> Place:
    """A new place of ``model`` from ``data``, once all of it passed ``checks``."""
    check = _Input(data, fields)
    check.require(*required)
    checks(check, None)
    values = check.done()
    place = model(**values)
    _created(place, object_type, values)
    return place


def _update(place: Place, object_type: str, fields: tuple[str, ...],
            data: Mapping[str, Any], checks: Callable[[_Input, Place | None], None]) -> list[str]:
    """Change ``place`` by ``data`` (fields sent unchanged are left out), once all of it passed
    ``checks``: the names of the fields that changed."""
    check = _Input(_unchanged_dropped(place, data, fields), fields)
    checks(check, place)
    changed = _apply(place, check.done())
    _updated(place, object_type, changed)
    return changed


def _set_active(obj: Any, object_type: str, active: bool) -> bool:
    if obj.active == active:
        return False
    obj.active = active
    db.session.flush()
    record(f"{object_type}.{'reactivate' if active else 'deactivate'}", object_type, obj.id)
    return True


@dataclass(frozen=True)
class _Register(Generic[Place]):
    """What a register of places does alike: create, update, deactivate and reactivate its
    ``model``'s rows (audited as ``object_type``), checked by ``checks``; a new one needs
    ``required``."""

    model: type[Place]
    object_type: str
    fields: tuple[str, ...]
    required: tuple[str, ...]
    checks: Callable[[_Input, Place | None], None]

    def create(self, data: Mapping[str, Any]) -> Place:
        return _create(self.model, self.object_type, self.fields, data, self.required, self.checks)

    def update(self, place: Place, data: Mapping[str, Any]) -> list[str]:
        return _update(place, self.object_type, self.fields, data, self.checks)

    def deactivate(self, place: Place) -> bool:
        return _set_active(place, self.object_type, False)

    def reactivate(self, place: Place) -> bool:
        return _set_active(place, self.object_type, True)


# --- divisions ----------------------------------------------------------------------------------


def _check_division(check: _Input, division: Division | None) -> None:
    code = check.text("code", MAX["code"], required=True)
    if code is not None:
        if not CODE_RE.match(code):
            check.out.pop("code", None)
            check.fail("code", _("Letters, digits, dash and underscore only."))
        else:
            clash = db.session.scalar(sa.select(Division.id).where(Division.code == code))
            if clash is not None and (division is None or clash != division.id):
                check.out.pop("code", None)
                check.fail("code", _("Another division already has this code."))
    check.text("name", MAX["division_name"], required=True)
    check.text("name_en", MAX["division_name"])
    check.choice("level", DivisionLevel)
    check.identifier("parent_id", nullable=True)
    if "level" in check.errors or "parent_id" in check.errors:
        return

    level: DivisionLevel | None = check.out.get("level", division.level if division else None)
    parent_id = check.out.get("parent_id", division.parent_id if division else None)
    if level is None:
        return
    wanted = PARENT_LEVEL[level]
    parent = db.session.get(Division, parent_id) if parent_id is not None else None
    if parent_id is not None and parent is None:
        check.fail("parent_id", _("Choose an entry from the list."))
    elif wanted is None and parent is not None:
        check.fail("parent_id", _("A county or district has no parent division."))
    elif wanted is not None and (parent is None or parent.level != wanted):
        check.fail("parent_id", _("A township must belong to a county or district.")
                   if level == DivisionLevel.township
                   else _("A village must belong to a township or street office."))
    elif parent is not None and not parent.active and \
            (division is None or division.parent_id != parent.id):
        check.fail("parent_id", _("This division is deactivated."))

    if division is not None and level != division.level:
        has_children = db.session.scalar(
            sa.select(sa.func.count()).select_from(Division).where(Division.parent_id == division.id))
        has_points = db.session.scalar(
            sa.select(sa.func.count()).select_from(LiaisonPoint)
            .where(LiaisonPoint.division_id == division.id))
        if has_children or has_points:
            check.fail("level", _("This division has sub-divisions or liaison points; its level "
                                  "cannot change."))


def create_division(data: Mapping[str, Any]) -> Division:
    check = _Input(data, DIVISION_FIELDS)
    check.require("code", "name", "level")
    _check_division(check, None)
    values = check.done()
    values.setdefault("parent_id", None)
    division = Division(**values)
    _created(division, "division", values)
    return division


def update_division(division: Division, data: Mapping[str, Any]) -> list[str]:
    return _update(division, "division", DIVISION_FIELDS, data, _check_division)


def deactivate_division(division: Division) -> bool:
    if division.active:
        children = db.session.scalar(
            sa.select(sa.func.count()).select_from(Division)
            .where(Division.parent_id == division.id, Division.active.is_(True))) or 0
        points = db.session.scalar(
            sa.select(sa.func.count()).select_from(LiaisonPoint)
            .where(LiaisonPoint.division_id == division.id, LiaisonPoint.active.is_(True))) or 0
        if children or points:
            raise NetworkConflict(_(
                "This division still has %(divisions)s and %(points)s. Deactivate or move them "
                "first.",
                divisions=ngettext("%(num)d active sub-division", "%(num)d active sub-divisions",
                                   children),
                points=ngettext("%(num)d active liaison point", "%(num)d active liaison points",
                                points)))
    return _set_active(division, "division", False)


def reactivate_division(division: Division) -> bool:
    if not division.active and division.parent is not None and not division.parent.active:
        raise NetworkConflict(_("The parent division %(name)s is deactivated. Reactivate it first.",
                                name=division.parent.name))
    return _set_active(division, "division", True)


# --- liaison points -----------------------------------------------------------------------------


def _check_point(check: _Input, point: LiaisonPoint | None) -> None:
    check.text("name", MAX["point_name"], required=True)
    check.text("name_en", MAX["point_name"])
    check.names("names", MAX["point_name"])
    check.text("address", MAX["address"])
    check.phone("phone", HOME_REGION, required=True)
    check.identifier("division_id")
    division_id = check.out.get("division_id")
    if division_id is not None:
        division = db.session.get(Division, division_id)
        if division is None:
            check.fail("division_id", _("Choose an entry from the list."))
        elif division.level == DivisionLevel.county:
            check.fail("division_id", _("A liaison point belongs to a township, street office or "
                                        "village, not to a whole county."))
        elif not division.active:
            check.fail("division_id", _("This division is deactivated."))


_POINTS = _Register(LiaisonPoint, "liaison_point", POINT_FIELDS, ("name", "division_id", "phone"),
                    _check_point)
create_liaison_point = _POINTS.create
update_liaison_point = _POINTS.update
deactivate_liaison_point = _POINTS.deactivate


def reactivate_liaison_point(point: LiaisonPoint) -> bool:
    if not point.active and not point.division.active:
        raise NetworkConflict(_("The division %(name)s is deactivated. Reactivate it first, or "
                                "move the liaison point.", name=point.division.name))
    return _POINTS.reactivate(point)


# --- overseas service stations ------------------------------------------------------------------


def _region(check: _Input, current: str | None) -> str | None:
    """The country whose numbering a local number is read in: the new one if valid, else the
    stored one; with neither, only international numbers are understood."""
    if "country_code" in check.errors:
        return None
    return check.out.get("country_code", current)


def _check_station(check: _Input, station: ServiceStation | None) -> None:
    check.text("name", MAX["station_name"], required=True)
    check.text("name_en", MAX["station_name"])
    check.names("names", MAX["station_name"])
    check.country("country_code")
    check.text("city", MAX["city"], required=True)
    check.text("host_organisation", MAX["host_organisation"], required=True)
    check.choice("host_kind", HostKind)
    check.timezone("timezone")
    check.languages("languages")
    check.text("contact_name", MAX["contact_name"])
    check.phone("contact_phone", _region(check, station.country_code if station else None))
    check.email("contact_email")


_STATIONS = _Register(ServiceStation, "station", STATION_FIELDS,
                      ("name", "country_code", "city", "host_organisation", "timezone", "languages"),
                      _check_station)
create_station = _STATIONS.create
update_station = _STATIONS.update
deactivate_station = _STATIONS.deactivate
reactivate_station = _STATIONS.reactivate


# --- missions -----------------------------------------------------------------------------------


def _check_mission(check: _Input, mission: Mission | None) -> None:
    check.text("name", MAX["mission_name"], required=True)
    check.text("name_en", MAX["mission_name"])
    check.names("names", MAX["mission_name"])
    check.choice("kind", MissionKind)
    check.country("country_code")
    check.text("city", MAX["city"], required=True)
    region = _region(check, mission.country_code if mission else None)
    check.phone("emergency_phone", region, required=True)
    check.phone("phone", region)
    check.text("address", MAX["address"])


_MISSIONS = _Register(Mission, "mission", MISSION_FIELDS,
                      ("name", "kind", "country_code", "city", "emergency_phone"), _check_mission)
create_mission = _MISSIONS.create
update_mission = _MISSIONS.update
deactivate_mission = _MISSIONS.deactivate
reactivate_mission = _MISSIONS.reactivate


# --- the coordination centre --------------------------------------------------------------------


def the_centre() -> CoordinationCentre | None:
    """The centre's row (there is one; the first if a hand-made database has several)."""
    return db.session.scalar(sa.select(CoordinationCentre).order_by(CoordinationCentre.id).limit(1))


def update_centre(data: Mapping[str, Any]) -> tuple[CoordinationCentre, list[str]]:
    """Change the centre's details; the first call on an empty network creates the row."""
    centre = the_centre()
    check = _Input(_unchanged_dropped(centre, data, CENTRE_FIELDS) if centre else data,
                   CENTRE_FIELDS)
    if centre is None:
        check.require("name", "city")
    check.text("name", MAX["centre_name"], required=True)
    check.text("name_en", MAX["centre_name"])
    check.names("names", MAX["centre_name"])
    check.text("city", MAX["city"], required=True)
    check.text("address", MAX["address"])
    check.phone("phone", HOME_REGION)
    check.phone("hotline_24h", HOME_REGION)
    if "timezone" in check.data:
        check.timezone("timezone")
    values = check.done()
    if centre is None:
        centre = CoordinationCentre(**values)
        _created(centre, "centre", values)
        return centre, sorted(values)
    changed = _apply(centre, values)
    _updated(centre, "centre", changed)
    return centre, changed


# --- activity: what keeps a place off the coverage report's "quiet" list -------------------------

# Work closer together than this does not move the mark again: the report counts in days, and a
# busy station's row need not be rewritten by each of its volunteers' clicks in a crisis.
ACTIVITY_GRAIN = timedelta(minutes=1)


def touch_activity(*, station_id: int | None = None, point_id: int | None = None,
                   at: datetime | None = None) -> None:
    """Record that a service station or a liaison point did real work (a case logged, accepted,
    updated or resolved; a registrant added or changed), in the caller's transaction. The coverage
    report calls a station quiet by this mark; it never moves back, and activity is not an edit of
    the place's record (its ``updated_at`` stays)."""
    now = at or utcnow()
    for model, row_id in ((ServiceStation, station_id), (LiaisonPoint, point_id)):
        if row_id is None:
            continue
        mark = model.last_activity_at
        result = cast(sa.CursorResult[Any], db.session.execute(
            sa.update(model)
            .where(model.id == row_id, sa.or_(mark.is_(None), mark < now - ACTIVITY_GRAIN))
            .values(last_activity_at=now, updated_at=model.updated_at)
            .execution_options(synchronize_session=False)))
        loaded = db.session.identity_map.get(identity_key(model, row_id))
        if loaded is not None and result.rowcount:
            set_committed_value(loaded, "last_activity_at", now)


def touch_activity_of(user: User | None, at: datetime | None = None) -> None:
    """``user``'s own place did work: a liaison officer's point, a station volunteer's station.
    The centre's people (and the system) have no place to mark."""
    if user is None:
        return
    if user.role == Role.liaison_officer and user.liaison_point_id is not None:
        touch_activity(point_id=user.liaison_point_id, at=at)
    elif user.role == Role.station_volunteer and user.station_id is not None:
        touch_activity(station_id=user.station_id, at=at)
