"""Setting up (and keeping up) an office's network from one file: the coordination centre with its
hotline, divisions, liaison points, overseas stations and missions, in YAML or CSV.

Every entry goes through the same operations as the network pages (``consular.network.operations``),
so the file is held to exactly the pages' rules; this module only reads the file, turns references
by code into ids and finds what already exists. An entry is matched to a stored one by its key
(a division by ``code``, a liaison point, station or mission by ``name``; the centre is one row), so
a second import of the same file changes nothing and an edited file updates what it names. The
caller commits only when :func:`import_network` raised nothing: an error anywhere leaves nothing
written, and each error names the entry (list position or CSV line) and the field.

Fields are the operations' own (``name``, ``name_en``, …), so a field the operations learn later
(another language's name) is accepted here without a change. References are by code: a division's
``parent`` and a liaison point's ``division``.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml

from consular.db import db
from consular.network import checks as network_checks
from consular.network import models as nm
from consular.network import operations as ops

# Sections in the order they are applied: what is referred to comes before what refers to it.
SECTIONS = ("centre", "divisions", "liaison_points", "stations", "missions")
# CSV: one row per entry, its section in the `type` column (singular words, as a person types them);
# not `kind`, which is a mission's field.
CSV_KINDS = {"centre": "centre", "division": "divisions", "liaison_point": "liaison_points",
             "station": "stations", "mission": "missions"}
# File field → operation field, for references by code.
REFERENCES = {"divisions": {"parent": "parent_id"}, "liaison_points": {"division": "division_id"}}
LEVEL_ORDER = {nm.DivisionLevel.county.value: 0, nm.DivisionLevel.township.value: 1,
               nm.DivisionLevel.village.value: 2}
MAX_FILE_BYTES = 5 * 1024 * 1024


class NetworkImportError(ValueError):
    """The file cannot be imported; ``problems`` lists each one, naming the entry and field."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass
class Entry:
    section: str
    where: str  # "divisions[2]" or "line 7", for messages
    data: dict[str, Any]


@dataclass
class ImportReport:
    created: Counter[str] = field(default_factory=Counter)
    updated: Counter[str] = field(default_factory=Counter)
    unchanged: Counter[str] = field(default_factory=Counter)

    def lines(self) -> list[str]:
        return [f"{section}: {self.created[section]} created, {self.updated[section]} updated, "
                f"{self.unchanged[section]} unchanged" for section in SECTIONS
                if self.created[section] + self.updated[section] + self.unchanged[section]]


# --- reading ------------------------------------------------------------------------------------


def read_network_file(path: Path) -> list[Entry]:
    """The entries of a ``.yaml``/``.yml`` or ``.csv`` file (UTF-8), in file order."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise NetworkImportError([f"{path}: {exc.strerror or exc}"]) from None
    if len(raw) > MAX_FILE_BYTES:
        raise NetworkImportError([f"{path}: larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB"])
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise NetworkImportError([f"{path}: not UTF-8 text (save it as UTF-8)"]) from None
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        return _read_yaml(text)
    if suffix == ".csv":
        return _read_csv(text)
    raise NetworkImportError([f"{path}: expected a .yaml, .yml or .csv file"])


def _scalar(value: Any) -> Any:
    """YAML reads 330302 and 0577 as numbers: every field here is text (or a list of codes)."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list):
        return [_scalar(item) for item in value]
    return value


def _read_yaml(text: str) -> list[Entry]:
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        raise NetworkImportError([f"{where}not valid YAML ({getattr(exc, 'problem', exc)})"]) from None
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise NetworkImportError([f"expected sections ({', '.join(SECTIONS)}) at the top level"])
    problems = [f"{key}: unknown section (expected {', '.join(SECTIONS)})"
                for key in document if key not in SECTIONS]
    entries: list[Entry] = []
    for section in SECTIONS:
        if section not in document or document[section] is None:
            continue
        value = document[section]
        if section == "centre":
            items, names = [value], ["centre"]
        elif isinstance(value, list):
            items, names = value, [f"{section}[{n}]" for n in range(1, len(value) + 1)]
        else:
            problems.append(f"{section}: expected a list of entries")
            continue
        for item, where in zip(items, names, strict=True):
            if not isinstance(item, dict):
                problems.append(f"{where}: expected field: value pairs")
                continue
            entries.append(Entry(section, where, {str(k): _scalar(v) for k, v in item.items()}))
    if problems:
        raise NetworkImportError(problems)
    return entries


def _read_csv(text: str) -> list[Entry]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if not reader.fieldnames or "type" not in [(f or "").strip() for f in reader.fieldnames]:
        raise NetworkImportError(["line 1: the header needs a type column (division, liaison_point, "
                                  "station, mission, centre) and the fields' names"])
    entries: list[Entry] = []
    problems: list[str] = []
    for row in reader:
        where = f"line {reader.line_num}"
        if None in row:
            problems.append(f"{where}: more values than columns")
            continue
        values = {(k or "").strip(): (v or "").strip() for k, v in row.items()}
        kind = values.pop("type", "").lower()
        if not kind and not any(values.values()):
            continue  # a blank line in a spreadsheet export
        section = CSV_KINDS.get(kind)
        if section is None:
            problems.append(f"{where}: type: {kind or '(empty)'} is not one of "
                            f"{', '.join(CSV_KINDS)}")
            continue
        # One sheet holds every kind: a column empty on this row is a field this kind lacks.
        data: dict[str, Any] = {k: v for k, v in values.items() if k and v != ""}
        if section == "stations" and "languages" in data:
            data["languages"] = [code.strip() for code in data["languages"].replace(";", ",")
                                 .split(",") if code.strip()]
        entries.append(Entry(section, where, data))
    if problems:
        raise NetworkImportError(problems)
    return entries


# --- applying -----------------------------------------------------------------------------------


def _label(entry: Entry) -> str:
    key = entry.data.get("code") if entry.section == "divisions" else entry.data.get("name")
    return f"{entry.where} ({key})" if isinstance(key, str) and key else entry.where


def _one(model: type[Any], column: Any, value: Any) -> Any:
    found = db.session.scalars(sa.select(model).where(column == value).limit(2)).all()
    if len(found) > 1:
        raise network_checks.NetworkError({"name": f"{len(found)} stored entries are named {value!r}: rename "
                                        "one on the network pages first"})
    return found[0] if found else None


def _resolve(entry: Entry) -> dict[str, Any]:
    """The entry's data with references by code replaced by the ids the operations take."""
    data = dict(entry.data)
    for file_key, field_name in REFERENCES.get(entry.section, {}).items():
        if field_name in data:
            raise network_checks.NetworkError({field_name: f"give {file_key} (a division code) instead"})
        if file_key not in data:
            continue
        code = data.pop(file_key)
        if code in (None, ""):
            data[field_name] = None
            continue
        division = _one(nm.Division, nm.Division.code, str(code))
        if division is None:
            raise network_checks.NetworkError({file_key: f"no division with code {code!r} in the file or "
                                              "the database"})
        data[field_name] = division.id
    return data


Handler = tuple[Callable[[], Any], Callable[[Mapping[str, Any]], Any],
                Callable[[Any, Mapping[str, Any]], list[str]]]


def _handlers(section: str, data: Mapping[str, Any]) -> Handler:
    """(find the stored entry, create, update) for one entry of ``section``."""
    name = data.get("name")
    if section == "divisions":
        return (lambda: _one(nm.Division, nm.Division.code, data.get("code")),
                ops.create_division, ops.update_division)
    if section == "liaison_points":
        return (lambda: _one(nm.LiaisonPoint, nm.LiaisonPoint.name, name),
                ops.create_liaison_point, ops.update_liaison_point)
    if section == "stations":
        return (lambda: _one(nm.ServiceStation, nm.ServiceStation.name, name),
                ops.create_station, ops.update_station)
    return (lambda: _one(nm.Mission, nm.Mission.name, name), ops.create_mission, ops.update_mission)


def _apply(entry: Entry, report: ImportReport) -> None:
    data = _resolve(entry)
    if entry.section == "centre":
        existed = db.session.scalar(sa.select(sa.func.count()).select_from(nm.CoordinationCentre))
        _centre, changed = ops.update_centre(data)
        counter = report.created if not existed else report.updated if changed else report.unchanged
        counter[entry.section] += 1
        return
    key = "code" if entry.section == "divisions" else "name"
    if not isinstance(data.get(key), str) or not data[key].strip():
        raise network_checks.NetworkError({key: "required: it is how this entry is found on the next import"})
    data[key] = data[key].strip()
    find, create, update = _handlers(entry.section, data)
    stored = find()
    if stored is None:
        create(data)
        report.created[entry.section] += 1
    elif update(stored, data):
        report.updated[entry.section] += 1
    else:
        report.unchanged[entry.section] += 1


def _in_order(entries: Iterable[Entry]) -> list[Entry]:
    """Sections in dependency order; divisions by level, so a parent later in the file is found."""
    def rank(entry: Entry) -> tuple[int, int]:
        level = entry.data.get("level") if entry.section == "divisions" else None
        return SECTIONS.index(entry.section), LEVEL_ORDER.get(str(level), 3)
    return sorted(entries, key=rank)


def import_network(entries: list[Entry]) -> ImportReport:
    """Apply every entry through the network operations; flushes, never commits. Raises
    NetworkImportError listing every refused entry (the caller then rolls back)."""
    report = ImportReport()
    problems: list[str] = []
    for entry in _in_order(entries):
        # An operation checks all of its input before it writes: a refused entry left nothing.
        try:
            _apply(entry, report)
        except network_checks.NetworkError as exc:
            names = {v: k for k, v in REFERENCES.get(entry.section, {}).items()}
            problems += [f"{_label(entry)}: {names.get(key, key)}: {message}"
                         for key, message in exc.errors.items()]
        except network_checks.NetworkConflict as exc:
            problems.append(f"{_label(entry)}: {exc}")
    if problems:
        raise NetworkImportError(problems)
    return report
