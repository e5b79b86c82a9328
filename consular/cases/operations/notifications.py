"""In-app notices (and texts) to users about cases, and their wording in the reader's
language. Imports nothing of the other case operations: ``deadlines`` sends through it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import has_app_context
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from sqlalchemy.orm import ORMExecuteState, Session

import i18n
from consular.auth.models import User
from consular.auth.session import drop_user_figures, register_user_figure, user_figure
from consular.cases.models import Case, DeadlineKind, Notification, SmsState
from consular.db import db, utcnow
from consular.network.models import ServiceStation

# Keys a notification may carry: references and codes, never a name, number or note.
NOTIFICATION_PARAMS = frozenset({"reference", "priority", "status", "deadline", "station", "station_id",
                                 "outcome", "count", "incident", "action", "target", "category",
                                 "alert_id", "event", "due_at"})


# --- notifications ------------------------------------------------------------------------------

_DEADLINE_LABELS = {DeadlineKind.first_response.value: _l("first response"),
                    DeadlineKind.assignment.value: _l("assignment")}


def notify(users: Iterable[User], *, case: Case | None, kind: str, params: Mapping[str, Any],
           sms: bool = False) -> None:
    """In-app notices (and, with ``sms``, a text to each user who has a phone: the alerts
    dispatcher sends rows in ``sms_state=pending``). ``params`` are codes and references only."""
    clean: dict[str, Any] = {}
    for key, value in params.items():
        if key not in NOTIFICATION_PARAMS:
            raise ValueError(f"notification parameter {key!r} is not allowed")
        if value is not None and not isinstance(value, str | int):
            raise ValueError(f"notification parameter {key!r} must be text or a number")
        clean[key] = value[:200] if isinstance(value, str) else value
    now = utcnow()
    seen: set[int] = set()
    for user in users:
        if user.id in seen or not user.active:
            continue
        seen.add(user.id)
        db.session.add(Notification(
            user_id=user.id, case_id=case.id if case is not None else None, kind=kind[:40],
            params=dict(clean), created_at=now,
            sms_state=SmsState.pending if sms and user.phone else SmsState.none))


def _station_named(params: Mapping[str, Any]) -> str:
    """The station a notice is about, named in the reader's language (a notice written before
    notices kept the station's id shows the name it stored)."""
    station_id = params.get("station_id")
    station = db.session.get(ServiceStation, station_id) if isinstance(station_id, int) else None
    if station is None:
        return str(params.get("station", ""))
    return station.name_in(str(i18n.current_locale()))


def notification_text(notification: Notification) -> str:
    """The notice in the current locale (wrap in ``force_locale`` for its recipient's language)."""
    p = dict(notification.params or {})
    ref = str(p.get("reference", ""))
    kind = notification.kind
    if kind == "escalation":
        return _("Case %(reference)s (%(priority)s) is overdue: %(deadline)s.", reference=ref,
                 priority=p.get("priority", ""),
                 deadline=_DEADLINE_LABELS.get(str(p.get("deadline")), p.get("deadline", "")))
    if kind == "assigned":
        return _("Case %(reference)s (%(priority)s) was handed to your station. Please accept or "
                 "decline.", reference=ref, priority=p.get("priority", ""))
    if kind == "coordinator_assigned":
        return _("Case %(reference)s was assigned to you.", reference=ref)
    if kind == "accepted":
        return _("%(station)s accepted case %(reference)s.", station=_station_named(p), reference=ref)
    if kind == "declined":
        return _("%(station)s declined case %(reference)s; it is back in the triage queue.",
                 station=_station_named(p), reference=ref)
    if kind == "revoked":
        return _("The coordination centre took back case %(reference)s.", reference=ref)
    if kind == "resolved":
        return _("Case %(reference)s was resolved by the station and waits for your approval to "
                 "close.", reference=ref)
    if kind == "note":
        return _("New note on case %(reference)s.", reference=ref)
    if kind == "new_case":
        return _("New case %(reference)s (%(priority)s) waits for triage.", reference=ref,
                 priority=p.get("priority", ""))
    if kind == "sms_reply":
        return _("A safety-check reply opened case %(reference)s (%(priority)s).", reference=ref,
                 priority=p.get("priority", ""))
    if kind == "welfare_visit":
        return _("Nobody answered a safety check: welfare-visit case %(reference)s (%(priority)s) "
                 "waits for a station.", reference=ref, priority=p.get("priority", ""))
    if kind == "sms_reply_again":
        return _("New safety-check reply on case %(reference)s (%(priority)s).", reference=ref,
                 priority=p.get("priority", ""))
    if kind == "break_glass":
        return _("The alert “%(event)s” was sent by break-glass, without a second approval. Another "
                 "coordinator must review it by %(due)s.", event=p.get("event", ""),
                 due=_moment(p.get("due_at")))
    if kind == "hazard_draft":
        return ngettext("Hazard watch: “%(event)s”, %(num)s registrant in its area. A draft alert "
                        "waits for your review.",
                        "Hazard watch: “%(event)s”, %(num)s registrants in its area. A draft alert "
                        "waits for your review.", int(p.get("count", 0)), event=p.get("event", ""))
    if kind == "break_glass_reviewed":
        return _("The break-glass alert “%(event)s” has been reviewed.", event=p.get("event", ""))
    return _("Update on case %(reference)s.", reference=ref)


def _moment(value: Any) -> str:
    """A moment a notice stored (ISO 8601), in the reader's locale."""
    try:
        return i18n.format_dt(datetime.fromisoformat(str(value)), fmt="short")
    except ValueError:
        return ""


def mark_notifications_read(user: User, ids: Iterable[int] | None = None) -> int:
    """Mark the user's notices read (all, or those ``ids``); returns how many changed."""
    statement = sa.update(Notification).where(Notification.user_id == user.id,
                                              Notification.read_at.is_(None))
    if ids is not None:
        wanted = [i for i in ids if isinstance(i, int) and not isinstance(i, bool) and 0 < i <= 2**63 - 1]
        if not wanted:
            return 0
        statement = statement.where(Notification.id.in_(wanted))
    result = db.session.execute(statement.values(read_at=utcnow())
                                .execution_options(synchronize_session=False))
    return int(getattr(result, "rowcount", 0) or 0)


def unread_count(user: User) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Notification).where(
        Notification.user_id == user.id, Notification.read_at.is_(None))) or 0


# --- the bell's count, read with the session's user ---------------------------------------------

UNREAD_FIGURE = "unread_notifications"


def _unread_column() -> sa.ColumnElement[int]:
    """The user's unread notices, as a column of the session check's statement (one statement
    fewer on every page)."""
    return (sa.select(sa.func.count()).select_from(Notification)
            .where(Notification.user_id == User.id, Notification.read_at.is_(None))
            .correlate(User).scalar_subquery())


register_user_figure(UNREAD_FIGURE, _unread_column)


def kept_unread_count(user: User) -> int | None:
    """The count read with ``user`` at the start of this request, if no notice was written since
    (then None: count again)."""
    kept = user_figure(user, UNREAD_FIGURE)
    return None if kept is None else int(kept)


# A request that writes notices (adds, marks read, deletes) counts again: the count at the start of
# the request may no longer be the one its page must show.
@sa.event.listens_for(Session, "after_flush")
def _drop_figures_on_flush(session: Session, _context: Any) -> None:
    if has_app_context() and any(isinstance(obj, Notification)
                                 for obj in (*session.new, *session.dirty, *session.deleted)):
        drop_user_figures()


@sa.event.listens_for(Session, "do_orm_execute")
def _drop_figures_on_statement(state: ORMExecuteState) -> None:
    if (state.is_insert or state.is_update or state.is_delete) and has_app_context() and any(
            mapper.class_ is Notification for mapper in state.all_mappers):
        drop_user_figures()
