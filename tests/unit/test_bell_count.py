"""The bell's count of unread notices, read in the session check's statement: each user's own,
exact on every page, and counted again when the request itself wrote notices."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from flask import Flask, g

from consular.auth.models import Role, User
from consular.cases import operations as ops
from consular.cases.operations.notifications import (
    UNREAD_FIGURE,
    kept_unread_count,
    mark_notifications_read,
    notify,
)
from consular.db import db
from tests.conftest import Browser

COUNT = re.compile(r'data-testid="unread-count">(\d+)<')


def bell(browser: Browser) -> int:
    found = COUNT.search(browser.get("/").get_data(as_text=True))
    return int(found[1]) if found else 0


def test_every_user_sees_their_own_count_as_it_is(
        make_user: Callable[..., User], logged_in: Callable[[User], Browser],
        monkeypatch: pytest.MonkeyPatch) -> None:
    def no_second_statement(user: User) -> int:
        raise AssertionError("the count was read with the user")

    monkeypatch.setattr(ops, "unread_count", no_second_statement)
    first, second = make_user(Role.coordinator), make_user(Role.coordinator)
    officer = make_user(Role.liaison_officer)
    browsers = {user.id: logged_in(user) for user in (first, second, officer)}
    assert [bell(b) for b in browsers.values()] == [0, 0, 0]
    notify([first, officer], case=None, kind="note", params={"reference": "X"})
    notify([first], case=None, kind="note", params={"reference": "Y"})
    db.session.commit()
    assert [bell(browsers[u.id]) for u in (first, second, officer)] == [2, 0, 1]
    mark_notifications_read(first)
    db.session.commit()
    assert [bell(browsers[u.id]) for u in (first, second, officer)] == [0, 0, 1]


def test_a_request_that_writes_notices_counts_again(
        app: Flask, make_user: Callable[..., User]) -> None:
    user, other = make_user(Role.coordinator), make_user(Role.coordinator)
    with app.test_request_context("/"):
        g.user_figures = (user, {UNREAD_FIGURE: 7})
        assert kept_unread_count(user) == 7
        assert kept_unread_count(other) is None  # read with another user: never handed over
        notify([user], case=None, kind="note", params={"reference": "X"})
        db.session.flush()
        assert kept_unread_count(user) is None

        g.user_figures = (user, {UNREAD_FIGURE: 7})
        mark_notifications_read(user)  # a statement, not the unit of work
        assert kept_unread_count(user) is None
    db.session.rollback()
