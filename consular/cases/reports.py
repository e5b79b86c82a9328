"""The yearly report: the figures the office publishes (charts first, the numbers under them) and
their exports.

Who sees what:

- coordinators: the report page, the statistics workbook and the case list of the year (CSV or
  XLSX: one row per case, non-sensitive columns only — no names, ID numbers, phones, narrative or
  summary, which may name people);
- admins: the report page and the statistics workbook, which are aggregates; not the case rows
  (403), since an admin has no access to cases;
- liaison officers and station volunteers: nothing (404), like every centre-wide view.

Every export writes an audit entry (``report.export``) with what was exported and how many rows.
Text cells that a spreadsheet would read as a formula (starting with ``= + - @``, a tab or a carriage
return) are prefixed with an apostrophe, in the CSV and in the workbooks alike.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from babel.units import format_unit
from flask import Blueprint, Response, abort, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from openpyxl import Workbook
from sqlalchemy.orm import aliased
from werkzeug.wrappers import Response as WerkzeugResponse

import i18n
from consular.activities import report as work_report
from consular.activities.reach import alerts as alert_reader
from consular.audit.operations import record
from consular.auth.models import Role, User
from consular.auth.session import require_user_who
from consular.cases import stats
from consular.cases.forms import (
    CATEGORY_LABELS,
    CHANNEL_LABELS,
    KIND_LABELS,
    OUTCOME_LABELS,
    PRIORITY_LABELS,
    STATUS_SHORT,
)
from consular.cases.models import (
    Case,
    CaseCategory,
    CaseKind,
    CaseStatus,
    Channel,
    Outcome,
    Priority,
)
from consular.db import db
from consular.network.models import LiaisonPoint, ServiceStation

bp = Blueprint("reports", __name__, template_folder="templates")

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV = "text/csv"  # Werkzeug adds "; charset=utf-8" to a text type itself
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


# --- who may see what -------------------------------------------------------------------------


def can_view_reports(user: User) -> bool:
    return user.role in (Role.admin, Role.coordinator)


def can_export_case_rows(user: User) -> bool:
    return user.role == Role.coordinator


def _reader() -> User:
    return require_user_who(can_view_reports, 404)


def _year_or_404(year: int) -> int:
    if not stats.MIN_YEAR <= year <= stats.MAX_YEAR:
        abort(404)
    return year


def _kind() -> CaseKind | None:
    """The kind of case the report is limited to (``?kind=abroad`` or ``domestic``), else both."""
    raw = request.args.get("kind", "")
    return CaseKind(raw) if raw in {k.value for k in CaseKind} else None


# --- labels -----------------------------------------------------------------------------------


def _enum_label(labels: dict[Any, Any], enum: type[Any]) -> Callable[[str], str]:
    def label(key: str) -> str:
        if not key:
            return _("Not recorded")
        try:
            value = labels.get(enum(key))
        except ValueError:
            return key
        if isinstance(value, tuple):
            value = value[0]
        return str(value) if value is not None else key

    return label


def _country_label(key: str) -> str:
    return i18n.country_name(key) if key else _("Not recorded")


def _priority_label(key: str) -> str:
    if not key:
        return _("Not recorded")
    return f"{key} · {_enum_label(PRIORITY_LABELS, Priority)(key)}"


TABLES: list[tuple[str, Any, Callable[[str], str]]] = [
    ("category", _l("Cases by category"), _enum_label(CATEGORY_LABELS, CaseCategory)),
    ("country", _l("Cases by country"), _country_label),
    ("status", _l("Cases by status"), _enum_label(STATUS_SHORT, CaseStatus)),
    ("liaison_point", _l("Cases by liaison point"), lambda key: key),
    ("station", _l("Cases by service station"), lambda key: key),
    ("priority", _l("Cases by priority"), _priority_label),
    ("kind", _l("Cases by kind"), _enum_label(KIND_LABELS, CaseKind)),
    ("channel", _l("Cases by channel"), _enum_label(CHANNEL_LABELS, Channel)),
    ("outcome", _l("Closed cases by outcome"), _enum_label(OUTCOME_LABELS, Outcome)),
]


def _row_label(table: str, row: stats.Row, label: Callable[[str], str]) -> str:
    if table in ("liaison_point", "station"):
        if not row.key:
            return _("No service station") if table == "station" else \
                _("Logged by a station or the centre")
        return row.name or f"#{row.key}"
    return label(row.key)


def labelled_tables(figures: stats.YearStats) -> list[dict[str, Any]]:
    """The count tables with their titles and each row's label in the reader's language."""
    out = []
    for key, title, label in TABLES:
        rows = figures.tables[key]
        out.append({"key": key, "title": str(title),
                    "rows": [(_row_label(key, r, label), r.count) for r in rows],
                    "total": sum(r.count for r in rows)})
    return out


def month_labels() -> list[str]:
    from babel.dates import get_month_names

    names = get_month_names("abbreviated", locale=i18n.current_locale())
    return [str(names[m]) for m in range(1, 13)]


def duration_text(hours: float | None) -> str:
    if hours is None:
        return "—"
    # CLDR's units: the plural of a decimal ("1.5 hours") is right in every language.
    if hours < 48:
        return str(format_unit(round(hours, 1), "duration-hour", length="long",
                               locale=i18n.current_locale()))
    return str(format_unit(round(hours / 24, 1), "duration-day", length="long",
                           locale=i18n.current_locale()))


# --- the page ---------------------------------------------------------------------------------


@bp.get("/reports")
def index() -> WerkzeugResponse:
    _reader()
    raw = request.args.get("year", "").strip()
    year = int(raw) if raw.isascii() and raw.isdigit() and len(raw) == 4 else stats.current_year()
    if not stats.MIN_YEAR <= year <= stats.MAX_YEAR:
        year = stats.current_year()
    kind = _kind()
    if kind is not None:
        return redirect(url_for("reports.year", year=year, kind=kind.value))
    return redirect(url_for("reports.year", year=year))


@bp.get("/reports/<int:year>")
def year(year: int) -> str:
    user = _reader()
    _year_or_404(year)
    kind = _kind()
    figures = stats.year_stats(year, kind)
    tables = labelled_tables(figures)
    by_key = {t["key"]: t for t in tables}
    months = month_labels()
    charts = [
        {"id": "month", "type": "bar", "title": str(_l("Cases by month")), "labels": months,
         "data": figures.by_month},
        *[{"id": key, "type": kind, "title": by_key[key]["title"],
           "labels": [label for label, _n in by_key[key]["rows"]],
           "data": [n for _label, n in by_key[key]["rows"]]}
          for key, kind in (("category", "hbar"), ("country", "bar"), ("status", "doughnut"),
                            ("liaison_point", "hbar"), ("station", "hbar"))],
    ]
    work = work_report.work_figures_of(year)
    charts += work_report.charts(work, months)
    start, end = stats.year_range(year)
    break_glass = alert_reader().break_glass_between(start, end)
    years = stats.years_with_cases()
    if year not in years:
        years = sorted({*years, year}, reverse=True)
    return render_template(
        "cases/report.html", figures=figures, tables=tables, charts=charts, months=months,
        work=work, work_rows=work_report.figure_rows(work), work_tables=work_report.tables(work),
        reach_rows=work_report.reach_rows(work), break_glass=break_glass,
        years=years, duration_text=duration_text,
        can_export_cases=can_export_case_rows(user),
        kind=kind.value if kind else "", kind_name=str(KIND_LABELS[kind]) if kind else "",
        kind_choices=[(k.value, str(KIND_LABELS[k])) for k in CaseKind],
    )


# --- exports ----------------------------------------------------------------------------------


def safe_cell(value: Any) -> Any:
    """A cell value a spreadsheet shows as text, never runs: formula-like text gets a leading '."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _local(value: datetime | None) -> datetime | None:
    """A UTC instant as the office's wall-clock time (spreadsheets know no time zones)."""
    if value is None:
        return None
    return value.astimezone(stats.office_zone()).replace(tzinfo=None, microsecond=0)


def case_columns() -> list[str]:
    return [_("Reference"), _("Kind"), _("Category"), _("Priority"), _("Status"),
            _("Country code"), _("Country"), _("City"), _("Channel"), _("Liaison point"),
            _("Service station"), _("Reported at"), _("Triaged at"), _("Assigned at"),
            _("Closed at"), _("Outcome")]


def case_rows(year: int, kind: CaseKind | None = None) -> list[list[Any]]:
    """The year's cases (of ``kind``, else of both kinds) as export rows. Only non-personal
    columns are even read."""
    start, end = stats.year_range(year)
    station = aliased(ServiceStation)
    query = (
        sa.select(Case.reference, Case.kind, Case.category, Case.priority, Case.status,
                  Case.country_code, Case.city, Case.channel, LiaisonPoint.name, station.name,
                  Case.reported_at, Case.triaged_at, Case.assigned_at, Case.closed_at,
                  Case.outcome)
        .select_from(Case)
        .outerjoin(LiaisonPoint, LiaisonPoint.id == Case.liaison_point_id)
        .outerjoin(station, station.id == Case.station_id)
        .where(Case.reported_at >= start, Case.reported_at < end,
               *([Case.kind == kind] if kind is not None else []))
        .order_by(Case.reported_at, Case.id)
    )
    kind_name = _enum_label(KIND_LABELS, CaseKind)
    category = _enum_label(CATEGORY_LABELS, CaseCategory)
    status = _enum_label(STATUS_SHORT, CaseStatus)
    channel = _enum_label(CHANNEL_LABELS, Channel)
    outcome = _enum_label(OUTCOME_LABELS, Outcome)
    rows = []
    for (ref, k, cat, prio, st, country, city, ch, point, stn, reported, triaged, assigned,
         closed, proposed) in db.session.execute(query):
        out = stats.final_outcome(st, proposed)
        rows.append([
            ref, kind_name(k.value), category(cat.value), prio.value, status(st.value),
            country or "", i18n.country_name(country) if country else "", city or "",
            channel(ch.value), point or "", stn or "", _local(reported), _local(triaged),
            _local(assigned), _local(closed), outcome(out.value) if out is not None else "",
        ])
    return rows


def _csv_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return str(safe_cell(value))


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    """UTF-8 with a byte-order mark, so Excel reads Chinese text correctly."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([_csv_text(h) for h in header])
    for row in rows:
        writer.writerow([_csv_text(v) for v in row])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def _sheet_title(text: str, used: set[str]) -> str:
    title = "".join(" " if c in "[]:*?/\\" else c for c in text)[:28].strip() or "Sheet"
    base, n = title, 2
    while title in used:
        title = f"{base[:26]} {n}"
        n += 1
    used.add(title)
    return title


def _append(sheet: Any, row: Sequence[Any]) -> None:
    sheet.append([safe_cell(v) for v in row])


def _workbook_bytes(book: Workbook) -> bytes:
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def cases_xlsx(header: Sequence[str], rows: Sequence[Sequence[Any]], year: int) -> bytes:
    book = Workbook(write_only=True)
    sheet = book.create_sheet(_sheet_title(_("Cases %(year)s", year=year), set()))
    _append(sheet, header)
    for row in rows:
        _append(sheet, row)
    return _workbook_bytes(book)


def statistics_xlsx(figures: stats.YearStats, work: Any = None) -> bytes:
    book = Workbook(write_only=True)
    used: set[str] = set()
    summary = book.create_sheet(_sheet_title(_("Summary"), used))
    _append(summary, [_("Figure"), _("Value")])
    for label, value in summary_rows(figures):
        _append(summary, [label, value])
    months = book.create_sheet(_sheet_title(str(_l("Cases by month")), used))
    _append(months, [_("Month"), _("Cases")])
    for name, n in zip(month_labels(), figures.by_month, strict=True):
        _append(months, [name, n])
    for table in labelled_tables(figures):
        sheet = book.create_sheet(_sheet_title(table["title"], used))
        _append(sheet, [table["title"], _("Cases")])
        for label, n in table["rows"]:
            _append(sheet, [label, n])
    if work is not None:
        _work_sheets(book, used, work)
    return _workbook_bytes(book)


def _work_sheets(book: Workbook, used: set[str], work: Any) -> None:
    """The network's work: its headline figures (the summary's and the page's), its tables and
    the reach of the drills and alerts."""
    sheet = book.create_sheet(_sheet_title(_("The network's work"), used))
    _append(sheet, [_("Figure"), _("Value")])
    for _key, label, value in work_report.figure_rows(work):
        _append(sheet, [label, value])
    for table in work_report.tables(work):
        sheet = book.create_sheet(_sheet_title(table["title"], used))
        _append(sheet, [table["title"], _("Number"), *([_("People")] if table["people"] else [])])
        for label, n, people in table["rows"]:
            _append(sheet, [label, n, *([people] if table["people"] else [])])
    sheet = book.create_sheet(_sheet_title(_("Reach of drills and alerts"), used))
    _append(sheet, ["", _("Drills"), _("Alerts")])
    for label, drills, alerts in work_report.reach_rows(work):
        _append(sheet, [label, drills, alerts])


def summary_rows(figures: stats.YearStats) -> list[tuple[str, Any]]:
    def median(m: stats.Median) -> Any:
        return m.hours if m.hours is not None else ""

    net = figures.network
    return [
        (_("Year"), figures.year),
        (_("Kind of case"), str(KIND_LABELS[figures.kind]) if figures.kind else _("Both kinds")),
        (_("Cases reported"), figures.total),
        (_("Cases closed"), figures.closed),
        (_("Median hours to first response"), median(figures.first_response)),
        (_("Median hours to assignment"), median(figures.assignment)),
        (_("Median hours to close"), median(figures.close)),
        (_("Active liaison points"), net.liaison_points_active),
        (_("Active service stations"), net.stations_active),
        (_("Countries with a service station"), net.station_countries),
        (_("Liaison points that logged cases"), net.points_with_cases),
        (_("Service stations that handled cases"), net.stations_with_cases),
    ]


def _download(body: bytes, mimetype: str, filename: str) -> Response:
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _audit_export(year: int, what: str, fmt: str, rows: int, kind: CaseKind | None = None) -> None:
    detail: dict[str, Any] = {"export": what, "format": fmt, "rows": rows}
    if kind is not None:
        detail["kind"] = kind.value
    record("report.export", "report", year, detail)


def _suffix(kind: CaseKind | None) -> str:
    return f"-{kind.value}" if kind is not None else ""


def _case_exporter() -> User:
    user = _reader()
    if not can_export_case_rows(user):
        abort(403)
    return user


def _cases_export(year: int, fmt: str, mimetype: str,
                  render: Callable[[list[str], list[list[Any]]], bytes]) -> Response:
    """The year's case rows (of the kind asked for) as a download in ``fmt``, audited: for those
    who may export case rows."""
    _case_exporter()
    _year_or_404(year)
    kind = _kind()
    rows = case_rows(year, kind)
    body = render(case_columns(), rows)
    _audit_export(year, "cases", fmt, len(rows), kind)
    return _download(body, mimetype, f"cases-{year}{_suffix(kind)}.{fmt}")


@bp.get("/reports/<int:year>/cases.csv")
def cases_csv(year: int) -> Response:
    return _cases_export(year, "csv", CSV, csv_bytes)


@bp.get("/reports/<int:year>/cases.xlsx")
def cases_workbook(year: int) -> Response:
    return _cases_export(year, "xlsx", XLSX, lambda header, rows: cases_xlsx(header, rows, year))


@bp.get("/reports/<int:year>/statistics.xlsx")
def statistics_workbook(year: int) -> Response:
    _reader()
    _year_or_404(year)
    kind = _kind()
    figures = stats.year_stats(year, kind)
    work = work_report.work_figures_of(year)
    body = statistics_xlsx(figures, work)
    rows = 12 + sum(len(t) for t in figures.tables.values()) + len(work_report.FIGURE_LABELS)
    _audit_export(year, "statistics", "xlsx", rows, kind)
    return _download(body, XLSX, f"statistics-{year}{_suffix(kind)}.xlsx")
