"""Scoping in one place: for each resource, one function turns the current user into a SQL filter.

Views and API endpoints fetch through these filters, so an object outside a user's scope is simply
not found (404). Write permissions are the ``can_*`` predicates beside them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import sqlalchemy as sa
from flask import abort, g, request

from consular.activities.models import (
    Activity,
    ActivityAttachment,
    ActivityKind,
    FollowUp,
    PatrolCheck,
    RiskMeasure,
    RiskPoint,
    activity_point,
    activity_station,
    risk_point_station,
)
from consular.audit.models import ACCESS_REFUSED, AuditEntry
from consular.audit.operations import record
from consular.auth.models import Role, User
from consular.cases.models import (
    Attachment,
    Case,
    CaseDraft,
    CasePerson,
    DeadlineBreach,
    Incident,
    Notification,
    Referral,
    StationAssignment,
    TimelineEntry,
)
from consular.db import MAX_ID, db
from consular.network.models import (
    CoordinationCentre,
    Division,
    LiaisonPoint,
    Mission,
    ServiceStation,
)
from consular.registry.models import Registrant, RegistrantImport

T = TypeVar("T")
# Which rows of a model a user may see, as a WHERE clause.
Scope = Callable[[User], "sa.ColumnElement[bool]"]

_ALL = sa.true()
_NONE = sa.false()
_CENTRE = (Role.admin, Role.coordinator)


def liaison_point_scope(user: User) -> sa.ColumnElement[bool]:
    if user.role in _CENTRE:
        return _ALL
    if user.role == Role.liaison_officer:
        return LiaisonPoint.id == user.liaison_point_id
    return _NONE


def station_scope(user: User) -> sa.ColumnElement[bool]:
    if user.role in _CENTRE:
        return _ALL
    if user.role == Role.station_volunteer:
        return ServiceStation.id == user.station_id
    # Liaison officers see the directory of active stations (to tell families who can help).
    return ServiceStation.active.is_(True)


def mission_scope(user: User) -> sa.ColumnElement[bool]:
    if user.role in _CENTRE:
        return _ALL
    return Mission.active.is_(True)  # missions' public contact details


def division_scope(user: User) -> sa.ColumnElement[bool]:
    # Liaison officers place their point and their cases in the city's divisions; stations abroad
    # have no use for the city's administrative map.
    if user.role in (*_CENTRE, Role.liaison_officer):
        return _ALL
    return _NONE


def centre_scope(user: User) -> sa.ColumnElement[bool]:
    return _ALL  # everyone in the network needs the centre's hotline


def user_scope(user: User) -> sa.ColumnElement[bool]:
    return _ALL if user.role == Role.admin else User.id == user.id


def audit_scope(user: User) -> sa.ColumnElement[bool]:
    return _ALL if user.role == Role.admin else _NONE


def registrant_scope(user: User) -> sa.ColumnElement[bool]:
    """Coordinators: every registrant. Liaison officers: those whose home point is theirs, and
    those they registered. Station volunteers: those of their station, and those they registered.
    Admins manage accounts, not people's data: none."""
    if user.role == Role.coordinator:
        return _ALL
    if user.role == Role.liaison_officer and user.liaison_point_id is not None:
        return sa.or_(Registrant.liaison_point_id == user.liaison_point_id,
                      Registrant.created_by_id == user.id)
    if user.role == Role.station_volunteer and user.station_id is not None:
        return sa.or_(Registrant.station_id == user.station_id,
                      Registrant.created_by_id == user.id)
    return _NONE


def registrant_import_scope(user: User) -> sa.ColumnElement[bool]:
    """An uploaded list is its uploader's; coordinators see every import's counts."""
    if user.role == Role.coordinator:
        return _ALL
    if user.role in (Role.liaison_officer, Role.station_volunteer):
        return RegistrantImport.user_id == user.id
    return _NONE



# A station keeps sight of a case it was offered, works or has finished; a declined or revoked
# hand-off ends its access (unless the station itself reported the case).
STATION_VISIBLE_ASSIGNMENTS = ("offered", "accepted", "done")


def case_scope(user: User) -> sa.ColumnElement[bool]:
    """Coordinators: every case. Liaison officers: their point's cases. Station volunteers: cases
    their station reported or was handed. Admins run the system but never read case content."""
    if user.role == Role.coordinator:
        return _ALL
    if user.role == Role.liaison_officer and user.liaison_point_id is not None:
        return Case.liaison_point_id == user.liaison_point_id
    if user.role == Role.station_volunteer and user.station_id is not None:
        handed = (
            sa.select(StationAssignment.id)
            .where(StationAssignment.case_id == Case.id,
                   StationAssignment.station_id == user.station_id,
                   StationAssignment.status.in_(STATION_VISIBLE_ASSIGNMENTS))
            .exists()
        )
        return sa.or_(Case.reporting_station_id == user.station_id, handed)
    return _NONE


def _through(column: Any, parent_column: Any, parent_scope: Scope) -> Scope:
    """Scope of a row reached through a parent (a case, an activity): the rows whose ``column`` is
    the ``parent_column`` of a parent in the user's scope. Coordinators see all, admins none."""

    def scope(user: User) -> sa.ColumnElement[bool]:
        if user.role == Role.coordinator:
            return _ALL
        if user.role == Role.admin:
            return _NONE
        return column.in_(sa.select(parent_column).where(parent_scope(user)))

    return scope


def _through_case(column: Any) -> Scope:
    """Scope of a row that belongs to a case: the scope of its case."""
    return _through(column, Case.id, case_scope)


# An incident is seen by whoever sees one of its cases.
incident_scope = _through(Incident.id, Case.incident_id, case_scope)


def own_rows_scope(column: Any) -> Any:
    def scope(user: User) -> sa.ColumnElement[bool]:
        return column == user.id

    return scope


def can_see_cases(user: User) -> bool:
    return user.role in (Role.coordinator, Role.liaison_officer, Role.station_volunteer)


def activity_scope(user: User) -> sa.ColumnElement[bool]:
    """Coordinators: every activity. Liaison officers: those their point logged or took part in.
    Station volunteers: those their station logged, hosted, took part in or was patrolled in.
    Admins see the yearly figures, never the activities themselves."""
    if user.role == Role.coordinator:
        return _ALL
    if user.role == Role.liaison_officer and user.liaison_point_id is not None:
        took_part = (sa.select(activity_point.c.activity_id)
                     .where(activity_point.c.point_id == user.liaison_point_id))
        return sa.or_(Activity.owner_point_id == user.liaison_point_id, Activity.id.in_(took_part))
    if user.role == Role.station_volunteer and user.station_id is not None:
        took_part = (sa.select(activity_station.c.activity_id)
                     .where(activity_station.c.station_id == user.station_id))
        return sa.or_(Activity.owner_station_id == user.station_id,
                      Activity.station_id == user.station_id, Activity.id.in_(took_part))
    return _NONE


def _through_activity(column: Any) -> Scope:
    """Scope of a row that belongs to an activity: the scope of its activity."""
    return _through(column, Activity.id, activity_scope)


def risk_point_scope(user: User) -> sa.ColumnElement[bool]:
    """Coordinators: the whole register and every report. Station volunteers: what their station
    reported, and the risks that concern their station. Others: none."""
    if user.role == Role.coordinator:
        return _ALL
    if user.role == Role.station_volunteer and user.station_id is not None:
        concerned = (sa.select(risk_point_station.c.risk_point_id)
                     .where(risk_point_station.c.station_id == user.station_id))
        return sa.or_(RiskPoint.reported_by_station_id == user.station_id,
                      RiskPoint.id.in_(concerned))
    return _NONE


def _through_risk_point(user: User) -> sa.ColumnElement[bool]:
    if user.role == Role.coordinator:
        return _ALL
    if user.role == Role.admin:
        return _NONE
    return RiskMeasure.risk_point_id.in_(sa.select(RiskPoint.id).where(risk_point_scope(user)))


SCOPES: dict[type, Any] = {
    Case: case_scope,
    CasePerson: _through_case(CasePerson.case_id),
    StationAssignment: _through_case(StationAssignment.case_id),
    Referral: _through_case(Referral.case_id),
    TimelineEntry: _through_case(TimelineEntry.case_id),
    Attachment: _through_case(Attachment.case_id),
    DeadlineBreach: _through_case(DeadlineBreach.case_id),
    Incident: incident_scope,
    CaseDraft: own_rows_scope(CaseDraft.user_id),
    Notification: own_rows_scope(Notification.user_id),
    LiaisonPoint: liaison_point_scope,
    ServiceStation: station_scope,
    Mission: mission_scope,
    Division: division_scope,
    CoordinationCentre: centre_scope,
    User: user_scope,
    AuditEntry: audit_scope,
    Registrant: registrant_scope,
    RegistrantImport: registrant_import_scope,
    Activity: activity_scope,
    ActivityAttachment: _through_activity(ActivityAttachment.activity_id),
    FollowUp: _through_activity(FollowUp.activity_id),
    PatrolCheck: _through_activity(PatrolCheck.activity_id),
    RiskPoint: risk_point_scope,
    RiskMeasure: _through_risk_point,
}


def scoped(model: type[T], user: User) -> sa.Select[Any]:
    """``select(model)`` already filtered to what ``user`` may see."""
    return sa.select(model).where(SCOPES[model](user))


def get_scoped_or_404(model: type[T], object_id: int, user: User,
                      *options: sa.orm.interfaces.ORMOption) -> T:
    """The object if ``user`` may see it, else 404; ``options`` load what the page will show."""
    if not 0 < object_id <= MAX_ID:
        abort(404)
    pk = model.id  # type: ignore[attr-defined]
    obj: T | None = db.session.scalar(scoped(model, user).where(pk == object_id).options(*options))
    if obj is None:
        abort(404)
    return obj


# Who may browse a whole register (its list, already narrowed by the scope above). A role whose
# scope is only its own place (an officer's point, a volunteer's station) opens that place directly;
# for it the list does not exist (404).
_BROWSERS: dict[type, tuple[Role, ...]] = {
    LiaisonPoint: _CENTRE,
    ServiceStation: (*_CENTRE, Role.liaison_officer),
    Mission: tuple(Role),
    Division: (*_CENTRE, Role.liaison_officer),
    CoordinationCentre: tuple(Role),
}


def can_browse(model: type, user: User) -> bool:
    return user.role in _BROWSERS.get(model, ())


# --- write permissions ------------------------------------------------------------------------


def can_manage_network(user: User) -> bool:
    return user.role == Role.admin


def can_view_coverage(user: User) -> bool:
    return user.role in _CENTRE


def can_manage_users(user: User) -> bool:
    return user.role == Role.admin


def can_view_audit(user: User) -> bool:
    return user.role == Role.admin


# Registrants: the people who receive alerts. Every role but the admin registers and keeps its own
# (scope above); the data-protection acts (erasure, subject-access export, legal hold) are the
# coordination centre's.
_REGISTRARS = (Role.coordinator, Role.liaison_officer, Role.station_volunteer)


def can_view_registrants(user: User) -> bool:
    return user.role in _REGISTRARS


def can_register_registrants(user: User) -> bool:
    return user.role in _REGISTRARS


def can_edit_registrant(user: User) -> bool:
    """Change, set the status of, or end a registration the user can see."""
    return user.role in _REGISTRARS


def can_import_registrants(user: User) -> bool:
    return user.role in _REGISTRARS


def can_export_registrants(user: User) -> bool:
    """Export the registrants in the user's scope (a coordinator: all)."""
    return user.role in _REGISTRARS


def can_erase_registrant(user: User) -> bool:
    """Erase a person's data on request, export it for a subject-access request, place or lift a
    legal hold."""
    return user.role == Role.coordinator


# --- alerts -----------------------------------------------------------------------------------


def can_work_on_alerts(user: User) -> bool:
    """Compose, approve (another coordinator's), cancel and follow safety alerts. Nobody else sees
    the alert pages (404); published public alerts are in the public feed."""
    return user.role == Role.coordinator and user.active


# --- the network's own work: activities and risk points ----------------------------------------

# What each role logs itself: an officer its point's talks and the trainings it attended; a station
# volunteer its station's talks, trainings, drills and meetings; the centre everything (patrols
# are the centre's visits to the stations).
_LOGS: dict[Role, tuple[ActivityKind, ...]] = {
    Role.coordinator: tuple(ActivityKind),
    Role.liaison_officer: (ActivityKind.talk, ActivityKind.training),
    Role.station_volunteer: (ActivityKind.talk, ActivityKind.training, ActivityKind.drill,
                             ActivityKind.joint_meeting),
}


def activity_kinds_for(user: User) -> tuple[ActivityKind, ...]:
    """The kinds of activity ``user`` may log (none for an admin: figures only)."""
    return _LOGS.get(user.role, ()) if user.active else ()


def can_see_activities(user: User) -> bool:
    return user.role in _LOGS


def can_edit_activity(user: User, activity: Activity) -> bool:
    """Change an activity (its details, attachments, follow-ups, checklists): the centre any, an
    officer or a volunteer what their own point or station logged."""
    if user.role == Role.coordinator:
        return True
    if user.role == Role.liaison_officer:
        return activity.owner_point_id is not None and activity.owner_point_id == user.liaison_point_id
    if user.role == Role.station_volunteer:
        return activity.owner_station_id is not None and activity.owner_station_id == user.station_id
    return False


def can_see_risk_points(user: User) -> bool:
    return user.role in (Role.coordinator, Role.station_volunteer)


def can_report_risk(user: User) -> bool:
    """Report a local risk (a volunteer, for the centre to accept) or enter one (the centre)."""
    return user.role in (Role.coordinator, Role.station_volunteer) and user.active


def can_manage_risk_points(user: User) -> bool:
    """Accept or decline a report, change a risk point, its measures and its links: the centre."""
    return user.role == Role.coordinator and user.active


# --- refused accesses -------------------------------------------------------------------------

# URL arguments that name one record, with the audit's name for its kind. A refused request is
# recorded against the first its route has, in this order (an attachment before its case).
REFUSAL_OBJECTS: tuple[tuple[str, str], ...] = (
    ("attachment_id", "attachment"), ("referral_id", "referral"), ("draft_id", "case_draft"),
    ("case_id", "case"), ("incident_id", "incident"), ("registrant_id", "registrant"),
    ("import_id", "registrant_import"), ("delivery_id", "delivery"), ("alert_id", "alert"),
    ("identifier", "alert"), ("token_id", "api_token"), ("user_id", "user"),
    ("point_id", "liaison_point"), ("station_id", "station"), ("mission_id", "mission"),
    ("division_id", "division"), ("file_id", "activity_attachment"), ("follow_up_id", "follow_up"),
    ("check_id", "patrol_check"), ("measure_id", "risk_measure"),
    ("activity_id", "activity"), ("risk_id", "risk_point"), ("object_id", ""),
)
# The network API's ``object_id`` names a record of the register its endpoint belongs to.
_NETWORK_KINDS = ("liaison_point", "station", "mission", "division")


def record_refusal(status: int) -> None:
    """Audit a request the logged-in user was refused: 403, or 404 (out of scope and absent give
    the same answer, so both are recorded). One entry per request, with the route, the method, the
    path and the ids tried; for a case, its reference (read here, outside the user's scope, for the
    admin's search only: the answer the user got is unchanged). The caller commits."""
    user = g.get("user")
    rule = request.url_rule
    if user is None or rule is None or request.endpoint == "static":
        return
    args = request.view_args or {}
    names = dict(REFUSAL_OBJECTS)
    tried = {name: value for name, value in args.items() if name in names}
    object_type, object_id = "", ""
    for name, kind in REFUSAL_OBJECTS:
        if name in tried:
            object_id = str(tried[name])[:40]
            endpoint = (request.endpoint or "").partition(".")[2]
            object_type = kind or next((k for k in _NETWORK_KINDS if endpoint.startswith(k)), "")
            break
    case_id, registrant_id = tried.get("case_id"), tried.get("registrant_id")
    reference = None
    if isinstance(case_id, int) and 0 < case_id <= MAX_ID:
        reference = db.session.scalar(sa.select(Case.reference).where(Case.id == case_id))
    detail: dict[str, Any] = {"status": status, "method": request.method,
                              "route": request.endpoint, "path": request.path[:200]}
    if len(tried) > 1:
        detail["ids"] = {name: str(value)[:40] for name, value in tried.items()}
    record(ACCESS_REFUSED, object_type, object_id, detail, user=user, case_reference=reference,
           registrant_id=registrant_id if isinstance(registrant_id, int) and
           0 < registrant_id <= MAX_ID else None)
