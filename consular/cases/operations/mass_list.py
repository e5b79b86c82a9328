"""The pasted-list parser of mass intake: a header row or none, tabs, commas or
semicolons, or free lines whose tokens are recognised by their shape.
"""

from __future__ import annotations

import csv
import re
from typing import Any

from flask_babel import gettext as _
from flask_babel import ngettext

from consular.cases.names import has_han
from consular.cases.operations.checks import MASS_COLUMNS, MAX_MASS_ROWS, _too_many_at_once
from consular.validation import is_plain_text

# --- mass intake --------------------------------------------------------------------------------


_HEADER_ALIASES = {
    "name_zh": "name_zh", "中文姓名": "name_zh", "姓名": "name_zh", "name": "name_zh",
    "name_latin": "name_latin", "拼音": "name_latin", "护照姓名": "name_latin", "latin": "name_latin",
    "passport_name": "name_latin",
    "birth_date": "birth_date", "出生日期": "birth_date", "birthdate": "birth_date", "dob": "birth_date",
    "id_number": "id_number", "证件号码": "id_number", "护照号": "id_number", "passport": "id_number",
    "id": "id_number",
    "phone": "phone", "电话": "phone", "手机": "phone", "mobile": "phone",
    "gender": "gender", "性别": "gender", "sex": "gender",
    "note": "note", "备注": "note", "notes": "note",
}
_GENDER_WORDS = {"男": "male", "女": "female", "m": "male", "f": "female", "male": "male",
                 "female": "female", "x": "other", "其他": "other"}
_DATE_TOKEN = re.compile(r"^\d{4}[-/.年]\d{1,2}[-/.月]\d{1,2}日?$")
_PHONE_TOKEN = re.compile(r"^\+?[\d()\-\s]{7,20}$")


def _split_free_line(line: str) -> dict[str, str]:
    """A pasted line without a delimiter: each token is recognised by its shape."""
    row: dict[str, str] = {}
    latin: list[str] = []
    for token in line.split():
        low = token.lower()
        if _DATE_TOKEN.match(token) and "birth_date" not in row:
            row["birth_date"] = token
        elif low in _GENDER_WORDS and "gender" not in row:
            row["gender"] = _GENDER_WORDS[low]
        elif token.startswith("+") and _PHONE_TOKEN.match(token) and "phone" not in row:
            row["phone"] = token
        elif has_han(token) and "name_zh" not in row:
            row["name_zh"] = token
        elif any(ch.isdigit() for ch in token) and token.isalnum() and "id_number" not in row:
            if token.isdigit() and len(token) in (11, 13) and "phone" not in row:
                row["phone"] = token
            else:
                row["id_number"] = token
        else:
            latin.append(token)
    if latin:
        row["name_latin"] = " ".join(latin)
    return row


def _line_delimiter(line: str) -> str | None:
    """A line's own delimiter: a tab (copied from a spreadsheet), else a comma (ASCII or full
    width); None when it has neither and is read token by token. Each line is read with its own,
    so one tab-separated line does not turn the comma-separated ones into a single name."""
    return next((d for d in ("\t", ",", "，") if d in line), None)


def parse_mass_list(text: str) -> tuple[list[dict[str, Any]], list[tuple[int, str]]]:
    """Rows of people from a pasted list or a CSV (each line tab- or comma-separated, or with no
    delimiter at all and then read token by token; a first line naming the columns is optional,
    else the columns are name_zh, name_latin, birth_date, id_number, phone, gender, note). Returns
    the rows (each with its ``line`` number) and the problems found, as (line number, message)."""
    rows: list[dict[str, Any]] = []
    problems: list[tuple[int, str]] = []
    if not isinstance(text, str):
        return rows, [(0, _("Paste a list of people, one per line."))]
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    lines = [(n, line) for n, line in enumerate(text.split("\n"), start=1)
             if line.strip() and not line.lstrip().startswith("#")]
    if not lines:
        return rows, [(0, _("The list is empty."))]
    if len(lines) > MAX_MASS_ROWS + 1:
        return rows, [(0, _too_many_at_once())]
    columns = list(MASS_COLUMNS)
    header_delimiter = _line_delimiter(lines[0][1])
    if header_delimiter is not None:
        first = [cell.strip().lower()
                 for cell in next(csv.reader([lines[0][1]], delimiter=header_delimiter))]
        if first and all(cell in _HEADER_ALIASES or cell == "" for cell in first) \
                and any(cell for cell in first):
            columns = [_HEADER_ALIASES.get(cell, "") for cell in first]
            lines = lines[1:]
    for n, line in lines:
        if not is_plain_text(line):
            problems.append((n, _("Remove the control characters or text-direction overrides from "
                                  "this line.")))
            continue
        delimiter = _line_delimiter(line)
        if delimiter is None:
            row: dict[str, Any] = _split_free_line(line)
        else:
            cells = next(csv.reader([line], delimiter=delimiter))
            if len(cells) > len(columns) and any(c.strip() for c in cells[len(columns):]):
                problems.append((n, ngettext("Too many columns: expected at most %(num)d.",
                                             "Too many columns: expected at most %(num)d.",
                                             len(columns))))
                continue
            row = {col: cell.strip() for col, cell in zip(columns, cells, strict=False)
                   if col and cell.strip()}
        if "gender" in row:
            row["gender"] = _GENDER_WORDS.get(str(row["gender"]).lower(), row["gender"])
        if not (row.get("name_zh") or row.get("name_latin")):
            problems.append((n, _("No name on this line.")))
            continue
        row["line"] = n
        rows.append(row)
    return rows, problems
