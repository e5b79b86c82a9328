"""Writing the audit trail. Callers pass names and ids, never sensitive values."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from flask import g, has_request_context, request

from consular.audit.models import AuditEntry
from consular.db import commit_apart, db

# Who the audit trail names when there is no logged-in user (the `consular users …` and
# `consular network import` commands set "cli").
_audit_actor: ContextVar[str | None] = ContextVar("consular_audit_actor", default=None)


@contextmanager
def audit_actor(username: str) -> Iterator[None]:
    token = _audit_actor.set(username)
    try:
        yield
    finally:
        _audit_actor.reset(token)


def client_ip() -> str:
    if not has_request_context():
        return ""
    return (request.remote_addr or "")[:45]


def record(
    action: str,
    object_type: str = "",
    object_id: object = "",
    detail: dict[str, Any] | None = None,
    *,
    user: Any = None,
    username: str | None = None,
    case_reference: str | None = None,
    registrant_id: int | None = None,
) -> AuditEntry:
    """Add an audit entry to the session (the caller's commit makes it durable). The case and the
    registration it is about (searched by the admin) default to the object's own: a case's
    reference from ``detail["reference"]``, a registrant's id."""
    if user is None and username is None and _audit_actor.get() is not None:
        username = _audit_actor.get()
    elif user is None and has_request_context():
        user = getattr(g, "user", None)
    if case_reference is None and object_type == "case" and detail:
        reference = detail.get("reference")
        case_reference = reference if isinstance(reference, str) else None
    if registrant_id is None and object_type == "registrant" and isinstance(object_id, int):
        registrant_id = object_id
    entry = AuditEntry(
        user_id=user.id if user is not None else None,
        username=username if username is not None else (user.username if user is not None else ""),
        role=str(user.role) if user is not None else "",
        ip=client_ip(),
        request_id=getattr(g, "request_id", "") if has_request_context() else "",
        action=action,
        object_type=object_type,
        object_id=str(object_id) if object_id != "" else "",
        detail=detail or {},
        case_reference=case_reference[:20] if case_reference else None,
        registrant_id=registrant_id,
    )
    db.session.add(entry)
    return entry


def record_now(action: str, **kwargs: Any) -> None:
    """Record and commit at once: for events that must survive a failed request (failed logins)."""
    record(action, **kwargs)
    commit_apart()
