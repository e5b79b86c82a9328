"""Backups: one ``.tar.gz`` holding the database (an online, consistent copy), the attachments (as
they are on disk: sealed) and a manifest (schema revision, row counts, the encryption key ids in
use by fields and files). The keys themselves are never in it: they are backed up separately, and
a restore checks it can read the data and the files.

SQLite is copied with its online backup API (consistent while the system runs); PostgreSQL with
``pg_dump --format=custom`` (restored with ``pg_restore``), so the client tools must be installed.

A PostgreSQL restore connects as the owner role (it creates the tables, so it owns them) and then
grants the services' role (``DATABASE_APP_ROLE``) the application's privileges itself: the dump
carries no privileges, and a restored database must be usable without a superuser's help.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import sqlite3
import subprocess  # noqa: S404 — pg_dump / pg_restore are the documented PostgreSQL tools
import tarfile
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask

from config import current_settings
from consular.db import KeyRing, db, encrypted_columns, keyring
from consular.sealedfile import SealedFileError, SealedReader, is_sealed

FORMAT = 1
COUNTED_TABLES = ("case_file", "case_person", "registrant", "alert", "delivery", "user_account",
                  "liaison_point", "service_station", "audit_entry", "attachment")


class BackupError(RuntimeError):
    pass


def _libpq_url(url: sa.engine.URL) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def _sqlite_path(url: sa.engine.URL) -> Path:
    if not url.database or url.database == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up")
    return Path(url.database)


def _counts() -> dict[str, int]:
    inspector = sa.inspect(db.engine)
    names = set(inspector.get_table_names())
    out: dict[str, int] = {}
    for table in COUNTED_TABLES:
        if table in names:
            # Table names come from COUNTED_TABLES, never from input.
            query = sa.text(f'SELECT count(*) FROM "{table}"')  # noqa: S608  # nosec B608
            out[table] = int(db.session.execute(query).scalar_one())
    return out


def _key_ids(app: Flask) -> list[str]:
    kids: set[str] = set()
    for _table, column in encrypted_columns():
        raw = sa.type_coerce(column, sa.Text)
        for (stored,) in db.session.execute(sa.select(raw).where(column.is_not(None)).limit(20)):
            kids.add(KeyRing.kid_of(stored))
    for path in _sample_attachment_files(app, 20):
        try:
            with SealedReader(path, keyring(), path.name) as reader:
                kids.add(reader.kid)
        except SealedFileError:
            continue  # a file the keys cannot open is reported by the restore's check
    return sorted(kids)


def _sample_attachment_files(app: Flask, limit: int) -> list[Path]:
    """Files of up to ``limit`` attachments (the oldest), where they exist on disk."""
    from consular.cases.attachments import STORAGE_KEY_RE
    from consular.cases.models import Attachment

    folder = _attachments_dir(app)
    keys = db.session.scalars(sa.select(Attachment.storage_key).order_by(Attachment.id).limit(limit))
    return [folder / key for key in keys if STORAGE_KEY_RE.match(key) and (folder / key).is_file()]


def _revision() -> str:
    try:
        rows = db.session.execute(sa.text("SELECT version_num FROM alembic_version"))
        return ",".join(sorted(r[0] for r in rows))
    except sa.exc.SQLAlchemyError:
        db.session.rollback()
        return ""


def _attachments_dir(app: Flask) -> Path:
    return Path(current_settings(app).instance_path) / "attachments"


def create_backup(app: Flask, output: Path) -> Path:
    """Write a backup archive; ``output`` is a ``….tar.gz`` file or a folder (a dated name is chosen)."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    as_folder = output.is_dir() or not output.name.endswith(".tar.gz")
    target = output / f"consular-backup-{stamp}.tar.gz" if as_folder else output
    with app.app_context():
        url = db.engine.url
        manifest: dict[str, Any] = {
            "format": FORMAT,
            "created_at": datetime.now(UTC).isoformat(),
            "backend": url.get_backend_name(),
            "revision": _revision(),
            "counts": _counts(),
            "key_ids": _key_ids(app),
        }
        db.session.remove()
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            if url.get_backend_name() == "sqlite":
                dump = work / "database.sqlite3"
                source = sqlite3.connect(_sqlite_path(url))
                try:
                    copy = sqlite3.connect(dump)
                    with copy:
                        source.backup(copy)
                    copy.close()
                finally:
                    source.close()
            else:
                dump = work / "database.pgdump"
                _run(["pg_dump", "--format=custom", "--no-owner", "--no-privileges",
                      f"--file={dump}", f"--dbname={_libpq_url(url)}"])
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(target.name + ".partial")
            with tarfile.open(partial, "w:gz") as tar:
                data = json.dumps(manifest, indent=2).encode()
                info = tarfile.TarInfo("manifest.json")
                info.size = len(data)
                info.mtime = int(datetime.now(UTC).timestamp())
                tar.addfile(info, io.BytesIO(data))
                tar.add(dump, arcname=dump.name)
                attachments = _attachments_dir(app)
                if attachments.is_dir():
                    tar.add(attachments, arcname="attachments")
            partial.chmod(0o600)
            partial.replace(target)  # never leave a half-written archive under the final name
    return target


def _run(cmd: list[str]) -> None:
    if shutil.which(cmd[0]) is None:
        raise BackupError(f"{cmd[0]} is not installed (PostgreSQL client tools are needed)")
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        raise BackupError(f"{cmd[0]} failed: {result.stderr.strip()[:500]}")


def read_manifest(archive: Path) -> dict[str, Any]:
    try:
        with tarfile.open(archive, "r:gz") as tar:
            member = tar.extractfile("manifest.json")
            if member is None:
                raise BackupError("not a backup archive: no manifest")
            manifest: dict[str, Any] = json.load(member)
    except (tarfile.TarError, KeyError, OSError, json.JSONDecodeError) as exc:
        raise BackupError(f"not a readable backup archive: {exc}") from exc
    if manifest.get("format") != FORMAT:
        raise BackupError(f"unknown backup format {manifest.get('format')!r}")
    return manifest


def restore_backup(app: Flask, archive: Path, *, force: bool = False) -> dict[str, Any]:
    """Restore into this instance's (empty) database; returns the manifest after checking that the
    restored row counts match it and that the configured keys read the encrypted data."""
    manifest = read_manifest(archive)
    with app.app_context():
        url = db.engine.url
        backend = url.get_backend_name()
        if backend != manifest["backend"]:
            raise BackupError(f"this backup is of a {manifest['backend']} database; "
                              f"this instance uses {backend}")
        existing = sa.inspect(db.engine).get_table_names()
        if existing and not force:
            raise BackupError("the target database is not empty; restore into an empty database "
                              "(or pass --force to replace it)")
        db.session.remove()
        db.engine.dispose()
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            with tarfile.open(archive, "r:gz") as tar:
                _extract(tar, work)
            if backend == "sqlite":
                source = sqlite3.connect(work / "database.sqlite3")
                try:
                    dest = sqlite3.connect(_sqlite_path(url))
                    with dest:
                        source.backup(dest)
                    dest.close()
                finally:
                    source.close()
            else:
                cmd = ["pg_restore", "--no-owner", "--no-privileges", f"--dbname={_libpq_url(url)}"]
                if force:
                    cmd += ["--clean", "--if-exists"]
                try:
                    _run([*cmd, str(work / "database.pgdump")])
                except BackupError as exc:
                    if "permission denied" not in str(exc):
                        raise
                    raise BackupError(f"{exc}\nRestore as the owner role (the one that runs "
                                      "migrations), into an empty database it owns: see "
                                      "deploy/README.md, \"Restore\".") from exc
            attachments = work / "attachments"
            if attachments.is_dir():
                shutil.copytree(attachments, _attachments_dir(app), dirs_exist_ok=True)
                _give_to_instance_owner(_attachments_dir(app), Path(current_settings(app).instance_path))
        if backend != "sqlite":
            _grant_application_role(current_settings(app).database_app_role)
        counts = _counts()
        if counts != manifest["counts"]:
            raise BackupError(f"restored row counts differ from the backup: {counts} != {manifest['counts']}")
        _check_keys(app)
        db.session.remove()
    return manifest


def _extract(tar: tarfile.TarFile, folder: Path) -> None:
    """Extract an archive's files into ``folder``, refusing anything that is not a plain file or
    folder inside it. Python's own "data" filter does this where it exists (3.11.4 and later); the
    Python of Debian 12 (3.11.2) lacks it, so the same rules are applied here."""
    if hasattr(tarfile, "data_filter"):
        tar.extractall(folder, filter="data")
        return
    root = folder.resolve()
    members = tar.getmembers()
    for member in members:
        target = (root / member.name).resolve()
        if not (member.isfile() or member.isdir()) or not target.is_relative_to(root):
            raise BackupError(f"unsafe entry in the archive: {member.name!r}")
    for member in members:
        tar.extract(member, root, set_attrs=False)  # modes and owners from this process, not the archive


def _grant_application_role(role: str) -> None:
    from consular.ops.grants import grant_application_role

    if not role:
        return
    try:
        with db.engine.begin() as connection:
            grant_application_role(connection, role)
    except (sa.exc.SQLAlchemyError, RuntimeError) as exc:
        raise BackupError(f"restored, but the application role {role!r} could not be given its "
                          f"privileges (restore as the owner role): {exc}") from exc


def _give_to_instance_owner(folder: Path, instance: Path) -> None:
    """A restore run by root leaves the attachments to the instance folder's owner (the service
    account), as if the service had written them."""
    if os.geteuid() != 0:
        return
    owner = instance.stat()
    for path in [folder, *folder.rglob("*")]:
        os.chown(path, owner.st_uid, owner.st_gid, follow_symlinks=False)


def _check_keys(app: Flask) -> None:
    from consular.db import DecryptionError

    ring = keyring()
    for table, column in encrypted_columns():
        raw = sa.type_coerce(column, sa.Text)
        stored = db.session.execute(sa.select(raw).where(column.is_not(None)).limit(1)).scalar()
        if stored is None:
            continue
        try:
            # A backup made before revision 0007 holds values of the old form (bound to the key id
            # only); the upgrade after the restore re-seals them. Here only the keys are checked.
            if KeyRing.is_legacy(stored):
                ring.open_legacy(stored)
            else:
                ring.open(stored, table.name, column.name)
        except (DecryptionError, KeyError, ValueError) as exc:
            raise BackupError(
                f"the configured encryption keys cannot read {table.name}.{column.name} (key id "
                f"{KeyRing.kid_of(stored)}): restore FIELD_ENCRYPTION_KEYS from the key backup"
            ) from exc
    for path in _sample_attachment_files(app, 1):
        if not is_sealed(path):
            continue  # a backup from before revision 0007: the upgrade after the restore seals it
        try:
            with SealedReader(path, ring, path.name) as reader:
                reader.verify()
        except SealedFileError as exc:
            raise BackupError(
                f"the configured encryption keys cannot open the attachment file {path.name} ({exc}): "
                "restore FIELD_ENCRYPTION_KEYS from the key backup"
            ) from exc
