"""The files settings come from: an optional TOML file (CONSULAR_CONFIG), an installation's
environment file (systemd's ``EnvironmentFile=``), and an embedded install's generated secrets.

Reading never writes: the secrets file is made by :func:`ensure_instance_secrets`, an explicit step
(the ``consular`` command takes it for an embedded install before anything else).
"""

from __future__ import annotations

import base64
import os
import re
import secrets
import tomllib
from collections.abc import Collection
from pathlib import Path


class ConfigError(ValueError):
    """A configuration value is missing or wrong; the message names the variable."""


# Where the installer writes an installation's settings (systemd's EnvironmentFile). A command run
# without them on a machine that has this file refuses to fall back to the development defaults.
INSTALLED_ENV_FILE = "/etc/consular/consular.env"

SECRETS_FILE = "secrets.toml"


def read_toml(path: str, known: Collection[str]) -> dict[str, str]:
    """The settings in a TOML file, as text; a name not in ``known`` is an error."""
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError as exc:
        raise ConfigError(f"CONSULAR_CONFIG: file not found: {path}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"CONSULAR_CONFIG: {path} is not valid TOML: {exc}") from exc
    out: dict[str, str] = {}
    for key, value in data.items():
        if key not in known:
            raise ConfigError(f"{key}: unknown setting in {path}")
        out[key] = str(value).lower() if isinstance(value, bool) else str(value)
    return out


def instance_secrets_path(instance_path: str) -> Path:
    return Path(instance_path) / SECRETS_FILE


def read_instance_secrets(instance_path: str, known: Collection[str]) -> dict[str, str]:
    """The secrets an embedded install generated, or nothing when it has not generated them."""
    path = instance_secrets_path(instance_path)
    if not path.is_file():
        return {}
    return read_toml(str(path), known)


def ensure_instance_secrets(instance_path: str) -> Path:
    """Create (once) the secrets file of an embedded install, readable by its owner only, and
    return its path. An existing file is left as it is: losing it loses the encrypted data."""
    path = instance_secrets_path(instance_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        key = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")
        content = (
            "# Generated for this embedded install. Keep private; losing it loses encrypted data.\n"
            f'SECRET_KEY = "{secrets.token_urlsafe(48)}"\n'
            f'FIELD_ENCRYPTION_KEYS = "k1:{key}"\n'
            f'SEARCH_HASH_KEY = "{secrets.token_urlsafe(48)}"\n'
        )
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first: theirs is the one
            return path
        with os.fdopen(fd, "w") as fh:
            fh.write(content)
    return path


def read_env_file(path: str | os.PathLike[str]) -> dict[str, str]:
    """The variables of an environment file as systemd's ``EnvironmentFile=`` reads the simple
    form the installer writes: ``NAME=value`` lines, ``#`` comments, blank lines, a value optionally
    in single or double quotes. A line of any other shape is an error naming the file and line."""
    try:
        with open(path, encoding="utf-8") as fh:
            lines = fh.read().splitlines()
    except FileNotFoundError:
        raise ConfigError(f"--env-file: {path} does not exist") from None
    except PermissionError:
        raise ConfigError(f"--env-file: {path} is not readable by this user (run as root, or as "
                          "the service account)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--env-file: cannot read {path}: {exc}") from None
    values: dict[str, str] = {}
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if not text or text.startswith(("#", ";")):
            continue
        if text.startswith("export "):
            text = text[len("export "):].lstrip()
        name, sep, value = text.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise ConfigError(f"{path}:{number}: expected NAME=value")
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[name] = value
    return values
