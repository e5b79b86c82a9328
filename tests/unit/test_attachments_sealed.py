"""Attachment files are sealed at rest: an uploaded passport scan's bytes appear nowhere under the
attachment folder; a file that was altered, cut short, extended, reordered or swapped for another
attachment's is refused with a clear error (never served as garbage); ``consular keys rotate``
re-seals the files, atomically and resumably; revision 0007 seals the files an older version left
in clear."""

from __future__ import annotations

import io
import os
import random
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask

from consular.auth.models import User
from consular.cases import attachments
from consular.cases.models import Attachment, CaseStatus
from consular.cli import keys
from consular.db import KeyRing, db
from consular.sealedfile import CHUNK, TAG, SealedFileError, SealedReader, SealedWriter, is_sealed
from tests.conftest import KEY_A, KEY_B, Browser
from tests.support.cases import World, build

CANARY = "CANARY-passport-scan E-CANARY-55210 章柒凤 Via Pistoiese 12"


def canary_forms() -> list[bytes]:
    forms = [CANARY, CANARY.lower(), CANARY.upper(), "E-CANARY-55210", "ECANARY55210", "章柒凤"]
    return [form.encode(encoding) for form in forms for encoding in ("utf-8", "utf-16-le", "utf-16-be")]


def everything_under(folder: Path) -> bytes:
    """The bytes of every file under ``folder`` (partial files included)."""
    return b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())


def scan_text(size: int) -> bytes:
    """A text file of ``size`` bytes with the canary at the start, across chunk boundaries and at the end."""
    line = (CANARY + "\n").encode()
    body = bytearray(b"x" * size)
    for at in (0, CHUNK - len(line) // 2, 2 * CHUNK - 3, size - len(line)):
        if 0 <= at <= size - len(line):
            body[at:at + len(line)] = line
    return bytes(body)


def store(w: World, name: str, data: bytes) -> Attachment:
    case = build(w, CaseStatus.in_progress)
    att = attachments.store_attachment(case, name, io.BytesIO(data), "text/plain", user=w.volunteer_a)
    db.session.commit()
    return att


def read_back(att: Attachment) -> bytes:
    with attachments.open_attachment(att, verify=True) as content:
        return content.read()


# --- no plaintext on disk -------------------------------------------------------------------------


def test_a_canary_in_uploaded_files_is_nowhere_under_the_attachment_folder(
        world: World, app: Flask, logged_in: Callable[[User], Browser]) -> None:
    small = store(world, "护照扫描.txt", (CANARY + "\n").encode())
    large = store(world, "scan.txt", scan_text(3 * CHUNK + 1234))  # four chunks
    office = io.BytesIO()
    with zipfile.ZipFile(office, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", f"<w>{CANARY}</w>" + "." * (2 * CHUNK))
    docx = store(world, "statement.docx", office.getvalue())  # sniffed through the sealed reader
    assert docx.content_type == attachments.KINDS["docx"].content_type
    # Through the page too, as a volunteer uploads it from a phone.
    case = build(world, CaseStatus.in_progress)
    volunteer = logged_in(world.volunteer_a)
    response = volunteer.post(f"/cases/{case.id}/act/add_attachment", {
        "add_attachment-version": case.version,
        "add_attachment-file": (io.BytesIO(scan_text(CHUNK + 10)), "扫描件.txt", "text/plain")},
        content_type="multipart/form-data")
    assert response.status_code == 303, response.get_data(as_text=True)[:500]

    folder = Path(app.instance_path) / "attachments"
    stored = everything_under(folder)
    assert stored  # the files are there…
    assert [form for form in canary_forms() if form in stored] == []  # …and hold no canary

    # What the users get back is exactly what they uploaded.
    assert read_back(small) == (CANARY + "\n").encode()
    assert read_back(large) == scan_text(3 * CHUNK + 1234)
    assert read_back(docx) == office.getvalue()
    db.session.refresh(case)
    download = volunteer.get(f"/cases/{case.id}/attachments/{case.attachments[0].id}")
    assert download.status_code == 200 and download.is_streamed
    assert download.get_data() == scan_text(CHUNK + 10)
    assert download.headers["Content-Length"] == str(CHUNK + 10)
    download.close()


def test_a_refused_upload_leaves_no_plaintext_behind(world: World, app: Flask) -> None:
    case = build(world, CaseStatus.in_progress)
    folder = Path(app.instance_path) / "attachments"
    before = set(folder.iterdir()) if folder.exists() else set()
    with pytest.raises(attachments.CaseInputError):
        attachments.store_attachment(case, "scan.pdf", io.BytesIO(scan_text(CHUNK * 2)), "application/pdf",
                                     user=world.volunteer_a)  # text behind a .pdf name
    db.session.rollback()
    assert set(folder.iterdir()) == before


# --- tampering ------------------------------------------------------------------------------------


def header_length(path: Path) -> int:
    data = path.read_bytes()
    return 8 + 2 + data[9] + 16 + 7


def tamper_cases() -> dict[str, Callable[[Path, Path], None]]:
    def flip(path: Path, _other: Path) -> None:
        data = bytearray(path.read_bytes())
        data[header_length(path) + CHUNK + 100] ^= 0x01  # a bit in the second chunk
        path.write_bytes(bytes(data))

    def cut_at_boundary(path: Path, _other: Path) -> None:
        data = path.read_bytes()
        path.write_bytes(data[:header_length(path) + 2 * (CHUNK + TAG)])  # the last chunk dropped

    def cut_mid_chunk(path: Path, _other: Path) -> None:
        path.write_bytes(path.read_bytes()[:-500])

    def extend(path: Path, _other: Path) -> None:
        path.write_bytes(path.read_bytes() + os.urandom(CHUNK + TAG))

    def swap_chunks(path: Path, _other: Path) -> None:
        data, start = path.read_bytes(), header_length(path)
        first, second = data[start:start + CHUNK + TAG], data[start + CHUNK + TAG:start + 2 * (CHUNK + TAG)]
        path.write_bytes(data[:start] + second + first + data[start + 2 * (CHUNK + TAG):])

    def drop_middle(path: Path, _other: Path) -> None:
        data, start = path.read_bytes(), header_length(path)
        path.write_bytes(data[:start + CHUNK + TAG] + data[start + 2 * (CHUNK + TAG):])

    def other_attachment(path: Path, other: Path) -> None:
        path.write_bytes(other.read_bytes())  # a sealed file, but another attachment's

    def plain(path: Path, _other: Path) -> None:
        path.write_bytes(b"%PDF-1.7 a forged plain file")

    def header(path: Path, _other: Path) -> None:
        data = bytearray(path.read_bytes())
        data[12] ^= 0x01  # a byte of the salt
        path.write_bytes(bytes(data))

    return {f.__name__: f for f in (flip, cut_at_boundary, cut_mid_chunk, extend, swap_chunks, drop_middle,
                                    other_attachment, plain, header)}


@pytest.mark.parametrize("how", list(tamper_cases()))
def test_an_altered_file_is_refused_with_a_clear_error(world: World, app: Flask, how: str,
                                                       logged_in: Callable[[User], Browser]) -> None:
    original = scan_text(2 * CHUNK + 777)  # three chunks
    att = store(world, "scan.txt", original)
    other = store(world, "other.txt", scan_text(3 * CHUNK))
    path = attachments.attachment_path(att)
    tamper_cases()[how](path, attachments.attachment_path(other))

    with pytest.raises(SealedFileError):
        read_back(att)
    coordinator = logged_in(world.coordinator)
    response = coordinator.get(f"/cases/{att.case_id}/attachments/{att.id}")
    body = response.get_data()
    response.close()
    assert response.status_code == 500
    assert not response.headers.get("Content-Disposition")  # no download started
    assert b"x" * 100 not in body and CANARY.encode() not in body
    assert "integrity check" in response.get_data(as_text=True) or "完整性" in response.get_data(as_text=True)
    assert read_back(other) == scan_text(3 * CHUNK)  # the other file is untouched


def test_every_prefix_and_every_single_bit_flip_of_a_small_file_is_refused(tmp_path: Path) -> None:
    ring = KeyRing(f"a:{KEY_A}", "k" * 40)
    path = tmp_path / "f"
    with path.open("wb") as out, SealedWriter(out, ring, "key-1") as writer:
        writer.write(b"passport scan")
    sealed = path.read_bytes()
    for cut in range(len(sealed)):
        path.write_bytes(sealed[:cut])
        with pytest.raises(SealedFileError):
            SealedReader(path, ring, "key-1").verify()
    rng = random.Random(7)
    for _ in range(200):
        data = bytearray(sealed)
        bit = rng.randrange(len(data) * 8)
        data[bit // 8] ^= 1 << (bit % 8)
        path.write_bytes(bytes(data))
        with pytest.raises(SealedFileError):
            SealedReader(path, ring, "key-1").verify()
    path.write_bytes(sealed)
    with SealedReader(path, ring, "key-1") as reader:
        assert reader.read() == b"passport scan"
    with pytest.raises(SealedFileError):  # bound to its storage key
        SealedReader(path, ring, "key-2").verify()
    with pytest.raises(SealedFileError, match="unknown key id"):
        SealedReader(path, KeyRing(f"b:{KEY_B}", "k" * 40), "key-1")


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 3 * CHUNK + 5])
def test_sizes_around_chunk_boundaries_round_trip(tmp_path: Path, size: int) -> None:
    ring = KeyRing(f"a:{KEY_A}", "k" * 40)
    data = os.urandom(size)
    path = tmp_path / "f"
    with path.open("wb") as out, SealedWriter(out, ring, "k") as writer:
        for start in range(0, size, 1000):  # written in pieces that do not line up with chunks
            writer.write(data[start:start + 1000])
    with SealedReader(path, ring, "k") as reader:
        assert reader.size == size
        assert reader.read() == data
        reader.seek(max(0, size - 7))
        assert reader.read() == data[max(0, size - 7):]


# --- rotation -------------------------------------------------------------------------------------


def test_key_rotation_reseals_attachment_files_atomically_and_can_be_run_again(
        world: World, app: Flask, same_db_app: Callable[..., Flask]) -> None:
    first = store(world, "a.txt", scan_text(CHUNK + 5))
    second = store(world, "b.txt", (CANARY + "\n").encode())
    files = {att.id: (att.storage_key, attachments.attachment_path(att)) for att in (first, second)}
    first_id = first.id
    folder = Path(app.instance_path) / "attachments"
    # A run killed while writing a file leaves its partial file beside it.
    partial = folder / f".{files[second.id][0]}.sealing"
    partial.write_bytes(b"half a file")

    rotated = same_db_app(FIELD_ENCRYPTION_KEYS=f"b:{KEY_B},a:{KEY_A}", INSTANCE_PATH=app.instance_path)
    with rotated.app_context():
        result = rotated.test_cli_runner().invoke(keys, ["rotate"])
        db.session.remove()
    assert result.exit_code == 0, result.output
    assert "Attachment files: 2 re-encrypted, 0 already sealed with key 'b'." in result.output
    assert not partial.exists()
    for key, path in files.values():
        with SealedReader(path, KeyRing(f"b:{KEY_B}", "k" * 40), key) as reader:
            assert reader.kid == "b"
    assert [p for p in folder.iterdir() if p.name.startswith(".")] == []

    only_b = same_db_app(FIELD_ENCRYPTION_KEYS=f"b:{KEY_B}", INSTANCE_PATH=app.instance_path)
    with only_b.app_context():
        again = only_b.test_cli_runner().invoke(keys, ["rotate"])
        assert "Attachment files: 0 re-encrypted, 2 already sealed with key 'b'." in again.output
        found = db.session.get(Attachment, first_id)
        assert found is not None and read_back(found) == scan_text(CHUNK + 5)
        db.session.remove()
    assert everything_under(folder) and not any(f in everything_under(folder) for f in canary_forms())


def test_rotation_stops_at_a_damaged_file_and_names_it(world: World, app: Flask,
                                                       same_db_app: Callable[..., Flask]) -> None:
    good = store(world, "a.txt", b"first file")
    bad = store(world, "b.txt", b"second file")
    good_key, good_path, bad_id = good.storage_key, attachments.attachment_path(good), bad.id
    path = attachments.attachment_path(bad)
    path.write_bytes(path.read_bytes()[:-3])
    rotated = same_db_app(FIELD_ENCRYPTION_KEYS=f"b:{KEY_B},a:{KEY_A}", INSTANCE_PATH=app.instance_path)
    with rotated.app_context():
        result = rotated.test_cli_runner().invoke(keys, ["rotate"])
        db.session.remove()
    assert result.exit_code == 1
    assert f"attachment {bad_id}" in result.output and "failed authentication" in result.output
    with SealedReader(good_path, KeyRing(f"b:{KEY_B}", "k" * 40), good_key) as reader:
        assert reader.read() == b"first file"  # done before the damaged one, and kept


# --- the upgrade seals what an older version kept in clear -----------------------------------------


def test_the_upgrade_seals_plain_files_and_is_safe_to_run_twice(tmp_path: Path) -> None:
    from flask_migrate import downgrade, upgrade

    from consular.app import create_app
    from consular.sealedfile import seal_plain_file
    from tests.conftest import base_overrides

    other = create_app(base_overrides(tmp_path, f"sqlite:///{tmp_path}/files.db"))
    folder = tmp_path / "attachments"
    folder.mkdir()
    scans = {"k" * 30: b"%PDF-1.4 " + CANARY.encode(), "m" * 30: scan_text(CHUNK + 3)}
    with other.app_context():
        try:
            upgrade(revision="0006_alert_outcome_and_names")
            with db.engine.begin() as conn:
                conn.execute(sa.text(
                    "INSERT INTO case_file (id, reference, kind, category, priority, status, summary,"
                    " country_code, city, place, timezone, reported_at, last_activity_at, channel, tags,"
                    " legal_hold, version, created_at, updated_at) VALUES (1, '2026-000001', 'abroad',"
                    " 'detained', 'P2', 'new', 's', 'IT', '', '', '', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP,"
                    " 'phone', '', false, 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
                old_name = KeyRing(f"a:{KEY_A}", "k").seal_legacy("scan.txt")  # the v1 form
                for n, (key, data) in enumerate(scans.items(), start=1):
                    conn.execute(sa.text(
                        "INSERT INTO attachment (id, case_id, filename, content_type, size, sha256,"
                        " storage_key, uploaded_at) VALUES (:id, 1, :name, 'text/plain', :size, '', :key,"
                        " CURRENT_TIMESTAMP)"), {"id": n, "name": old_name, "size": len(data), "key": key})
                    (folder / key).write_bytes(data)
            # An earlier, interrupted upgrade had sealed one of them already.
            seal_plain_file(folder / ("m" * 30), other.extensions["consular.keyring"], "m" * 30)

            upgrade(revision="0007_sealed_fields_bound")
            assert all(is_sealed(folder / key) for key in scans)
            assert not any(form in everything_under(folder) for form in canary_forms())
            for att in db.session.scalars(sa.select(Attachment)):
                assert att.filename == "scan.txt"  # the field re-sealed for its column
                assert read_back(att) == scans[att.storage_key]
            db.session.remove()

            downgrade(revision="0006_alert_outcome_and_names")  # the older code reads plain files
            assert {key: (folder / key).read_bytes() for key in scans} == scans
            upgrade(revision="0007_sealed_fields_bound")  # and again, without harm
            for att in db.session.scalars(sa.select(Attachment)):
                assert read_back(att) == scans[att.storage_key]
        finally:
            db.session.remove()
            db.engine.dispose()
