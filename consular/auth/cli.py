"""`consular users …`: manage accounts from a shell (the first admin, scripts, a locked-out office).

Every change is audited under the name "cli". A refused command prints one line and exits with 1.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import click
import sqlalchemy as sa
from flask.cli import with_appcontext
from flask_babel import force_locale
from sqlalchemy.orm import selectinload

from consular.audit.operations import audit_actor
from consular.auth import operations as ops
from consular.auth.models import Role, User
from consular.db import db, unit_of_work

CLI_ACTOR = "cli"


def _error_text(code: str) -> str:
    from consular.auth.common import account_error_text

    with force_locale("en"):  # the operator's console, like the rest of `consular`
        return account_error_text(code)


@contextmanager
def _change() -> Iterator[None]:
    """Run operations audited as "cli"; commit once; a refusal rolls back and exits with 1."""
    try:
        with audit_actor(CLI_ACTOR), unit_of_work():
            yield
    except ops.AccountError as exc:
        raise click.ClickException(_error_text(str(exc))) from None


def _change_if(needed: bool, not_needed: str, change: Callable[[], object], done: str) -> None:
    """Make ``change`` (as ``_change`` does) and say ``done``; when it is not ``needed``, only say
    ``not_needed``."""
    if not needed:
        click.echo(not_needed)
        return
    with _change():
        change()
    click.echo(done)


def _user(username: str) -> User:
    user = ops.find_user(username)
    if user is None:
        raise click.ClickException(f"No user named {username.strip().lower()!r}.")
    return user


def _read_password(from_stdin: bool, given: str | None = None) -> str:
    if given is not None:
        return given
    if from_stdin:
        line = sys.stdin.readline()
        password = line.rstrip("\r\n")
        if not password:
            raise click.ClickException("No password on standard input.")
        return password
    return str(click.prompt("Password", hide_input=True, confirmation_prompt="Repeat password"))


@click.group("users")
def users() -> None:
    """Manage user accounts."""


@users.command("create")
@click.argument("username")
@click.option("--role", required=True, type=click.Choice([r.value for r in Role]),
              help="The user's role.")
@click.option("--point-id", type=int, default=None,
              help="Liaison point id (required for liaison_officer).")
@click.option("--station-id", type=int, default=None,
              help="Service station id (required for station_volunteer).")
@click.option("--name", "display_name", default="", help="Full name (default: the username).")
@click.option("--email", default="", help="Email address.")
@click.option("--phone", default=None, help="Mobile phone, international format.")
@click.option("--password", default=None,
              help="Initial password (visible to other local users: prefer the prompt).")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@with_appcontext
def create(username: str, role: str, point_id: int | None, station_id: int | None,
           display_name: str, email: str, phone: str | None, password: str | None,
           password_stdin: bool) -> None:
    """Create an active user."""
    if password is not None and password_stdin:
        raise click.UsageError("give --password or --password-stdin, not both")
    secret = _read_password(password_stdin, password)
    with _change():
        user = ops.create_user(username=username, display_name=display_name, password=secret,
                               role=Role(role), liaison_point_id=point_id, station_id=station_id,
                               email=email, phone=phone)
    click.echo(f"Created {user.username} ({user.role.value}, id {user.id}).")


@users.command("list")
@click.option("--role", type=click.Choice([r.value for r in Role]), default=None,
              help="Only users with this role.")
@click.option("--inactive", is_flag=True, help="Only deactivated users.")
@with_appcontext
def list_users(role: str | None, inactive: bool) -> None:
    """List users: username, role, status, place, two-step login, last login."""
    query = sa.select(User).options(selectinload(User.liaison_point), selectinload(User.station))
    if role:
        query = query.where(User.role == Role(role))
    if inactive:
        query = query.where(User.active.is_(False))
    rows = db.session.scalars(query.order_by(User.username)).all()
    if not rows:
        click.echo("No users.")
        return
    click.echo(f"{'USERNAME':<24} {'ROLE':<18} {'STATUS':<8} {'2FA':<4} {'LAST LOGIN (UTC)':<17} PLACE")
    for user in rows:
        place = (user.liaison_point.name if user.liaison_point is not None
                 else user.station.name if user.station is not None else "-")
        last = user.last_login_at.strftime("%Y-%m-%d %H:%M") if user.last_login_at else "never"
        click.echo(f"{user.username:<24} {user.role.value:<18} "
                   f"{'active' if user.active else 'inactive':<8} "
                   f"{'on' if user.totp_enabled else 'off':<4} {last:<17} {place}")


@users.command("set-password")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@with_appcontext
def set_password(username: str, password_stdin: bool) -> None:
    """Set a new password (prompted); ends the user's sessions."""
    user = _user(username)
    secret = _read_password(password_stdin)
    with _change():
        ops.set_password(user, secret, by_admin=True)
    click.echo(f"New password set for {user.username}; their sessions were ended.")


# Commands that change one user when that is needed: name, help, whether it is needed, what it
# says when it is not, the change, what it says when done ({username}: the user's).
_USER_CHANGES: tuple[tuple[str, str, Callable[[User], bool], str, Callable[[User], object], str], ...] = (
    ("deactivate", "Stop a user from logging in; ends their sessions and revokes their API tokens.",
     lambda user: user.active, "{username} is already deactivated.", ops.deactivate_user,
     "Deactivated {username}; their sessions and API tokens were ended."),
    ("reactivate", "Let a deactivated user log in again.",
     lambda user: not user.active, "{username} is already active.", ops.reactivate_user,
     "Reactivated {username}."),
    ("reset-2fa", "Turn off two-step login (lost phone); the user sets it up again at the next login.",
     lambda user: user.totp_enabled, "Two-step login is not on for {username}.", ops.reset_totp,
     "Two-step login reset for {username}; their sessions were ended."),
)


def _user_change_command(name: str, help_text: str, needed: Callable[[User], bool], not_needed: str,
                         change: Callable[[User], object], done: str) -> None:
    @users.command(name, help=help_text)
    @click.argument("username")
    @with_appcontext
    def command(username: str) -> None:
        user = _user(username)
        _change_if(needed(user), not_needed.format(username=user.username), lambda: change(user),
                   done.format(username=user.username))


for _change_spec in _USER_CHANGES:
    _user_change_command(*_change_spec)
