"""Scoping in one place: for each resource, one function turns the current user into a SQL filter.

Views and API endpoints fetch through these filters, so an object outside a user's scope is simply
not found (404). Write permissions are the ``can_*`` predicates beside them.
"""

from __future__ import annotations

from typing import Any, TypeVar

import sqlalchemy as sa
from flask import abort

from consular.audit.models import AuditEntry
from consular.auth.models import Role, User
from consular.db import db
from consular.network.models import (
    CoordinationCentre,
    Division,
    LiaisonPoint,
    Mission,
    ServiceStation,
)

T = TypeVar("T")

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


SCOPES: dict[type, Any] = {
    LiaisonPoint: liaison_point_scope,
    ServiceStation: station_scope,
    Mission: mission_scope,
    Division: division_scope,
    CoordinationCentre: centre_scope,
    User: user_scope,
    AuditEntry: audit_scope,
}


def scoped(model: type[T], user: User) -> sa.Select[Any]:
    """``select(model)`` already filtered to what ``user`` may see."""
    return sa.select(model).where(SCOPES[model](user))


MAX_ID = 2**31 - 1  # ids beyond the column's range are simply not found (not a database error)


def get_scoped_or_404(model: type[T], object_id: int, user: User) -> T:
    if not 0 < object_id <= MAX_ID:
        abort(404)
    pk = model.id  # type: ignore[attr-defined]
    obj: T | None = db.session.scalar(scoped(model, user).where(pk == object_id))
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
