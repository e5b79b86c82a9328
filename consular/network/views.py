"""Network pages: the registers of liaison points, overseas stations, missions and divisions, the
coordination centre, and the coverage report.

Every read goes through ``consular.auth.scoping``: what a role may not see is not found (404).
Changes are the admin's (``can_manage_network``); another role gets 403 on a page it can see.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from zoneinfo import available_timezones

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import LazyString
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
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


def _listing(model: type, query: Callable[[User, queries.Filters], sa.Select[Any]],
             **filters: bool) -> tuple[User, queries.Page[Any], dict[str, Any]]:
    """A register's list: the user (404 to whom the register is unknown), the page of places the
    query string asks for, and its cleaned arguments for links."""
    user = require_user()
    _browse_or_404(model, user)
    chosen, args, page = _list_filters(**filters)
    return user, queries.numbered_page(query(user, chosen), page, PAGE_SIZE), args


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


F = TypeVar("F", bound=FlaskForm)


def _named_form(form_class: type[F], found: Any) -> F:
    """``form_class`` showing ``found`` (None: a new place), its names in other languages too."""
    form = form_class(obj=found)
    fill_names(form, found.names if found else None)
    return form


def _abroad_form(form_class: type[F], found: Any) -> F:
    """The form of a place abroad (a station, a mission), with the countries to choose from."""
    form = _named_form(form_class, found)
    form.country_code.choices = _country_choices()
    return form


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
    user, result, args = _listing(LiaisonPoint, queries.liaison_points_query, division=True)
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
    form = _named_form(LiaisonPointForm, point)
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


# --- overseas service stations ------------------------------------------------------------------


@bp.get("/network/stations")
def stations() -> str:
    user, result, args = _listing(ServiceStation, queries.stations_query, country=True)
    return render_template("network/stations.html", page=result, args=args,
                           countries=queries.countries_in_scope(ServiceStation, user))


@bp.get("/network/stations/<int:station_id>")
def station(station_id: int) -> str:
    user = require_user()
    found = get_scoped_or_404(ServiceStation, station_id, user)
    missions = queries.active_in_country(Mission, user, found.country_code, Mission.kind, Mission.name)
    return render_template("network/station.html", station=found, missions=missions,
                           now=utcnow(), quiet_days=_quiet_days())


def _station_form(user: User, station: ServiceStation | None) -> StationForm:
    """A new station's languages start as Chinese."""
    form = _abroad_form(StationForm, station)
    if station is None and request.method == "GET":
        form.languages.data = "zh"
    return form


# --- missions -----------------------------------------------------------------------------------


@bp.get("/network/missions")
def missions() -> str:
    user, result, args = _listing(Mission, queries.missions_query, country=True)
    centre = db.session.scalar(scoped(CoordinationCentre, user).order_by(CoordinationCentre.id)
                               .limit(1))
    return render_template("network/missions.html", page=result, args=args, centre=centre,
                           countries=queries.countries_in_scope(Mission, user))


@bp.get("/network/missions/<int:mission_id>")
def mission(mission_id: int) -> str:
    user = require_user()
    found = get_scoped_or_404(Mission, mission_id, user)
    stations_here = queries.active_in_country(ServiceStation, user, found.country_code,
                                              ServiceStation.city, ServiceStation.name)
    return render_template("network/mission.html", mission=found, stations=stations_here)


def _mission_form(user: User, found: Mission | None) -> MissionForm:
    return _abroad_form(MissionForm, found)


# --- divisions ----------------------------------------------------------------------------------


@bp.get("/network/divisions")
def divisions() -> str:
    user, result, args = _listing(Division, queries.divisions_query, level=True, parent=True)
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
    if request.method == "GET":
        if found is None:  # "Add" on a division's page names the parent and the level
            form.parent_id.data = _int_arg("parent") or 0
            form.level.data = request.args.get("level", DivisionLevel.township.value)
        elif found.parent_id is None:
            form.parent_id.data = 0
    return form


# --- adding, changing, deactivating and reactivating the four registers' places ------------------


@dataclass(frozen=True)
class Changes:
    """The admin's pages that change one register's places: new, edit, deactivate, reactivate."""

    model: type[Any]
    path: str  # URL segment: "liaison-points"
    plural: str  # endpoint of the list: network.liaison_points
    singular: str  # endpoint of one place (network.liaison_point) and prefix of its changes
    id_arg: str  # the place's id in its URLs: point_id
    fields: tuple[str, ...]
    form: Callable[[User, Any], FlaskForm]  # the form showing a place (None: a new one) to a user
    new_title: LazyString
    added: Callable[[str], str]  # the message for a new place, by its name
    create: Callable[[dict[str, Any]], Any]
    update: Callable[[Any, dict[str, Any]], list[str]]
    deactivate: Callable[[Any], bool]
    reactivate: Callable[[Any], bool]

    def url(self, place: Any) -> str:
        return url_for(f"network.{self.singular}", **{self.id_arg: place.id})


CHANGES = (
    Changes(LiaisonPoint, "liaison-points", "liaison_points", "liaison_point", "point_id",
            network_checks.POINT_FIELDS, _point_form, _l("New liaison point"),
            lambda name: _("Liaison point %(name)s was added.", name=name),
            ops.create_liaison_point, ops.update_liaison_point, ops.deactivate_liaison_point,
            ops.reactivate_liaison_point),
    Changes(ServiceStation, "stations", "stations", "station", "station_id",
            network_checks.STATION_FIELDS, _station_form, _l("New overseas service station"),
            lambda name: _("Station %(name)s was added.", name=name),
            ops.create_station, ops.update_station, ops.deactivate_station, ops.reactivate_station),
    Changes(Mission, "missions", "missions", "mission", "mission_id",
            network_checks.MISSION_FIELDS, _mission_form, _l("New mission"),
            lambda name: _("Mission %(name)s was added.", name=name),
            ops.create_mission, ops.update_mission, ops.deactivate_mission, ops.reactivate_mission),
    Changes(Division, "divisions", "divisions", "division", "division_id",
            network_checks.DIVISION_FIELDS, _division_form, _l("New division"),
            lambda name: _("Division %(name)s was added.", name=name),
            ops.create_division, ops.update_division, ops.deactivate_division,
            ops.reactivate_division),
)


def _add_changes(reg: Changes) -> None:
    def managed(url_args: dict[str, int]) -> tuple[User, Any]:
        """The place of the URL: unknown (404) to whom may not see it, else admin only (403)."""
        user = require_user()
        found = get_scoped_or_404(reg.model, url_args[reg.id_arg], user)
        _manage_or_403(user)
        return user, found

    def new() -> Any:
        user = _may_create(reg.model)
        form = reg.form(user, None)
        created: list[Any] = []
        if _save(form, reg.fields, lambda data: created.append(reg.create(data))):
            flash(reg.added(_named(created[0])), "success")
            return redirect(reg.url(created[0]), code=303)
        return _render_form(form, str(reg.new_title), url_for(f"network.{reg.plural}"))

    def edit(**url_args: int) -> Any:
        user, found = managed(url_args)
        form = reg.form(user, found)
        if _save(form, reg.fields, lambda data: reg.update(found, data)):
            flash(_("Changes saved."), "success")
            return redirect(reg.url(found), code=303)
        return _render_form(form, _("Edit %(name)s", name=_named(found)), reg.url(found))

    def deactivate(**url_args: int) -> Response:
        _user, found = managed(url_args)
        return _toggle(reg.deactivate, found,
                       _("%(name)s was deactivated. It stays on record.", name=_named(found)),
                       _("%(name)s was already inactive.", name=_named(found)), reg.url(found))

    def reactivate(**url_args: int) -> Response:
        _user, found = managed(url_args)
        return _toggle(reg.reactivate, found,
                       _("%(name)s is active again.", name=_named(found)),
                       _("%(name)s was already active.", name=_named(found)), reg.url(found))

    # Each page is named by its verb, in its URL and its endpoint: …/7/edit, network.station_edit.
    one = f"/network/{reg.path}/<int:{reg.id_arg}>"
    for verb, under, view, methods in (("new", f"/network/{reg.path}", new, ["GET", "POST"]),
                                       ("edit", one, edit, ["GET", "POST"]),
                                       ("deactivate", one, deactivate, ["POST"]),
                                       ("reactivate", one, reactivate, ["POST"])):
        bp.add_url_rule(f"{under}/{verb}", f"{reg.singular}_{verb}", view, methods=methods)


for _changes in CHANGES:
    _add_changes(_changes)


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
    form = _named_form(CentreForm, found)
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
