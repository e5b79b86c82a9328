"""deploy/README.md and the deploy test are one: every command the guide gives (in its `sh`
blocks) is a step of tests/deploy/run.py or named there as not run, with the reason; every step
the test runs is written in the guide exactly so."""

from __future__ import annotations

import re
from pathlib import Path

from tests.deploy.run import GUIDE, NOT_RUN

README = Path(__file__).resolve().parents[2] / "deploy" / "README.md"


def guide_commands() -> list[str]:
    text = README.read_text(encoding="utf-8")
    commands: list[str] = []
    for block in re.findall(r"^```sh\n(.*?)^```", text, flags=re.M | re.S):
        commands += [line.strip() for line in block.splitlines()
                     if line.strip() and not line.strip().startswith("#")]
    return commands


def test_every_command_of_the_guide_is_run_by_the_deploy_test_or_said_not_to_be() -> None:
    commands = guide_commands()
    assert len(commands) >= 15
    covered = set(GUIDE.values()) | set(NOT_RUN)
    assert [c for c in commands if c not in covered] == []


def test_every_step_of_the_deploy_test_is_written_in_the_guide() -> None:
    commands = set(guide_commands())
    assert [c for c in GUIDE.values() if c not in commands] == []
    assert [c for c in NOT_RUN if c not in commands] == []
    assert all(reason.strip() for reason in NOT_RUN.values())
