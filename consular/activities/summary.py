"""The printable yearly summary (/reports/<year>/summary): the year's figures stated as an office
writes them in its work report, in the reader's language, with the table of figures under the text
and a print stylesheet for one A4 page. Admins and coordinators, like the report page."""

from __future__ import annotations

from flask import abort, render_template

from consular.activities import report
from consular.activities.views import bp
from consular.audit.operations import record
from consular.auth.models import Role
from consular.auth.session import require_user
from consular.cases import stats as case_stats
from consular.network.operations import the_centre


@bp.get("/reports/<int:year>/summary")
def year_summary(year: int) -> str:
    user = require_user()
    if user.role not in (Role.admin, Role.coordinator):
        abort(404)
    if not case_stats.MIN_YEAR <= year <= case_stats.MAX_YEAR:
        abort(404)
    cases = case_stats.year_stats(year)
    work = report.work_figures_of(year)
    record("report.export", "report", year, {"export": "summary", "format": "html", "rows": 1})
    return render_template("activities/summary.html", year=year, cases=cases, work=work,
                           sentences=report.summary_sentences(cases, work),
                           rows=report.figure_rows(work), centre=the_centre())
