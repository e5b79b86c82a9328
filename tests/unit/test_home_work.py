"""The home page starts with what waits for the user: overdue and new cases for a coordinator,
the point's open cases for a liaison officer; each card links to the list behind it."""

from __future__ import annotations

import re
from collections.abc import Callable

from consular.auth.models import Role, User
from consular.cases import operations as ops
from consular.db import db
from tests.conftest import Browser

CASE = {"summary": "Passport lost in Milan", "category": "lost_documents", "country_code": "IT"}
PERSON = {"name_zh": "王芳", "name_latin": "WANG FANG"}


def card(page: str, label: str) -> tuple[int, str]:
    match = re.search(r'href="([^"]+)"><div class="card-body"><div class="display-6">(\d+)</div><div>'
                      + re.escape(label), page)
    assert match, f"no card {label!r}"
    return int(match.group(2)), match.group(1).replace("&amp;", "&")


def test_coordinator_and_officer_see_their_work(make_user: Callable[..., User],
                                                 logged_in: Callable[[User], Browser]) -> None:
    officer = make_user(Role.liaison_officer, locale="en")
    other_officer = make_user(Role.liaison_officer, locale="en")
    coordinator = make_user(Role.coordinator, locale="en")
    for _ in range(2):
        ops.create_case(CASE, [PERSON], user=officer)
    db.session.commit()

    page = logged_in(coordinator).get("/").get_data(as_text=True)
    assert card(page, "New cases waiting for triage") == (2, "/cases/queue?status=new")
    number, link = card(page, "Overdue cases")
    assert number == 0 and "overdue=1" in link

    assert card(logged_in(officer).get("/").get_data(as_text=True),
                "Open cases of my liaison point") == (2, "/cases/mine")
    assert card(logged_in(other_officer).get("/").get_data(as_text=True),
                "Open cases of my liaison point")[0] == 0

    admin_page = logged_in(make_user(Role.admin, locale="en")).get("/").get_data(as_text=True)
    assert 'data-testid="work-today"' not in admin_page  # admins run the system, not the cases
