"""Channels per registrant on the registry's form and API: the order (each channel once) and the
consent to WhatsApp and to voice calls, each kept with the moment it was given; bad values are a
clear 400/422 naming the field, in the reader's language, and nothing is saved."""

from __future__ import annotations

import html
import re

import pytest
import sqlalchemy as sa

from consular.auth.models import Role
from consular.db import db
from consular.registry.models import ContactChannel, Registrant, first_channel
from tests.conftest import api_headers

FORM = {"name": "王伟", "phone": "+39 312 345 6789", "kind": "citizen_abroad",
        "language": "zh_Hans", "country_code": "IT", "city": "米兰", "timezone": "",
        "liaison_point_id": "0", "station_id": "0", "stay_from": "", "stay_until": "",
        "consent_method": "written", "consent_at": "", "consent_note": "登记表 12",
        "consent_given": "y"}


@pytest.fixture
def browser(logged_in, make_user):
    return logged_in(make_user(Role.coordinator, locale="en"))


def only() -> Registrant:
    db.session.expire_all()
    found = db.session.scalar(sa.select(Registrant))
    assert found is not None
    return found


def test_the_form_sets_the_order_and_each_consent(browser) -> None:
    page = html.unescape(browser.get("/registrants/new").get_data(as_text=True))
    assert "WhatsApp → SMS" in page and "Voice call → SMS → WhatsApp" in page
    saved = browser.post("/registrants/new", {**FORM, "channels": "whatsapp,voice,sms",
                                              "whatsapp_consent": "y"})
    assert saved.status_code == 303
    person = only()
    assert person.channels == "whatsapp,voice,sms" and person.whatsapp_consent_at == person.consent_at
    assert person.voice_consent_at is None
    url = saved.headers["Location"]
    record = html.unescape(browser.get(url).get_data(as_text=True))
    assert "WhatsApp → Voice call → SMS" in record
    edited = browser.post(f"{url}/edit", {**{k: v for k, v in FORM.items() if not k.startswith("consent")},
                                          "channels": "voice,sms", "voice_consent": "y"})
    assert edited.status_code == 303
    person = only()
    assert (person.channels, person.whatsapp_consent_at is None, person.voice_consent_at is not None) == (
        "voice,sms", True, True)


def test_a_registration_without_channels_is_sms_only(browser) -> None:
    assert browser.post("/registrants/new", FORM).status_code == 303
    person = only()
    assert (person.channels, person.whatsapp_consent, person.voice_consent) == ("sms", False, False)


@pytest.mark.parametrize("channels", ["fax", "sms,sms", "sms,,voice", "whatsapp;sms"])
def test_a_bad_order_is_refused_with_a_message(browser, channels: str) -> None:
    response = browser.post("/registrants/new", {**FORM, "channels": channels})
    assert response.status_code == 400
    messages = [html.unescape(m) for m in re.findall(r'invalid-feedback d-block">([^<]*)<',
                                                      response.get_data(as_text=True))]
    assert "Choose channels from: sms, whatsapp, voice, each at most once." in messages
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Registrant)) == 0


def test_the_api_takes_and_answers_the_channels(make_user, client) -> None:
    headers = {**api_headers(make_user(Role.coordinator), "integration"), "Accept-Language": "en"}
    body = {"name": "API 渠道", "phone": "+33 6 12 34 50 77", "country_code": "FR", "city": "Paris",
            "language": "fr", "consent": {"method": "online"}, "channels": ["voice", "sms"],
            "voice_consent": True}
    created = client.post("/api/v1/registrants", json=body, headers=headers)
    assert created.status_code == 201, created.get_json()
    item = created.get_json()
    assert item["channels"] == ["voice", "sms"] and item["voice_consent_at"] is not None
    assert item["whatsapp_consent_at"] is None
    url = created.headers["Location"]
    for bad in ({"channels": ["sms", "pigeon"]}, {"channels": []}, {"channels": {"a": 1}},
                {"channels": [1]}, {"whatsapp_consent": "yes"}, {"voice_consent": None}):
        refused = client.patch(url, json=bad, headers=headers)
        assert refused.status_code == 422, bad
        assert set(refused.get_json()["fields"]) == set(bad)
    assert client.get(url, headers=headers).get_json()["channels"] == ["voice", "sms"]
    changed = client.patch(url, json={"whatsapp_consent": True, "channels": ["whatsapp", "sms"]},
                           headers=headers)
    assert changed.status_code == 200
    assert changed.get_json()["channels"] == ["whatsapp", "sms"] and changed.get_json()["whatsapp_consent_at"]


def test_the_first_consented_channel() -> None:
    assert first_channel("whatsapp,voice,sms", False, True) == ContactChannel.voice
    assert first_channel("whatsapp,voice", False, False) == ContactChannel.sms
    assert first_channel("whatsapp,sms", True, False) == ContactChannel.whatsapp
    assert first_channel("nonsense", True, True) == ContactChannel.sms
