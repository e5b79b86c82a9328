"""Importing lists of registrants and exporting them: a report that names each bad row as Excel
numbers it and the column as the file names it, nothing imported twice, Chinese Excel's GBK files,
European semicolons, broken files refused whole; exports limited to the scope, audited with their
row count, and safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io
import re
from html import unescape

import pytest
import sqlalchemy as sa
from flask_babel import force_locale
from openpyxl import load_workbook

from consular.audit.models import AuditEntry
from consular.auth.models import Role
from consular.db import db
from consular.registry import imports
from consular.registry import operations as ops
from consular.registry.models import ConsentMethod, ImportState, Registrant, RegistrantImport
from tests.support.registry import confirm, rows_of, upload

GOOD = (
    "姓名,手机号,语言,国家,城市,类别,stay_from,stay_until\n"
    "王伟,+39 312 345 6701,中文,意大利,Milano,华侨,,\n"
    "李娜,3123456702,zh-Hant,IT,普拉托,,,\n"
    "Marco Chen,+39 312 345 6703,Italiano,Italy,Roma,留学生,2025-09-01,2027-07-31\n"
    "张敏,+34 612 345 704,西班牙语,ES,Barcelona,,,\n"
)

BAD = (
    "姓名,手机号,国家,城市\n"
    "王伟,+39 312 345 6701,IT,Milano\n"  # row 2: good
    "李娜,12345,IT,Roma\n"  # row 3: not a number
    "赵强,+39 06 1234 5678,IT,Roma\n"  # row 4: a landline
    "周杰,+39 312 345 6705,Atlantis,Roma\n"  # row 5: no such country
    ",+39 312 345 6706,IT,Roma\n"  # row 6: no name
    "\n"  # row 7: blank, skipped without a word
    "吴芳,+39 312 345 6701,IT,Prato\n"  # row 8: the same number as row 2
    "郑勇,+1 212 555 0160,US,Nowhere Creek\n"  # row 9: which of America's zones?
)


@pytest.fixture
def coordinator(make_user):
    return make_user(Role.coordinator)


def count() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Registrant)) or 0


def errors(response) -> list[str]:
    return [unescape(e) for e in re.findall(r'invalid-feedback d-block">([^<]*)<',
                                                  response.get_data(as_text=True))]


# --- the import, through the page ---------------------------------------------------------------


def test_a_good_file_is_previewed_then_imported_once(logged_in, coordinator):
    browser = logged_in(coordinator)
    preview = upload(browser, ("\ufeff" + GOOD).encode("utf-8"))
    assert preview.status_code == 200
    html = preview.get_data(as_text=True)
    assert 'data-testid="good">4<' in html and count() == 0  # nothing written yet

    done = confirm(browser, preview)
    assert done.status_code == 303
    people = {r.name: r for r in db.session.scalars(sa.select(Registrant))}
    assert set(people) == {"王伟", "李娜", "Marco Chen", "张敏"}
    assert people["李娜"].phone == "+393123456702" and people["李娜"].language == "zh_Hant"
    assert people["Marco Chen"].kind.value == "student" and people["Marco Chen"].language == "it"
    assert str(people["Marco Chen"].stay_until) == "2027-07-31"
    assert people["张敏"].timezone == "Europe/Madrid" and people["张敏"].language == "es"
    job = db.session.scalar(sa.select(RegistrantImport))
    assert job is not None and job.state == ImportState.imported and job.content is None
    assert job.imported_count == 4
    for person in people.values():
        assert person.consent_method == ConsentMethod.imported
        assert person.import_batch == job.batch and person.consent_by_id == coordinator.id
        assert person.consent_note == "普拉托侨团登记表（2025）"
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "registrant.import"))
    assert entry is not None and entry.detail["imported"] == 4 and entry.detail["batch"] == job.batch

    # Confirming twice imports nothing more.
    assert browser.post(f"/registrants/import/{job.id}/confirm").status_code == 303
    assert count() == 4
    # The same file again: every row is already registered.
    again = upload(browser, ("\ufeff" + GOOD).encode("utf-8"))
    html = again.get_data(as_text=True)
    assert again.status_code == 200 and 'data-testid="skipped">4<' in html
    assert "/confirm" not in html and "Nothing in this file can be imported." in html
    assert [row[0] for row in rows_of(html, "skipped-rows")] == ["2", "3", "4", "5"]
    assert "Already registered (registration no." in html
    assert count() == 4


def test_bad_rows_are_named_by_row_and_column_and_not_imported(logged_in, coordinator):
    browser = logged_in(coordinator)
    preview = upload(browser, BAD.encode("utf-8"))
    html = preview.get_data(as_text=True)
    assert preview.status_code == 200
    problems = rows_of(html, "problems")
    assert [(row, column) for row, column, _message in problems] == [
        ("3", "手机号"), ("4", "手机号"), ("5", "国家"), ("6", "姓名"), ("9", "Time zone")]
    messages = {row: message for row, _column, message in problems}
    assert messages["3"].startswith("Not a valid phone number")
    assert messages["4"].startswith("This is a landline number")
    assert messages["5"].startswith("Not a country code")
    assert messages["6"] == "This field is required."
    assert "Nowhere Creek" in messages["9"]
    assert rows_of(html, "skipped-rows") == [["8", "手机号", "The same number as row 2: imported once."]]
    assert 'data-testid="refused">5<' in html

    confirm(browser, preview)
    assert [r.name for r in db.session.scalars(sa.select(Registrant))] == ["王伟"]
    job = db.session.scalar(sa.select(RegistrantImport))
    assert job is not None and (job.imported_count, job.skipped_count, job.refused_count) == (1, 1, 5)


def test_chinese_excel_gbk_and_european_semicolons(logged_in, coordinator):
    browser = logged_in(coordinator)
    gbk = upload(browser, GOOD.replace(",", "\t").encode("gbk"), "名单.txt")
    assert 'data-testid="good">4<' in gbk.get_data(as_text=True), gbk.get_data(as_text=True)[:3000]
    confirm(browser, gbk)
    assert {r.name for r in db.session.scalars(sa.select(Registrant))} == {
        "王伟", "李娜", "Marco Chen", "张敏"}

    semicolons = ("Name;Phone;Country;City;Language\n"
                  "Anna Rossi;+39 312 345 6790;IT;Firenze;it\n"
                  "\"Chen; Li\";+33 6 12 34 57 90;FR;Paris;fr\n").encode("cp1252")
    preview = upload(browser, semicolons, "liste.csv")
    assert 'data-testid="good">2<' in preview.get_data(as_text=True)
    confirm(browser, preview)
    assert count() == 6
    assert ops.find_by_phone("+33612345790").name == "Chen; Li"


@pytest.mark.parametrize(("content", "name", "message"), [
    (b"\x00\x01\x02\x03binary\xff\xfe\x00" * 50, "photo.csv", "This is not a text (CSV) file."),
    (b"PK\x03\x04\x14\x00\x06\x00" + b"\x00" * 100, "list.xlsx", "This is an Excel workbook"),
    (b"", "empty.csv", "The file is empty."),
    (b"   \n\n", "blank.csv", "The file is empty."),
    ("王伟,+39 312 345 6701,IT\n".encode(), "noheader.csv", "one of them must be the mobile number"),
    (b"\x81\x30\x81", "junk.csv", "neither UTF-8 nor GBK"),
    ('姓名,手机号\n"王伟,+39 312 345 6701\n'.encode(), "quote.csv", "Row 2 cannot be read"),
    ("手机,手机号\n1,2\n".encode(), "twice.csv", "Two columns mean the same thing"),
])
def test_a_broken_file_is_one_clear_error_and_nothing_is_imported(logged_in, coordinator, content,
                                                                  name, message):
    browser = logged_in(coordinator)
    response = upload(browser, content, name)
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert message in html.replace("&#34;", '"').replace("&#39;", "'"), html[:3000]
    assert count() == 0 and db.session.scalar(sa.select(RegistrantImport)) is None


def test_limits_on_rows_and_size(logged_in, coordinator, monkeypatch):
    # Small limits keep the uploads small; the real ones are checked directly below.
    monkeypatch.setattr(imports, "MAX_IMPORT_ROWS", 10)
    monkeypatch.setattr(imports, "MAX_IMPORT_BYTES", 100 * 1024)
    browser = logged_in(coordinator)
    lines = ["姓名,手机号,国家"] + [f"人{i},+39 312 {i:07d},IT" for i in range(11)]
    too_many = upload(browser, "\n".join(lines).encode())
    assert too_many.status_code == 400
    assert "The file has more than 10 rows. Split it into smaller files." in errors(too_many)
    too_big = upload(browser, b"name,phone\n" + b"x" * (100 * 1024))
    assert too_big.status_code == 400
    assert "The file is larger than 0.1 MB. Split it into smaller files." in errors(too_big)
    assert count() == 0


def test_the_real_limits(app, coordinator):
    lines = ["姓名,手机号,国家"] + [f"人{i},+39 312 {i:07d},IT" for i in range(50_001)]
    with force_locale("en"):
        too_many = imports.preview_import("\n".join(lines).encode(), user=coordinator, defaults={})
        too_big = imports.preview_import(io.BytesIO(b"x" * (5 * 1024 * 1024 + 1)), user=coordinator,
                                         defaults={})
    assert too_many.file_error == "The file has more than 50,000 rows. Split it into smaller files."
    assert too_big.file_error == "The file is larger than 5 MB. Split it into smaller files."
    assert not too_many.good and count() == 0


def test_an_officers_list_goes_to_their_point(logged_in, make_user):
    officer = make_user(Role.liaison_officer)
    browser = logged_in(officer)
    preview = upload(browser, GOOD.encode(), liaison_point_id=str(officer.liaison_point_id))
    confirm(browser, preview)
    assert {r.liaison_point_id for r in db.session.scalars(sa.select(Registrant))} == {
        officer.liaison_point_id}
    # Another user cannot confirm or read the officer's staged list.
    other = make_user(Role.liaison_officer)
    staged = upload(browser, GOOD.replace("王伟,+39 312 345 6701", "王伟,+39 312 345 6799").encode(),
                    liaison_point_id=str(officer.liaison_point_id))
    job_id = re.search(r"/registrants/import/(\d+)/confirm", staged.get_data(as_text=True)).group(1)
    intruder = logged_in(other)
    assert intruder.post(f"/registrants/import/{job_id}/confirm").status_code == 404
    assert count() == 4


# --- the import, directly -------------------------------------------------------------------------


def test_preview_writes_nothing_and_limits_can_be_set(app, coordinator):
    with force_locale("en"):
        report = imports.preview_import(GOOD.encode(), user=coordinator, defaults={}, max_rows=3)
        assert report.file_error == "The file has more than 3 rows. Split it into smaller files."
        report = imports.preview_import(GOOD.encode(), user=coordinator, defaults={})
    assert [item.row for item in report.good] == [2, 3, 4, 5] and not report.problems
    assert count() == 0
    ran = imports.run_import(GOOD.encode(), user=coordinator, defaults={}, filename="x.csv")
    db.session.commit()
    assert ran.imported == 4 and count() == 4
    rerun = imports.run_import(GOOD.encode(), user=coordinator, defaults={}, filename="x.csv")
    db.session.commit()
    assert rerun.imported == 0 and len(rerun.skipped) == 4 and count() == 4


def test_the_defaults_fill_what_rows_leave_empty(app, coordinator):
    content = "姓名,手机号,城市\n王伟,312 345 6701,Roma\n李娜,+33 6 12 34 56 02,\n".encode()
    report = imports.preview_import(content, user=coordinator,
                                    defaults={"country_code": "IT", "language": "it",
                                              "kind": "student"})
    assert len(report.good) == 2, report.problems
    first, second = (item.values for item in report.good)
    assert first["phone"] == "+393123456701" and first["language"] == "it"
    assert first["kind"].value == "student" and second["phone"] == "+33612345602"


# --- export ---------------------------------------------------------------------------------------


@pytest.fixture
def sly(coordinator):
    """A registrant whose name a spreadsheet would run as a formula."""
    registrant = ops.register({"name": "=HYPERLINK(\"http://evil\",\"x\")", "phone": "+39 312 345 6780",
                               "country_code": "IT", "city": "@Roma", "consent_method": "written"},
                              user=coordinator)
    ops.register({"name": "王伟", "phone": "+39 312 345 6781", "country_code": "IT",
                  "city": "Prato", "consent_method": "written"}, user=coordinator)
    db.session.commit()
    return registrant


def test_csv_export_is_guarded_against_formulas_and_audited(logged_in, coordinator, sly):
    browser = logged_in(coordinator)
    response = browser.get("/registrants/export.csv", headers={"Accept-Language": "en"})
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"  # the charset once
    text = response.get_data().decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows[0][:3] == ["Registration no.", "Name", "Phone"]
    cells = [cell for row in rows[1:] for cell in row]
    assert not any(cell.startswith(("=", "+", "-", "@")) for cell in cells)
    assert "'=HYPERLINK(\"http://evil\",\"x\")" in cells and "'@Roma" in cells
    assert "'+393123456780" in cells
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "registrant.export"))
    assert entry is not None and entry.detail == {"format": "csv", "count": 2,
                                                  "filters": {"current": True}}

    # What was exported imports back as "already registered": nothing twice.
    again = imports.preview_import(response.get_data(), user=coordinator, defaults={})
    assert again.file_error is None and not again.good and len(again.skipped) == 2


def test_excel_export_has_no_formulas(logged_in, coordinator, sly):
    browser = logged_in(coordinator)
    response = browser.get("/registrants/export.xlsx?country=IT")
    assert response.status_code == 200
    book = load_workbook(io.BytesIO(response.get_data()))
    sheet = book.active
    values = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert values[0][:3] == ["登记编号", "姓名", "手机号"]
    assert len(values) == 3
    assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)
    assert "=HYPERLINK(\"http://evil\",\"x\")" in [row[1] for row in values]
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "registrant.export"))
    assert entry is not None and entry.detail["format"] == "xlsx" and entry.detail["count"] == 2
    assert entry.detail["filters"]["country"] == "IT"
