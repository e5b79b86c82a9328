"""Lists of registrants in and out: CSV import with a report per row, CSV and Excel export.

An import reads the whole file before it writes anything. A broken file (binary, an Excel
workbook, characters that are neither UTF-8 nor GB18030/GBK, no header row, too large) is one
clear error and nothing is imported. Otherwise every row is checked exactly like a registration
on the form; the report names each refused row as Excel numbers it (the header is row 1), the
column as the file names it, and the problem in the reader's language. A number repeated in the
file is imported once; a number that already has a current registration is skipped ("already
registered"), so importing the same file twice imports nothing the second time. The good rows go
in together, in the caller's one transaction, with the consent method ``imported`` and the
import's batch id.

Exports carry the rows a user may see (the scope), are audited with their row count and filters,
and are guarded against spreadsheet formula injection.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import re
import secrets
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cache
from typing import IO, Any

import sqlalchemy as sa
from flask_babel import force_locale, ngettext
from flask_babel import gettext as _
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell

import i18n
from consular.audit.operations import record
from consular.auth.models import User
from consular.auth.scoping import scoped
from consular.db import db, utcnow
from consular.network.operations import touch_activity_of
from consular.registry.forms import FIELD_LABELS, KIND_LABELS, STATUS_LABELS
from consular.registry.models import (
    ConsentMethod,
    ImportState,
    Registrant,
    RegistrantImport,
    RegistrantKind,
)
from consular.registry.operations import (
    MAX,
    RegistryConflict,
    RegistryInputError,
    check_new_registrant,
    registrant_row,
)
from consular.registry.phones import phone_key
from consular.registry.queries import RegistrantFilters, registrants_query

MAX_IMPORT_BYTES = 5 * 1024 * 1024
MAX_IMPORT_ROWS = 50_000
STAGED_FOR = timedelta(hours=24)  # a previewed list not confirmed by then is discarded
IMPORT_DEFAULTS = ("country_code", "language", "kind", "liaison_point_id", "station_id")
_CHUNK = 500

# Column names a header may use, in Chinese or English (compared without case, spaces,
# underscores, a trailing "*" or a remark in brackets: "手机号（含国家码）" is 手机号).
COLUMN_NAMES: dict[str, tuple[str, ...]] = {
    "name": ("name", "full name", "姓名", "名字", "姓名name"),
    "phone": ("phone", "mobile", "mobile number", "phone number", "cell", "telephone",
              "手机号", "手机", "手机号码", "电话", "电话号码", "联系电话", "号码"),
    "language": ("language", "lang", "alert language", "语言", "短信语言", "语种", "预警语言"),
    "country_code": ("country", "country code", "country_code", "国家", "国家代码", "所在国家",
                     "国家/地区", "国家地区", "国别"),
    "city": ("city", "城市", "所在城市"),
    "kind": ("kind", "type", "category", "类别", "类型", "人员类别"),
    "stay_from": ("stay_from", "stay from", "from", "arrival", "在外开始", "开始日期", "抵达日期",
                  "居留开始"),
    "stay_until": ("stay_until", "stay until", "until", "departure", "在外结束", "结束日期",
                   "离开日期", "居留结束", "预计回国"),
    "timezone": ("timezone", "time zone", "tz", "时区"),
}
# The header an export writes per field, per interface language (the import reads both back).
EXPORT_HEADERS: dict[str, dict[str, str]] = {
    "zh_Hans": {"id": "登记编号", "name": "姓名", "phone": "手机号", "language": "语言",
                "country_code": "国家", "city": "城市", "timezone": "时区", "kind": "类别",
                "stay_from": "在外开始", "stay_until": "在外结束", "status": "状态",
                "liaison_point": "联络点", "station": "服务站", "consent_method": "同意方式",
                "consent_at": "同意时间", "registered_at": "登记时间", "ended_at": "结束时间"},
    "en": {"id": "Registration no.", "name": "Name", "phone": "Phone", "language": "Language",
           "country_code": "Country", "city": "City", "timezone": "Time zone", "kind": "Kind",
           "stay_from": "Stay from", "stay_until": "Stay until", "status": "Status",
           "liaison_point": "Liaison point", "station": "Station",
           "consent_method": "Consent method", "consent_at": "Consent given",
           "registered_at": "Registered", "ended_at": "Ended"},
}
EXPORT_FIELDS = tuple(EXPORT_HEADERS["en"])

# Kinds as lists write them, beyond the labels of the interface.
KIND_WORDS = {"华侨": "citizen_abroad", "海外侨胞": "citizen_abroad", "侨胞": "citizen_abroad",
              "海外公民": "citizen_abroad", "在外公民": "citizen_abroad", "家属": "family_at_home",
              "国内家属": "family_at_home", "侨眷": "family_at_home", "外籍": "foreign_resident",
              "外籍人员": "foreign_resident", "外籍居民": "foreign_resident", "留学生": "student",
              "学生": "student", "企业员工": "enterprise_staff", "外派员工": "enterprise_staff",
              "员工": "enterprise_staff"}


class ImportFileError(ValueError):
    """The file as a whole cannot be read; the message is for the user."""


@dataclass(frozen=True)
class RowProblem:
    row: int  # as Excel numbers it: the header is row 1
    column: str  # the column as the file names it, or the field's label for a default
    message: str


@dataclass(frozen=True)
class ImportRow:
    row: int
    values: dict[str, Any]


@dataclass
class ImportReport:
    filename: str = ""
    rows: int = 0  # data rows read (blank rows are not counted)
    good: list[ImportRow] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)  # refused rows, one entry per problem
    skipped: list[RowProblem] = field(default_factory=list)  # already registered, or repeated
    columns: list[str] = field(default_factory=list)  # the header, as the file has it
    ignored_columns: list[str] = field(default_factory=list)
    file_error: str | None = None
    batch: str | None = None
    imported: int = 0

    @property
    def refused_rows(self) -> int:
        return len({problem.row for problem in self.problems})


# --- reading the file -----------------------------------------------------------------------------


def _read(file: bytes | IO[bytes], max_bytes: int) -> bytes:
    data = bytes(file) if isinstance(file, bytes | bytearray) else file.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ImportFileError(_("The file is larger than %(mb)s MB. Split it into smaller files.",
                                mb=i18n.format_number(round(max_bytes / 1024 / 1024, 1))))
    return data


def decode(data: bytes) -> str:
    """The text of a CSV file: UTF-8 (with or without BOM), UTF-16 with BOM (Excel's "Unicode
    text"), or GB18030/GBK (Chinese Excel's "CSV"). Anything else is refused."""
    if not data.strip():
        raise ImportFileError(_("The file is empty."))
    if data[:4] == b"PK\x03\x04" or data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        raise ImportFileError(_("This is an Excel workbook, not a CSV file. In Excel choose Save "
                                "As → CSV UTF-8 (comma delimited), and upload that file."))
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError:
            raise ImportFileError(_("The file's characters cannot be read. Save it as CSV "
                                    "UTF-8 and upload it again.")) from None
    elif b"\x00" in data:
        raise ImportFileError(_("This is not a text (CSV) file."))
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            try:
                text = data.decode("gb18030")
            except UnicodeDecodeError:
                raise ImportFileError(_("The file's characters cannot be read: it is neither "
                                        "UTF-8 nor GBK. Save it as CSV UTF-8 and upload it "
                                        "again.")) from None
    text = text.lstrip("\ufeff")
    controls = sum(1 for ch in text if unicodedata.category(ch) == "Cc" and ch not in "\t\r\n")
    if controls > max(2, len(text) // 1000):
        raise ImportFileError(_("This is not a text (CSV) file."))
    return text


def _delimiter(text: str) -> str:
    first = text.split("\n", 1)[0]
    counts = {sep: first.count(sep) for sep in (",", ";", "\t")}
    best = max(counts, key=lambda sep: counts[sep])
    return best if counts[best] else ","


def _header_key(name: str) -> str:
    text = unicodedata.normalize("NFKC", name).strip().casefold()
    text = re.split(r"[(\[]", text, maxsplit=1)[0]  # "手机号（含国家码）": NFKC made （ into (
    return re.sub(r"[\s_*:：\-]+", "", text)


@cache
def _column_lookup() -> dict[str, str]:
    return {_header_key(alias): key for key, aliases in COLUMN_NAMES.items() for alias in aliases}


@cache
def _country_lookup() -> dict[str, str]:
    names: dict[str, str] = {}
    for reader in ("en", "zh_Hant", "zh_Hans"):
        for code, name in i18n.country_choices(reader):
            names[_header_key(name)] = code
    names.update({_header_key(n): c for n, c in (("中国大陆", "CN"), ("美国", "US"), ("英国", "GB"),
                                                  ("阿联酋", "AE"), ("USA", "US"), ("UK", "GB"))})
    return names


def country_from_text(value: str) -> str:
    """An ISO code from a code or a country's name in English or Chinese ("意大利", "Italy");
    what is unknown is returned as it was, for the check to refuse with its message."""
    text = value.strip()
    if len(text) == 2 and text.isascii():
        return text.upper()
    return _country_lookup().get(_header_key(text), text)


@cache
def _kind_lookup() -> dict[str, str]:
    words = {_header_key(kind.value): kind.value for kind in RegistrantKind}
    for reader in ("en", "zh_Hans"):
        with force_locale(reader):
            words.update({_header_key(str(label)): kind.value for kind, label in KIND_LABELS.items()})
    words.update({_header_key(word): kind for word, kind in KIND_WORDS.items()})
    return words


def kind_from_text(value: str) -> str:
    return _kind_lookup().get(_header_key(value), value)


def _rows(text: str, max_rows: int) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The header and the non-blank data rows with their Excel row numbers."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text), strict=True)
    header: list[str] | None = None
    rows: list[tuple[int, list[str]]] = []
    number = 0
    try:
        for number, row in enumerate(reader, start=1):  # noqa: B007 (the last number is reported)
            if header is None:
                header = row
                continue
            if not any(cell.strip() for cell in row):
                continue
            if len(rows) >= max_rows:
                raise ImportFileError(ngettext(
                    "The file has more than %(max)s row. Split it into smaller files.",
                    "The file has more than %(max)s rows. Split it into smaller files.", max_rows,
                    max=i18n.format_number(max_rows)))
            rows.append((number, row))
    except csv.Error:
        raise ImportFileError(_("Row %(row)d cannot be read (a quotation mark is not closed?). "
                                "Nothing was imported.", row=number + 1)) from None
    if header is None or not any(cell.strip() for cell in header):
        raise ImportFileError(_("The file has no header row. The first row must name the columns, "
                                "e.g. 姓名, 手机号, 国家."))
    return header, rows


def _columns(header: list[str]) -> tuple[dict[str, int], list[str]]:
    lookup = _column_lookup()
    found: dict[str, int] = {}
    ignored: list[str] = []
    for index, name in enumerate(header):
        key = lookup.get(_header_key(name))
        if key is None:
            if name.strip():
                ignored.append(name.strip())
            continue
        if key in found:
            raise ImportFileError(_("Two columns mean the same thing: %(first)s and %(second)s. "
                                    "Keep one.", first=header[found[key]].strip(),
                                    second=name.strip()))
        found[key] = index
    if "phone" not in found:
        raise ImportFileError(_("The first row must name the columns, and one of them must be the "
                                "mobile number (手机号 or phone). Found: %(names)s.",
                                names=", ".join(cell.strip() for cell in header if cell.strip())[:200]
                                or "—"))
    return found, ignored


# --- checking and importing -------------------------------------------------------------------------


def _label(key: str, columns: dict[str, int], header: list[str]) -> str:
    if key in columns:
        return header[columns[key]].strip()
    label = FIELD_LABELS.get(key)
    return str(label) if label is not None else key


def _registered(keys: list[str], user: User) -> tuple[dict[str, int], set[int]]:
    """Current registrations of these phone keys (key → id), and the ids the user may see."""
    found: dict[str, int] = {}
    for start in range(0, len(keys), _CHUNK):
        chunk = keys[start:start + _CHUNK]
        rows = db.session.execute(sa.select(Registrant.current_phone_hash, Registrant.id)
                                  .where(Registrant.current_phone_hash.in_(chunk))).all()
        found.update({key: rid for key, rid in rows if key})
    ids = sorted(found.values())
    visible: set[int] = set()
    for start in range(0, len(ids), _CHUNK):
        visible.update(db.session.scalars(scoped(Registrant, user).with_only_columns(Registrant.id)
                                          .where(Registrant.id.in_(ids[start:start + _CHUNK]))))
    return found, visible


def preview_import(file: bytes | IO[bytes], *, user: User, defaults: Mapping[str, Any],
                   filename: str = "", max_bytes: int | None = None,
                   max_rows: int | None = None) -> ImportReport:
    """Check a CSV file of registrants without writing anything. ``defaults`` fill the fields a
    row leaves empty (``country_code``, ``language``, ``kind``) and place every row
    (``liaison_point_id``, ``station_id``), within the user's scope as on the form."""
    report = ImportReport(filename=filename[:200])
    try:
        text = decode(_read(file, max_bytes or MAX_IMPORT_BYTES))
        header, rows = _rows(text, max_rows or MAX_IMPORT_ROWS)
        columns, report.ignored_columns = _columns(header)
    except ImportFileError as exc:
        report.file_error = str(exc)
        return report
    report.columns = [cell.strip() for cell in header]
    report.rows = len(rows)
    base = {key: defaults[key] for key in IMPORT_DEFAULTS if defaults.get(key) not in (None, "", 0)}
    checked: list[ImportRow] = []
    for number, row in rows:
        data = dict(base)
        for key, index in columns.items():
            cell = row[index].strip() if index < len(row) else ""
            if cell:
                data[key] = cell
        if "country_code" in data and isinstance(data["country_code"], str):
            data["country_code"] = country_from_text(data["country_code"])
        if "kind" in data and isinstance(data["kind"], str):
            data["kind"] = kind_from_text(data["kind"])
        try:
            values = check_new_registrant(data, user=user, consent=False, duplicates=False)
        except RegistryInputError as exc:
            report.problems.extend(RowProblem(number, _label(key, columns, header), message)
                                   for key, message in exc.errors.items())
            continue
        checked.append(ImportRow(number, values))
    registered, visible = _registered(sorted({phone_key(r.values["phone"]) for r in checked}), user)
    first_row: dict[str, int] = {}
    phone_column = _label("phone", columns, header)
    for item in checked:
        number = item.values["phone"]
        if number in first_row:
            report.skipped.append(RowProblem(item.row, phone_column, _(
                "The same number as row %(row)d: imported once.", row=first_row[number])))
            continue
        first_row[number] = item.row
        existing = registered.get(phone_key(number))
        if existing is not None:
            report.skipped.append(RowProblem(item.row, phone_column, _(
                "Already registered (registration no. %(id)d): not imported again.", id=existing)
                if existing in visible else _("Already registered: not imported again.")))
            continue
        report.good.append(item)
    return report


def new_batch_id() -> str:
    return f"imp-{utcnow():%Y%m%d%H%M%S}-{secrets.token_hex(4)}"


def run_import(file: bytes | IO[bytes], *, user: User, defaults: Mapping[str, Any],
               filename: str = "", consent_note: str = "", staged: RegistrantImport | None = None,
               max_bytes: int | None = None, max_rows: int | None = None) -> ImportReport:
    """Check the file again and register its good rows, all in the caller's transaction, each
    with the consent method ``imported`` (recorded by ``user``, now, with ``consent_note``) and
    the import's batch id. Bad rows are reported and not imported; a broken file imports
    nothing. Flushes; the caller commits."""
    try:
        data = _read(file, max_bytes or MAX_IMPORT_BYTES)
    except ImportFileError as exc:
        return ImportReport(filename=filename[:200], file_error=str(exc))
    report = preview_import(data, user=user, defaults=defaults, filename=filename,
                            max_bytes=max_bytes, max_rows=max_rows)
    if report.file_error is not None:
        return report
    now = utcnow()
    batch = staged.batch if staged is not None else new_batch_id()
    note = (consent_note or "").strip()[:MAX["consent_note"]]
    rows = [registrant_row(item.values, user=user, consent_method=ConsentMethod.imported,
                           consent_at=now, consent_note=note, import_batch=batch)
            for item in report.good]
    for start in range(0, len(rows), _CHUNK):  # one multi-row INSERT per chunk
        db.session.execute(sa.insert(Registrant), rows[start:start + _CHUNK])
    job = staged or RegistrantImport(batch=batch, user_id=user.id, filename=report.filename,
                                     sha256=hashlib.sha256(data).hexdigest(), size=len(data),
                                     defaults=_json_defaults(defaults, note))
    job.state = ImportState.imported
    job.content = None
    job.rows = report.rows
    job.imported_count = len(report.good)
    job.skipped_count = len(report.skipped)
    job.refused_count = report.refused_rows
    job.imported_at = now
    db.session.add(job)
    db.session.flush()
    report.batch = batch
    report.imported = len(report.good)
    record("registrant.import", "registrant_import", job.id,
           {"batch": batch, "rows": report.rows, "imported": report.imported,
            "skipped": len(report.skipped), "refused": report.refused_rows}, user=user)
    if report.imported:
        touch_activity_of(user, at=now)
    return report


def _json_defaults(defaults: Mapping[str, Any], consent_note: str) -> dict[str, Any]:
    out = {key: defaults.get(key) for key in IMPORT_DEFAULTS if defaults.get(key) not in (None, "")}
    out["consent_note"] = consent_note
    return out


def stage_import(file: bytes | IO[bytes], *, user: User, defaults: Mapping[str, Any],
                 filename: str = "", consent_note: str = "") -> tuple[RegistrantImport | None,
                                                                      ImportReport]:
    """Preview a file and keep it (sealed) for the user to confirm, from any web process. Returns
    no staged import when there is nothing to import. Flushes."""
    discard_stale_imports()
    try:
        data = _read(file, MAX_IMPORT_BYTES)
    except ImportFileError as exc:
        return None, ImportReport(filename=filename[:200], file_error=str(exc))
    report = preview_import(data, user=user, defaults=defaults, filename=filename)
    if report.file_error is not None or not report.good:
        return None, report
    job = RegistrantImport(batch=new_batch_id(), user_id=user.id, filename=report.filename,
                           sha256=hashlib.sha256(data).hexdigest(), size=len(data),
                           content=base64.b64encode(data).decode("ascii"),
                           defaults=_json_defaults(defaults, consent_note), rows=report.rows,
                           state=ImportState.previewed)
    db.session.add(job)
    db.session.flush()
    return job, report


def run_staged_import(job: RegistrantImport, *, user: User) -> ImportReport:
    """Import a list previewed by ``stage_import`` (only its uploader may). Flushes."""
    if job.user_id != user.id:
        raise RegistryConflict(_("Only the person who uploaded this list can import it."))
    if job.state != ImportState.previewed or job.content is None:
        raise RegistryConflict(_("This list was already imported or has expired. Upload it again."))
    data = base64.b64decode(job.content)
    defaults = dict(job.defaults or {})
    return run_import(data, user=user, defaults=defaults, filename=job.filename,
                      consent_note=str(defaults.get("consent_note") or ""), staged=job)


def discard_import(job: RegistrantImport) -> None:
    if job.state == ImportState.previewed:
        job.state = ImportState.discarded
        job.content = None
        db.session.flush()


def discard_stale_imports() -> int:
    """Forget previewed lists nobody confirmed within a day (their content is personal data)."""
    stale = db.session.scalars(sa.select(RegistrantImport).where(
        RegistrantImport.state == ImportState.previewed,
        RegistrantImport.created_at < utcnow() - STAGED_FOR)).all()
    for job in stale:
        discard_import(job)
    return len(stale)


# --- export -----------------------------------------------------------------------------------------

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")


def guard_cell(value: str) -> str:
    """A cell a spreadsheet will not run as a formula (OWASP's CSV-injection advice: a leading
    apostrophe). The import strips it again from phone numbers."""
    return "'" + value if value.startswith(_FORMULA_START) else value


def _export_values(r: Registrant) -> dict[str, str]:
    def when(value: datetime | date | None) -> str:
        if value is None:
            return ""
        if isinstance(value, datetime):
            return i18n.format_dt(value, fmt="yyyy-MM-dd HH:mm")
        return value.isoformat()

    return {
        "id": str(r.id), "name": r.name or "", "phone": r.phone or "", "language": r.language,
        "country_code": r.country_code, "city": r.city, "timezone": r.timezone,
        "kind": str(KIND_LABELS.get(r.kind, r.kind)), "stay_from": when(r.stay_from),
        "stay_until": when(r.stay_until), "status": str(STATUS_LABELS.get(r.status, r.status)),
        "liaison_point": r.liaison_point.name if r.liaison_point else "",
        "station": r.station.name if r.station else "",
        "consent_method": r.consent_method.value, "consent_at": when(r.consent_at),
        "registered_at": when(r.created_at), "ended_at": when(r.ended_at),
    }


def export_rows(user: User, filters: RegistrantFilters) -> Iterator[list[str]]:
    """The header and one row per registrant in the user's scope matching ``filters``."""
    locale = "en" if str(i18n.current_locale()).startswith("en") else "zh_Hans"
    headers = EXPORT_HEADERS[locale]
    yield [headers[key] for key in EXPORT_FIELDS]
    query = registrants_query(user, filters).order_by(None).order_by(Registrant.id)
    for registrant in db.session.scalars(query.execution_options(yield_per=1000)):
        values = _export_values(registrant)
        yield [values[key] for key in EXPORT_FIELDS]


def _audit_export(user: User, filters: RegistrantFilters, fmt: str, count: int) -> None:
    shown = {"country": filters.country, "language": filters.language,
             "status": filters.status.value if filters.status else "",
             "kind": filters.kind.value if filters.kind else "",
             "liaison_point_id": filters.liaison_point_id, "station_id": filters.station_id,
             "current": filters.current, "batch": filters.batch, "search": filters.q != "" or None}
    record("registrant.export", "registrant", "",
           {"format": fmt, "count": count,
            "filters": {key: value for key, value in shown.items() if value not in ("", None)}},
           user=user)


def export_csv(user: User, filters: RegistrantFilters) -> tuple[bytes, int]:
    """A UTF-8 CSV (with a BOM, so Excel reads the Chinese right) and its number of registrants.
    Audited."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    count = -1
    for row in export_rows(user, filters):
        writer.writerow([guard_cell(cell) for cell in row])
        count += 1
    _audit_export(user, filters, "csv", count)
    return ("\ufeff" + out.getvalue()).encode("utf-8"), count


def export_xlsx(user: User, filters: RegistrantFilters) -> tuple[bytes, int]:
    """An Excel workbook of the same rows; every cell is text (nothing is a formula). Audited."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet(title=_("Registrants")[:31])
    count = -1
    for row in export_rows(user, filters):
        cells = []
        for value in row:
            cell = WriteOnlyCell(sheet, value=value)
            cell.data_type = "s"  # text, even when it starts with "=": never a formula
            cells.append(cell)
        sheet.append(cells)
        count += 1
    out = io.BytesIO()
    book.save(out)
    _audit_export(user, filters, "xlsx", count)
    return out.getvalue(), count
