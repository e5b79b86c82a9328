"""The registry's pages as a coordinator uses them: registering (and the clear 400 with messages
when something is wrong, nothing half-written), the record with its consent and history, status,
ending, erasure with confirmation, the subject-access download, the list with its filters, exact
search and counts by language and country."""

from __future__ import annotations

import html
import json
import re

import pytest
import sqlalchemy as sa

from consular.audit.models import AuditEntry
from consular.auth.models import Role
from consular.db import db
from consular.registry import operations as ops
from consular.registry.models import Registrant, RegistrantStatus

FORM = {"name": "王伟", "phone": "+39 312 345 6789", "kind": "citizen_abroad",
        "language": "zh_Hans", "country_code": "IT", "city": "米兰", "timezone": "",
        "liaison_point_id": "0", "station_id": "0", "stay_from": "", "stay_until": "",
        "consent_method": "written", "consent_at": "", "consent_note": "登记表 12",
        "consent_given": "y"}
EN = {"Accept-Language": "en"}


@pytest.fixture
def coordinator(make_user):
    return make_user(Role.coordinator, locale="en")


@pytest.fixture
def browser(logged_in, coordinator):
    return logged_in(coordinator)


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def errors(response) -> list[str]:
    return [html.unescape(e) for e in re.findall(r'invalid-feedback d-block">([^<]*)<',
                                                  response.get_data(as_text=True))]


def count() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Registrant)) or 0


def test_register_a_person_from_the_form(browser):
    page = browser.get("/registrants/new")
    assert page.status_code == 200
    body = text(page)
    assert "中文 (简体)" in body and "italiano · Italian" in body  # languages by their own names
    assert "Automatic: from the city" in body and 'inputmode="tel"' in body
    saved = browser.post("/registrants/new", FORM)
    assert saved.status_code == 303
    registrant = db.session.scalar(sa.select(Registrant))
    assert registrant is not None and registrant.timezone == "Europe/Rome"
    record = browser.get(saved.headers["Location"])
    body = text(record)
    assert "王伟" in body and "+393123456789" in body and "Europe/Rome" in body
    assert "Signed form" in body and "登记表 12" in body  # the consent record
    assert "Registered" in body.split('data-testid="history"', 1)[1]


@pytest.mark.parametrize(("change", "field_message"), [
    ({"phone": "06 1234 5678"}, "This is a landline number: text messages cannot reach it. "
                                "Enter a mobile number."),
    ({"phone": "not a number"}, "Not a valid phone number. Use the international format, for "
                                "example +39 312 345 6789."),
    ({"consent_given": ""}, "Registration needs the person's consent."),
    ({"name": ""}, "This field is required."),
    ({"stay_from": "2025-09-01", "stay_until": "2025-01-01"}, "The stay cannot end before it starts."),
    ({"stay_from": "someday"}, "Not a valid date value."),
    ({"country_code": "ZZ"}, "Not a valid choice."),
    ({"consent_at": "2999-01-01T10:00"}, "This moment is in the future."),
])
def test_bad_input_is_a_400_with_messages_and_nothing_saved(browser, change, field_message):
    response = browser.post("/registrants/new", {**FORM, **change})
    assert response.status_code == 400
    assert "Nothing was saved. Please correct the marked fields." in text(response)
    assert field_message in errors(response)
    assert count() == 0


def test_an_unknown_city_asks_for_the_zone_among_the_countrys(browser):
    response = browser.post("/registrants/new", {**FORM, "country_code": "US", "city": "Nowhere Creek",
                                                 "phone": "+1 212 555 0177"})
    assert response.status_code == 400
    assert "We cannot tell the time zone of Nowhere Creek. Choose it from the list." in errors(response)
    body = text(response)
    assert 'value="America/Chicago"' in body and 'value="Europe/Rome"' not in body
    saved = browser.post("/registrants/new", {**FORM, "country_code": "US", "city": "Nowhere Creek",
                                              "phone": "+1 212 555 0177",
                                              "timezone": "America/Chicago"})
    assert saved.status_code == 303
    assert db.session.scalar(sa.select(Registrant.timezone)) == "America/Chicago"


def test_a_second_registration_of_a_number_links_to_the_first(browser):
    browser.post("/registrants/new", FORM)
    first = db.session.scalar(sa.select(Registrant.id))
    again = browser.post("/registrants/new", {**FORM, "name": "王芳", "phone": "3123456789"})
    assert again.status_code == 400
    assert f"This number is already registered (registration no. {first})." in text(again)
    assert f'href="/registrants/{first}"' in again.get_data(as_text=True)
    assert count() == 1


def test_change_status_end_and_edit(browser, coordinator):
    registrant = ops.register({k: v for k, v in FORM.items() if k != "consent_given"},
                              user=coordinator)
    db.session.commit()
    url = f"/registrants/{registrant.id}"
    edited = browser.post(f"{url}/edit", {**{k: v for k, v in FORM.items() if not k.startswith(
        "consent")}, "city": "Prato", "language": "it", "timezone": "Europe/Rome"})
    assert edited.status_code == 303
    db.session.refresh(registrant)
    assert registrant.city == "Prato" and registrant.language == "it"
    bad_edit = browser.post(f"{url}/edit", {**{k: v for k, v in FORM.items() if not k.startswith(
        "consent")}, "phone": "+39 06 1234 5678"})
    assert bad_edit.status_code == 400 and registrant.phone == "+393123456789"

    stopped = browser.post(f"{url}/status", {"status": "opted_out", "consent_method": "",
                                             "consent_note": ""})
    assert stopped.status_code == 303
    assert db.session.get(Registrant, registrant.id).status == RegistrantStatus.opted_out
    refused = browser.post(f"{url}/status", {"status": "active", "consent_method": "",
                                             "consent_note": ""}, follow_redirects=True)
    assert "This person opted out. Record how they agreed to receive alerts again." in text(refused)
    assert db.session.get(Registrant, registrant.id).status == RegistrantStatus.opted_out
    browser.post(f"{url}/status", {"status": "active", "consent_method": "verbal",
                                   "consent_note": "电话"})
    assert db.session.get(Registrant, registrant.id).status == RegistrantStatus.active

    ended = browser.post(f"{url}/end", {"reason": "returned_home"}, follow_redirects=True)
    assert "The registration has ended" in text(ended)
    assert browser.get(f"{url}/edit").status_code == 303  # an ended registration is not edited
    history = text(browser.get(url)).split('data-testid="history"', 1)[1]
    for line in ("Registered", "Changed: city, language", "Status: Active → Opted out",
                 "Status: Opted out → Active", "Registration ended: Returned home"):
        assert line in history


def test_erase_needs_confirmation_and_respects_a_legal_hold(browser, coordinator):
    registrant = ops.register({k: v for k, v in FORM.items() if k != "consent_given"},
                              user=coordinator)
    db.session.commit()
    url = f"/registrants/{registrant.id}"
    assert browser.get(f"{url}/erase").status_code == 200
    unconfirmed = browser.post(f"{url}/erase", {})
    assert unconfirmed.status_code == 400 and "Tick the box to confirm." in errors(unconfirmed)
    assert db.session.get(Registrant, registrant.id).name == "王伟"

    browser.post(f"{url}/legal-hold", {"hold": "1"})
    held = browser.post(f"{url}/erase", {"confirm": "y"})
    assert held.status_code == 409 and "under legal hold" in text(held)
    assert db.session.get(Registrant, registrant.id).name == "王伟"

    browser.post(f"{url}/legal-hold", {"hold": "0"})
    erased = browser.post(f"{url}/erase", {"confirm": "y"}, follow_redirects=True)
    assert "The person's data was erased." in text(erased)
    assert "王伟" not in text(erased) and "+393123456789" not in text(erased)
    assert db.session.get(Registrant, registrant.id).erased_at is not None


def test_subject_access_download(browser, coordinator):
    registrant = ops.register({k: v for k, v in FORM.items() if k != "consent_given"},
                              user=coordinator)
    db.session.commit()
    response = browser.get(f"/registrants/{registrant.id}/subject-access.json")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith("attachment;")
    body = json.loads(response.get_data())
    assert body["registration"]["name"] == "王伟" and body["consent"]["note"] == "登记表 12"
    assert db.session.scalar(sa.select(AuditEntry.action).where(
        AuditEntry.action == "registrant.subject_access")) == "registrant.subject_access"


@pytest.fixture
def crowd(coordinator):
    people = [("王伟", "+393123450001", "IT", "Milano", "zh_Hans"),
              ("李娜", "+393123450002", "IT", "Roma", "zh_Hans"),
              ("Marco Rossi", "+393123450003", "IT", "Prato", "it"),
              ("黄志明", "+33612345001", "FR", "Paris", "zh_Hans"),
              ("Claire Martin", "+33612345002", "FR", "Paris", "fr")]
    for name, phone, country, city, language in people:
        ops.register({"name": name, "phone": phone, "country_code": country, "city": city,
                      "language": language, "consent_method": "written"}, user=coordinator)
    db.session.commit()


def listed(response) -> list[str]:
    return re.findall(r'class="fw-semibold" href="/registrants/\d+">([^<]*)<',
                      response.get_data(as_text=True))


def test_list_filters_search_and_counts(browser, crowd):
    everyone = browser.get("/registrants")
    body = everyone.get_data(as_text=True)
    assert len(listed(everyone)) == 5
    assert re.search(r'data-testid="count-language-zh_Hans">[^<]*<span class="fw-semibold">3<', body)
    assert re.search(r'data-testid="count-country-IT">[^<]*<span class="fw-semibold">3<', body)
    assert sorted(listed(browser.get("/registrants?country=FR"))) == ["Claire Martin", "黄志明"]
    assert listed(browser.get("/registrants?country=IT&language=it")) == ["Marco Rossi"]
    french = browser.get("/registrants?country=FR").get_data(as_text=True)
    assert re.search(r'data-testid="count-language-fr">[^<]*<span class="fw-semibold">1<', french)
    # Exact search: a whole number in any spelling, or a whole name.
    assert listed(browser.get("/registrants?q=%2B39+312+345+0002")) == ["李娜"]
    assert listed(browser.get("/registrants?q=3123450002&country=IT")) == ["李娜"]
    assert listed(browser.get("/registrants?q=marco+rossi")) == ["Marco Rossi"]
    assert listed(browser.get("/registrants?q=%E7%8E%8B%E4%BC%9F")) == ["王伟"]  # 王伟
    assert listed(browser.get("/registrants?q=%E7%8E%8B")) == []  # 王: no partial matches
    # Unknown filter values are ignored, not errors.
    assert len(listed(browser.get("/registrants?status=gone&country=XX&page=abc"))) == 5
    lists = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "registrant.list")
                               ).all()
    assert len(lists) == 10 and all("q" not in entry.detail for entry in lists)


def test_the_nav_leads_registrars_to_the_registry(logged_in, make_user):
    officer = logged_in(make_user(Role.liaison_officer))
    assert 'href="/registrants"' in officer.get("/").get_data(as_text=True)
    admin = logged_in(make_user(Role.admin))
    assert 'href="/registrants"' not in admin.get("/").get_data(as_text=True)
