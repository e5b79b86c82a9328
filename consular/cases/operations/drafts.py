"""Drafts of the "log a case" form, sealed at rest, so a dropped connection loses nothing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import ngettext

from consular.auth.models import User
from consular.cases.models import CaseDraft
from consular.cases.operations.checks import MAX_DRAFT_BYTES, MAX_DRAFTS, CaseInputError
from consular.cases.policy import ActionRefused, can_create_case
from consular.db import MAX_ID, db, utcnow

# --- drafts -------------------------------------------------------------------------------------


def save_draft(user: User, payload: Mapping[str, Any], draft_id: int | None = None) -> CaseDraft:
    """Keep a half-filled "log a case" form (sealed at rest) so a dropped connection loses nothing."""
    if not can_create_case(user):
        raise ActionRefused("create", _("Your role may not log cases."), 403)
    if not isinstance(payload, Mapping):
        raise CaseInputError({"payload": _("Expected a set of fields.")})
    try:
        encoded = json.dumps(payload, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        raise CaseInputError({"payload": _("This draft cannot be saved.")}) from None
    if len(encoded.encode()) > MAX_DRAFT_BYTES:
        raise CaseInputError({"payload": _("This draft is too large.")})
    now = utcnow()
    draft = get_draft(user, draft_id) if draft_id is not None else None
    if draft is None:
        count = db.session.scalar(sa.select(sa.func.count()).select_from(CaseDraft)
                                  .where(CaseDraft.user_id == user.id)) or 0
        if count >= MAX_DRAFTS:
            raise CaseInputError({"payload": ngettext(
                "You have %(num)d draft. Finish or discard it first.",
                "You have %(num)d drafts. Finish or discard one first.", MAX_DRAFTS)})
        draft = CaseDraft(user_id=user.id, created_at=now)
        db.session.add(draft)
    draft.payload = encoded
    draft.updated_at = now
    db.session.flush()
    return draft


def get_draft(user: User, draft_id: int | None) -> CaseDraft | None:
    if draft_id is None or isinstance(draft_id, bool) or not isinstance(draft_id, int) \
            or not 0 < draft_id <= MAX_ID:
        return None
    return db.session.scalar(sa.select(CaseDraft).where(CaseDraft.id == draft_id,
                                                        CaseDraft.user_id == user.id))


def draft_payload(draft: CaseDraft) -> dict[str, Any]:
    data = json.loads(draft.payload)
    return data if isinstance(data, dict) else {}


def list_drafts(user: User) -> list[CaseDraft]:
    return list(db.session.scalars(sa.select(CaseDraft).where(CaseDraft.user_id == user.id)
                                   .order_by(CaseDraft.updated_at.desc(), CaseDraft.id.desc())))


def discard_draft(user: User, draft_id: int) -> bool:
    draft = get_draft(user, draft_id)
    if draft is None:
        return False
    db.session.delete(draft)
    db.session.flush()
    return True
