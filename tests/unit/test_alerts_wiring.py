"""How the alerts side is wired into the application: consular imports it only where the app and the
command line are put together, no import cycle goes through it, and what it registers at start-up
still reaches the operations side (retention) and the demo."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import grimp
import sqlalchemy as sa
import time_machine
from flask import Flask

from alerts.models import Alert, InboundMessage
from consular.cases.models import Case, CaseCategory, CaseStatus
from consular.db import db, keyring
from consular.ops.retention import purge_due
from tests.support.snapshot import load_demo_once

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime.fromisoformat("2026-11-22T03:00:00+00:00")


def test_consular_imports_alerts_only_in_the_app_factory_and_the_command_line() -> None:
    graph = grimp.build_graph("consular", "alerts", cache_dir=None)
    importers = {
        module for module in graph.find_matching_modules("consular.**")
        if any(imported == "alerts" or imported.startswith("alerts.")
               for imported in graph.find_modules_directly_imported_by(module))
    }
    assert importers <= {"consular.app", "consular.cli"}, importers


def test_no_import_cycle_goes_through_alerts() -> None:
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "import_cycles.py"), "--check", "alerts"],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "alerts: 0 cycles go through it" in result.stdout


def test_anonymising_a_case_wipes_the_texts_that_joined_it(app: Flask) -> None:
    with time_machine.travel(NOW, tick=False):
        case = Case(reference="2014-000001", category=CaseCategory.detained, summary="canary-summary",
                    country_code="IT", status=CaseStatus.closed, closed_at=NOW - timedelta(days=11 * 365))
        db.session.add(case)
        db.session.flush()
        db.session.add(InboundMessage(provider_id="SM-case", from_number="+393330000222",
                                      from_hash=keyring().search_hash("+393330000222", "phone"),
                                      body="2 canary-reply", kind="need_help", case_id=case.id,
                                      received_at=NOW - timedelta(days=4000)))
        db.session.commit()

        assert purge_due().cases_anonymised == 1
        db.session.commit()
    message = db.session.scalars(sa.select(InboundMessage)).one()
    assert (message.body, message.from_number) == ("", "")


def test_the_demo_loads_the_demo_alerts_after_the_rest(app: Flask) -> None:
    load_demo_once()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Alert)) >= 3
