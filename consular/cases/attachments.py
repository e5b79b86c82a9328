"""Case attachments: the shared attachment storage (``consular.attachments``: checked by content,
sealed at rest, removed again when the transaction that recorded it rolls back) with the case as
the owner: each file is an ``Attachment`` row of its case, served only through scoped views.
"""

from __future__ import annotations

from typing import IO, Any

from consular import attachments as store
from consular.attachments import (  # noqa: F401 (the names this module has always offered)
    CHUNK,
    HEIF_BRANDS,
    KINDS,
    MAX_FILENAME,
    STORAGE_KEY_RE,
    FileKind,
    safe_filename,
    sniff,
    storage_dir,
)
from consular.cases.models import Attachment, Case, TimelineKind
from consular.cases.operations.checks import CaseInputError
from consular.cases.operations.core import _audit, _timeline, _touch
from consular.cases.policy import Action, ensure
from consular.db import db, utcnow
from consular.sealedfile import SealedReader


def attachment_path(att: Attachment) -> Any:
    """Where the (sealed) file of ``att`` lives (the key is ours and random; checked anyway)."""
    return store.file_path(att.storage_key)


def open_attachment(att: Attachment, *, verify: bool = False) -> SealedReader:
    """The plaintext of ``att``'s file (``consular.attachments.open_file``). Close it after use."""
    return store.open_file(att.storage_key, verify=verify)


def reseal_attachments() -> dict[str, int]:
    """Seal every attachment file (of cases and of every other owner) again with the active key."""
    return store.reseal_all()


def store_attachment(case: Case, filename: str, stream: IO[bytes], content_type: str, *,
                     user: Any) -> Attachment:
    """Check and keep an uploaded file for ``case``. ``content_type`` is what the client said; the
    stored type is what the content is. Refusals raise :class:`CaseInputError` on ``file``."""
    ensure(Action.add_attachment, case, user)
    try:
        stored = store.receive_file(filename, stream)
    except store.FileRefused as exc:
        raise CaseInputError({"file": str(exc)}) from None
    now = utcnow()
    att = Attachment(case_id=case.id, **stored.columns(), uploaded_by_id=getattr(user, "id", None),
                     uploaded_at=now)
    db.session.add(att)
    db.session.flush()
    _touch(case, user, now)
    detail = {"attachment_id": att.id, "content_type": stored.content_type, "size": stored.size}
    _timeline(case, user, TimelineKind.attachment, "add_attachment", now, detail=detail)
    _audit("attachment", case, user, detail)
    db.session.flush()
    return att
