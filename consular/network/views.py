"""Network pages: the registers of liaison points, overseas stations, missions and divisions, the
coordination centre, and the coverage report.

Every read goes through ``consular.auth.scoping``: what a role may not see is not found (404).
Changes are the admin's (``can_manage_network``); another role gets 403 on a page it can see.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from zoneinfo import available_timezones

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import SelectChoice

import i18n
from config import current_settings
from consular.auth.models import User
from consular.auth.scoping import (
    can_browse,
    can_manage_network,
    can_view_coverage,
    get_scoped_or_404,
    scoped,
)
from consular.auth.session import current_user, require_user
from consular.db import db, utcnow
from consular.network import checks as network_checks
from consular.network import operations as ops
from consular.network import queries
from consular.network.forms import (
    HOST_KIND_LABELS,
    LEVEL_LABELS,
    MISSION_KIND_LABELS,
    NAMES_PREFIX,
    CentreForm,
    DivisionForm,
    LiaisonPointForm,
    MissionForm,
    StationForm,
    fill_names,
    names_from,
)
from consular.network.models import (
    CoordinationCentre,
    Division,
    DivisionLevel,
    LiaisonPoint,
    Mission,
    ServiceStation,
)
from consular.validation import put_errors

bp = Blueprint("network", __name__, template_folder="templates")

PAGE_SIZE = 25
STATUSES = ("active", "inactive")


REGISTERS: dict[str, type] = {
    "liaison_points": LiaisonPoint,
    "stations": ServiceStation,
    "missions": Mission,
    "divisions": Division,
    "centre": CoordinationCentre,
}


def _may_browse(register: str) -> bool:
    user = current_user()
    return user is not None and can_browse(REGISTERS[register], user)


@bp.context_processor
def _helpers() -> dict[str, Any]:
    return {
        "level_label": lambda level: str(LEVEL_LABELS.get(DivisionLevel(level), level)),
        "host_kind_label": lambda kind: str(HOST_KIND_LABELS.get(kind, kind)),
        "mission_kind_label": lambda kind: str(MISSION_KIND_LABELS.get(kind, kind)),
        "division_path": queries.division_path,
        "can_manage": can_manage_network,
        "may_browse": _may_browse,
    }


# --- shared helpers -----------------------------------------------------------------------------


def _named(place: Any) -> str:
    """A place's name in the reader's language (a division: its English name in English)."""
    here = str(i18n.current_locale())
    return str(place.name_in(here) if hasattr(place, "name_in") else place.label(here))


def _browse_or_404(model: type, user: User) -> None:
    if not can_browse(model, user):
        abort(404)


def _manage_or_403(user: User) -> None:
    if not can_manage_network(user):
        abort(403)


def _may_create(model: type) -> User:
    """A register's "new" page: unknown (404) to whom the register is unknown, else admin only."""
    user = require_user()
    _browse_or_404(model, user)
    _manage_or_403(user)
    return user


def _int_arg(name: str) -> int | None:
    raw = request.args.get(name, "").strip()
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 10 else None


def _list_filters(*, country: bool = False, division: bool = False, level: bool = False,
                  parent: bool = False) -> tuple[queries.Filters, dict[str, Any], int]:
    """Filters from the query string (unknown or malformed values are ignored), the cleaned
    arguments for links, and the page number."""
    status = request.args.get("status", "")
    status = status if status in STATUSES else ""
    args: dict[str, Any] = {"q": request.args.get("q", "").strip()[:queries.MAX_QUERY],
                            "status": status}
    filters: dict[str, Any] = {"q": args["q"],
                               "active": None if not status else status == "active"}
    if country:
        code = request.args.get("country", "").strip().upper()
        args["country"] = filters["country"] = code if i18n.is_country_code(code) else ""
    if division:
        args["division"] = filters["division_id"] = _int_arg("division")
    if level:
        raw = request.args.get("level", "")
        chosen = DivisionLevel(raw) if raw in {level.value for level in DivisionLevel} else None
        filters["level"] = chosen
        args["level"] = chosen.value if chosen else ""
    if parent:
        args["parent"] = filters["parent_id"] = _int_arg("parent")
    page = min(_int_arg("page") or 1, 100_000)
    return queries.Filters(**filters), {k: v for k, v in args.items() if v}, page


def _page(query: sa.Select[Any], page: int) -> queries.Page[Any]:
    return queries.paginate(query, PAGE_SIZE, (page - 1) * PAGE_SIZE)


def _country_choices() -> list[SelectChoice]:
    return [SelectChoice("", _("Choose a country"))] + [
        SelectChoice(code, name) for code, name in i18n.country_choices()]


def _division_choices(user: User, levels: tuple[DivisionLevel, ...],
                      current: Division | None = None, blank: str = "") -> list[SelectChoice]:
    divisions = queries.division_choices(user, levels)
    if current is not None and current not in divisions:
        divisions.append(current)  # a deactivated division still shows where a place was
    indent = {DivisionLevel.county: "", DivisionLevel.township: "— ", DivisionLevel.village: "—— "}
    return [SelectChoice("0", blank or _("Choose…"))] + [
        SelectChoice(str(d.id), f"{indent[d.level]}{d.name}") for d in divisions]


def _save(form: FlaskForm, fields: tuple[str, ...], save: Callable[[dict[str, Any]], Any]) -> bool:
    """Check ``form``, then hand its values to ``save`` (an operation). A refusal puts the
    operation's messages on the form's fields and leaves the database untouched."""
    if not form.validate_on_submit():
        return False
    data = {name: form[name].data for name in fields if name != "names"}
    if "names" in fields:
        data["names"] = names_from(form)
    try:
        save(data)
    except network_checks.NetworkError as exc:
        db.session.rollback()
        # "names.it" is the form's names_it field.
        put_errors(form, exc.errors, lambda key: key.replace("names.", NAMES_PREFIX, 1))
        return False
    return True


def _render_form(form: FlaskForm, title: str, cancel: str) -> tuple[str, int]:
    """The form page; after a refused POST, with its messages and a 400."""
    zones = sorted(available_timezones()) if "timezone" in form._fields else []
    named = [f for f in form if f.name.startswith(NAMES_PREFIX)]
    return render_template("network/form.html", form=form, title=title, cancel=cancel,
                           zones=zones, named=named), 400 if request.method == "POST" else 200


def _toggle(change: Callable[[Any], bool], obj: Any, done: str, unchanged: str,
            target: str) -> Response:
    try:
        changed = change(obj)
    except network_checks.NetworkConflict as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(target, code=303)
    flash(done if changed else unchanged, "success" if changed else "info")
    return redirect(target, code=303)


# --- liaison points -----------------------------------------------------------------------------


@bp.get("/network/liaison-points")
def liaison_points() -> str:
    user = require_user()
    _browse_or_404(LiaisonPoint, user)
    filters, args, page = _list_filters(division=True)
    result = _page(queries.liaison_points_query(user, filters), page)
    return render_template(
        "network/liaison_points.html", page=result, args=args,
        divisions=queries.division_choices(user, (DivisionLevel.county, DivisionLevel.township)))


@bp.get("/network/liaison-points/<int:point_id>")
def liaison_point(point_id: int) -> str:
    user = require_user()
    point = get_scoped_or_404(LiaisonPoint, point_id, user)
    return render_template("network/liaison_point.html", point=point)


def _point_form(user: User, point: LiaisonPoint | None) -> LiaisonPointForm:
    """Townships and villages to choose from, grouped under their county or district."""
    form = LiaisonPointForm(obj=point)
    fill_names(form, point.names if point else None)
    divisions = queries.division_choices(
        user, (DivisionLevel.county, DivisionLevel.township, DivisionLevel.village))
    if point is not None and point.division not in divisions:
        divisions.append(point.division)  # a deactivated division still shows where it was
    choices = [SelectChoice("0", _("Choose…"))]
    county = ""
    for d in divisions:
        if d.level == DivisionLevel.county:
            county = d.name
            continue
        label = f"— {d.name}" if d.level == DivisionLevel.village else d.name
        choices.append(SelectChoice(str(d.id), label, optgroup=county or None))
    form.division_id.choices = choices
    return form


@bp.route("/network/liaison-points/new", methods=["GET", "POST"])
def liaison_point_new() -> Any:
    user = _may_create(LiaisonPoint)
    form = _point_form(user, None)
    created: list[LiaisonPoint] = []
    if _save(form, network_checks.POINT_FIELDS, lambda data: created.append(ops.create_liaison_point(data))):
        flash(_("Liaison point %(name)s was added.", name=_named(created[0])), "success")
        return redirect(url_for("network.liaison_point", point_id=created[0].id), code=303)
    return _render_form(form, _("New liaison point"), url_for("network.liaison_points"))


@bp.route("/network/liaison-points/<int:point_id>/edit", methods=["GET", "POST"])
def liaison_point_edit(point_id: int) -> Any:
    user = require_user()
    point = get_scoped_or_404(LiaisonPoint, point_id, user)
    _manage_or_403(user)
    form = _point_form(user, point)
    if _save(form, network_checks.POINT_FIELDS, lambda data: ops.update_liaison_point(point, data)):
        flash(_("Changes saved."), "success")
        return redirect(url_for("network.liaison_point", point_id=point.id), code=303)
    return _render_form(form, _("Edit %(name)s", name=_named(point)),
                        url_for("network.liaison_point", point_id=point.id))


@bp.post("/network/liaison-points/<int:point_id>/deactivate")
def liaison_point_deactivate(point_id: int) -> Response:
    user = require_user()
    point = get_scoped_or_404(LiaisonPoint, point_id, user)
    _manage_or_403(user)
    return _toggle(ops.deactivate_liaison_point, point,
                   _("%(name)s was deactivated. It stays on record.", name=_named(point)),
                   _("%(name)s was already inactive.", name=_named(point)),
                   url_for("network.liaison_point", point_id=point.id))


@bp.post("/network/liaison-points/<int:point_id>/reactivate")
def liaison_point_reactivate(point_id: int) -> Response:
    user = require_user()
    point = get_scoped_or_404(LiaisonPoint, point_id, user)
    _manage_or_403(user)
    return _toggle(ops.reactivate_liaison_point, point,
                   _("%(name)s is active again.", name=_named(point)),
                   _("%(name)s was already active.", name=_named(point)),
                   url_for("network.liaison_point", point_id=point.id))


# --- overseas service stations ------------------------------------------------------------------


@bp.get("/network/stations")
def stations() -> str:
    user = require_user()
    _browse_or_404(ServiceStation, user)
    filters, args, page = _list_filters(country=True)
    result = _page(queries.stations_query(user, filters), page)
    return render_template("network/stations.html", page=result, args=args,
                           countries=queries.countries_in_scope(ServiceStation, user))


@bp.get("/network/stations/<int:station_id>")
def station(station_id: int) -> str:
    user = require_user()
    found = get_scoped_or_404(ServiceStation, station_id, user)
    missions = db.session.scalars(
        scoped(Mission, user).where(Mission.country_code == found.country_code,
                                    Mission.active.is_(True))
        .order_by(Mission.kind, Mission.name)).all()
    return render_template("network/station.html", station=found, missions=missions,
                           now=utcnow(), quiet_days=_quiet_days())


def _station_form(station: ServiceStation | None) -> StationForm:
    form = StationForm(obj=station)
    fill_names(form, station.names if station else None)
    form.country_code.choices = _country_choices()
    return form


@bp.route("/network/stations/new", methods=["GET", "POST"])
def station_new() -> Any:
    _may_create(ServiceStation)
    form = _station_form(None)
    if request.method == "GET":
        form.languages.data = "zh"
    created: list[ServiceStation] = []
    if _save(form, network_checks.STATION_FIELDS, lambda data: created.append(ops.create_station(data))):
        flash(_("Station %(name)s was added.", name=_named(created[0])), "success")
        return redirect(url_for("network.station", station_id=created[0].id), code=303)
    return _render_form(form, _("New overseas service station"), url_for("network.stations"))


@bp.route("/network/stations/<int:station_id>/edit", methods=["GET", "POST"])
def station_edit(station_id: int) -> Any:
    user = require_user()
    found = get_scoped_or_404(ServiceStation, station_id, user)
    _manage_or_403(user)
    form = _station_form(found)
    if _save(form, network_checks.STATION_FIELDS, lambda data: ops.update_station(found, data)):
        flash(_("Changes saved."), "success")
        return redirect(url_for("network.station", station_id=found.id), code=303)
    return _render_form(form, _("Edit %(name)s", name=_named(found)),
                        url_for("network.station", station_id=found.id))


@bp.post("/network/stations/<int:station_id>/deactivate")
def station_deactivate(station_id: int) -> Response:
    user = require_user()
    found = get_scoped_or_404(ServiceStation, station_id, user)
    _manage_or_403(user)
    return _toggle(ops.deactivate_station, found,
                   _("%(name)s was deactivated. It stays on record.", name=_named(found)),
                   _("%(name)s was already inactive.", name=_named(found)),
                   url_for("network.station", station_id=found.id))


@bp.post("/network/stations/<int:station_id>/reactivate")
def station_reactivate(station_id: int) -> Response:
    user = require_user()
    found = get_scoped_or_404(ServiceStation, station_id, user)
    _manage_or_403(user)
    return _toggle(ops.reactivate_station, found,
                   _("%(name)s is active again.", name=_named(found)),
                   _("%(name)s was already active.", name=_named(found)),
                   url_for("network.station", station_id=found.id))


# --- missions -----------------------------------------------------------------------------------


@bp.get("/network/missions")
def missions() -> str:
    user = require_user()
    _browse_or_404(Mission, user)
    filters, args, page = _list_filters(country=True)
    result = _page(queries.missions_query(user, filters), page)
    centre = db.session.scalar(scoped(CoordinationCentre, user).order_by(CoordinationCentre.id)
                               .limit(1))
    return render_template("network/missions.html", page=result, args=args, centre=centre,
                           countries=queries.countries_in_scope(Mission, user))


@bp.get("/network/missions/<int:mission_id>")
def mission(mission_id: int) -> str:
    user = require_user()
    found = get_scoped_or_404(Mission, mission_id, user)
    stations_here = db.session.scalars(
        scoped(ServiceStation, user).where(ServiceStation.country_code == found.country_code,
                                           ServiceStation.active.is_(True))
        .order_by(ServiceStation.city, ServiceStation.name)).all()
    return render_template("network/mission.html", mission=found, stations=stations_here)


def _mission_form(found: Mission | None) -> MissionForm:
    form = MissionForm(obj=found)
    fill_names(form, found.names if found else None)
    form.country_code.choices = _country_choices()
    return form


@bp.route("/network/missions/new", methods=["GET", "POST"])
def mission_new() -> Any:
    _may_create(Mission)
    form = _mission_form(None)
    created: list[Mission] = []
    if _save(form, network_checks.MISSION_FIELDS, lambda data: created.append(ops.create_mission(data))):
        flash(_("Mission %(name)s was added.", name=_named(created[0])), "success")
        return redirect(url_for("network.mission", mission_id=created[0].id), code=303)
    return _render_form(form, _("New mission"), url_for("network.missions"))


@bp.route("/network/missions/<int:mission_id>/edit", methods=["GET", "POST"])
def mission_edit(mission_id: int) -> Any:
    user = require_user()
    found = get_scoped_or_404(Mission, mission_id, user)
    _manage_or_403(user)
    form = _mission_form(found)
    if _save(form, network_checks.MISSION_FIELDS, lambda data: ops.update_mission(found, data)):
        flash(_("Changes saved."), "success")
        return redirect(url_for("network.mission", mission_id=found.id), code=303)
    return _render_form(form, _("Edit %(name)s", name=_named(found)),
                        url_for("network.mission", mission_id=found.id))


@bp.post("/network/missions/<int:mission_id>/deactivate")
def mission_deactivate(mission_id: int) -> Response:
    user = require_user()
    found = get_scoped_or_404(Mission, mission_id, user)
    _manage_or_403(user)
    return _toggle(ops.deactivate_mission, found,
                   _("%(name)s was deactivated. It stays on record.", name=_named(found)),
                   _("%(name)s was already inactive.", name=_named(found)),
                   url_for("network.mission", mission_id=found.id))


@bp.post("/network/missions/<int:mission_id>/reactivate")
def mission_reactivate(mission_id: int) -> Response:
    user = require_user()
    found = get_scoped_or_404(Mission, mission_id, user)
    _manage_or_403(user)
    return _toggle(ops.reactivate_mission, found,
                   _("%(name)s is active again.", name=_named(found)),
                   _("%(name)s was already active.", name=_named(found)),
                   url_for("network.mission", mission_id=found.id))


# --- divisions ----------------------------------------------------------------------------------


@bp.get("/network/divisions")
def divisions() -> str:
    user = require_user()
    _browse_or_404(Division, user)
    filters, args, page = _list_filters(level=True, parent=True)
    result = _page(queries.divisions_query(user, filters), page)
    parents = queries.division_choices(user, (DivisionLevel.county, DivisionLevel.township))
    return render_template("network/divisions.html", page=result, args=args, parents=parents,
                           levels=list(DivisionLevel))


@bp.get("/network/divisions/<int:division_id>")
def division(division_id: int) -> str:
    user = require_user()
    found = get_scoped_or_404(Division, division_id, user)
    children = db.session.scalars(
        scoped(Division, user).where(Division.parent_id == found.id)
        .order_by(Division.active.desc(), Division.code)).all()
    points = db.session.scalars(
        scoped(LiaisonPoint, user)
        .where(LiaisonPoint.division_id.in_(queries.division_and_below(found.id)))
        .order_by(LiaisonPoint.active.desc(), LiaisonPoint.name)).all()
    return render_template("network/division.html", division=found, children=children,
                           points=points)


def _division_form(user: User, found: Division | None) -> DivisionForm:
    form = DivisionForm(obj=found)
    form.parent_id.choices = _division_choices(
        user, (DivisionLevel.county, DivisionLevel.township),
        found.parent if found else None, blank=_("— none (a county or district) —"))
    if found is not None and found.parent_id is None and request.method == "GET":
        form.parent_id.data = 0
    return form


@bp.route("/network/divisions/new", methods=["GET", "POST"])
def division_new() -> Any:
    user = _may_create(Division)
    form = _division_form(user, None)
    if request.method == "GET":
        parent = _int_arg("parent")
        form.parent_id.data = parent or 0
        form.level.data = request.args.get("level", DivisionLevel.township.value)
    created: list[Division] = []
    if _save(form, network_checks.DIVISION_FIELDS, lambda data: created.append(ops.create_division(data))):
        flash(_("Division %(name)s was added.", name=_named(created[0])), "success")
        return redirect(url_for("network.division", division_id=created[0].id), code=303)
    return _render_form(form, _("New division"), url_for("network.divisions"))


@bp.route("/network/divisions/<int:division_id>/edit", methods=["GET", "POST"])
def division_edit(division_id: int) -> Any:
    user = require_user()
    found = get_scoped_or_404(Division, division_id, user)
    _manage_or_403(user)
    form = _division_form(user, found)
    if _save(form, network_checks.DIVISION_FIELDS, lambda data: ops.update_division(found, data)):
        flash(_("Changes saved."), "success")
        return redirect(url_for("network.division", division_id=found.id), code=303)
    return _render_form(form, _("Edit %(name)s", name=_named(found)),
                        url_for("network.division", division_id=found.id))


@bp.post("/network/divisions/<int:division_id>/deactivate")
def division_deactivate(division_id: int) -> Response:
    user = require_user()
    found = get_scoped_or_404(Division, division_id, user)
    _manage_or_403(user)
    return _toggle(ops.deactivate_division, found,
                   _("%(name)s was deactivated. It stays on record.", name=_named(found)),
                   _("%(name)s was already inactive.", name=_named(found)),
                   url_for("network.division", division_id=found.id))


@bp.post("/network/divisions/<int:division_id>/reactivate")
def division_reactivate(division_id: int) -> Response:
    user = require_user()
    found = get_scoped_or_404(Division, division_id, user)
    _manage_or_403(user)
    return _toggle(ops.reactivate_division, found,
                   _("%(name)s is active again.", name=_named(found)),
                   _("%(name)s was already active.", name=_named(found)),
                   url_for("network.division", division_id=found.id))


# --- the coordination centre --------------------------------------------------------------------


@bp.get("/network/centre")
def centre() -> str:
    user = require_user()
    _browse_or_404(CoordinationCentre, user)
    found = db.session.scalar(scoped(CoordinationCentre, user).order_by(CoordinationCentre.id)
                              .limit(1))
    return render_template("network/centre.html", centre=found, now=utcnow())


@bp.route("/network/centre/edit", methods=["GET", "POST"])
def centre_edit() -> Any:
    user = require_user()
    _browse_or_404(CoordinationCentre, user)
    _manage_or_403(user)
    found = ops.the_centre()
    form = CentreForm(obj=found)
    fill_names(form, found.names if found else None)
    if request.method == "GET" and found is None:
        form.timezone.data = current_settings().office_timezone
    if _save(form, network_checks.CENTRE_FIELDS, ops.update_centre):
        flash(_("Changes saved."), "success")
        return redirect(url_for("network.centre"), code=303)
    return _render_form(form, _("Coordination centre"), url_for("network.centre"))


# --- coverage -----------------------------------------------------------------------------------


def _quiet_days() -> int:
    return current_settings().station_quiet_days


@bp.get("/network/coverage")
def coverage() -> str:
    user = require_user()
    if not can_view_coverage(user):
        abort(403)
    from consular.activities.coverage import work_gaps

    return render_template("network/coverage.html",
                           report=queries.coverage_report(user, _quiet_days()), gaps=work_gaps(user))
