"""Audit entries: append-only rows; the ORM refuses to update or delete them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Mapped, Session, mapped_column

from consular.db import Model, UTCDateTime, utcnow

# The action of a refused access: a request by a logged-in user for a record (or a page) outside
# their scope or role, answered 404 or 403 (consular.auth.scoping.record_refusal).
ACCESS_REFUSED = "access.refused"


class AuditEntry(Model):
    __tablename__ = "audit_entry"
    __table_args__ = (
        # "Who was refused today, how often": a range of one action in time, even after a burst.
        sa.Index("ix_audit_entry_action_at", "action", "at"),
    )

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"),
                                    primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    user_id: Mapped[int | None] = mapped_column(index=True)  # no FK: survives user changes
    username: Mapped[str] = mapped_column(sa.String(64), default="")
    role: Mapped[str] = mapped_column(sa.String(30), default="")
    ip: Mapped[str] = mapped_column(sa.String(45), default="")
    request_id: Mapped[str] = mapped_column(sa.String(40), default="")
    action: Mapped[str] = mapped_column(sa.String(60), index=True)
    object_type: Mapped[str] = mapped_column(sa.String(40), default="", index=True)
    object_id: Mapped[str] = mapped_column(sa.String(40), default="")
    # The case and the registration an entry is about, when it is about one (whatever its object:
    # a case's attachment, a refused request for a case): the admin's search by reference and by
    # registration number is one indexed lookup.
    case_reference: Mapped[str | None] = mapped_column(sa.String(20), index=True)
    registrant_id: Mapped[int | None] = mapped_column(index=True)
    detail: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)


class AppendOnlyError(RuntimeError):
    pass


@event.listens_for(Session, "before_flush")
def _refuse_audit_changes(session: Session, flush_context: Any, instances: Any) -> None:
    for obj in list(session.dirty) + list(session.deleted):
        if isinstance(obj, AuditEntry):
            raise AppendOnlyError("audit entries are append-only")
