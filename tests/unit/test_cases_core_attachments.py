"""Attachments: size and type limits checked on the content (an .exe renamed .pdf is refused),
files kept outside the web root under random names, removed again if the request rolls back."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask_babel import force_locale

from consular.cases import attachments
from consular.cases import operations as ops
from consular.cases.models import Attachment, CaseStatus, TimelineEntry, TimelineKind
from consular.cases.policy import ActionRefused
from consular.db import db
from tests.support.cases import World, build

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n"
HEIC = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 32
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x00" * 32
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 64


def files_in(folder: Path) -> set[Path]:
    """The files under ``folder`` (the instance folder lives for the whole test session)."""
    return set(folder.iterdir()) if folder.exists() else set()


def office_file(kind: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        if kind == "zip":
            archive.writestr("readme.txt", "just a zip")
        else:
            archive.writestr("[Content_Types].xml", "<Types/>")
            archive.writestr("word/document.xml" if kind == "docx" else "xl/workbook.xml", "<x/>")
    return buffer.getvalue()


def store(w: World, name: str, data: bytes, claimed: str = "application/octet-stream"):
    case = build(w, CaseStatus.in_progress)
    return case, attachments.store_attachment(case, name, io.BytesIO(data), claimed, user=w.volunteer_a)


@pytest.mark.parametrize(("name", "data", "content_type"), [
    ("护照.png", PNG, "image/png"), ("photo.JPG", JPEG, "image/jpeg"), ("report.pdf", PDF, "application/pdf"),
    ("IMG_0001.heic", HEIC, "image/heic"), ("x.webp", WEBP, "image/webp"),
    ("note.txt", "探视记录：一切平安\n".encode(), "text/plain"),
    ("no-extension", b"plain words", "text/plain"),
    ("letter.docx", office_file("docx"), attachments.KINDS["docx"].content_type),
    ("list.xlsx", office_file("xlsx"), attachments.KINDS["xlsx"].content_type),
])
def test_accepted_files_are_kept_outside_the_web_root(world: World, app: Flask, name: str, data: bytes,
                                                     content_type: str) -> None:
    case, att = store(world, name, data, claimed="text/html")  # what the browser claims is ignored
    db.session.commit()
    path = attachments.attachment_path(att)
    with attachments.open_attachment(att, verify=True) as content:  # sealed on disk, opened here
        assert content.read() == data and att.size == len(data) and att.content_type == content_type
    assert data not in path.read_bytes()
    assert path.parent == Path(app.instance_path) / "attachments"
    assert name not in str(path) and att.filename == name
    assert "static" not in path.parts
    assert (path.stat().st_mode & 0o077) == 0
    entry = db.session.scalar(sa.select(TimelineEntry).where(TimelineEntry.kind == TimelineKind.attachment))
    assert entry is not None and entry.detail["attachment_id"] == att.id


@pytest.mark.parametrize(("name", "data", "message"), [
    ("setup.pdf", EXE, "type"),  # an .exe renamed .pdf
    ("setup.exe", EXE, "type"),
    ("photo.pdf", PNG, "match"),  # a real image behind another extension
    ("empty.txt", b"", "empty"),
    ("binary.txt", b"abc\x00\x01\x02", "type"),
    ("fake.docx", b"PK\x03\x04garbage", "type"),
    ("other.zip", office_file("zip"), "type"),
])
def test_refused_files_leave_nothing_behind(world: World, app: Flask, name: str, data: bytes,
                                            message: str) -> None:
    case = build(world, CaseStatus.in_progress)
    folder = Path(app.instance_path) / "attachments"
    before = files_in(folder)
    with force_locale("en"), pytest.raises(ops.CaseInputError) as bad:
        attachments.store_attachment(case, name, io.BytesIO(data), "application/pdf", user=world.volunteer_a)
    assert message in bad.value.errors["file"].lower()
    assert files_in(folder) == before  # not even a partial file
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Attachment)) == 0


def test_files_over_the_limit_are_refused(world: World, app: Flask, tmp_path: Path,
                                          same_db_app) -> None:
    small = same_db_app(ATTACHMENT_MAX_MB=1)
    with small.app_context():
        w = World(**{k: db.session.merge(v) for k, v in vars(world).items()})
        case = build(w, CaseStatus.in_progress)
        folder = Path(small.instance_path) / "attachments"
        before = files_in(folder)
        with pytest.raises(ops.CaseInputError) as bad:
            attachments.store_attachment(case, "big.txt", io.BytesIO(b"a" * (1024 * 1024 + 1)), "text/plain",
                                         user=w.volunteer_a)
        assert "1 MiB" in bad.value.errors["file"]
        db.session.rollback()
        assert files_in(folder) == before
        ok = attachments.store_attachment(case, "ok.txt", io.BytesIO(b"a" * 1024 * 1024), "text/plain",
                                          user=w.volunteer_a)
        db.session.commit()
        assert ok.size == 1024 * 1024


def test_a_rolled_back_upload_removes_its_file(world: World, app: Flask) -> None:
    case, att = store(world, "a.png", PNG)
    path = attachments.attachment_path(att)
    assert path.exists()
    db.session.rollback()
    assert not path.exists()


def test_only_allowed_users_attach(world: World) -> None:
    case = build(world, CaseStatus.in_progress)
    for user, code in ((world.admin, 404), (world.officer_b, 404), (world.volunteer_b, 404)):
        with pytest.raises(ActionRefused) as refused:
            attachments.store_attachment(case, "a.txt", io.BytesIO(b"x"), "text/plain", user=user)
        assert refused.value.status_code == code


def test_filenames_lose_folders_and_tricks() -> None:
    assert attachments.safe_filename("../../etc/passwd") == "passwd"
    assert attachments.safe_filename("C:\\Users\\x\\护照.jpg") == "护照.jpg"
    assert attachments.safe_filename("photo\u202egpj.exe") == "photogpj.exe"
    assert attachments.safe_filename("") == "file"
    assert len(attachments.safe_filename("a" * 500 + ".pdf")) == 200
    assert attachments.safe_filename("a" * 500 + ".pdf").endswith(".pdf")


def test_a_tampered_storage_key_is_refused(world: World) -> None:
    case, att = store(world, "a.png", PNG)
    att.storage_key = "../../secrets.toml"
    with pytest.raises(ValueError, match="storage key"):
        attachments.attachment_path(att)
