"""The ``consular`` command: serve, worker, demo, users, db (migrations), keys, config."""

from __future__ import annotations

import base64
import faulthandler
import os
import secrets
import signal
import sys
import threading
from typing import Any

import click
from flask import Flask
from flask.cli import FlaskGroup, with_appcontext
from werkzeug.serving import run_simple

from config import ConfigError, config_table_markdown, load_settings


def _create_app() -> Flask:
    from consular.app import create_app

    overrides: dict[str, Any] = {}
    if os.environ.get("_CONSULAR_DEMO") == "1":
        overrides["DEMO_MODE"] = True
    return create_app(overrides or None)


cli = FlaskGroup(
    name="consular",
    create_app=_create_app,
    add_version_option=False,
    load_dotenv=False,
    help="Consular protection: case register, network and SMS safety alerts.",
)


def _migrate_to_head(app: Flask) -> None:
    from flask_migrate import upgrade

    with app.app_context():
        upgrade()


def _print_banner(url: str, logins: list[tuple[str, str, str]], demo_password: str | None,
                  embedded_worker: bool) -> None:
    line = "=" * 72
    click.echo(line)
    click.secho(f"  Consular protection is running:  {url}", bold=True)
    click.echo(f"  Log in at:                       {url}/login")
    if embedded_worker:
        click.echo("  Worker:                          one scheduler thread in this process")
    if logins:
        click.echo("")
        click.echo(f"  Demo accounts (password for all: {demo_password}):")
        for username, role, place in logins:
            click.echo(f"    {username:<18} {role:<18} {place}")
        click.echo("    … and one liaison officer per point (officer01…), one volunteer per "
                   "station (station-…)")
    click.echo("  Stop with Ctrl+C.")
    click.echo(line, nl=True)


def _crash_reports() -> None:
    """A process that dies of a fatal signal (SIGSEGV in a C extension, SIGABRT…) first writes every
    thread's Python stack to stderr (the journal under systemd), so the crash names its place."""
    faulthandler.enable(all_threads=True)


@cli.command("serve")
@click.option("--demo", is_flag=True, help="Migrate, load the demo network and show demo logins.")
@click.option("--dev", is_flag=True, help="Run one worker thread inside this process.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@click.pass_context
def serve(ctx: click.Context, demo: bool, dev: bool, host: str, port: int) -> None:
    """Serve the web application (use gunicorn for production web; see README)."""
    from alerts.scheduler import Worker

    _crash_reports()
    from consular.app import create_app

    app = create_app({"DEMO_MODE": True} if demo else None)
    settings = app.extensions["consular.settings"]
    if settings.is_production and dev:
        raise click.UsageError("--dev is for the embedded default; run `consular worker` instead")
    embedded = dev or demo
    logins: list[tuple[str, str, str]] = []
    demo_password = None
    if demo:
        from consular.demo import DEMO_PASSWORD, load_demo

        _migrate_to_head(app)
        with app.app_context():
            summary = load_demo()
            logins = summary.logins
        demo_password = DEMO_PASSWORD
    scheduler = None
    worker: Worker | None = None
    if embedded:
        worker = Worker(app, embedded=True)
        scheduler = worker.build_scheduler(blocking=False)
        scheduler.start()
    # A comparison, not a bind: the banner shows a reachable address for a wildcard host.
    shown_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104  # nosec B104
    _print_banner(f"http://{shown_host}:{port}", logins, demo_password, embedded)
    try:
        # app.run() refuses to start under a Flask CLI group; call werkzeug's server directly.
        run_simple(host, port, app, threaded=True, use_reloader=False, use_debugger=False)
    finally:
        if scheduler is not None and worker is not None:
            scheduler.shutdown(wait=True)
            worker.mark_stopped()


@cli.command("worker")
def worker_command() -> None:
    """Run the scheduler and dispatcher (one or more per installation)."""
    from alerts.scheduler import Worker

    _crash_reports()
    from consular.app import create_app

    app = create_app()
    worker = Worker(app)
    scheduler = worker.build_scheduler(blocking=True)
    stopping = threading.Event()

    def _stop(signum: int, frame: Any) -> None:
        if stopping.is_set():
            return
        stopping.set()
        click.echo(f"worker {worker.worker_id}: signal {signum}, finishing current jobs…")
        # Runs in the main thread's signal handler; shutdown(wait=True) drains running jobs.
        threading.Thread(target=scheduler.shutdown, kwargs={"wait": True}, daemon=True).start()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    click.echo(f"worker {worker.worker_id} started")
    scheduler.start()  # blocks until shutdown
    worker.mark_stopped()
    click.echo(f"worker {worker.worker_id} stopped")


@cli.command("sms-receive")
@click.option("--from", "sender", required=True, help="The sender's number (E.164).")
@click.argument("body")
@with_appcontext
def sms_receive(sender: str, body: str) -> None:
    """Handle a text as if someone had sent it (console gateway: STOP, HELP, a safety-check answer…);
    the answer goes to the console outbox (/dev/sms)."""
    from flask import current_app

    from alerts.replies.inbound import simulate_inbound
    from consular.db import db

    if current_app.extensions["consular.settings"].sms_gateway != "console":
        raise click.UsageError("with Twilio, texts arrive through the inbound webhook")
    result = simulate_inbound(sender, body)
    db.session.commit()
    click.echo(f"{result.kind}: {result.answer or '(no answer)'}")


@cli.command("demo")
@with_appcontext
def demo_command() -> None:
    """Load the demo network and accounts into an empty database (idempotent)."""
    from consular.demo import DEMO_PASSWORD, load_demo

    summary = load_demo()
    if not summary.loaded:
        click.echo("Demo data already present; nothing changed.")
    else:
        click.echo(f"Demo loaded. Password for every demo account: {DEMO_PASSWORD}")
    for username, role, place in summary.logins:
        click.echo(f"  {username:<18} {role:<18} {place}")


@cli.group("keys")
def keys() -> None:
    """Field-encryption keys."""


@keys.command("generate")
@click.option("--kid", default=None, help="Key id (short, alphanumeric). Default: random.")
def keys_generate(kid: str | None) -> None:
    """Print a new key to put FIRST in FIELD_ENCRYPTION_KEYS (keep the old ones after it)."""
    kid = kid or "k" + secrets.token_hex(3)
    if not kid.isalnum() or len(kid) > 16:
        raise click.BadParameter("kid must be alphanumeric, at most 16 characters")
    key = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")
    click.echo(f"{kid}:{key}")


@keys.command("rotate")
@with_appcontext
def keys_rotate() -> None:
    """Re-encrypt every sensitive value and every attachment file with the first (active) key."""
    from consular.audit.operations import record
    from consular.cases.attachments import reseal_attachments
    from consular.db import DecryptionError, db, keyring, rotate_encryption_keys
    from consular.sealedfile import SealedFileError

    try:
        counts = rotate_encryption_keys()
    except DecryptionError as exc:
        raise click.ClickException(f"{exc} (values before it are done; run the command again "
                                   "once it is repaired)") from None
    total = sum(counts.values())
    for column, n in counts.items():
        click.echo(f"  {column}: {n} re-encrypted")
    click.echo(f"Done: {total} values now sealed with key {keyring().active_kid!r}.")
    failed: str | None = None
    try:
        files = reseal_attachments()
    except SealedFileError as exc:
        failed = str(exc)
        files = {}
    record("keys.rotate", "keyring", keyring().active_kid,
           {"columns": counts, "files": files or {"failed": failed}}, user=None, username="cli")
    db.session.commit()
    if failed is not None:
        raise click.ClickException(f"attachment files: {failed} (the files before it are done; run "
                                   "the command again once that file is restored)")
    missing = f", {files['missing']} missing on disk" if files["missing"] else ""
    click.echo(f"Attachment files: {files['resealed']} re-encrypted, {files['current']} already "
               f"sealed with key {keyring().active_kid!r}{missing}.")


@cli.group("config")
def config_group() -> None:
    """Inspect configuration."""


@config_group.command("check")
def config_check() -> None:
    """Validate the configuration and print it (secrets hidden)."""
    settings = load_settings()
    click.echo(repr(settings))


@config_group.command("doc")
def config_doc() -> None:
    """Print the configuration table (Markdown) for the README."""
    click.echo(config_table_markdown())


@cli.command("fake-twilio", with_appcontext=False)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8099, show_default=True, type=click.IntRange(0, 65535))
@click.option("--account-sid", default="AC" + "f" * 32, show_default=True)
@click.option("--auth-token", default="fake-auth-token", show_default=True)
@click.option("--latency-ms", default=0.0, type=click.FloatRange(min=0), help="Added to every API call.")
@click.option("--latency-jitter-ms", default=0.0, type=click.FloatRange(min=0))
@click.option("--error-rate", default=0.0, type=click.FloatRange(0, 1),
              help="Share of sends answered with an injected error.")
@click.option("--error-mix", default="429", show_default=True,
              help="Injected errors by kind[:share]: 429, 500, 503, timeout, drop.")
def fake_twilio_command(host: str, port: int, account_sid: str, auth_token: str, latency_ms: float,
                        latency_jitter_ms: float, error_rate: float, error_mix: str) -> None:
    """Run a fake Twilio (Messages API, error codes, latency, signed callbacks); needs no database."""
    from alerts.gateways.fake.server import FakeTwilio, parse_error_mix, run_command

    try:
        fake = FakeTwilio(account_sid, auth_token, port=port, host=host, latency_ms=latency_ms,
                          latency_jitter_ms=latency_jitter_ms, error_rate=error_rate,
                          error_mix=parse_error_mix(error_mix))
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    try:
        run_command(fake, click.echo)
    except OSError as exc:  # the port is taken, or the address is not ours
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc


def _attach_optional_groups() -> None:
    from consular.auth.cli import users
    from consular.ops.cli import backup_command, restore_command

    cli.add_command(users)
    cli.add_command(backup_command)
    cli.add_command(restore_command)


_attach_optional_groups()


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if "--demo" in args and args[:1] == ["serve"]:
        os.environ["_CONSULAR_DEMO"] = "1"
    # Validate configuration once, up front: a bad value is one clear line, not a traceback.
    if not any(a in ("--help", "-h", "doc", "generate", "fake-twilio") for a in args):
        try:
            load_settings({"DEMO_MODE": True} if os.environ.get("_CONSULAR_DEMO") else None)
        except ConfigError as exc:
            click.secho(f"configuration error: {exc}", fg="red", err=True)
            sys.exit(2)
    cli.main(args=args, prog_name="consular")
