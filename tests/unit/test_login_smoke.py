"""Logging in and landing on the start page, per role."""

from __future__ import annotations

import pytest

from consular.auth.models import Role


@pytest.mark.parametrize("role", list(Role))
def test_each_role_logs_in_and_sees_its_start_page(make_user, logged_in, role):
    user = make_user(role)
    page = logged_in(user).get("/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert user.display_name in html


def test_wrong_password_is_refused_with_a_message(make_user, browser):
    user = make_user(Role.coordinator)
    response = browser.login(user.username, "not the password")
    assert response.status_code == 401
    assert "用户名或密码错误" in response.get_data(as_text=True) or \
        "Wrong username or password" in response.get_data(as_text=True)
    assert browser.get("/").status_code == 302
