"""`consular network import FILE`: the first day's network from YAML or CSV, through the same
operations (and so the same rules) as the network pages; all or nothing, with every refused entry
and field named; the same file twice changes nothing; an edited file updates what it names."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from flask import Flask
from flask_babel import force_locale

from alerts.replies.inbound import help_contacts
from consular.audit.models import AuditEntry
from consular.db import db
from consular.network import checks as network_checks
from consular.network.cli import network
from consular.network.models import CoordinationCentre, Division, LiaisonPoint, Mission, ServiceStation

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "network-example.yaml"
MODELS = (CoordinationCentre, Division, LiaisonPoint, ServiceStation, Mission)


@pytest.fixture
def run(app: Flask) -> Any:
    app.cli.add_command(network)
    runner = app.test_cli_runner()

    def invoke(path: Path, *options: str) -> Any:
        return runner.invoke(args=["network", "import", str(path), *options])

    return invoke


def counts() -> dict[str, int]:
    return {model.__tablename__: db.session.scalar(sa.select(sa.func.count()).select_from(model)) or 0
            for model in MODELS}


def audit_count() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry)) or 0


def example() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    return data


def write_yaml(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def as_csv(path: Path, data: dict[str, Any]) -> Path:
    """The example as a spreadsheet would hold it: one row per entry, a type column."""
    kinds = {"centre": "centre", "divisions": "division", "liaison_points": "liaison_point",
             "stations": "station", "missions": "mission"}
    rows: list[dict[str, str]] = []
    for section, kind in kinds.items():
        items = [data[section]] if section == "centre" else data[section]
        for item in items:
            rows.append({"type": kind, **{k: ",".join(v) if isinstance(v, list) else str(v)
                                          for k, v in item.items()}})
    columns = ["type", *sorted({k for row in rows for k in row} - {"type"})]
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_the_example_network_imports_and_help_answers_name_its_hotline_and_mission(
        app: Flask, run: Any) -> None:
    result = run(EXAMPLE)
    assert result.exit_code == 0, result.output
    assert "stations: 2 created, 0 updated, 0 unchanged" in result.output
    assert counts() == {"coordination_centre": 1, "division": 4, "liaison_point": 2,
                        "service_station": 2, "mission": 3}
    point = db.session.scalars(sa.select(LiaisonPoint)
                               .where(LiaisonPoint.name == "玉壶镇领事保护联络点")).one()
    assert point.division.code == "330328001" and point.phone == "+8657788800002"
    assert {e.username for e in db.session.scalars(sa.select(AuditEntry))} == {"cli"}

    # Whom a HELP answer names for someone in Prato: the station, the embassy, the hotline.
    contacts = help_contacts("IT", "Prato", "en")
    assert (contacts.station_name, contacts.mission_phone, contacts.hotline) == (
        "Prato Station", "+390699990001", "+8657712345678")


def test_the_same_file_twice_changes_nothing_and_an_edit_updates_what_it_names(
        app: Flask, run: Any, tmp_path: Path) -> None:
    assert run(EXAMPLE).exit_code == 0
    before, audited = counts(), audit_count()
    again = run(EXAMPLE)
    assert again.exit_code == 0, again.output
    assert "missions: 0 created, 0 updated, 3 unchanged" in again.output
    assert counts() == before and audit_count() == audited

    data = example()
    data["stations"][0]["contact_name"] = "陈新"
    data["centre"]["hotline_24h"] = "0577 1234 0000"
    result = run(write_yaml(tmp_path / "edited.yaml", data))
    assert result.exit_code == 0, result.output
    assert "stations: 0 created, 1 updated, 1 unchanged" in result.output
    assert "centre: 0 created, 1 updated, 0 unchanged" in result.output
    assert counts() == before
    station = db.session.scalars(sa.select(ServiceStation)
                                 .where(ServiceStation.name == "意大利普拉托服务站")).one()
    assert station.contact_name == "陈新"
    assert db.session.scalars(sa.select(CoordinationCentre)).one().hotline_24h == "+8657712340000"


def test_one_bad_entry_imports_nothing_and_every_problem_names_its_entry_and_field(
        app: Flask, run: Any, tmp_path: Path) -> None:
    data = example()
    data["divisions"][3]["parent"] = "330302001"  # a township under a township
    data["stations"][1]["contact_phone"] = "not a phone"
    data["missions"][0]["kind"] = "legation"
    data["liaison_points"][0]["division"] = "999999"
    result = run(write_yaml(tmp_path / "bad.yaml", data))
    assert result.exit_code == 1
    err = result.stderr
    assert "nothing was imported" in err
    with force_locale("en"):
        township_rule = network_checks.NetworkError({"x": "A township must belong to a county or district."})
    assert f"divisions[4] (330328001): parent: {township_rule.errors['x']}" in err
    assert "stations[2] (法国巴黎服务站): contact_phone: Not a valid phone number" in err
    assert ("missions[1] (中国驻意大利大使馆): kind: Choose one of: embassy, consulate_general, "
            "consulate.") in err
    assert "liaison_points[1] (五马街道领事保护联络点): division: no division with code '999999'" in err
    assert counts() == dict.fromkeys(counts(), 0)
    assert audit_count() == 0


def test_the_pages_rules_apply_in_chinese_too(app: Flask, run: Any, tmp_path: Path) -> None:
    data = {"divisions": [{"code": "330302001", "name": "五马街道", "level": "township"}]}
    result = run(write_yaml(tmp_path / "orphan.yaml", data), "--lang", "zh_Hans")
    assert result.exit_code == 1
    with force_locale("zh_Hans"), app.test_request_context():
        from flask_babel import gettext

        expected = gettext("A township must belong to a county or district.")
    assert expected != "A township must belong to a county or district."
    assert f"divisions[1] (330302001): parent: {expected}" in result.stderr


def test_csv_imports_the_same_network_and_names_lines(app: Flask, run: Any, tmp_path: Path) -> None:
    result = run(as_csv(tmp_path / "network.csv", example()))
    assert result.exit_code == 0, result.output
    assert counts() == {"coordination_centre": 1, "division": 4, "liaison_point": 2,
                        "service_station": 2, "mission": 3}
    assert run(EXAMPLE).output.count(" 0 created, 0 updated") == 5  # YAML and CSV agree

    data = example()
    data["missions"][2]["country_code"] = "XX"
    bad = as_csv(tmp_path / "bad.csv", data)
    line = next(n for n, text in enumerate(bad.read_text(encoding="utf-8").splitlines(), start=1)
                if "中国驻法国大使馆" in text)
    result = run(bad)
    assert result.exit_code == 1
    assert f"line {line} (中国驻法国大使馆): country_code: Not a country code" in result.stderr


def test_a_file_that_is_not_a_network_is_refused_plainly(app: Flask, run: Any, tmp_path: Path) -> None:
    cases = {
        "list.yaml": ("- just\n- a list\n", "expected sections"),
        "broken.yaml": ("centre: [\n", "not valid YAML"),
        "typo.yaml": ("stationz: []\n", "stationz: unknown section"),
        "notype.csv": ("name,city\nx,y\n", "needs a type column"),
        "gbk.csv": (b"type,name\n" + "意大利普拉托服务站".encode("gbk"), "not UTF-8"),
        "notes.txt": ("hello", "expected a .yaml, .yml or .csv file"),
    }
    for name, (content, message) in cases.items():
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        result = run(path)
        assert result.exit_code == 1, name
        assert message in result.stderr, (name, result.stderr)
    assert counts() == dict.fromkeys(counts(), 0)


def test_dry_run_checks_everything_and_saves_nothing(app: Flask, run: Any) -> None:
    result = run(EXAMPLE, "--dry-run")
    assert result.exit_code == 0, result.output
    assert "divisions: 4 created" in result.output and "nothing was saved" in result.output
    assert counts() == dict.fromkeys(counts(), 0)
