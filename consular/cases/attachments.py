"""Case attachments: files checked by their content (not the name or the type the browser claims),
kept under ``<instance>/attachments/<random key>`` outside the web root, and served only through
scoped views.

A file is written before the transaction that records it commits; if that transaction rolls back,
the file is removed again, so no file outlives a refused request.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
import unicodedata
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import IO, Any

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import event
from sqlalchemy.orm import Session

from consular.cases.models import Attachment, Case, TimelineKind
from consular.cases.operations import CaseInputError, _audit, _timeline, _touch
from consular.cases.policy import Action, ensure
from consular.db import db, utcnow

CHUNK = 64 * 1024
STORAGE_KEY_RE = re.compile(r"^[A-Za-z0-9_-]{20,80}$")
MAX_FILENAME = 200


@dataclass(frozen=True)
class FileKind:
    name: str  # as in the ATTACHMENT_TYPES setting
    content_type: str
    extensions: tuple[str, ...]


KINDS: dict[str, FileKind] = {k.name: k for k in (
    FileKind("jpeg", "image/jpeg", (".jpg", ".jpeg", ".jfif")),
    FileKind("png", "image/png", (".png",)),
    FileKind("webp", "image/webp", (".webp",)),
    FileKind("heic", "image/heic", (".heic", ".heif")),
    FileKind("pdf", "application/pdf", (".pdf",)),
    FileKind("txt", "text/plain", (".txt", ".text", ".log", ".csv", ".md")),
    FileKind("docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", (".docx",)),
    FileKind("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", (".xlsx",)),
)}
HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"}


def sniff(path: Path) -> FileKind | None:
    """The kind of file at ``path`` from its first bytes (and, for Office files, its zip directory)."""
    with path.open("rb") as fh:
        head = fh.read(64)
    if head.startswith(b"\xff\xd8\xff"):
        return KINDS["jpeg"]
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return KINDS["png"]
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return KINDS["webp"]
    if head[4:8] == b"ftyp" and head[8:12] in HEIF_BRANDS:
        return KINDS["heic"]
    if head.startswith(b"%PDF-"):
        return KINDS["pdf"]
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(path) as archive:
                names = set(archive.namelist())
        except (zipfile.BadZipFile, OSError, ValueError):
            return None
        if "[Content_Types].xml" in names and "word/document.xml" in names:
            return KINDS["docx"]
        if "[Content_Types].xml" in names and "xl/workbook.xml" in names:
            return KINDS["xlsx"]
        return None
    return KINDS["txt"] if _is_text(path) else None


def _is_text(path: Path) -> bool:
    """UTF-8 (or UTF-16 with a byte-order mark) text without NUL or other binary control bytes."""
    data = path.read_bytes()
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError:
            return False
    else:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return False
    return not any(unicodedata.category(ch) == "Cc" and ch not in "\t\n\r\f" for ch in text)


def safe_filename(raw: str) -> str:
    """The file's own name, without any folder, control characters or bidirectional tricks."""
    text = unicodedata.normalize("NFC", raw if isinstance(raw, str) else "")
    name = PureWindowsPath(PurePosixPath(text).name).name
    name = "".join(ch for ch in name if unicodedata.category(ch) not in ("Cc", "Cf")).strip(" .")
    if len(name) > MAX_FILENAME:
        stem, dot, ext = name.rpartition(".")
        name = (stem[:MAX_FILENAME - len(ext) - 1] + dot + ext) if dot and len(ext) <= 10 \
            else name[:MAX_FILENAME]
    return name or "file"


def storage_dir() -> Path:
    folder = Path(current_app.instance_path) / "attachments"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder


def attachment_path(att: Attachment) -> Path:
    """Where the file of ``att`` lives (the key is ours and random; checked anyway)."""
    if not STORAGE_KEY_RE.match(att.storage_key or ""):
        raise ValueError("bad storage key")
    return storage_dir() / att.storage_key


def _limits() -> tuple[int, set[str]]:
    settings = current_app.extensions["consular.settings"]
    return int(settings.attachment_max_mb) * 1024 * 1024, set(settings.attachment_types.split(","))


def _size_text(limit: int) -> str:
    return f"{limit // (1024 * 1024)} MiB"


def store_attachment(case: Case, filename: str, stream: IO[bytes], content_type: str, *,
                     user: Any) -> Attachment:
    """Check and keep an uploaded file for ``case``. ``content_type`` is what the client said; the
    stored type is what the content is. Refusals raise :class:`CaseInputError` on ``file``."""
    ensure(Action.add_attachment, case, user)
    limit, allowed = _limits()
    name = safe_filename(filename)
    folder = storage_dir()
    key = secrets.token_urlsafe(24)
    partial = folder / f".{key}.part"
    digest = hashlib.sha256()
    size = 0
    try:
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            while True:
                chunk = stream.read(CHUNK)
                if not chunk:
                    break
                size += len(chunk)
                if size > limit:
                    raise CaseInputError({"file": _("The file is too large: at most %(limit)s.",
                                                    limit=_size_text(limit))})
                digest.update(chunk)
                out.write(chunk)
        if size == 0:
            raise CaseInputError({"file": _("The file is empty.")})
        kind = sniff(partial)
        if kind is None or kind.name not in allowed:
            names = ", ".join(sorted(allowed))
            raise CaseInputError({"file": _("This type of file is not accepted. Accepted: %(types)s.",
                                            types=names)})
        ext = os.path.splitext(name)[1].lower()
        if ext and ext not in kind.extensions:
            raise CaseInputError({"file": _("The file's content (%(kind)s) does not match its name "
                                            "(%(ext)s).", kind=kind.name, ext=ext)})
        final = folder / key
        os.replace(partial, final)
    finally:
        if partial.exists():
            partial.unlink()
    _written_files(db.session()).append(final)

    now = utcnow()
    att = Attachment(case_id=case.id, filename=name, content_type=kind.content_type, size=size,
                     sha256=digest.hexdigest(), storage_key=key, uploaded_by_id=getattr(user, "id", None),
                     uploaded_at=now)
    db.session.add(att)
    db.session.flush()
    _touch(case, user, now)
    detail = {"attachment_id": att.id, "content_type": kind.content_type, "size": size}
    _timeline(case, user, TimelineKind.attachment, "add_attachment", now, detail=detail)
    _audit("attachment", case, user, detail)
    db.session.flush()
    return att


# --- removing files whose transaction did not commit --------------------------------------------


def _written_files(session: Session) -> list[Path]:
    files: list[Path] = session.info.setdefault("consular.attachment_files", [])
    return files


@event.listens_for(Session, "after_commit")
def _forget_written(session: Session) -> None:
    session.info.pop("consular.attachment_files", None)


@event.listens_for(Session, "after_soft_rollback")
def _remove_unrecorded(session: Session, previous_transaction: Any) -> None:
    if previous_transaction.nested:
        return
    for path in session.info.pop("consular.attachment_files", []):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
