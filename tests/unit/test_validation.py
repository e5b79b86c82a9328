"""One rule for every text input (consular/validation.py): the same characters are refused by the
forms, the API schemas and the operations of every package, with the same message in the user's
language; what a language needs (Arabic's direction marks, line breaks in a note) stays."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask_babel import force_locale
from marshmallow import ValidationError as SchemaValidationError

from alerts.authoring import operations as alert_ops
from consular import validation
from consular.api_fields import Text
from consular.auth import operations as account_ops
from consular.auth.forms import TokenForm
from consular.auth.models import Role, User
from consular.cases import operations as case_ops
from consular.cases.forms import NoteForm
from consular.db import db
from consular.network import checks as network_checks
from consular.network import operations as network_ops
from consular.network.models import ServiceStation
from consular.registry import operations as registry_ops
from tests.support.alerts import alert_input

OVERRIDES = ["\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069"]
CONTROLS = ["\x00", "\x07", "\x1b", "\x7f", "\x85", "\x9b"]


@pytest.mark.parametrize("bad", OVERRIDES + CONTROLS + ["\ud800"])
def test_the_rule_refuses_overrides_isolates_controls_and_lone_surrogates(bad: str) -> None:
    assert validation.refused_character(f"Prato{bad}gnp.exe") == bad
    assert validation.refused_character(f"Prato{bad}gnp.exe", multiline=True) == bad
    assert validation.clean_text(f"a{bad}b") is None


def test_the_rule_keeps_what_languages_and_notes_need() -> None:
    arabic = "\u0645\u0631\u062d\u0628\u0627 \u200f(Prato)\u200e"  # right-to-left and left-to-right marks
    assert validation.clean_text(arabic) == arabic
    assert validation.clean_text("王\u200d伟") == "王\u200d伟"  # a joiner
    assert validation.clean_text(" line one\r\nline\ttwo ", multiline=True) == "line one\nline\ttwo"
    assert validation.clean_text("Via Roma\t12\r\nPrato\v") == "Via Roma 12 Prato"  # folded
    assert validation.refused_character("a\vb", multiline=True) == "\v"  # a note keeps only tab and breaks
    assert validation.clean_text("e\u0301") == "\u00e9"  # NFC, as stored


def test_search_boxes_drop_what_the_rule_refuses() -> None:
    assert validation.search_text("王\u202e伟\x00 +39", 100) == "王 伟  +39"
    assert validation.search_text(["not", "text"], 100) == ""


def _form_message(app: Flask, form_class: Any, data: dict[str, str]) -> list[str]:
    with app.test_request_context("/", method="POST", data=data):
        form = form_class(meta={"csrf": False})
        form.validate()
        return [m for errors in form.errors.values() for m in errors]


@pytest.mark.parametrize(("locale", "says"), [("en", "text-direction overrides"), ("zh_Hans", "文字方向")])
def test_forms_schemas_and_operations_refuse_with_one_message(app: Flask, make_user: Callable[..., User],
                                                             locale: str, says: str) -> None:
    user = make_user(Role.coordinator)
    bad = "invoice\u202egnp.exe"
    with app.test_request_context("/"), force_locale(locale):
        expected = validation.message()
        assert says in expected
        # WTForms: every text field of every form gets the rule, one-line or multi-line.
        assert expected in _form_message(app, TokenForm, {"name": bad})
        assert expected in _form_message(app, NoteForm, {"text": bad, "version": "1"})
        # marshmallow
        with pytest.raises(SchemaValidationError) as refused:
            Text(200).deserialize(bad)
        assert refused.value.messages == [expected]
        # The operations of cases, the network, the registry, alerts and accounts.
        with pytest.raises(case_ops.CaseInputError) as case_error:
            case_ops.validate_new_case({"summary": bad, "category": "detained", "country_code": "IT"},
                                       [{"name_zh": "王伟"}], user=user)
        assert case_error.value.errors["summary"] == expected
        with pytest.raises(network_checks.NetworkError) as network_error:
            network_ops.create_station({"name": bad, "country_code": "IT", "city": "Prato",
                                        "host_organisation": "华人华侨联合会", "timezone": "Europe/Rome",
                                        "languages": "zh"})
        assert network_error.value.errors["name"] == expected
        with pytest.raises(registry_ops.RegistryInputError) as registry_error:
            registry_ops.register({"name": bad, "phone": "+39 312 345 6701", "country_code": "IT",
                                   "consent_method": "written"}, user=user)
        assert registry_error.value.errors["name"] == expected
        with pytest.raises(alert_ops.AlertInputError) as alert_error:
            alert_ops.create_alert(alert_input(), {"zh_Hans": {"headline": "地震", "body": bad}},
                                   [{"country_code": "IT", "city": ""}], user=user)
        assert alert_error.value.errors["texts.zh_Hans.body"] == expected
        with pytest.raises(account_ops.AccountError, match="bad_characters"):
            account_ops.update_user(user, display_name=bad, email="", phone=None, role=Role.coordinator,
                                    liaison_point_id=None, station_id=None, locale=None)


def test_a_station_name_and_an_alert_text_with_an_override_are_refused_on_the_pages(
        app: Flask, logged_in: Callable[[User], Any], make_user: Callable[..., User]) -> None:
    """The issue's two holes: a station's name and an alert's text took what a case refused."""
    admin = logged_in(make_user(Role.admin, locale="en"))
    page = admin.post("/network/stations/new", {
        "name": "普拉托服务站\u202e", "country_code": "IT", "city": "Prato",
        "host_organisation": "华人华侨联合会", "host_kind": "community_association",
        "timezone": "Europe/Rome", "languages": "zh,it"})
    assert page.status_code == 400 and "text-direction overrides" in page.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ServiceStation)) == 0

    coordinator = logged_in(make_user(Role.coordinator, locale="en"))
    compose = coordinator.get("/alerts/new")
    assert compose.status_code == 200
    form = {"languages": "zh_Hans", "headline-zh_Hans": "地震", "body-zh_Hans": "请注意\u2067安全",
            "area_country": "IT", "event": "地震", "action": "save"}
    response = coordinator.post("/alerts/new", form)
    assert response.status_code == 400 and "text-direction overrides" in response.get_data(as_text=True)


@pytest.mark.parametrize("multiline", [False, True])
def test_the_rule_refuses_exactly_the_controls_surrogates_and_direction_overrides(multiline: bool) -> None:
    """Over every code point, the characters refused are Unicode's controls (category Cc) but the
    line breaks and tabs the field keeps, the lone surrogates (Cs) and the direction controls; the
    first of them in a text is the one named."""
    kept = validation.MULTI_LINE_KEPT if multiline else validation.ONE_LINE_FOLDED
    every = "".join(map(chr, range(0x110000)))
    expected = {ch for ch in every
                if ch in validation.BIDI_CONTROLS
                or (unicodedata.category(ch) == "Cc" and ch not in kept) or unicodedata.category(ch) == "Cs"}
    refused = set()
    rest = every
    while (ch := validation.refused_character(rest, multiline=multiline)) is not None:
        refused.add(ch)
        rest = rest[rest.index(ch) + 1:]
    assert refused == expected
    assert validation.refused_character("甲\u202e乙\x00", multiline=multiline) == "\u202e"
