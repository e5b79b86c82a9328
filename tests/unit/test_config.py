"""Configuration: defaults, file, environment, validation with one clear line per bad value."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from config import ConfigError, config_table_markdown, ensure_instance_secrets, load_settings
from tests.conftest import KEY_A

SECRETS = {
    "SECRET_KEY": "s" * 40,
    "FIELD_ENCRYPTION_KEYS": f"a:{KEY_A}",
    "SEARCH_HASH_KEY": "h" * 40,
}


def test_embedded_default_generates_secrets_once(tmp_path: Path) -> None:
    # The explicit step an embedded install takes (the consular command does, before any command).
    ensure_instance_secrets(str(tmp_path))
    ensure_instance_secrets(str(tmp_path))
    first = load_settings({"INSTANCE_PATH": str(tmp_path)}, environ={})
    second = load_settings({"INSTANCE_PATH": str(tmp_path)}, environ={})
    assert first.secret_key == second.secret_key
    assert first.database_url == f"sqlite:///{tmp_path}/consular.db"
    assert (tmp_path / "secrets.toml").stat().st_mode & 0o777 == 0o600
    assert first.default_locale == "zh_Hans"
    assert first.sms_gateway == "console"


def test_production_requires_every_secret(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="^SECRET_KEY: required when CONSULAR_ENV=production"):
        load_settings({"INSTANCE_PATH": str(tmp_path)}, environ={"CONSULAR_ENV": "production"})
    env = {"CONSULAR_ENV": "production", **SECRETS}
    del env["SEARCH_HASH_KEY"]
    with pytest.raises(ConfigError, match="^SEARCH_HASH_KEY"):
        load_settings({"INSTANCE_PATH": str(tmp_path)}, environ=env)
    settings = load_settings({"INSTANCE_PATH": str(tmp_path)},
                             environ={"CONSULAR_ENV": "production", **SECRETS})
    assert settings.secure_cookies is True
    assert settings.require_2fa is True
    assert settings.log_format == "json"
    assert not (tmp_path / "secrets.toml").exists()


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("DATABASE_URL", "mysql://db/x", "DATABASE_URL: must start with"),
        ("OFFICE_TIMEZONE", "Mars/Olympus", "OFFICE_TIMEZONE: not an IANA time zone"),
        ("SESSION_IDLE_MINUTES", "ten", "SESSION_IDLE_MINUTES: invalid literal"),
        ("SESSION_IDLE_MINUTES", "0", "SESSION_IDLE_MINUTES: must be a positive whole number"),
        ("DEMO_MODE", "perhaps", "DEMO_MODE: expected true/false"),
        ("SMS_GATEWAY", "pigeon", "SMS_GATEWAY: must be one of console, twilio"),
        ("DEFAULT_LOCALE", "fr", "DEFAULT_LOCALE: must be one of zh_Hans, en"),
        ("SECRET_KEY", "short", "SECRET_KEY: must be at least 32 characters"),
        ("FIELD_ENCRYPTION_KEYS", "nocolon", "FIELD_ENCRYPTION_KEYS: expected kid:base64key"),
        ("FIELD_ENCRYPTION_KEYS", "a:c2hvcnQ", "FIELD_ENCRYPTION_KEYS: key a must be 32 bytes"),
        ("FIELD_ENCRYPTION_KEYS", f"a:{KEY_A},a:{KEY_A}", "key id a appears twice"),
        ("PUBLIC_BASE_URL", "example.org", "PUBLIC_BASE_URL: must start with http"),
    ],
)
def test_bad_value_names_the_variable(tmp_path: Path, name: str, value: str,
                                      message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings({"INSTANCE_PATH": str(tmp_path)}, environ={**SECRETS, name: value})


def test_twilio_gateway_needs_credentials_and_a_sender(tmp_path: Path) -> None:
    env = {**SECRETS, "SMS_GATEWAY": "twilio"}
    with pytest.raises(ConfigError, match="^TWILIO_ACCOUNT_SID"):
        load_settings({"INSTANCE_PATH": str(tmp_path)}, environ=env)
    env |= {"TWILIO_ACCOUNT_SID": "AC" + "0" * 32, "TWILIO_AUTH_TOKEN": "t" * 32}
    with pytest.raises(ConfigError, match="^TWILIO_MESSAGING_SERVICE_SID"):
        load_settings({"INSTANCE_PATH": str(tmp_path)}, environ=env)
    env["TWILIO_FROM_NUMBER"] = "+15005550006"
    assert load_settings({"INSTANCE_PATH": str(tmp_path)}, environ=env).sms_gateway == "twilio"


def test_file_then_environment_precedence(tmp_path: Path) -> None:
    conf = tmp_path / "consular.toml"
    conf.write_text('OFFICE_TIMEZONE = "Europe/Rome"\nSTATION_QUIET_DAYS = 45\nDEMO_MODE = true\n')
    settings = load_settings({"INSTANCE_PATH": str(tmp_path)},
                             environ={**SECRETS, "CONSULAR_CONFIG": str(conf),
                                      "STATION_QUIET_DAYS": "60"})
    assert settings.office_timezone == "Europe/Rome"  # from the file
    assert settings.station_quiet_days == 60  # environment wins over the file
    assert settings.demo_mode is True
    assert settings.require_2fa is False  # the demo does not require 2FA


def test_unknown_key_in_file_is_refused(tmp_path: Path) -> None:
    conf = tmp_path / "consular.toml"
    conf.write_text('OFFICE_TIMEZONE = "Europe/Rome"\nOFICE_TZ = "x"\n')
    with pytest.raises(ConfigError, match="^OFICE_TZ: unknown setting"):
        load_settings({"INSTANCE_PATH": str(tmp_path)},
                      environ={**SECRETS, "CONSULAR_CONFIG": str(conf)})


def test_postgres_urls_use_psycopg3(tmp_path: Path) -> None:
    settings = load_settings({"INSTANCE_PATH": str(tmp_path)},
                             environ={**SECRETS, "DATABASE_URL": "postgres://u@db/consular"})
    assert settings.database_url == "postgresql+psycopg://u@db/consular"


def test_settings_are_frozen_and_repr_hides_secrets(tmp_path: Path) -> None:
    settings = load_settings({"INSTANCE_PATH": str(tmp_path)}, environ=SECRETS)
    with pytest.raises(AttributeError):
        settings.demo_mode = True  # type: ignore[misc]
    assert "s" * 40 not in repr(settings)
    assert "h" * 40 not in repr(settings)


def test_every_variable_is_documented_in_the_readme() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    for line in config_table_markdown().splitlines()[2:]:
        name = line.split("`")[1]
        assert f"`{name}`" in readme, f"{name} missing from the README's configuration table"


def test_cli_stops_with_one_clear_line_on_a_bad_value(tmp_path: Path) -> None:
    env = {**os.environ, **SECRETS, "INSTANCE_PATH": str(tmp_path), "OFFICE_TIMEZONE": "Nowhere"}
    result = subprocess.run(
        [sys.executable, "-c", "from consular.cli import main; main()", "config", "check"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    # One line that also says where the settings were read from.
    assert line.startswith(
        "configuration error: OFFICE_TIMEZONE: not an IANA time zone such as Asia/Shanghai "
        "(settings read from the environment")


# --- commands that refuse to guess -------------------------------------------------------------

KEY = "k1:" + "A" * 43


def _consular(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from consular.cli import main; main()", *args],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False)


def _shell_env(**extra: str) -> dict[str, str]:
    """An operator's shell: none of the application's settings."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("CONSULAR_", "DATABASE_", "INSTANCE_")) and k not in SECRETS}
    env.update(extra)
    return env


def _production_file(path: Path, instance: Path, **changes: str) -> Path:
    values = {"CONSULAR_ENV": "production", **SECRETS, "INSTANCE_PATH": str(instance),
              "DATABASE_URL": f"sqlite:///{instance}/consular.db", **changes}
    path.write_text("# written by the installer\n" + "".join(f"{k}={v}\n" for k, v in values.items()))
    return path


def test_a_command_on_an_installed_machine_without_its_settings_stops_before_creating_anything(
        tmp_path: Path) -> None:
    installed = _production_file(tmp_path / "consular.env", tmp_path)
    cwd = tmp_path / "home"
    cwd.mkdir()
    env = _shell_env(CONSULAR_ENV_FILE=str(installed))
    for command in (["config", "check"], ["users", "list"], ["db", "upgrade"]):
        result = _consular(*command, cwd=cwd, env=env)
        assert result.returncode == 2, result.stdout + result.stderr
        assert f"{installed}" in result.stderr and "were not loaded" in result.stderr
        assert "Traceback" not in result.stderr
    assert list(cwd.iterdir()) == [], "the command created files (a new instance with fresh keys)"
    assert not (tmp_path / "consular.db").exists()


def test_config_check_validates_the_env_file_it_is_given_and_nothing_else(tmp_path: Path) -> None:
    good = _production_file(tmp_path / "good.env", tmp_path)
    # The operator's shell has a bad value of its own: the file is what the services will get.
    env = _shell_env(OFFICE_TIMEZONE="Nowhere/Else", CONSULAR_ENV="development")
    result = _consular("config", "check", "--env-file", str(good), cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert f"settings read from {good}" in result.stdout
    assert "configuration OK (production)" in result.stdout
    assert SECRETS["SECRET_KEY"] not in result.stdout

    bad = _production_file(tmp_path / "bad.env", tmp_path, SMS_GATEWAY="twilio")
    result = _consular("--env-file", str(bad), "config", "check", cwd=tmp_path, env=env)
    assert result.returncode == 2
    assert "TWILIO_ACCOUNT_SID: required when SMS_GATEWAY=twilio" in result.stderr
    assert f"settings read from {bad}" in result.stderr

    missing = _consular("config", "check", "--env-file", str(tmp_path / "nope.env"), cwd=tmp_path,
                        env=env)
    assert missing.returncode == 2 and "nope.env does not exist" in missing.stderr

    broken = tmp_path / "broken.env"
    broken.write_text("CONSULAR_ENV=production\nthis is not a setting\n")
    result = _consular("config", "check", "--env-file", str(broken), cwd=tmp_path, env=env)
    assert result.returncode == 2 and f"{broken}:2: expected NAME=value" in result.stderr


def test_production_needs_an_existing_absolute_instance_folder(tmp_path: Path) -> None:
    env = {"CONSULAR_ENV": "production", **SECRETS}
    with pytest.raises(ConfigError, match="^INSTANCE_PATH: required when CONSULAR_ENV=production"):
        load_settings(environ=env)
    with pytest.raises(ConfigError, match="^INSTANCE_PATH: must be an absolute path"):
        load_settings(environ={**env, "INSTANCE_PATH": "instance"})
    with pytest.raises(ConfigError, match="^INSTANCE_PATH: .*/gone does not exist"):
        load_settings(environ={**env, "INSTANCE_PATH": str(tmp_path / "gone")})
    assert not (tmp_path / "gone").exists()


def test_a_command_on_an_unmigrated_database_says_to_migrate_instead_of_a_traceback(
        tmp_path: Path) -> None:
    env = _shell_env(CONSULAR_ENV="development", INSTANCE_PATH=str(tmp_path / "instance"),
                     DATABASE_URL=f"sqlite:///{tmp_path}/empty.db",
                     CONSULAR_ENV_FILE=str(tmp_path / "no-such.env"))
    result = _consular("users", "list", cwd=tmp_path, env=env)
    assert result.returncode == 1
    assert "has no tables yet: run `consular db upgrade`" in result.stderr
    assert "Traceback" not in result.stderr


def test_help_creates_no_instance_folder(tmp_path: Path) -> None:
    result = _consular("--help", cwd=tmp_path, env=_shell_env())
    assert result.returncode == 0 and " db " in result.stdout and "--env-file" in result.stdout
    assert list(tmp_path.iterdir()) == []


# --- settings declared once, stored parsed, loaded without writing -----------------------------


def test_loading_writes_nothing_and_start_up_says_how_to_make_the_secrets(tmp_path: Path) -> None:
    from consular.app import create_app

    instance = tmp_path / "instance"
    settings = load_settings({"INSTANCE_PATH": str(instance)}, environ={})
    assert not instance.exists()
    assert settings.missing_secrets() == ["SECRET_KEY", "FIELD_ENCRYPTION_KEYS", "SEARCH_HASH_KEY"]
    with pytest.raises(ConfigError, match="^SECRET_KEY: not set, .*consular init"):
        create_app(settings)
    assert not instance.exists()


def test_consular_init_makes_the_secrets_once(tmp_path: Path) -> None:
    env = _shell_env(CONSULAR_ENV="development", INSTANCE_PATH=str(tmp_path / "instance"),
                     CONSULAR_ENV_FILE=str(tmp_path / "no-such.env"))
    result = _consular("init", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    made = tmp_path / "instance" / "secrets.toml"
    assert f"secrets in {made}" in result.stdout
    first = made.read_text()
    assert _consular("init", cwd=tmp_path, env=env).returncode == 0
    assert made.read_text() == first


def test_structured_settings_are_parsed_once_at_load(tmp_path: Path) -> None:
    import pickle
    from decimal import Decimal

    settings = load_settings({"INSTANCE_PATH": str(tmp_path), "QUIET_HOURS": "23:30-6:00",
                              "SMS_PRICE_PER_SEGMENT": "default=0.05,it=0.045",
                              "METRICS_ALLOW": "10.0.0.0/8", "ATTACHMENT_TYPES": "PDF,png,pdf"},
                             environ=SECRETS)
    assert settings.quiet_hours == "23:30-06:00" and settings.quiet_hours.value == (1410, 360)
    assert settings.sms_price_per_segment.value == {"default": Decimal("0.05"), "IT": Decimal("0.045")}
    assert [str(n) for n in settings.metrics_allow.value] == ["10.0.0.0/8"]
    assert settings.attachment_types == "pdf,png" and settings.attachment_types.value == {"pdf", "png"}
    assert settings.case_deadlines.value["P1"] == (1800, 7200)
    assert settings.retention_cases.value == {"default": 3650, "lost_documents": 1095, "fraud_theft": 1825}
    assert [kid for kid, _key in settings.field_encryption_keys.value] == ["a"]
    copied = pickle.loads(pickle.dumps(settings))  # noqa: S301 (our own bytes: settings cross processes)
    assert copied == settings and copied.quiet_hours.value == (1410, 360)


def test_every_setting_is_declared_once() -> None:
    from dataclasses import fields

    from config import FIELDS, Settings

    assert [f.attribute for f in FIELDS] == [f.name for f in fields(Settings)]
    assert len({f.name for f in FIELDS}) == len(FIELDS)
    assert all(f.doc and callable(f.parse) for f in FIELDS)


def test_case_categories_are_checked_without_config_importing_the_cases() -> None:
    code = ("import sys, config; config.load_settings({'RETENTION_CASES': 'default=1y,lost=2y', "
            "'INSTANCE_PATH': '/nonexistent'}, environ={}); print(sorted(m for m in sys.modules "
            "if m.startswith('consular')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                            check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
