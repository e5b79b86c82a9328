"""The yearly report: exact figures on a hand-made set of cases, who may see and export what, and
exports that open in a spreadsheet with the right rows and no personal data."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from consular.audit.models import AuditEntry
from consular.auth.models import Role
from consular.cases import stats
from consular.cases.models import (
    Case,
    CaseCategory,
    CaseKind,
    CasePerson,
    CaseStatus,
    Channel,
    Outcome,
    Priority,
)
from consular.db import db


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def make_case(app):
    counter = iter(range(1, 100_000))

    def make(reported_at: datetime, **kw):
        n = next(counter)
        case = Case(reference=kw.pop("reference", f"{reported_at.year}-{n:06d}"),
                    category=kw.pop("category", CaseCategory.lost_documents),
                    summary=kw.pop("summary", "护照丢失"), reported_at=reported_at,
                    last_activity_at=reported_at, **kw)
        db.session.add(case)
        db.session.commit()
        return case

    return make


@pytest.fixture
def places(make_point, make_station):
    return {"p1": make_point(name="丽岙街道领事保护联络点"), "p2": make_point(name="玉壶镇领事保护联络点"),
            "s1": make_station(name="意大利普拉托服务站"), "s2": make_station(name="法国巴黎服务站",
                                                                          country_code="FR")}


@pytest.fixture
def year_2025(make_case, places):
    """Four cases of 2025 (office time, Asia/Shanghai), one on each side of the year's edges."""
    p1, p2, s1 = places["p1"], places["p2"], places["s1"]
    a = at(2025, 1, 10, 10)
    make_case(a, reference="2025-000001", category=CaseCategory.lost_documents, country_code="IT",
              city="Prato", liaison_point_id=p1.id, station_id=s1.id, status=CaseStatus.closed,
              priority=Priority.P3, channel=Channel.walk_in, outcome=Outcome.documents_reissued,
              first_response_at=a + timedelta(hours=2), triaged_at=a + timedelta(hours=2),
              assigned_at=a + timedelta(hours=4), closed_at=a + timedelta(hours=10))
    b = at(2025, 1, 20, 8)
    make_case(b, reference="2025-000002", category=CaseCategory.fraud_theft, country_code="IT",
              city="Milano", liaison_point_id=p1.id, station_id=s1.id,
              status=CaseStatus.in_progress, priority=Priority.P2, channel=Channel.phone,
              first_response_at=b + timedelta(hours=4), assigned_at=b + timedelta(hours=8))
    c = at(2025, 3, 5, 6)
    make_case(c, reference="2025-000003", category=CaseCategory.detained, country_code="FR",
              city="Paris", liaison_point_id=p2.id, status=CaseStatus.triaged, priority=Priority.P1,
              kind=CaseKind.abroad, first_response_at=c + timedelta(hours=6))
    # 17:00 UTC on 31 December 2024 is 01:00 on 1 January 2025 in the office: a 2025 case.
    d = at(2024, 12, 31, 17)
    make_case(d, reference="2025-000004", category=CaseCategory.lost_documents, country_code="ES",
              city="Madrid", liaison_point_id=p2.id, status=CaseStatus.new, priority=Priority.P4,
              first_response_at=d + timedelta(hours=1))
    # 16:30 UTC on 31 December 2025 is already 2026 in the office; June 2024 is 2024.
    make_case(at(2025, 12, 31, 16, 30), reference="2026-000001", country_code="IT")
    make_case(at(2024, 6, 1, 12), reference="2024-000001", country_code="NL",
              status=CaseStatus.closed, closed_at=at(2025, 2, 1, 12), outcome=Outcome.assisted)
    return places


def rows(table):
    return {r.key: r.count for r in table}


# --- the figures ----------------------------------------------------------------------------


def test_counts_and_medians_are_exact(year_2025):
    figures = stats.year_stats(2025)
    p1, p2, s1 = year_2025["p1"], year_2025["p2"], year_2025["s1"]
    assert figures.total == 4
    assert figures.by_month == [3, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    assert rows(figures.by_category) == {"lost_documents": 2, "fraud_theft": 1, "detained": 1}
    assert rows(figures.by_country) == {"IT": 2, "FR": 1, "ES": 1}
    assert rows(figures.by_status) == {"closed": 1, "in_progress": 1, "triaged": 1, "new": 1}
    assert rows(figures.by_priority) == {"P1": 1, "P2": 1, "P3": 1, "P4": 1}
    assert rows(figures.by_outcome) == {"documents_reissued": 1}
    assert rows(figures.by_liaison_point) == {str(p1.id): 2, str(p2.id): 2}
    assert {r.name for r in figures.by_liaison_point} == {p1.name, p2.name}
    assert rows(figures.by_station) == {str(s1.id): 2, "": 2}
    # first response after 2, 4, 6 and 1 hours; assignment after 4 and 8; closed after 10
    assert figures.first_response == stats.Median(hours=3.0, n=4)
    assert figures.assignment == stats.Median(hours=6.0, n=2)
    assert figures.close == stats.Median(hours=10.0, n=1)
    # "closed" is the year's cases that are closed: the 2024 case closed in February 2025 is a
    # 2024 case, as it is in every table of the report
    assert figures.closed == 1
    assert figures.network.points_with_cases == 2
    assert figures.network.stations_with_cases == 1
    assert figures.network.stations_active == 2
    assert figures.network.station_countries == 2


@pytest.fixture
def every_state(make_case, places):
    """2025 cases in every state: a resolved one with the outcome its station proposed, closed ones
    with two outcomes, one reopened (its outcome cleared), and a 2024 case closed in 2025."""
    s1 = places["s1"]
    day = at(2025, 4, 1, 4)
    for n, status in enumerate(CaseStatus):
        make_case(day + timedelta(days=n), status=status, station_id=s1.id,
                  outcome=Outcome.assisted if status in (CaseStatus.resolved, CaseStatus.closed)
                  else None, closed_at=day + timedelta(days=n + 1) if status == CaseStatus.closed
                  else None, resolved_at=day + timedelta(days=n, hours=5)
                  if status in (CaseStatus.resolved, CaseStatus.closed) else None)
    make_case(day, status=CaseStatus.resolved, outcome=Outcome.released,
              resolved_at=day + timedelta(hours=3))
    make_case(day, status=CaseStatus.closed, outcome=Outcome.released, kind=CaseKind.domestic,
              closed_at=day + timedelta(hours=9))
    make_case(day, status=CaseStatus.triaged)  # reopened: back in triage, no outcome
    make_case(at(2024, 11, 1, 4), status=CaseStatus.closed, outcome=Outcome.assisted,
              closed_at=at(2025, 2, 1, 4))
    return places


def test_closed_cases_are_one_figure_everywhere(every_state, make_user, logged_in):
    """The headline, the "closed" row of the status table and the outcome table count the same
    cases, on the page, in the statistics workbook and in the case list: resolved cases waiting
    for the centre's approval are not closed, and their proposed outcome is not counted."""
    figures = stats.year_stats(2025)
    assert figures.total == len(CaseStatus) + 3
    by_status = rows(figures.by_status)
    assert set(by_status) == {s.value for s in CaseStatus}
    assert figures.closed == by_status["closed"] == sum(rows(figures.by_outcome).values()) == 2
    assert rows(figures.by_outcome) == {"assisted": 1, "released": 1}
    assert by_status["resolved"] == 2

    browser = logged_in(make_user(Role.coordinator, locale="en"))
    html = browser.get("/reports/2025").get_data(as_text=True)
    assert 'data-testid="figure-closed">2<' in html
    book = load_workbook(io.BytesIO(browser.get("/reports/2025/statistics.xlsx").get_data()),
                         read_only=True)
    sheets = {ws.title: [list(r) for r in ws.iter_rows(values_only=True)] for ws in book.worksheets}
    book.close()
    assert dict(r for r in sheets["Summary"][1:])["Cases closed"] == 2
    assert dict(r for r in sheets["Cases by status"][1:])["Closed"] == 2
    assert sum(n for _label, n in sheets["Closed cases by outcome"][1:]) == 2
    table = list(csv.reader(io.StringIO(browser.get("/reports/2025/cases.csv").get_data()
                                        .decode("utf-8-sig"))))
    header, body = table[0], table[1:]
    outcome, status = header.index("Outcome"), header.index("Status")
    assert len(body) == figures.total
    assert sorted(r[outcome] for r in body if r[outcome]) == ["Helped: the person is safe",
                                                               "Released from detention"]
    assert all(r[outcome] == "" for r in body if r[status] == "Resolved")


def test_the_year_edges_follow_the_office_time_zone(year_2025):
    assert stats.year_stats(2026).total == 1
    assert stats.year_stats(2024).total == 1
    assert rows(stats.year_stats(2024).by_country) == {"NL": 1}


def test_an_empty_year_has_zeros_and_no_medians(app):
    figures = stats.year_stats(2019)
    assert figures.total == 0 and figures.by_month == [0] * 12
    assert figures.by_category == [] and figures.by_station == []
    assert figures.first_response == stats.Median(None, 0)
    assert figures.close.hours is None


def test_years_for_the_selector_run_from_the_first_case_to_this_year(year_2025):
    years = stats.years_with_cases()
    assert years[0] == stats.current_year() and years[-1] == 2024


# --- the page -------------------------------------------------------------------------------


def test_coordinator_sees_charts_first_then_the_tables(year_2025, make_user, logged_in):
    browser = logged_in(make_user(Role.coordinator, locale="en"))
    page = browser.get("/reports/2025")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert html.index('data-chart="month"') < html.index('data-testid="month-counts"')
    assert html.index('data-chart="category"') < html.index('data-testid="network-figures"')
    assert 'id="report-charts"' in html and "vendor/chartjs-4.6.1/chart.umd.min." in html
    assert 'data-testid="figure-total">4<' in html
    assert "3 hours" in html  # median to first response
    assert "丽岙街道领事保护联络点" in html and "意大利普拉托服务站" in html
    assert 'href="/reports/2025/cases.csv"' in html and 'href="/reports/2025/statistics.xlsx"' in html


def test_year_selector_and_bad_years(year_2025, make_user, logged_in):
    browser = logged_in(make_user(Role.coordinator))
    assert browser.get("/reports?year=2024").headers["Location"].endswith("/reports/2024")
    assert browser.get("/reports").headers["Location"].endswith(f"/reports/{stats.current_year()}")
    assert browser.get("/reports?year=abc").headers["Location"].endswith(
        f"/reports/{stats.current_year()}")
    assert browser.get("/reports/1999").status_code == 404
    assert browser.get("/reports/99999").status_code == 404
    empty = browser.get("/reports/2019")
    assert empty.status_code == 200
    assert 'data-testid="figure-total">0<' in empty.get_data(as_text=True)


@pytest.mark.parametrize(("role", "page", "cases_export", "statistics_export"), [
    (Role.coordinator, 200, 200, 200),
    (Role.admin, 200, 403, 200),
    (Role.liaison_officer, 404, 404, 404),
    (Role.station_volunteer, 404, 404, 404),
])
def test_who_may_see_and_export(year_2025, make_user, logged_in, role, page, cases_export,
                                statistics_export):
    browser = logged_in(make_user(role))
    assert browser.get("/reports/2025").status_code == page
    assert browser.get("/reports").status_code == (302 if page == 200 else 404)
    assert browser.get("/reports/2025/cases.csv").status_code == cases_export
    assert browser.get("/reports/2025/cases.xlsx").status_code == cases_export
    assert browser.get("/reports/2025/statistics.xlsx").status_code == statistics_export
    if role == Role.admin:
        html = browser.get("/reports/2025").get_data(as_text=True)
        assert "cases.csv" not in html and "statistics.xlsx" in html


def test_anonymous_is_sent_to_the_login_page(client):
    response = client.get("/reports/2025/cases.csv")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


# --- the exports ----------------------------------------------------------------------------


def exports() -> list[AuditEntry]:
    return list(db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "report.export")
                                   .order_by(AuditEntry.id)))


@pytest.fixture
def personal_case(make_case, places):
    case = make_case(at(2025, 5, 1, 9), reference="2025-000099", country_code="IT",
                     city="=HYPERLINK(\"http://evil.example\")", place="Via Roma 1",
                     summary="王小明在普拉托被拘留", narrative="家属说他的护照号是E12345678",
                     liaison_point_id=places["p1"].id)
    db.session.add(CasePerson(case_id=case.id, name_zh="王小明", name_latin="WANG XIAOMING",
                              phone="+393311234567", id_number="E12345678"))
    db.session.commit()
    return case


PERSONAL = ("王小明", "WANG XIAOMING", "+393311234567", "3311234567", "E12345678", "Via Roma",
            "普拉托被拘留")


def test_cases_csv_opens_in_excel_and_holds_no_personal_data(year_2025, personal_case, make_user,
                                                             logged_in):
    coordinator = make_user(Role.coordinator, locale="en")
    response = logged_in(coordinator).get("/reports/2025/cases.csv")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert 'filename="cases-2025.csv"' in response.headers["Content-Disposition"]
    raw = response.get_data()
    assert raw.startswith(b"\xef\xbb\xbf")  # BOM: Excel reads the UTF-8 as such
    text = raw.decode("utf-8-sig")
    table = list(csv.reader(io.StringIO(text)))
    header, body = table[0], table[1:]
    assert header[0] == "Reference" and "Outcome" in header and len(header) == 16
    assert [r[0] for r in body] == ["2025-000004", "2025-000001", "2025-000002", "2025-000003",
                                    "2025-000099"]
    first = dict(zip(header, body[1], strict=True))
    assert first["Country code"] == "IT" and first["Country"] == "Italy"
    assert first["Priority"] == "P3" and first["Liaison point"] == "丽岙街道领事保护联络点"
    assert first["Service station"] == "意大利普拉托服务站"
    assert first["Reported at"] == "2025-01-10 18:00"  # office time (UTC+8)
    assert first["Closed at"] == "2025-01-11 04:00"
    for secret in PERSONAL:
        assert secret not in text
    injected = dict(zip(header, body[-1], strict=True))
    assert injected["City"].startswith("'=HYPERLINK")  # shown as text, never run
    [entry] = exports()
    assert entry.user_id == coordinator.id
    assert entry.detail == {"export": "cases", "format": "csv", "rows": 5}
    assert entry.object_id == "2025"


def test_cases_xlsx_has_one_row_per_case(year_2025, personal_case, make_user, logged_in):
    response = logged_in(make_user(Role.coordinator, locale="en")).get("/reports/2025/cases.xlsx")
    assert response.status_code == 200
    assert 'filename="cases-2025.xlsx"' in response.headers["Content-Disposition"]
    book = load_workbook(io.BytesIO(response.get_data()), read_only=True)
    sheet = book.worksheets[0]
    values = [list(r) for r in sheet.iter_rows(values_only=True)]
    book.close()
    assert values[0][0] == "Reference" and len(values) == 6
    assert values[2][0] == "2025-000001"
    assert values[2][11] == datetime(2025, 1, 10, 18, 0)  # a real date cell, office time
    assert values[-1][7].startswith("'=")
    flat = " ".join(str(v) for row in values for v in row)
    for secret in PERSONAL:
        assert secret not in flat
    assert exports()[0].detail == {"export": "cases", "format": "xlsx", "rows": 5}


def test_statistics_xlsx_for_admin_holds_the_tables(year_2025, make_user, logged_in):
    admin = make_user(Role.admin, locale="en")
    response = logged_in(admin).get("/reports/2025/statistics.xlsx")
    assert response.status_code == 200
    book = load_workbook(io.BytesIO(response.get_data()), read_only=True)
    sheets = {ws.title: [list(r) for r in ws.iter_rows(values_only=True)] for ws in book.worksheets}
    book.close()
    summary = dict(r for r in sheets["Summary"][1:])
    assert summary["Cases reported"] == 4
    assert summary["Median hours to first response"] == 3
    assert summary["Median hours to assignment"] == 6
    months = sheets["Cases by month"]
    assert months[1] == ["Jan", 3] and months[3] == ["Mar", 1]
    category = dict(r for r in sheets["Cases by category"][1:])
    assert category == {"Lost passport or papers": 2, "Robbed or defrauded": 1,
                        "Detained or arrested": 1}
    countries = dict(r for r in sheets["Cases by country"][1:])
    assert countries == {"Italy": 2, "France": 1, "Spain": 1}
    [entry] = exports()
    assert entry.user_id == admin.id and entry.detail["export"] == "statistics"
    assert entry.detail["rows"] > 0


def test_refused_exports_write_no_audit_entry(year_2025, make_user, logged_in):
    assert logged_in(make_user(Role.admin)).get("/reports/2025/cases.csv").status_code == 403
    assert logged_in(make_user(Role.liaison_officer)).get("/reports/2025/cases.xlsx").status_code == 404
    assert exports() == []


def test_report_reads_in_chinese_by_default(year_2025, make_user, logged_in):
    html = logged_in(make_user(Role.coordinator)).get("/reports/2025").get_data(as_text=True)
    assert "2025" in html
    assert 'lang="zh-Hans"' in html


def test_both_kinds_are_counted_and_the_report_filters_by_kind(year_2025, make_case, make_user,
                                                               logged_in):
    """Incidents in the city (涉外案件) count beside the cases abroad, and every figure, table and
    export can be limited to one kind."""
    for day in (3, 4):
        make_case(at(2025, 6, day, 4), kind=CaseKind.domestic, category=CaseCategory.lost_documents,
                  status=CaseStatus.closed, outcome=Outcome.documents_reissued,
                  closed_at=at(2025, 6, day + 1, 4))
    both = stats.year_stats(2025)
    assert both.total == 6 and rows(both.by_kind) == {"abroad": 4, "domestic": 2}
    home = stats.year_stats(2025, CaseKind.domestic)
    assert home.total == 2 and home.closed == 2 and rows(home.by_kind) == {"domestic": 2}
    assert home.by_month[5] == 2 and sum(home.by_month) == 2
    abroad = stats.year_stats(2025, CaseKind.abroad)
    assert abroad.total == 4 and abroad.closed == 1

    browser = logged_in(make_user(Role.coordinator, locale="en"))
    html = browser.get("/reports/2025?kind=domestic").get_data(as_text=True)
    assert 'data-testid="figure-total">2<' in html and 'data-testid="figure-closed">2<' in html
    assert "Only: Foreign-related incident in the city." in html
    assert 'href="/reports/2025/cases.csv?kind=domestic"' in html
    assert 'data-testid="figure-total">6<' in browser.get("/reports/2025").get_data(as_text=True)
    assert browser.get("/reports?year=2025&kind=domestic").headers["Location"].endswith(
        "/reports/2025?kind=domestic")
    response = browser.get("/reports/2025/cases.csv?kind=domestic")
    assert 'filename="cases-2025-domestic.csv"' in response.headers["Content-Disposition"]
    table = list(csv.reader(io.StringIO(response.get_data().decode("utf-8-sig"))))
    assert len(table) == 3 and {r[1] for r in table[1:]} == {"Foreign-related incident in the city"}
    book = load_workbook(io.BytesIO(browser.get("/reports/2025/statistics.xlsx?kind=abroad").get_data()),
                         read_only=True)
    summary = dict(r for r in [list(x) for x in book["Summary"].iter_rows(values_only=True)][1:])
    book.close()
    assert summary["Cases reported"] == 4 and summary["Kind of case"].startswith("Our people abroad")
    assert [e.detail.get("kind") for e in exports()] == ["domestic", "abroad"]
