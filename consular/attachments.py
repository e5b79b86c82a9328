"""Attachment files for every package (a case's passport scan, a training's sign-in sheet): checked by
their content (not the name or the type the browser claims), sealed at rest
(``consular.sealedfile``: streamed AES-GCM with the field keys, bound to the file's storage key)
under ``<instance>/attachments/<random key>`` outside the web root, opened one chunk at a time.

The owner of a file is the caller's business: :func:`receive_file` checks and seals an upload and
answers what it is (:class:`StoredFile`); the owning package records it in a row of its own table
with the :class:`AttachmentColumns` (any mapped class with a ``storage_key`` column is an attachment
table: key rotation and backups find them all). A file is written before the transaction that
records it commits; if that transaction rolls back, the file is removed again, so no file outlives
a refused request. No plaintext byte of an upload is ever written to disk: the content checks read
the sealed partial file through its opener.
"""

from __future__ import annotations

import codecs
import contextlib
import hashlib
import io
import os
import re
import secrets
import unicodedata
import zipfile
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import IO, Any

import sqlalchemy as sa
from flask import Response, current_app, render_template, send_file
from flask_babel import gettext as _
from sqlalchemy import event
from sqlalchemy.orm import Mapped, Session, mapped_column

from config import current_settings
from consular.db import EncryptedString, Model, UTCDateTime, db, keyring, utcnow
from consular.sealedfile import SealedFileError, SealedReader, SealedWriter, reseal_file

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


class FileRefused(ValueError):
    """An upload that is not kept; the message is for the user, in their language."""


@dataclass(frozen=True)
class StoredFile:
    """A checked, sealed file waiting for its owner's row."""

    filename: str  # the file's own name, cleaned
    content_type: str  # what the content is
    size: int
    sha256: str
    storage_key: str

    def columns(self) -> dict[str, Any]:
        """What the owner's row records of it (its :class:`AttachmentColumns` of the same names)."""
        return asdict(self)


class AttachmentColumns:
    """The columns of every attachment table: its id (first), the stored file as :class:`StoredFile`
    answers it (its name sealed at rest like any personal text), who uploaded it and when. The
    owning table adds the key of its owner and the relationship."""

    id: Mapped[int] = mapped_column(primary_key=True, sort_order=-1)
    filename: Mapped[str] = mapped_column(EncryptedString())
    content_type: Mapped[str] = mapped_column(sa.String(100))
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(sa.String(64))
    storage_key: Mapped[str] = mapped_column(sa.String(80), unique=True)  # random, not the filename
    uploaded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


def sniff(content: IO[bytes]) -> FileKind | None:
    """The kind of a file from its first bytes (and, for Office files, its zip directory).
    ``content`` is a seekable binary stream of the file's plaintext (an upload's sealed reader)."""
    content.seek(0)
    head = content.read(64)
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
            with zipfile.ZipFile(content) as archive:
                names = set(archive.namelist())
        except (zipfile.BadZipFile, OSError, ValueError):
            return None
        if "[Content_Types].xml" in names and "word/document.xml" in names:
            return KINDS["docx"]
        if "[Content_Types].xml" in names and "xl/workbook.xml" in names:
            return KINDS["xlsx"]
        return None
    return KINDS["txt"] if _is_text(content) else None


def _is_text(content: IO[bytes]) -> bool:
    """UTF-8 (or UTF-16 with a byte-order mark) text without NUL or other binary control bytes,
    decoded a block at a time."""
    content.seek(0)
    first = content.read(CHUNK)
    encoding = "utf-16" if first.startswith((b"\xff\xfe", b"\xfe\xff")) else "utf-8"
    decoder = codecs.getincrementaldecoder(encoding)()
    block = first
    try:
        while True:
            final = not block
            text = decoder.decode(block, final=final)
            if any(unicodedata.category(ch) == "Cc" and ch not in "\t\n\r\f" for ch in text):
                return False
            if final:
                return True
            block = content.read(CHUNK)
    except UnicodeDecodeError:
        return False


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


def file_path(storage_key: str) -> Path:
    """Where the (sealed) file of ``storage_key`` lives (the key is ours and random; checked anyway)."""
    if not STORAGE_KEY_RE.match(storage_key or ""):
        raise ValueError("bad storage key")
    return storage_dir() / storage_key


def open_file(storage_key: str, *, verify: bool = False) -> SealedReader:
    """The plaintext of a stored file as a seekable stream, authenticated chunk by chunk; raises
    ``SealedFileError`` when the file is not sealed with a configured key for this storage key, or
    was altered. With ``verify`` the whole file is authenticated first (one chunk at a time, none
    kept), so a download is the file or an error, never the start of a file and a broken
    connection. Close it after use."""
    reader = SealedReader(file_path(storage_key), keyring(), storage_key)
    if verify:
        try:
            reader.verify()
        except BaseException:
            reader.close()
            raise
    return reader


def download(content: SealedReader, filename: str) -> Response:
    """An opened file as a download, streamed: each 64 KiB chunk is opened (and authenticated
    again) as it is sent; the browser saves it and never renders or sniffs it."""
    response = send_file(io.BufferedReader(content, CHUNK), mimetype="application/octet-stream",
                         as_attachment=True, download_name=filename, max_age=0,
                         conditional=False, etag=False)
    response.content_length = content.size
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


def unopenable_page() -> Response:
    """The 500 page of a stored file that fails its integrity check. Not a user's mistake: the file
    was altered, damaged, or sealed with a key this instance does not have; the caller logs which."""
    message = _("This file cannot be opened: it failed its integrity check (it was altered or "
                "damaged, or its key is missing). Nothing was downloaded; the error was logged.")
    return Response(render_template("error.html", code=500, message=message), status=500)


def attachment_models() -> list[type[Any]]:
    """Every mapped class that records stored files (it has a ``storage_key`` column)."""
    found = [mapper.class_ for mapper in Model.registry.mappers
             if "storage_key" in mapper.columns and "id" in mapper.columns]
    return sorted(found, key=lambda cls: cls.__tablename__)


def reseal_all() -> dict[str, int]:
    """Seal every stored file again with the active key (``consular keys rotate``), for every
    attachment table. Each file is replaced atomically (a new sealed file beside it, flushed,
    renamed over it); files already sealed with the active key are left alone, so an interrupted
    run is simply run again. A file that does not open raises ``SealedFileError`` (the others done
    so far stay done). Returns counts: re-encrypted, already current, missing files."""
    ring = keyring()
    counts = {"resealed": 0, "current": 0, "missing": 0}
    for model in attachment_models():
        last_id = 0
        while True:
            rows = db.session.execute(sa.select(model.id, model.storage_key)
                                      .where(model.id > last_id).order_by(model.id).limit(500)).all()
            if not rows:
                break
            for row_id, key in rows:
                last_id = row_id
                if not STORAGE_KEY_RE.match(key or ""):
                    raise ValueError(f"{model.__tablename__} {row_id}: bad storage key")
                path = storage_dir() / key
                if not path.is_file():
                    counts["missing"] += 1
                    continue
                try:
                    resealed = reseal_file(path, ring, key)
                except SealedFileError as exc:
                    raise SealedFileError(f"{model.__tablename__} {row_id}: {exc}") from None
                counts["resealed" if resealed else "current"] += 1
    return counts


def limits() -> tuple[int, set[str]]:
    """The largest file in bytes, and the kinds accepted (``ATTACHMENT_MAX_MB``, ``ATTACHMENT_TYPES``)."""
    settings = current_settings()
    return settings.attachment_max_mb * 1024 * 1024, set(settings.attachment_types.value)


def _size_text(limit: int) -> str:
    return f"{limit // (1024 * 1024)} MiB"


def receive_file(filename: str, stream: IO[bytes], *, allowed: set[str] | None = None) -> StoredFile:
    """Check and seal an uploaded file; the caller records it in its own row (same transaction).
    ``allowed`` narrows the configured kinds (a package may take fewer). Raises
    :class:`FileRefused` with the reason: too large, empty, a kind not accepted, or content that
    does not match the name's extension."""
    limit, configured = limits()
    kinds = configured & allowed if allowed is not None else configured
    name = safe_filename(filename)
    folder = storage_dir()
    key = secrets.token_urlsafe(24)
    partial = folder / f".{key}.part"
    digest = hashlib.sha256()
    size = 0
    ring = keyring()
    try:
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            writer = SealedWriter(out, ring, key)
            while True:
                chunk = stream.read(CHUNK)
                if not chunk:
                    break
                size += len(chunk)
                if size > limit:
                    raise FileRefused(_("The file is too large: at most %(limit)s.",
                                        limit=_size_text(limit)))
                digest.update(chunk)
                writer.write(chunk)
            writer.close()
            out.flush()
            os.fsync(out.fileno())
        if size == 0:
            raise FileRefused(_("The file is empty."))
        with SealedReader(partial, ring, key) as sealed:
            kind = sniff(io.BufferedReader(sealed, CHUNK))
        if kind is None or kind.name not in kinds:
            raise FileRefused(_("This type of file is not accepted. Accepted: %(types)s.",
                                types=", ".join(sorted(kinds))))
        ext = os.path.splitext(name)[1].lower()
        if ext and ext not in kind.extensions:
            raise FileRefused(_("The file's content (%(kind)s) does not match its name (%(ext)s).",
                                kind=kind.name, ext=ext))
        final = folder / key
        os.replace(partial, final)
    finally:
        if partial.exists():
            partial.unlink()
    _written_files(db.session()).append(final)
    return StoredFile(filename=name, content_type=kind.content_type, size=size,
                      sha256=digest.hexdigest(), storage_key=key)


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
