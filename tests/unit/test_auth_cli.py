"""`consular users …`: create, list, deactivate, reactivate, set-password, reset-2fa; audited as
"cli"; a refusal is one clear line and exit status 1."""

from __future__ import annotations

import pyotp
import pytest
import sqlalchemy as sa

from consular.audit.models import AuditEntry
from consular.auth import operations as ops
from consular.auth.cli import users
from consular.auth.models import ApiToken, Role
from consular.db import db
from tests.conftest import PASSWORD

SECRET = "lantern festival night"


@pytest.fixture
def run(app):
    app.cli.add_command(users)
    runner = app.test_cli_runner()

    def invoke(*args: str, stdin: str | None = None):
        return runner.invoke(args=["users", *args], input=stdin)

    return invoke


def audit(action: str) -> list[AuditEntry]:
    return list(db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == action)
                                   .order_by(AuditEntry.id)))


def assert_refused(result, message: str) -> None:
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr


def test_create_with_the_password_on_stdin(run) -> None:
    result = run("create", "Li.Ming", "--role", "coordinator", "--name", "李明",
                 "--phone", "139 0577 0042", "--password-stdin", stdin=SECRET + "\n")
    assert result.exit_code == 0, result.output
    assert "Created li.ming (coordinator" in result.output
    user = ops.find_user("li.ming")
    assert user is not None and user.display_name == "李明" and user.phone == "+8613905770042"
    assert ops.verify_password(user, SECRET)
    [entry] = audit("user.create")
    assert entry.username == "cli" and entry.user_id is None and entry.object_id == str(user.id)


def test_create_prompts_for_a_hidden_confirmed_password(run) -> None:
    result = run("create", "admin2", "--role", "admin", stdin=f"{SECRET}\n{SECRET}\n")
    assert result.exit_code == 0, result.output
    assert SECRET not in result.output  # not echoed
    assert "Repeat password" in result.output
    assert ops.verify_password(ops.find_user("admin2"), SECRET)


def test_create_a_liaison_officer_and_a_volunteer(run, make_point, make_station) -> None:
    point, station = make_point(), make_station()
    assert run("create", "officer1", "--role", "liaison_officer", "--point-id", str(point.id),
               "--password", SECRET).exit_code == 0
    assert run("create", "prato", "--role", "station_volunteer", "--station-id",
               str(station.id), "--password", SECRET).exit_code == 0
    assert ops.find_user("officer1").liaison_point_id == point.id
    assert ops.find_user("prato").station_id == station.id


@pytest.mark.parametrize(("args", "message"), [
    (["officer1", "--role", "liaison_officer"], "A liaison officer must belong to a liaison point."),
    (["officer1", "--role", "liaison_officer", "--point-id", "999"], "Choose an active liaison point."),
    (["prato", "--role", "station_volunteer"], "A station volunteer must belong to a service station."),
    (["bad name", "--role", "coordinator"], "Letters, digits, dot, dash and underscore only."),
    (["someone", "--role", "coordinator", "--phone", "12345"], "This is not a valid phone number."),
])
def test_create_refusals_are_one_line_and_write_nothing(run, args, message) -> None:
    result = run("create", *args, "--password", SECRET)
    assert_refused(result, message)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry)) == 0
    assert ops.find_user(args[0]) is None


def test_create_refuses_a_weak_password_and_a_taken_name(run, make_user) -> None:
    assert_refused(run("create", "newbie", "--role", "coordinator", "--password", "short"),
                   "at least 10 characters")
    make_user(Role.coordinator, username="taken")
    assert_refused(run("create", "taken", "--role", "coordinator", "--password", SECRET),
                   "already taken")


def test_an_unknown_role_is_a_usage_error(run) -> None:
    result = run("create", "x", "--role", "emperor", "--password", SECRET)
    assert result.exit_code == 2 and "emperor" in result.output


def test_list(run, make_user) -> None:
    make_user(Role.coordinator, username="zhang")
    officer = make_user(Role.liaison_officer, username="wu")
    ops.deactivate_user(officer)
    db.session.commit()
    result = run("list")
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0].startswith("USERNAME")
    wu = next(line for line in lines if line.startswith("wu "))
    assert "liaison_officer" in wu and "inactive" in wu and "联络点" in wu
    assert run("list", "--inactive").output.count("\n") == 2  # header and wu
    assert "zhang" not in run("list", "--role", "liaison_officer").output


def test_deactivate_and_reactivate(run, make_user) -> None:
    user = make_user(Role.coordinator, username="leaving")
    ops.create_api_token(user, "script")
    db.session.commit()
    result = run("deactivate", "leaving")
    assert result.exit_code == 0 and "Deactivated leaving" in result.output
    db.session.refresh(user)
    assert not user.active
    assert all(t.revoked_at is not None for t in db.session.scalars(sa.select(ApiToken)))
    assert [e.username for e in audit("user.deactivate")] == ["cli"]
    assert run("reactivate", "LEAVING").exit_code == 0
    db.session.refresh(user)
    assert user.active
    assert [e.username for e in audit("user.reactivate")] == ["cli"]


def test_the_last_admin_cannot_be_deactivated(run, make_user) -> None:
    make_user(Role.admin, username="only")
    assert_refused(run("deactivate", "only"), "last active administrator")
    assert ops.find_user("only").active


def test_set_password(run, make_user) -> None:
    user = make_user(Role.liaison_officer, username="forgetful")
    result = run("set-password", "forgetful", "--password-stdin", stdin=SECRET + "\n")
    assert result.exit_code == 0, result.output
    db.session.refresh(user)
    assert ops.verify_password(user, SECRET) and not ops.verify_password(user, PASSWORD)
    assert user.session_epoch == 1  # their sessions ended
    assert [e.username for e in audit("user.password_reset")] == ["cli"]
    assert_refused(run("set-password", "forgetful", "--password-stdin", stdin="weak\n"),
                   "at least 10 characters")
    assert_refused(run("set-password", "forgetful", "--password-stdin", stdin="\n"),
                   "No password on standard input.")


def test_reset_2fa(run, make_user) -> None:
    user = make_user(Role.coordinator, username="lostphone")
    user.totp_secret = pyotp.random_base32()
    db.session.commit()
    result = run("reset-2fa", "lostphone")
    assert result.exit_code == 0, result.output
    db.session.refresh(user)
    assert not user.totp_enabled
    assert [e.username for e in audit("user.2fa_reset")] == ["cli"]
    assert "not on" in run("reset-2fa", "lostphone").output


@pytest.mark.parametrize("command", ["deactivate", "reactivate", "set-password", "reset-2fa"])
def test_an_unknown_user_is_one_clear_line(run, command) -> None:
    assert_refused(run(command, "ghost", stdin=SECRET + "\n" + SECRET + "\n"),
                   "No user named 'ghost'.")
