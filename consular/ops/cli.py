"""``consular backup`` and ``consular restore``."""

from __future__ import annotations

from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from consular.ops.backup import BackupError, create_backup, restore_backup


@click.command("backup")
@click.option("--output", type=click.Path(path_type=Path), default=Path("."), show_default=True,
              help="Folder (a dated file name is chosen) or file name of the archive.")
@with_appcontext
def backup_command(output: Path) -> None:
    """Write a consistent backup of the database and attachments (not the keys)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    try:
        path = create_backup(app, output)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"backup written: {path}")
    click.echo("The encryption keys are NOT in it: keep instance/secrets.toml (or your "
               "FIELD_ENCRYPTION_KEYS / SEARCH_HASH_KEY) in a separate, safe place.")


@click.command("restore")
@click.argument("archive", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace a database that is not empty.")
@with_appcontext
def restore_command(archive: Path, force: bool) -> None:
    """Restore a backup into this instance's database (which should be empty)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    try:
        manifest = restore_backup(app, archive, force=force)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from exc
    counts = ", ".join(f"{k} {v}" for k, v in sorted(manifest["counts"].items()))
    click.echo(f"restored backup of {manifest['created_at']} (schema {manifest['revision']}): {counts}")
