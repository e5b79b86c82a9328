"""Backup → restore into an empty instance finds every case, registrant and alert (SQLite and
PostgreSQL); a restore refuses a non-empty database and keys that cannot read the data."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from alerts.models import Alert, AlertArea, AlertText
from consular.app import create_app
from consular.cases.models import Case, CaseCategory, CasePerson
from consular.db import db, utcnow
from consular.ops.backup import BackupError, create_backup, read_manifest, restore_backup
from consular.ops.cli import backup_command, restore_command
from consular.registry.models import ConsentMethod, Registrant
from tests.conftest import KEY_B, base_overrides, pg_url
from tests.support.postgres import fresh_postgres

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@contextmanager
def instance(backend: str, folder: Path, **overrides: str) -> Iterator[Flask]:
    with ExitStack() as stack:
        folder.mkdir(parents=True, exist_ok=True)
        if backend == "postgresql":
            url = stack.enter_context(fresh_postgres(pg_url()))
        else:
            url = f"sqlite:///{folder}/consular.db"
        app = create_app({**base_overrides(folder, url), **overrides})
        try:
            yield app
        finally:
            with app.app_context():
                db.session.remove()
                db.engine.dispose()


def _fill(app: Flask) -> None:
    with app.app_context():
        db.create_all()
        now = utcnow()
        for n in range(3):
            case = Case(reference=f"2026-00000{n + 1}", category=CaseCategory.lost_documents,
                        summary=f"Passport lost {n}", narrative=f"secret narrative {n}", country_code="IT")
            case.persons.append(CasePerson(name_zh="张伟", name_latin="ZHANG WEI",
                                           id_number=f"E1234567{n}"))
            db.session.add(case)
        db.session.add(Registrant(phone="+393331234567", phone_hash="h1", current_phone_hash="h1",
                                  name="李娜", country_code="IT", city="Milano", timezone="Europe/Rome",
                                  consent_at=now, consent_method=ConsentMethod.written))
        alert = Alert(identifier="test-alert-1", event="Flood", expires_at=now + timedelta(days=1))
        alert.texts.append(AlertText(language="zh_Hans", headline="洪水预警", body="请注意安全"))
        alert.areas.append(AlertArea(country_code="IT"))
        db.session.add(alert)
        db.session.commit()
    attachments = Path(app.extensions["consular.settings"].instance_path) / "attachments"
    attachments.mkdir(parents=True, exist_ok=True)
    (attachments / "k1").write_bytes(b"%PDF-1.4 scan of a passport")


@pytest.mark.parametrize("backend", BACKENDS)
def test_backup_restores_every_case_registrant_and_alert(backend: str, tmp_path: Path) -> None:
    with instance(backend, tmp_path / "a") as source:
        _fill(source)
        archive = create_backup(source, tmp_path / "backups")  # a folder: a dated name is chosen
        assert archive.name.startswith("consular-backup-") and archive.suffixes[-2:] == [".tar", ".gz"]
        manifest = read_manifest(archive)
        assert manifest["counts"]["case_file"] == 3
        assert manifest["counts"]["registrant"] == 1
        assert manifest["key_ids"] == ["a"]
        assert b"secret narrative" not in archive.read_bytes()

    with instance(backend, tmp_path / "b") as target:
        restored = restore_backup(target, archive)
        assert restored["counts"]["alert"] == 1
        with target.app_context():
            refs = db.session.scalars(sa.select(Case.reference).order_by(Case.reference)).all()
            assert refs == ["2026-000001", "2026-000002", "2026-000003"]
            person = db.session.scalars(sa.select(CasePerson).order_by(CasePerson.id)).first()
            assert person is not None and person.id_number == "E12345670"
            registrant = db.session.scalars(sa.select(Registrant)).one()
            assert (registrant.phone, registrant.name) == ("+393331234567", "李娜")
            alert = db.session.scalars(sa.select(Alert)).one()
            assert [t.headline for t in alert.texts] == ["洪水预警"]
        restored_file = tmp_path / "b" / "attachments" / "k1"
        assert restored_file.read_bytes() == b"%PDF-1.4 scan of a passport"

        # A second restore into the now non-empty database is refused: nothing is overwritten.
        with pytest.raises(BackupError, match="not empty"):
            restore_backup(target, archive)


@pytest.mark.parametrize("backend", BACKENDS)
def test_restore_with_the_wrong_keys_says_which_key_is_missing(backend: str, tmp_path: Path) -> None:
    with instance(backend, tmp_path / "a") as source:
        _fill(source)
        archive = create_backup(source, tmp_path / "backup.tar.gz")
    with instance(backend, tmp_path / "c", FIELD_ENCRYPTION_KEYS=f"b:{KEY_B}") as target:
        with pytest.raises(BackupError, match="FIELD_ENCRYPTION_KEYS"):
            restore_backup(target, archive)


def test_a_broken_archive_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    bogus = tmp_path / "not-a-backup.tar.gz"
    bogus.write_bytes(b"this is not a tarball")
    with pytest.raises(BackupError, match="not a readable backup archive"):
        read_manifest(bogus)


def test_backup_and_restore_commands(tmp_path: Path) -> None:
    with instance("sqlite", tmp_path / "a") as source:
        _fill(source)
        result = source.test_cli_runner().invoke(backup_command, ["--output", str(tmp_path / "x.tar.gz")])
        assert result.exit_code == 0, result.output
        assert "keys are NOT in it" in result.output
    with instance("sqlite", tmp_path / "b") as target:
        result = target.test_cli_runner().invoke(restore_command, [str(tmp_path / "x.tar.gz")])
        assert result.exit_code == 0, result.output
        assert "case_file 3" in result.output
        again = target.test_cli_runner().invoke(restore_command, [str(tmp_path / "x.tar.gz")])
        assert again.exit_code == 1 and "not empty" in again.output


def _attach(app: Flask, content: bytes) -> str:
    """A sealed attachment on the first case, written as an upload is; returns its storage key."""
    from consular.cases.attachments import storage_dir
    from consular.cases.models import Attachment
    from consular.db import keyring
    from consular.sealedfile import SealedWriter

    key = "sealed-attachment-key-0001"
    with app.app_context():
        case = db.session.scalars(sa.select(Case).order_by(Case.id)).first()
        assert case is not None
        with (storage_dir() / key).open("wb") as out, SealedWriter(out, keyring(), key) as writer:
            writer.write(content)
        db.session.add(Attachment(case_id=case.id, filename="护照.pdf", content_type="application/pdf",
                                  size=len(content), sha256="", storage_key=key))
        db.session.commit()
    return key


@pytest.mark.parametrize("backend", BACKENDS)
def test_backup_carries_sealed_attachments_and_restore_opens_them(backend: str, tmp_path: Path) -> None:
    from consular.cases.attachments import open_attachment
    from consular.cases.models import Attachment

    scan = b"%PDF-1.4 CANARY-passport E-CANARY-7781"
    with instance(backend, tmp_path / "a") as source:
        _fill(source)
        key = _attach(source, scan)
        archive = create_backup(source, tmp_path / "backup.tar.gz")
    assert b"CANARY" not in gzip.decompress(archive.read_bytes())  # sealed in the archive too

    with instance(backend, tmp_path / "b") as target:
        restore_backup(target, archive)
        assert (tmp_path / "b" / "attachments" / key).is_file()
        with target.app_context():
            att = db.session.scalars(sa.select(Attachment)).one()
            with open_attachment(att, verify=True) as content:
                assert content.read() == scan
            db.session.remove()

    # A file damaged before the backup: the restore says the file cannot be opened.
    with instance(backend, tmp_path / "c") as source:
        _fill(source)
        _attach(source, scan)
        folder = tmp_path / "c" / "attachments"
        data = bytearray((folder / key).read_bytes())
        data[-1] ^= 1
        (folder / key).write_bytes(bytes(data))
        damaged = create_backup(source, tmp_path / "damaged.tar.gz")
    with instance(backend, tmp_path / "d") as target, pytest.raises(BackupError, match="attachment file"):
        restore_backup(target, damaged)
def test_restore_works_on_a_python_without_tarfile_filters_and_refuses_unsafe_entries(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Debian 12's Python 3.11.2 has no tarfile extraction filters (3.11.4 added them): a restore
    must work there, and still refuse an archive entry that would land outside its folder."""
    import io
    import tarfile

    # Python 3.11.2 as Debian 12 ships it: no filters, and extractall() takes no filter argument.
    monkeypatch.delattr(tarfile, "data_filter", raising=False)
    extractall = tarfile.TarFile.extractall

    def old_extractall(self: tarfile.TarFile, path: Any = ".", members: Any = None, *,
                       numeric_owner: bool = False, **kwargs: Any) -> None:
        if kwargs:
            raise TypeError(f"extractall() got an unexpected keyword argument {next(iter(kwargs))!r}")
        extractall(self, path, members, numeric_owner=numeric_owner)

    monkeypatch.setattr(tarfile.TarFile, "extractall", old_extractall)
    with instance("sqlite", tmp_path / "a") as source:
        _fill(source)
        archive = create_backup(source, tmp_path / "good.tar.gz")
    with instance("sqlite", tmp_path / "b") as target:
        assert restore_backup(target, archive)["counts"]["case_file"] == 3
        assert (tmp_path / "b" / "attachments" / "k1").read_bytes() == b"%PDF-1.4 scan of a passport"

    evil = tmp_path / "evil.tar.gz"
    with tarfile.open(archive, "r:gz") as tar, tarfile.open(evil, "w:gz") as out:
        for member in tar.getmembers():
            out.addfile(member, tar.extractfile(member) if member.isfile() else None)
        info = tarfile.TarInfo("../escaped.txt")
        info.size = 3
        out.addfile(info, io.BytesIO(b"bad"))
    with instance("sqlite", tmp_path / "c") as target, \
            pytest.raises(BackupError, match="unsafe entry in the archive: '../escaped.txt'"):
        restore_backup(target, evil)
    assert not (tmp_path / "escaped.txt").exists()
