"""The busiest pages and the dispatch claim send a fixed number of SQL statements however many rows
they show: no statement per case, per person, per timeline entry or per delivery (the N+1 pattern
that makes a page slow on a real register long before anyone notices it on the demo).

Each guard does the same work twice, on a small and on a larger set of rows, and asserts that the
statement count is the same and under a ceiling."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from alerts import targeting
from alerts.dispatch.claim import claim_batch
from consular.auth.models import Role
from consular.cases import operations as ops
from consular.cases.models import CaseStatus
from consular.cases.queries import forget_queue_choices
from consular.db import db
from consular.ops.health import forget_worker_state
from tests.support.alerts import approved_alert, make_registrant
from tests.support.cases import World, build, person
from tests.support.queries import Statements

CountQueries = Callable[[], AbstractContextManager[Statements]]


def statements_for(count_queries: CountQueries, work: Callable[[], Any]) -> Statements:
    """The statements ``work`` sends from cold: nothing loaded, and nothing the process keeps for a
    few seconds (the queue's filter choices, the no-worker banner's state) kept, so the count is
    the same whichever of the two measurements fills those."""
    db.session.expire_all()
    forget_queue_choices()
    forget_worker_state()
    with count_queries() as seen:
        work()
    return seen


def assert_flat(small: Statements, large: Statements, ceiling: int) -> None:
    print(f"statements: {len(small)} then {len(large)}")  # shown with -s
    assert len(large) == len(small), f"small:\n{small}\n\nlarge:\n{large}"
    assert len(large) <= ceiling, str(large)


def test_the_triage_queue_does_not_query_per_case(world: World, logged_in: Any,
                                                  count_queries: CountQueries) -> None:
    browser = logged_in(world.coordinator)
    states = (CaseStatus.new, CaseStatus.triaged, CaseStatus.assigned, CaseStatus.in_progress)

    def page() -> None:
        response = browser.get("/cases/queue")
        assert response.status_code == 200

    for state in states:
        build(world, state)
    small = statements_for(count_queries, page)
    for _ in range(3):
        for state in states:
            build(world, state)
    large = statements_for(count_queries, page)
    assert_flat(small, large, ceiling=12)


def test_the_case_page_does_not_query_per_person_or_entry(world: World, logged_in: Any,
                                                          count_queries: CountQueries) -> None:
    browser = logged_in(world.coordinator)
    case = build(world, CaseStatus.in_progress)

    def page() -> None:
        response = browser.get(f"/cases/{case.id}")
        assert response.status_code == 200
        assert case.reference in response.get_data(as_text=True)

    small = statements_for(count_queries, page)
    for n, name in enumerate(("王建华", "李秀英", "张伟", "刘洋")):
        ops.add_person(case, person(role="family", name_zh=name, id_number=f"F{n:08d}",
                                    phone=f"+39 333 111 {n:04d}"),
                       user=world.coordinator, expected_version=case.version)
        ops.add_note(case, user=world.coordinator, text=f"第{n}次电话联系家属",
                     expected_version=case.version)
    db.session.commit()
    large = statements_for(count_queries, page)
    assert_flat(small, large, ceiling=18)


def test_the_progress_page_does_not_query_per_delivery(make_user: Callable[..., Any], logged_in: Any,
                                                       count_queries: CountQueries) -> None:
    author = make_user(Role.coordinator, username="zhang", locale="en")
    approver = make_user(Role.coordinator, username="li", locale="en")
    browser = logged_in(author)
    pages = []
    for size in (2, 12):
        for n in range(size):
            make_registrant(language=("it", "zh_Hans", "en")[n % 3])
            make_registrant("FR", "en", city="Paris")
        alert = approved_alert(author, approver,
                               areas=[{"country_code": "IT"}, {"country_code": "FR"}])
        targeting.fan_out(alert)
        db.session.commit()

        def page(alert_id: int = alert.id) -> None:
            response = browser.get(f"/alerts/{alert_id}/progress")
            assert response.status_code == 200

        pages.append(statements_for(count_queries, page))
    assert_flat(pages[0], pages[1], ceiling=15)


def test_a_dispatch_claim_does_not_query_per_delivery(make_user: Callable[..., Any],
                                                      count_queries: CountQueries) -> None:
    author = make_user(Role.coordinator, username="zhang", locale="en")
    approver = make_user(Role.coordinator, username="li", locale="en")
    claims = []
    for count in (5, 30):
        for n in range(count):
            make_registrant(language=("it", "zh_Hans", "en")[n % 3])
        alert = approved_alert(author, approver, areas=[{"country_code": "IT"}])
        targeting.fan_out(alert)
        db.session.commit()
        got: list[Any] = []
        claims.append(statements_for(count_queries,
                                     lambda got=got, count=count: got.extend(claim_batch("w1", limit=count))))
        assert len(got) == count
    assert_flat(claims[0], claims[1], ceiling=10)
