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


def test_every_page_names_the_site_icon_and_it_is_served(client):
    """The tab shows the office's icon: the layout links it (ICO and SVG, served from the app
    itself) and a program that asks the site's root for /favicon.ico is sent to it."""
    import re

    html = client.get("/login").get_data(as_text=True)
    links = {re.sub(r"\.[0-9a-f]{12}\.", ".", link)  # named by content hash (consular/web/assets.py)
             for link in re.findall(r'<link rel="icon" href="([^"]+)"', html)}
    assert links == {"/static/img/favicon.ico", "/static/img/favicon.svg"}
    icon = client.get("/static/img/favicon.ico")
    assert icon.status_code == 200 and icon.data[:4] == b"\x00\x00\x01\x00"  # an ICO file
    svg = client.get("/static/img/favicon.svg")
    assert svg.status_code == 200 and svg.mimetype == "image/svg+xml" and b"<svg" in svg.data
    icon.close()
    svg.close()
    root = client.get("/favicon.ico")
    assert root.status_code == 301 and re.search(r"/static/img/favicon\.[0-9a-f]{12}\.ico$",
                                                 root.headers["Location"])
