"""The lock files (`make lock`): every dependency pinned, with hashes, one version per package across
the files, and nothing that pyproject.toml asks for missing."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LOCKS = {"dev": ("dev",), "bench": ("dev", "bench"), "prod": ("prod",)}


def _name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement.strip())
    assert match, requirement
    return re.sub(r"[-_.]+", "-", match.group(0)).lower()


def _pins(lock: str) -> dict[str, str]:
    text = (ROOT / "requirements" / f"{lock}.txt").read_text(encoding="utf-8")
    return {_name(name): version for name, version in re.findall(r"^([A-Za-z0-9._-]+)==(\S+)", text, re.M)}


@pytest.mark.parametrize("lock", sorted(LOCKS))
def test_every_dependency_is_pinned_with_hashes(lock: str) -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    wanted = [*project["dependencies"]]
    for extra in LOCKS[lock]:
        wanted += project["optional-dependencies"][extra]
    if lock == "prod":
        wanted += [line for line in (ROOT / "requirements" / "build.in").read_text().splitlines()
                   if line.strip() and not line.startswith("#")]
    pins = _pins(lock)
    missing = sorted({_name(r) for r in wanted} - set(pins))
    assert not missing, f"not in requirements/{lock}.txt (run `make lock`): {missing}"
    text = (ROOT / "requirements" / f"{lock}.txt").read_text(encoding="utf-8")
    for block in re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 2)[2]):
        assert "--hash=sha256:" in block, block.splitlines()[0]


def test_the_locks_agree_on_versions() -> None:
    dev = _pins("dev")
    for lock in ("bench", "prod"):
        differ = {name: (version, dev[name]) for name, version in _pins(lock).items()
                  if name in dev and dev[name] != version}
        assert not differ, f"requirements/{lock}.txt and dev.txt differ: {differ}"
