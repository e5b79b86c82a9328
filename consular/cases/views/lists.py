"""The lists of cases: the triage queue with its filters, my cases, the station inbox, and
the notifications page.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any

import sqlalchemy as sa
from babel import Locale
from flask import abort, redirect, render_template, request, session, url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from markupsafe import Markup
from sqlalchemy.orm import selectinload
from werkzeug.wrappers import Response

import i18n
from consular.auth.models import Role, User
from consular.auth.scoping import scoped
from consular.auth.session import safe_next
from consular.cases import deadlines, queries
from consular.cases import operations as ops
from consular.cases.forms import CATEGORY_LABELS, KIND_TILES, PRIORITY_LABELS, STATUS_SHORT
from consular.cases.models import (
    OPEN_STATUSES,
    AssignmentStatus,
    Case,
    CaseCategory,
    CaseKind,
    CaseStatus,
    Notification,
    Priority,
    StationAssignment,
    TimelineEntry,
    TimelineKind,
)
from consular.cases.policy import Action, allowed_actions, can_create_case
from consular.cases.views.case import ActionView, _action_view
from consular.cases.views.common import (
    PAGE_SIZE,
    QUEUE_FILTERS,
    QUEUE_SESSION_KEY,
    _case_user,
    _int,
    _roles,
    bp,
)
from consular.cases.views.display import CaseCells, option_tags
from consular.db import db, utcnow
from consular.network.models import Division, LiaisonPoint, ServiceStation
from consular.network.queries import Page, numbered_page

# --- triage queue -------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueRow:
    """A row of the triage queue, its cells ready to show."""

    href: str
    reference: str
    priority: Markup  # the badge
    summary: Markup
    duplicates: Markup  # the badge of possible duplicates no coordinator has compared yet, or ""
    where: Markup  # in a line (narrow screens)
    domestic: bool
    division: Markup | None
    city: str
    country: str
    category: str
    status: Markup  # the badge
    point: Markup | None
    station: Markup
    left: Markup  # the time-left badge
    age: str


def _of(model: Any, column: Any, key: Any, label: str) -> sa.Label[Any]:
    """``column`` of the ``model`` row that a case's ``key`` points to (NULL when none), worked out
    for the rows of the page only (a join would be made for every case before the sort)."""
    return sa.select(column).where(model.id == key).correlate(Case).scalar_subquery().label(label)


def _queue_rows(query: sa.Select[Any]) -> sa.Select[*tuple[Any, ...]]:
    """What a row of the queue shows, read as plain columns: the page neither loads its cases as
    objects (with their other columns) nor asks again for their points, stations and divisions."""
    return query.with_only_columns(*_queue_columns())


@cache
def _queue_columns() -> tuple[Any, ...]:
    """The columns of ``_queue_rows``, built once: they are the same for every page."""
    point, station = Case.liaison_point_id, Case.station_id
    return (
        Case.id, Case.reference, Case.priority, Case.status, Case.kind, Case.category, Case.summary,
        Case.country_code, Case.city, Case.reported_at, Case.first_response_at,
        Case.first_response_due_at, Case.assignment_due_at,
        _of(Division, Division.name, Case.division_id, "division_name"),
        _of(LiaisonPoint, LiaisonPoint.name, point, "point_name"),
        _of(LiaisonPoint, LiaisonPoint.name_en, point, "point_name_en"),
        _of(LiaisonPoint, LiaisonPoint.names, point, "point_names"),
        _of(ServiceStation, ServiceStation.name, station, "station_name"),
        _of(ServiceStation, ServiceStation.name_en, station, "station_name_en"),
        _of(ServiceStation, ServiceStation.names, station, "station_names"),
        queries.open_duplicate_count())


def _queue_row(r: sa.Row[Any], cells: CaseCells, now: datetime) -> QueueRow:
    domestic = r.kind == CaseKind.domestic
    return QueueRow(
        href=url_for("cases.case_page", case_id=r.id), reference=r.reference,
        priority=cells.priority_badge(r.priority), summary=cells.text(r.summary),
        duplicates=cells.duplicate_badge(r.duplicates),
        where=cells.where(r.kind, r.division_name, r.city, r.country_code), domestic=domestic,
        division=None if r.division_name is None else cells.text(r.division_name), city=r.city,
        country="" if domestic else cells.country(r.country_code),
        category=cells.category(r.category), status=cells.status_badge(r.status),
        point=None if r.point_name is None else cells.place(r.point_name, r.point_name_en,
                                                            r.point_names),
        station=cells.place(r.station_name, r.station_name_en, r.station_names),
        left=cells.time_left_badge(deadlines.time_left(r, now)), age=cells.duration(now - r.reported_at))


def _queue_args() -> dict[str, Any]:
    """The queue's filters from the URL, cleaned (unknown values are dropped)."""
    a = request.args
    args: dict[str, Any] = {"q": a.get("q", "").strip()[:100]}
    status = a.get("status", "")
    args["status"] = status if status in {s.value for s in CaseStatus} | {"all"} else ""
    priority = a.get("priority", "")
    args["priority"] = priority if priority in {p.value for p in Priority} else ""
    country = a.get("country", "").strip().upper()
    args["country"] = country if country and i18n.is_country_code(country) else ""
    category = a.get("category", "")
    args["category"] = category if category in {c.value for c in CaseCategory} else ""
    kind = a.get("kind", "")
    args["kind"] = kind if kind in {k.value for k in CaseKind} else ""
    args["station"] = _int(a.get("station"))
    args["point"] = _int(a.get("point"))
    args["overdue"] = "1" if a.get("overdue") in ("1", "on", "true") else ""
    return {k: v for k, v in args.items() if v}


def _page_number() -> int:
    """The list page the query string asks for (1 when none or malformed; at most 100,000)."""
    return min(_int(request.args.get("page")) or 1, 100_000)


@bp.get("/cases/queue")
def queue() -> Any:
    user = _case_user()
    _roles(user, Role.coordinator)
    if request.args.get("reset"):
        session.pop(QUEUE_SESSION_KEY, None)
        return redirect(url_for("cases.queue"), code=303)
    args = _queue_args()
    page_number = _page_number()
    if not any(k in request.args for k in (*QUEUE_FILTERS, "page")):
        remembered = session.get(QUEUE_SESSION_KEY)
        if isinstance(remembered, dict) and remembered:
            return redirect(url_for("cases.queue", **remembered), code=303)
    session[QUEUE_SESSION_KEY] = args

    filters = {k: v for k, v in args.items() if k != "q"}
    filters["overdue"] = bool(args.get("overdue"))
    query = queries.triage_queue(user, filters)
    if args.get("q"):
        found = queries.search_cases(args["q"], user, country=args.get("country")) \
            .with_only_columns(Case.id).order_by(None)
        query = query.where(Case.id.in_(found))
    # Only the columns the rows show: the narrative and the outcome note stay in the database,
    # not decrypted for every row of the page.
    found_page = numbered_page(_queue_rows(query), page_number, PAGE_SIZE, rows=True, counted=query)
    now = utcnow()
    cells = CaseCells()
    rows = [_queue_row(r, cells, now) for r in found_page.items]
    page = Page(items=rows, total=found_page.total, limit=found_page.limit, offset=found_page.offset)
    fixed = _fixed_choices(cells.locale)
    register = queries.queue_choices(user).labelled(cells.locale)
    return render_template(
        "cases/queue.html", page=page, rows=rows, args=args, priority_choices=fixed.priority,
        options={"status": option_tags(fixed.status, args.get("status")),
                 "priority": option_tags(fixed.priority_options, args.get("priority")),
                 "country": option_tags(register.countries, args.get("country")),
                 "kind": option_tags(fixed.kind, args.get("kind")),
                 "category": option_tags(fixed.category, args.get("category")),
                 "station": option_tags(register.stations, args.get("station")),
                 "point": option_tags(register.points, args.get("point"))})


@dataclass(frozen=True)
class _FixedChoices:
    status: list[tuple[str, str]]
    priority: list[tuple[str, str]]
    priority_options: list[tuple[str, str]]  # "P1 · Life or liberty at risk now"
    kind: list[tuple[str, str]]
    category: list[tuple[str, str]]


@cache
def _fixed_choices(locale: Locale) -> _FixedChoices:
    """The queue's filter choices that do not come from the register, in ``locale`` (the
    catalogs do not change while the app runs)."""
    with force_locale(str(locale)):
        priority = [(p.value, str(label)) for p, label in PRIORITY_LABELS.items()]
        return _FixedChoices(
            status=[(s.value, str(STATUS_SHORT[s])) for s in CaseStatus]
            + [("all", _("All cases, open and closed"))],
            priority=priority, priority_options=[(value, f"{value} · {label}") for value, label in priority],
            kind=[(k.value, str(label)) for k, (label, _hint) in KIND_TILES.items()],
            category=[(c.value, str(label[0])) for c, label in CATEGORY_LABELS.items()])


# --- my cases (liaison officers, coordinators) -------------------------------------------------


@dataclass
class MineRow:
    case: Case
    last: TimelineEntry | None
    asked: TimelineEntry | None


def _latest_entries(case_ids: list[int]) -> tuple[dict[int, TimelineEntry], dict[int, TimelineEntry]]:
    """Per case: the latest timeline entry, and the latest note written by a coordinator (what the
    centre asked for)."""
    if not case_ids:
        return {}, {}
    latest_ids = sa.select(sa.func.max(TimelineEntry.id)).where(
        TimelineEntry.case_id.in_(case_ids)).group_by(TimelineEntry.case_id)
    asked_ids = (sa.select(sa.func.max(TimelineEntry.id))
                 .join(User, User.id == TimelineEntry.actor_id)
                 .where(TimelineEntry.case_id.in_(case_ids), User.role == Role.coordinator,
                        TimelineEntry.kind.in_((TimelineKind.note, TimelineKind.assignment)),
                        TimelineEntry.text.is_not(None))
                 .group_by(TimelineEntry.case_id))
    entries = db.session.scalars(
        sa.select(TimelineEntry).where(sa.or_(TimelineEntry.id.in_(latest_ids),
                                              TimelineEntry.id.in_(asked_ids)))
        .options(selectinload(TimelineEntry.actor))).all()
    latest_set = set(db.session.scalars(latest_ids))
    latest: dict[int, TimelineEntry] = {}
    asked: dict[int, TimelineEntry] = {}
    for e in entries:
        if e.id in latest_set:
            latest[e.case_id] = e
        by_centre = e.actor is not None and e.actor.role == Role.coordinator and bool(e.text) \
            and e.kind in (TimelineKind.note, TimelineKind.assignment)
        if by_centre and (e.case_id not in asked or asked[e.case_id].id < e.id):
            asked[e.case_id] = e
    return latest, asked


@bp.get("/cases/mine")
def mine() -> Any:
    user = _case_user()
    _roles(user, Role.liaison_officer, Role.coordinator)
    args: dict[str, Any] = {"q": request.args.get("q", "").strip()[:100],
                            "show": "all" if request.args.get("show") == "all" else ""}
    query = scoped(Case, user)
    if user.role == Role.coordinator:
        query = query.where(Case.coordinator_id == user.id)
    if not args["show"]:
        query = query.where(Case.status.in_(OPEN_STATUSES))
    if args["q"]:
        found = queries.search_cases(args["q"], user).with_only_columns(Case.id).order_by(None)
        query = query.where(Case.id.in_(found))
    page_number = _page_number()
    page: Page[Case] = numbered_page(query.order_by(Case.last_activity_at.desc(), Case.id.desc()),
                                     page_number, PAGE_SIZE)
    latest, asked = _latest_entries([c.id for c in page.items])
    rows = [MineRow(c, latest.get(c.id), asked.get(c.id)) for c in page.items]
    note = _("The cases of your liaison point, the most recently changed first.") \
        if user.role == Role.liaison_officer else _("Cases you coordinate.")
    return render_template("cases/mine.html", page=page, rows=rows,
                           args={k: v for k, v in args.items() if v}, heading_note=note,
                           may_log=can_create_case(user))


# --- station inbox ------------------------------------------------------------------------------


@dataclass
class InboxItem:
    case: Case
    assignment: StationAssignment
    actions: list[ActionView] = field(default_factory=list)


@bp.get("/cases/inbox")
def inbox() -> str:
    user = _case_user()
    _roles(user, Role.station_volunteer)
    station = db.session.get(ServiceStation, user.station_id) if user.station_id else None
    rows = db.session.execute(
        sa.select(StationAssignment, Case)
        .join(Case, Case.id == StationAssignment.case_id)
        .where(StationAssignment.station_id == user.station_id,
               StationAssignment.status.in_((AssignmentStatus.offered, AssignmentStatus.accepted,
                                             AssignmentStatus.done)),
               Case.id.in_(scoped(Case, user).with_only_columns(Case.id)))
        .order_by(Case.priority, StationAssignment.assigned_at.desc())).all()
    offered: list[InboxItem] = []
    working: list[InboxItem] = []
    finished: list[InboxItem] = []
    for assignment, case in rows:
        item = InboxItem(case, assignment)
        if assignment.status == AssignmentStatus.offered:
            allowed = allowed_actions(case, user)
            item.actions = [_action_view(a, case, user, next_page="inbox")
                            for a in (Action.accept, Action.decline) if a in allowed]
            offered.append(item)
        elif assignment.status == AssignmentStatus.accepted and case.status in OPEN_STATUSES:
            working.append(item)
        elif len(finished) < 10:
            finished.append(item)
    return render_template("cases/inbox.html", station=station, offered=offered, working=working,
                           finished=finished)


# --- notifications ------------------------------------------------------------------------------


@bp.get("/notifications")
def notifications() -> str:
    user = _case_user()
    page_number = _page_number()
    query = scoped(Notification, user).options(selectinload(Notification.case)).order_by(
        Notification.created_at.desc(), Notification.id.desc())
    page = numbered_page(query, page_number, PAGE_SIZE)
    return render_template("cases/notifications.html", page=page, unread=ops.unread_count(user))


@bp.post("/notifications/read")
def notifications_read() -> Response:
    user = _case_user()
    ids = [i for i in (_int(v) for v in request.form.getlist("id")) if i]
    if request.form.getlist("id") and not ids:
        abort(400)
    ops.mark_notifications_read(user, ids or None)
    return redirect(safe_next(request.form.get("next"), url_for("cases.notifications")), code=303)
