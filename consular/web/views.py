"""The start page, the language switch, and the navigation shared by every page."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, abort, current_app, redirect, render_template, request, session, url_for
from flask_babel import lazy_gettext as _l
from jinja2 import pass_context
from jinja2.runtime import Context
from markupsafe import Markup
from werkzeug.wrappers import Response

import i18n
from config import current_settings
from consular.auth.common import role_label
from consular.auth.models import Role, User
from consular.auth.scoping import (
    can_see_activities,
    can_see_cases,
    can_see_risk_points,
    can_view_registrants,
    case_scope,
    liaison_point_scope,
    station_scope,
)
from consular.auth.session import current_user, login_required, require_user, safe_next
from consular.db import db, utcnow
from consular.network.models import LiaisonPoint, ServiceStation
from consular.web import a11y
from i18n import UI_LOCALES

bp = Blueprint("web", __name__)

@dataclass(frozen=True)
class NavItem:
    label: str
    url: str
    prefix: str
    children: tuple[NavItem, ...] = ()  # a menu of these instead of one link


def nav_items(user: User | None) -> list[NavItem]:
    if user is None:
        return []
    items = [NavItem(str(_l("Home")), url_for("web.home"), "web.home")]
    if user.role in (Role.admin, Role.coordinator):
        # The centre's network pages share one menu: the bar stays one line on a laptop.
        network = (
            NavItem(str(_l("Liaison points")), url_for("network.liaison_points"),
                    "network.liaison_point"),
            NavItem(str(_l("Stations")), url_for("network.stations"), "network.station"),
            NavItem(str(_l("Missions")), url_for("network.missions"), "network.mission"),
            NavItem(str(_l("Divisions")), url_for("network.divisions"), "network.division"),
            NavItem(str(_l("Coverage")), url_for("network.coverage"), "network.coverage"),
        )
        items.append(NavItem(str(_l("Network")), "#", "network.", network))
    elif user.role == Role.liaison_officer:
        items += [
            NavItem(str(_l("My liaison point")),
                    url_for("network.liaison_point", point_id=user.liaison_point_id),
                    "network.liaison_point"),
            NavItem(str(_l("Stations")), url_for("network.stations"), "network.station"),
            NavItem(str(_l("Missions")), url_for("network.missions"), "network.mission"),
        ]
    elif user.role == Role.station_volunteer:
        items += [
            NavItem(str(_l("My station")), url_for("network.station", station_id=user.station_id),
                    "network.station"),
            NavItem(str(_l("Missions")), url_for("network.missions"), "network.mission"),
        ]
    work = []
    if can_see_activities(user):
        work.append(NavItem(str(_l("Activities")), url_for("activities.activity_list"),
                            "activities.activit"))
    if can_see_risk_points(user):
        work.append(NavItem(str(_l("Risk points")), url_for("activities.risk_list"), "activities.risk"))
    if len(work) > 1:
        items.append(NavItem(str(_l("Work")), "#", "activities.", tuple(work)))
    else:
        items += work
    if user.role == Role.coordinator:
        alerts = NavItem(str(_l("Alerts")), url_for("alert_pages.alert_list"), "alert_pages.")
        settings = current_settings()
        if settings.sms_gateway == "console":
            outbox = NavItem(str(_l("Console outbox")), url_for("dev_sms.console_messages"), "dev_sms.")
            alerts = NavItem(alerts.label, "#", "alert_pages.", (alerts, outbox))
        items.append(alerts)
    if user.role == Role.admin:
        items += [
            NavItem(str(_l("Users")), url_for("auth.users"), "auth.user"),
            NavItem(str(_l("Audit trail")), url_for("audit.entries"), "audit."),
            NavItem(str(_l("Workers")), url_for("alerts.workers"), "alerts.workers"),
            NavItem(str(_l("Webhooks")), url_for("webhook_admin.subscriptions"), "webhook_admin."),
        ]
    return items


# The menu bar's entries depend on who asks (role; an officer's point, a volunteer's station; what
# the role may see), the language, the SMS gateway setting (a console outbox under Alerts), the
# path the site is served under and the page (its entry is marked active): nothing else. Rendered
# once per process for each of these, they are then one look-up per page instead of some thirty
# url_for and gettext calls. Another user of the same role, point or station, language and page
# gets the same entries (they name no one); a different one of these is another key.
MENU_LIMIT = 2048  # menus kept per app (one or two kB each); all forgotten when full
_MENUS = "consular.menus"  # the app's cache (app.extensions)


def menu_key(user: User) -> tuple[Any, ...]:
    """Everything the menu bar's entries depend on, for ``user`` on this request's page."""
    return (user.role, user.liaison_point_id, user.station_id, can_see_cases(user),
            can_see_activities(user), can_see_risk_points(user), can_view_registrants(user),
            current_settings().sms_gateway, str(i18n.current_locale()), request.script_root,
            request.endpoint)


@pass_context
def main_menu(context: Context) -> Markup:
    """The entries of the menu bar (``_menu.html``) for the page's user, kept by the app per
    ``menu_key``."""
    user = context.get("current_user")
    if user is None:
        return Markup("")
    key = menu_key(user)
    menus: dict[tuple[Any, ...], Markup] = current_app.extensions.setdefault(_MENUS, {})
    menu = menus.get(key)
    if menu is None:
        template = current_app.jinja_env.get_template("_menu.html")
        # An autoescaped template's output: Markup as render_template's own would be in a template.
        menu = Markup(template.render(context.get_all()))  # noqa: S704  # nosec B704 (our autoescaped template)
        if len(menus) >= MENU_LIMIT:
            menus.clear()
        menus[key] = menu
    return menu


_LINKS = "consular.layout_links"  # the app's kept links of base.html (app.extensions)
LINKS_LIMIT = 256


def layout_url(endpoint: str) -> str:
    """``url_for(endpoint)`` of a page that takes no values, for the links every page has
    (base.html): worked out once per app and site prefix (script root). Only for such pages: a
    static file's name carries its content's hash, which url_for checks on every call."""
    links: dict[tuple[str, str], str] = current_app.extensions.setdefault(_LINKS, {})
    key = (endpoint, request.script_root)
    url = links.get(key)
    if url is None:
        url = url_for(endpoint)
        if len(links) >= LINKS_LIMIT:
            links.clear()
        links[key] = url
    return url


@bp.app_context_processor
def _nav() -> dict[str, Any]:
    return {"nav_items": nav_items, "main_menu": main_menu, "layout_url": layout_url,
            "role_label": role_label}


@bp.record_once
def _accessibility_helpers(state: Any) -> None:
    # Globals, not context: the form macros are imported without context.
    state.app.jinja_env.globals.update(
        field_attrs=a11y.field_attrs, form_problems=a11y.form_problems, chart_name=a11y.chart_name,
        error_id=a11y.error_id, help_id=a11y.help_id)
    state.app.jinja_env.filters["in_lang"] = a11y.in_lang


@bp.get("/favicon.ico")
def favicon() -> Response:
    """For the programs that ask the site's root for its icon instead of reading the page's link."""
    return redirect(url_for("static", filename="img/favicon.ico"), code=301)


@bp.get("/")
@login_required
def home() -> str:
    user = require_user()
    figures: dict[str, int] = {}
    if user.role in (Role.admin, Role.coordinator):
        figures["liaison_points"] = db.session.scalar(
            sa.select(sa.func.count()).select_from(LiaisonPoint).where(LiaisonPoint.active)
        ) or 0
        figures["stations"] = db.session.scalar(
            sa.select(sa.func.count()).select_from(ServiceStation).where(ServiceStation.active)
        ) or 0
        figures["countries"] = db.session.scalar(
            sa.select(sa.func.count(sa.distinct(ServiceStation.country_code)))
            .where(ServiceStation.active)
        ) or 0
    point = db.session.scalar(sa.select(LiaisonPoint).where(liaison_point_scope(user))
                              .where(LiaisonPoint.id == user.liaison_point_id)) \
        if user.liaison_point_id else None
    station = db.session.scalar(sa.select(ServiceStation).where(station_scope(user))
                                .where(ServiceStation.id == user.station_id)) \
        if user.station_id else None
    return render_template("home.html", figures=figures, point=point, station=station,
                           work=_work_today(user))


# What other parts of the application add to a user's first row on the home page (the alerts side
# adds its unreviewed break-glass alerts), by name: registering again replaces.
HomeItem = Callable[[User], list[tuple[str, int, str, bool]]]
HOME_ITEMS: dict[str, HomeItem] = {}


def register_home_item(name: str, item: HomeItem) -> None:
    HOME_ITEMS[name] = item


def _work_today(user: User) -> list[tuple[str, int, str, bool]]:
    rows = _own_work_today(user)
    for item in HOME_ITEMS.values():
        rows += item(user)
    return rows


def _own_work_today(user: User) -> list[tuple[str, int, str, bool]]:
    """What waits for this user: (label, count, link, urgent) for the home page's first row."""
    from consular.cases.deadlines import overdue_clause
    from consular.cases.models import OPEN_STATUSES, AssignmentStatus, Case, CaseStatus, StationAssignment

    def count(query: sa.Select[Any]) -> int:
        return db.session.scalar(sa.select(sa.func.count()).select_from(query.subquery())) or 0

    cases = sa.select(Case.id).where(case_scope(user))
    open_cases = cases.where(Case.status.in_(OPEN_STATUSES))
    now = utcnow()
    if user.role == Role.coordinator:
        return [
            (str(_l("Overdue cases")), count(open_cases.where(overdue_clause(now))),
             url_for("cases.queue", overdue="1", status=""), True),
            (str(_l("New cases waiting for triage")), count(cases.where(Case.status == CaseStatus.new)),
             url_for("cases.queue", status="new"), False),
            (str(_l("Resolved, waiting for your approval to close")),
             count(cases.where(Case.status == CaseStatus.resolved)),
             url_for("cases.queue", status="resolved"), False),
        ]
    if user.role == Role.liaison_officer:
        return [(str(_l("Open cases of my liaison point")), count(open_cases),
                 url_for("cases.mine"), False)]
    if user.role == Role.station_volunteer:
        offered = sa.select(StationAssignment.id).where(
            StationAssignment.station_id == user.station_id,
            StationAssignment.status == AssignmentStatus.offered)
        accepted = sa.select(StationAssignment.id).where(
            StationAssignment.station_id == user.station_id,
            StationAssignment.status == AssignmentStatus.accepted)
        return [(str(_l("Cases offered to my station")), count(offered), url_for("cases.inbox"), True),
                (str(_l("Cases my station is working on")), count(accepted), url_for("cases.inbox"), False)]
    return []


@bp.post("/language")
def set_language() -> Response:
    code = request.form.get("locale", "")
    if code not in UI_LOCALES:
        abort(400)
    session["locale"] = code
    user = current_user()
    if user is not None:
        user.locale = code
    return redirect(safe_next(request.form.get("next"), url_for("web.home")))
