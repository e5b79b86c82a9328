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
from consular.network.models import Division, LiaisonPoint, Mission, ServiceStation

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
    return _ALL if user.role in _CENTRE else Division.id.is_not(None)


def user_scope(user: User) -> sa.ColumnElement[bool]:
    return _ALL if user.role == Role.admin else User.id == user.id


def audit_scope(user: User) -> sa.ColumnElement[bool]:
    return _ALL if user.role == Role.admin else _NONE


SCOPES: dict[type, Any] = {
    LiaisonPoint: liaison_point_scope,
    ServiceStation: station_scope,
    Mission: mission_scope,
    Division: division_scope,
    User: user_scope,
    AuditEntry: audit_scope,
}


def scoped(model: type[T], user: User) -> sa.Select[Any]:
    """``select(model)`` already filtered to what ``user`` may see."""
    return sa.select(model).where(SCOPES[model](user))


def get_scoped_or_404(model: type[T], object_id: int, user: User) -> T:
    pk = model.id  # type: ignore[attr-defined]
    obj: T | None = db.session.scalar(scoped(model, user).where(pk == object_id))
    if obj is None:
        abort(404)
    return obj


# --- write permissions ------------------------------------------------------------------------


def can_manage_network(user: User) -> bool:
    return user.role == Role.admin


def can_view_coverage(user: User) -> bool:
    return user.role in _CENTRE


def can_manage_users(user: User) -> bool:
    return user.role == Role.admin


def can_view_audit(user: User) -> bool:
    return user.role == Role.admin
