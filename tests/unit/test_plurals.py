"""Counts read as people say them: "1 segment", "2 segments", "1 case was created", in English, and
the one form of Chinese ("1 条计费短信"), through the catalogs' plural forms (ngettext); the compose
page hands its script every plural form, and no message of the catalog puts a count before a noun
in the plural without one."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from babel.messages.pofile import read_po
from flask import Flask

from alerts.authoring import operations as alert_ops
from consular.auth.models import Role, User
from consular.cases import operations as case_ops
from consular.db import db
from consular.network.models import DivisionLevel
from tests.support.alerts import alert_input

ROOT = Path(__file__).parents[2]


def _sms_label(html: str, language: str) -> str:
    card = html.split(f'data-testid="sms-{language}"', 1)[1]
    return re.search(r'<span class="small">([^<]*)</span>', card).group(1)


@pytest.fixture
def two_alerts(app: Flask, make_user: Callable[..., User]) -> tuple[int, int]:
    author = make_user(Role.coordinator)
    italy = [{"country_code": "IT", "city": ""}]
    short = alert_ops.create_alert(alert_input(base_language="en"),
                                   {"en": {"headline": "Storm", "body": "Stay indoors."}}, italy, user=author)
    long = alert_ops.create_alert(alert_input(base_language="en"),
                                  {"en": {"headline": "Storm", "body": "Stay indoors. " * 14}}, italy,
                                  user=author)
    db.session.commit()
    return short.id, long.id


@pytest.mark.parametrize(("locale", "one", "two"), [
    ("en", r"\d+ characters, 1 segment$", r"\d+ characters, 2 segments$"),
    ("zh_Hans", r"\d+ 个字符，1 条计费短信$", r"\d+ 个字符，2 条计费短信$"),
])
def test_one_segment_and_two_segments(two_alerts: tuple[int, int], make_user: Callable[..., User],
                                      logged_in: Callable[[User], Any], locale: str, one: str,
                                      two: str) -> None:
    reader = logged_in(make_user(Role.coordinator, locale=locale))
    short, long = (reader.get(f"/alerts/{alert_id}").get_data(as_text=True) for alert_id in two_alerts)
    assert re.match(one, _sms_label(short, "en")), _sms_label(short, "en")
    assert re.match(two, _sms_label(long, "en")), _sms_label(long, "en")


def test_the_compose_page_gives_its_script_each_plural_form(make_user: Callable[..., User],
                                                            logged_in: Callable[[User], Any]) -> None:
    for locale, one, other in (("en", "# SMS", "# SMS"), ("zh_Hans", "# 条短信", "# 条短信")):
        html = logged_in(make_user(Role.coordinator, locale=locale)).get("/alerts/new").get_data(as_text=True)
        assert f'data-segments-one="{one}"' in html and f'data-segments-other="{other}"' in html
    script = (ROOT / "consular/web/static/js/alert-compose.js").read_text(encoding="utf-8")
    assert "Intl.PluralRules" in script and "segmentsUnit" not in script


def test_one_case_was_created_and_one_township(make_user: Callable[..., User],
                                               logged_in: Callable[[User], Any],
                                               make_division: Callable[..., Any],
                                               make_point: Callable[..., Any]) -> None:
    coordinator = make_user(Role.coordinator, locale="en")
    incident = case_ops.create_incident({"title": "Flood", "country_code": "IT", "city": "Prato"},
                                        user=coordinator)
    db.session.commit()
    browser = logged_in(coordinator)
    created = browser.post(f"/cases/incidents/{incident.id}/mass",
                           {"text": "王伟", "category": "missing", "priority": "P2", "confirm": "1"},
                           follow_redirects=True)
    assert "1 case was created for this incident." in created.get_data(as_text=True)

    county = make_division("甲区", level=DivisionLevel.county, code="J")
    make_point("一镇联络点", division=make_division("一镇", parent=county, code="J1"))
    page = browser.get("/network/coverage").get_data(as_text=True)
    assert "1 of 1 township" in page and "1 of 1 townships" not in page


def test_no_catalog_message_puts_a_count_before_a_plural_noun_without_plural_forms() -> None:
    """A message with a number in it and an English plural after it ("%(n)s days") must be an
    ngettext entry, or "1 days" is what a reader gets."""
    with open(ROOT / "i18n/messages.pot", "rb") as fh:
        catalog = read_po(fh)
    count_noun = re.compile(r"%\((?:n|num|count|total|days|minutes|max|min|limit|segments|units)\)[ds]"
                            r" (?:[a-z-]+ )?([a-z]+s)\b")
    singular_only = [m.id for m in catalog if m.id and not m.pluralizable
                     and any(word not in ("is", "was", "has", "as", "this", "its", "us")
                             for word in count_noun.findall(m.id))]
    assert singular_only == []
