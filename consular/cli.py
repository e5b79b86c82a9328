"""The ``consular`` command: serve, worker, demo, users, network, db (migrations), keys, config.

Where the settings come from is decided once, before any command runs, and never guessed:

- ``--env-file FILE`` (repeatable, anywhere on the line; a later file wins) reads the installation's
  settings from FILE(s) exactly as systemd's ``EnvironmentFile=`` gives them to the services: the
  settings in the caller's own environment are then ignored.
- Otherwise the process environment is used (the services: systemd loaded the file).
- A machine with an installation's environment file (``/etc/consular/consular.env``, or the path in
  ``CONSULAR_ENV_FILE``) where neither was done (no ``CONSULAR_ENV`` in the environment) is an
  operator who forgot it: the command names the file and stops before creating anything, instead
  of running on the development defaults (a new ``./instance`` with fresh keys).
"""

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

from config import (
    FIELDS,
    INSTALLED_ENV_FILE,
    ConfigError,
    config_table_markdown,
    current_settings,
    ensure_instance_secrets,
    load_settings,
    read_env_file,
)
from consular.web.closing import CloseWhenDone, ClosingRequestHandler

# Variables an environment file may hold besides the settings: gunicorn's (deploy/gunicorn.conf.py)
# and the Python runtime's.
EXTRA_ENV_NAMES = frozenset({"CONSULAR_CONFIG", "CONSULAR_BIND", "CONSULAR_WEB_WORKERS",
                             "CONSULAR_WEB_THREADS", "PROMETHEUS_MULTIPROC_DIR", "PYTHONUNBUFFERED",
                             "TZ", "LANG", "LC_ALL"})
SETTING_NAMES = frozenset(f.name for f in FIELDS) | {"CONSULAR_CONFIG"}

# What main() read the settings from, for messages ("settings read from …").
_config_source = "the environment"


def _create_app() -> Flask:
    from consular.app import create_app

    return create_app(_demo_overrides())


class ConsularGroup(FlaskGroup):
    """Flask's command group, except that listing the commands (``consular --help``) needs no
    application: every command is registered here or by a plugin, and loading the application
    would create an instance folder wherever the help was asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._load_plugin_commands()
        return sorted(self.commands)


cli = ConsularGroup(
    name="consular",
    create_app=_create_app,
    add_version_option=False,
    load_dotenv=False,
    help="Consular protection: case register, network and SMS safety alerts.\n\n"
         "--env-file FILE (before or after the command, repeatable) reads the settings from an "
         "installation's environment file, e.g. /etc/consular/consular.env.",
)
# Shown in --help; main() reads and removes every --env-file before click parses the line. It
# replaces Flask's own --env-file (a python-dotenv file that the shell's variables would override).
cli.params = [param for param in cli.params if param.name != "env_file"]
cli.params.append(click.Option(
    ["--env-file", "env_files"], multiple=True, expose_value=False, type=click.Path(dir_okay=False),
    help="Read the settings from this environment file (as the services get them). Repeatable."))


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
    thread's Python stack to stderr (the journal under systemd), so the crash names its place; and
    ``kill -USR1 PID`` writes them without stopping it, for a process that seems stuck."""
    faulthandler.enable(all_threads=True)
    faulthandler.register(signal.SIGUSR1, all_threads=True)


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

    app = create_app(demo_settings() if demo else None)
    settings = current_settings(app)
    if settings.is_production and dev:
        raise click.UsageError("--dev is for the embedded default; run `consular worker` instead")
    embedded = dev or demo
    logins: list[tuple[str, str, str]] = []
    demo_password = None
    if demo:
        from consular.auth.common import DEMO_PASSWORD
        from consular.demo import load_demo

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
        run_simple(host, port, CloseWhenDone(app), threaded=True, use_reloader=False,
                   use_debugger=False, request_handler=ClosingRequestHandler)
    finally:
        if scheduler is not None and worker is not None:
            worker.shut_down(scheduler)
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
        # Runs in the main thread's signal handler: the stopping runs in a thread of its own.
        threading.Thread(target=worker.shut_down, args=(scheduler,), daemon=True).start()

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

    from alerts.replies.inbound import simulate_inbound
    from consular.db import unit_of_work

    if current_settings().sms_gateway != "console":
        raise click.UsageError("with Twilio, texts arrive through the inbound webhook")
    with unit_of_work():
        result = simulate_inbound(sender, body)
    click.echo(f"{result.kind}: {result.answer or '(no answer)'}")


@cli.command("demo")
@with_appcontext
def demo_command() -> None:
    """Load the demo network and accounts into an empty database (idempotent)."""
    from consular.auth.common import DEMO_PASSWORD
    from consular.demo import load_demo

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


@keys.command("generate", with_appcontext=False)
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
    from consular.attachments import reseal_all as reseal_attachments
    from consular.audit.operations import record
    from consular.db import DecryptionError, keyring, rotate_encryption_keys, unit_of_work
    from consular.sealedfile import SealedFileError

    try:
        with unit_of_work():
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
    with unit_of_work():
        record("keys.rotate", "keyring", keyring().active_kid,
               {"columns": counts, "files": files or {"failed": failed}}, user=None, username="cli")
    if failed is not None:
        raise click.ClickException(f"attachment files: {failed} (the files before it are done; run "
                                   "the command again once that file is restored)")
    missing = f", {files['missing']} missing on disk" if files["missing"] else ""
    click.echo(f"Attachment files: {files['resealed']} re-encrypted, {files['current']} already "
               f"sealed with key {keyring().active_kid!r}{missing}.")


@cli.group("config")
def config_group() -> None:
    """Inspect configuration."""


def _env_file_option(f: Any) -> Any:
    """``--env-file`` as click shows it; main() has already read the files before click runs."""
    return click.option("--env-file", "env_files", multiple=True, expose_value=False,
                        type=click.Path(dir_okay=False),
                        help="Read the settings from this environment file (as the services "
                             "get them), e.g. /etc/consular/consular.env. Repeatable.")(f)


@config_group.command("check")
@_env_file_option
def config_check() -> None:
    """Validate the configuration and print it (secrets hidden), with where it was read from."""
    settings = load_settings()
    click.echo(f"settings read from {_config_source}")
    click.echo(repr(settings))
    click.echo(f"configuration OK ({settings.env})")


@config_group.command("doc", with_appcontext=False)
def config_doc() -> None:
    """Print the configuration table (Markdown) for the README."""
    click.echo(config_table_markdown())


@cli.command("init", with_appcontext=False)
@_env_file_option
def init_command() -> None:
    """Make an embedded install's instance folder and its secrets (once; every command does it)."""
    settings = load_settings(_demo_overrides())
    if settings.is_production:
        click.echo("production: the secrets come from the installation's settings; nothing to make")
        return
    path = ensure_instance_secrets(settings.instance_path)
    click.echo(f"instance folder {settings.instance_path}; secrets in {path} (keep it private: "
               "losing it loses the encrypted data)")


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
    from flask_migrate.cli import db as migrations_group

    from consular.auth.cli import users
    from consular.network.cli import network
    from consular.ops.cli import backup_command, restore_command

    cli.add_command(migrations_group)  # also on app.cli (Flask-Migrate); here --help needs no app
    cli.add_command(users)
    cli.add_command(network)
    cli.add_command(backup_command)
    cli.add_command(restore_command)


_attach_optional_groups()


def _split_env_files(args: list[str]) -> tuple[list[str], list[str]]:
    """``--env-file FILE`` / ``--env-file=FILE`` taken out of the command line, wherever they are."""
    files: list[str] = []
    rest: list[str] = []
    it = iter(args)
    for arg in it:
        if arg == "--":
            rest.append(arg)
            rest.extend(it)
            break
        if arg == "--env-file":
            value = next(it, None)
            if value is None:
                raise ConfigError("--env-file: needs a file name")
            files.append(value)
        elif arg.startswith("--env-file="):
            files.append(arg.split("=", 1)[1])
        else:
            rest.append(arg)
    return files, rest


def _installed_env_file() -> tuple[str, bool]:
    """The installation's environment file and whether it is there (unreadable counts as there)."""
    path = os.environ.get("CONSULAR_ENV_FILE") or INSTALLED_ENV_FILE
    try:
        os.stat(path)
    except PermissionError:
        return path, True
    except OSError:
        return path, False
    return path, True


def _read_settings_source(env_files: list[str]) -> str:
    """Apply the --env-file files to this process's environment; say where the settings come from.

    Raises ConfigError when an installation's file exists but was not loaded."""
    if env_files:
        values: dict[str, str] = {}
        for path in env_files:
            values.update(read_env_file(path))
        for name in SETTING_NAMES:  # exactly what the services see: nothing from this shell
            os.environ.pop(name, None)
        os.environ.update(values)
        unknown = sorted(n for n in values if n not in SETTING_NAMES and n not in EXTRA_ENV_NAMES)
        for name in unknown:
            click.secho(f"warning: {name} in {', '.join(env_files)} is not a setting (a typo?)",
                        fg="yellow", err=True)
        return " and ".join(env_files)
    if "CONSULAR_ENV" in os.environ:
        return f"the environment (CONSULAR_ENV={os.environ['CONSULAR_ENV']})"
    installed, present = _installed_env_file()
    if present:
        raise ConfigError(
            f"this machine has an installation's settings in {installed}, but they were not "
            f"loaded (no --env-file, no CONSULAR_ENV in the environment). Run the command as "
            f"`consular --env-file {installed} …` (as root or the service account), or through "
            f"the installed wrapper: `sudo consular …`. Nothing was done.")
    return "the environment, on the development defaults (no CONSULAR_ENV)"


# The demo's messages open with a sender's signature, as an office's would, unless the one who
# runs the demo sets SMS_SIGNATURES (empty turns it off) or a settings file.
DEMO_SIGNATURES = "zh_Hans=【温州外事】;en=[Wenzhou FAO];default=[Wenzhou FAO]"


def demo_settings() -> dict[str, Any]:
    """What `serve --demo` sets above the defaults: demo mode, and the demo office's signature
    when neither the environment nor a settings file names one."""
    overrides: dict[str, Any] = {"DEMO_MODE": True}
    if "SMS_SIGNATURES" not in os.environ and "CONSULAR_CONFIG" not in os.environ:
        overrides["SMS_SIGNATURES"] = DEMO_SIGNATURES
    return overrides


def _demo_overrides() -> dict[str, Any] | None:
    return demo_settings() if os.environ.get("_CONSULAR_DEMO") == "1" else None


def _prepare_embedded_install() -> None:
    """Validate the settings (ConfigError: one clear line) and, for an embedded install that has
    none yet, generate its secrets into the instance folder: the one explicit step that writes
    them (loading settings never does), taken before any command so that the first `make run` on
    a fresh machine, or any other command, finds them."""
    from consular.cases import models as _case_models  # noqa: F401  (the categories settings name)

    settings = load_settings(_demo_overrides())
    if not settings.is_production and settings.missing_secrets():
        ensure_instance_secrets(settings.instance_path)
        load_settings(_demo_overrides())  # the file just written is read as any other


def _missing_schema(exc: Exception) -> bool:
    """A query on a table that does not exist (SQLite and PostgreSQL wording)."""
    text = str(getattr(exc, "orig", exc))
    return "no such table" in text or ("relation" in text and "does not exist" in text)


def main(argv: list[str] | None = None) -> None:
    global _config_source
    import sqlalchemy.exc

    args = sys.argv[1:] if argv is None else argv
    try:
        env_files, args = _split_env_files(args)
    except ConfigError as exc:
        click.secho(f"configuration error: {exc}", fg="red", err=True)
        sys.exit(2)
    if "--demo" in args and args[:1] == ["serve"]:
        os.environ["_CONSULAR_DEMO"] = "1"
    # Validate configuration once, up front: a bad value is one clear line, not a traceback.
    if not any(a in ("--help", "-h", "doc", "generate", "fake-twilio") for a in args) and args:
        try:
            _config_source = _read_settings_source(env_files)
        except ConfigError as exc:
            click.secho(f"configuration error: {exc}", fg="red", err=True)
            sys.exit(2)
        try:
            _prepare_embedded_install()
        except ConfigError as exc:
            click.secho(f"configuration error: {exc} (settings read from {_config_source})",
                        fg="red", err=True)
            sys.exit(2)
    try:
        cli.main(args=args, prog_name="consular")
    except (sqlalchemy.exc.OperationalError, sqlalchemy.exc.ProgrammingError) as exc:
        if not _missing_schema(exc):
            raise
        settings = load_settings()
        shown = sqlalchemy.engine.make_url(settings.database_url).render_as_string(hide_password=True)
        click.secho(f"error: the database {shown} has no tables yet: run `consular db upgrade` "
                    f"(as the owner role) first (settings read from {_config_source})",
                    fg="red", err=True)
        sys.exit(1)
