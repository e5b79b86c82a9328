"""`consular network import FILE`: the first day's network (and later changes) from one file."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import with_appcontext
from flask_babel import force_locale

from consular.audit.operations import audit_actor
from consular.db import db, unit_of_work
from consular.network.imports import NetworkImportError, import_network, read_network_file

CLI_ACTOR = "cli"


@click.group("network")
def network() -> None:
    """The liaison and station network: centre, divisions, points, stations, missions."""


@network.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Check the whole file and report, but save nothing.")
@click.option("--lang", type=click.Choice(["en", "zh_Hans"]), default="en", show_default=True,
              help="Language of the validation messages.")
@with_appcontext
def import_command(file: Path, dry_run: bool, lang: str) -> None:
    """Create or update the network from a YAML or CSV file (see deploy/network-example.yaml).

    Entries are checked as the network pages check them; one bad entry imports nothing. Running
    the same file again changes nothing: divisions are matched by code, points, stations and
    missions by name."""
    with force_locale(lang), audit_actor(CLI_ACTOR), unit_of_work():
        try:
            entries = read_network_file(file)
            report = import_network(entries)
        except NetworkImportError as exc:
            db.session.rollback()
            click.echo(f"{file}: nothing was imported; fix these and run it again:", err=True)
            for problem in exc.problems:
                click.echo(f"  {problem}", err=True)
            raise SystemExit(1) from None
        if dry_run:
            db.session.rollback()
    for line in report.lines() or ["the file has no entries"]:
        click.echo(line)
    click.echo("dry run: nothing was saved" if dry_run else f"imported {file}")
