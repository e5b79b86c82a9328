"""Self-enrolment from the public page: the code (sent through the console gateway, hashed, 10
minutes, 5 tries, used once, throttled), registering, changing and ending a registration, the
next of kin, the consent kept with its version, and the page in the visitor's language."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from alerts.enrolment import codes
from alerts.enrolment.models import EnrolmentCode, SelfEnrolment
from alerts.enrolment.operations import CONSENT_VERSION
from alerts.models import ConsoleMessage
from consular import phones
from consular.audit.models import AuditEntry
from consular.db import db, utcnow
from consular.registry.models import ConsentMethod, Registrant, RegistrantStatus
from tests.conftest import csrf_from
from tests.hostile import GBK, HOSTILE_TEXT, INVALID_UTF8, encode_form

NUMBER = "+393123456789"
KIN = "+8613905770000"


class Visitor:
    """A browser on the public page: its own cookies, the CSRF token of its session."""

    def __init__(self, client: FlaskClient, lang: str = "en") -> None:
        self.client = client
        self.lang = lang
        self.token = csrf_from(client.get(f"/enrol/?lang={lang}").get_data(as_text=True))

    def post(self, url: str, data: dict[str, Any] | None = None, **kw: Any) -> Any:
        return self.client.post(url, data={"csrf_token": self.token, **(data or {})}, **kw)

    def ask_code(self, number: str = NUMBER, **kw: Any) -> Any:
        return self.post("/enrol/code", {"phone": number}, **kw)

    def prove(self, number: str = NUMBER) -> None:
        assert self.ask_code(number).status_code == 302
        answer = self.post("/enrol/verify", {"code": last_code()})
        assert answer.status_code == 302, answer.get_data(as_text=True)[:400]
        assert answer.headers["Location"].endswith("/enrol/details")


def last_code() -> str:
    body = db.session.scalar(sa.select(ConsoleMessage.body).where(ConsoleMessage.key.like("enrol-%"))
                             .order_by(ConsoleMessage.id.desc()).limit(1))
    assert body is not None, "no code in the console outbox"
    found = re.search(r"\b(\d{6})\b", body)
    assert found, body
    return found.group(1)


DETAILS = {"name": "Chen Jing 陈静", "language": "it", "country_code": "IT", "city": "Prato",
           "stay_from": "2026-01-10", "stay_until": "", "kin_name": "陈伟", "kin_phone": KIN,
           "channels": "sms", "consent": "yes"}


@pytest.fixture
def visitor(client: FlaskClient) -> Visitor:
    return Visitor(client)


def an_hour_later() -> None:
    """The throttle's hour has passed for every code asked so far."""
    for row in db.session.scalars(sa.select(EnrolmentCode)):
        row.created_at -= codes.THROTTLE_WINDOW
    db.session.commit()


def registrants() -> list[Registrant]:
    return list(db.session.scalars(sa.select(Registrant)))


def test_enrol_from_code_to_registration(app: Flask, visitor: Visitor) -> None:
    assert visitor.client.get("/enrol/").status_code == 200  # public: no login
    visitor.prove("+39 312 345 6789")
    page = visitor.client.get("/enrol/details").get_data(as_text=True)
    assert CONSENT_VERSION in page and NUMBER in page
    answer = visitor.post("/enrol/details", DETAILS)
    assert answer.status_code == 302, answer.get_data(as_text=True)[:2000]
    [person] = registrants()
    assert person.phone == NUMBER and person.name == "Chen Jing 陈静" and person.language == "it"
    assert person.country_code == "IT" and person.timezone == "Europe/Rome"
    assert person.consent_method == ConsentMethod.online and person.status == RegistrantStatus.active
    extra = db.session.scalar(sa.select(SelfEnrolment))
    assert extra is not None and extra.registrant_id == person.id
    assert extra.next_of_kin_phone == KIN and extra.next_of_kin_name == "陈伟"
    assert extra.next_of_kin_language is None  # not chosen: the registrant's own
    assert extra.channels == ["sms"] and extra.consent_version == CONSENT_VERSION
    assert extra.consent_locale == "en" and "safety alerts" in extra.consent_text
    # The code is stored only as a keyed hash.
    row = db.session.scalar(sa.select(EnrolmentCode))
    assert row is not None and last_code() not in row.code_hash and row.consumed_at is not None
    # The proof allowed one change: a second save needs a new code.
    again = visitor.post("/enrol/details", {**DETAILS, "city": "Firenze"})
    assert again.status_code == 400
    db.session.expire_all()
    assert registrants()[0].city == "Prato"
    assert db.session.scalar(sa.select(sa.func.count(AuditEntry.id))
                             .where(AuditEntry.action == "registrant.create")) == 1


def test_known_number_changes_and_ends_with_a_new_code(app: Flask, visitor: Visitor,
                                                      client: FlaskClient) -> None:
    visitor.prove()
    assert visitor.post("/enrol/details", DETAILS).status_code == 302
    other = Visitor(app.test_client(), "it")
    other.prove("0039 312 345 6789")
    page = other.client.get("/enrol/details").get_data(as_text=True)
    assert "Chen Jing 陈静" in page and "Prato" in page  # the owner sees their registration
    # The kin's own language, offered with "the same as mine" first (the default).
    assert re.search(r'<select[^>]*id="kin_language"[^>]*>\s*<option value="">', page)
    assert 'name="kin_language"' in page and '<option value="zh_Hans"' in page
    assert other.post("/enrol/details", {**DETAILS, "city": "Firenze", "kin_language": "zh_Hans"}
                      ).status_code == 302
    [person] = registrants()
    assert person.city == "Firenze"
    extra = db.session.scalar(sa.select(SelfEnrolment))
    assert extra is not None and extra.next_of_kin_language == "zh_Hans"
    third = Visitor(app.test_client())
    third.prove("393123456789")
    assert third.post("/enrol/end", {}).status_code == 400  # not confirmed
    assert registrants()[0].ended_at is None
    assert third.post("/enrol/end", {"confirm": "yes"}).status_code == 302
    db.session.expire_all()
    person = registrants()[0]
    assert person.ended_at is not None and person.current_phone_hash is None


def test_wrong_and_replayed_codes(app: Flask, visitor: Visitor) -> None:
    assert visitor.ask_code().status_code == 302
    good = last_code()
    wrong = f"{(int(good) + 1) % 1_000_000:06d}"
    answer = visitor.post("/enrol/verify", {"code": wrong})
    assert answer.status_code == 400 and "wrong" in answer.get_data(as_text=True)
    assert db.session.scalar(sa.select(EnrolmentCode.attempts)) == 1  # the try counted
    assert visitor.post("/enrol/verify", {"code": good}).status_code == 302
    # Replayed by another browser that kept the first session's cookie: refused.
    assert visitor.post("/enrol/verify", {"code": good}).status_code == 400


def test_five_tries_then_the_code_is_dead(app: Flask, visitor: Visitor) -> None:
    visitor.ask_code()
    good = last_code()
    wrong = f"{(int(good) + 7) % 1_000_000:06d}"
    for _ in range(codes.MAX_TRIES):
        assert visitor.post("/enrol/verify", {"code": wrong}).status_code == 400
    assert visitor.post("/enrol/verify", {"code": good}).status_code == 400
    assert registrants() == []


def test_an_expired_code_fails(app: Flask, visitor: Visitor) -> None:
    visitor.ask_code()
    db.session.execute(sa.update(EnrolmentCode).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    assert visitor.post("/enrol/verify", {"code": last_code()}).status_code == 400


def test_a_new_code_replaces_the_old_one(app: Flask, visitor: Visitor) -> None:
    visitor.ask_code()
    first = last_code()
    visitor.ask_code()
    second = last_code()
    if first != second:
        assert visitor.post("/enrol/verify", {"code": first}).status_code == 400
    assert visitor.post("/enrol/verify", {"code": second}).status_code == 302


def test_a_thousand_requests_are_throttled(app: Flask, client: FlaskClient) -> None:
    visitor = Visitor(client)
    statuses = [visitor.ask_code().status_code for _ in range(1000)]
    assert statuses[:codes.MAX_CODES_PER_NUMBER] == [302] * codes.MAX_CODES_PER_NUMBER
    assert set(statuses[codes.MAX_CODES_PER_NUMBER:]) == {429}
    sent = db.session.scalar(sa.select(sa.func.count(ConsoleMessage.id)))
    assert sent == codes.MAX_CODES_PER_NUMBER
    page = visitor.ask_code().get_data(as_text=True)
    assert "Too many codes" in page
    # From one address to many numbers: the address's limit holds.
    numbers = [f"+39312345{n:04d}" for n in range(1000)]
    answers = [visitor.ask_code(n).status_code for n in numbers]
    assert answers.count(302) == codes.MAX_CODES_PER_CLIENT - codes.MAX_CODES_PER_NUMBER
    assert db.session.scalar(sa.select(sa.func.count(EnrolmentCode.id))) == codes.MAX_CODES_PER_CLIENT


def test_known_and_unknown_numbers_get_the_same_answer(app: Flask, visitor: Visitor) -> None:
    visitor.prove()
    visitor.post("/enrol/details", DETAILS)
    known = Visitor(app.test_client()).ask_code(NUMBER)
    unknown = Visitor(app.test_client()).ask_code("+393123450000")
    assert known.status_code == unknown.status_code == 302
    assert known.headers["Location"] == unknown.headers["Location"]
    page_known = Visitor(app.test_client())
    page_known.ask_code(NUMBER)
    page_unknown = Visitor(app.test_client())
    page_unknown.ask_code("+393123450001")
    def without_token(page: str) -> str:
        return re.sub(r'name="csrf_token" value="[^"]+"', "", page)

    assert without_token(page_known.client.get("/enrol/verify").get_data(as_text=True)) == \
        without_token(page_unknown.client.get("/enrol/verify").get_data(as_text=True))


@pytest.mark.parametrize(("number", "field_text"), [
    ("+39 06 6982 0000", "landline"),  # Rome, fixed line
    ("+39 899 123 456", "premium"),  # Italian premium rate
    ("+1 900 555 0199", "premium"),
    ("+800 1234 5678", "premium"),
    ("12", "Not a valid phone number"),
    ("+39 312 345 6789 ext. 1234567890123456789012345", "At most 40 characters"),
])
def test_numbers_that_cannot_get_a_code(app: Flask, visitor: Visitor, number: str, field_text: str) -> None:
    answer = visitor.ask_code(number)
    assert answer.status_code == 400
    assert field_text in answer.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(EnrolmentCode.id))) == 0


def test_bad_details_write_nothing(app: Flask, visitor: Visitor) -> None:
    visitor.prove()
    cases: list[tuple[dict[str, Any], str]] = [
        ({"kin_phone": NUMBER}, "kin_phone"),
        ({"kin_phone": "+39 312 345 6789"}, "kin_phone"),
        ({"name": "evil\u202egnp.exe"}, "name"),
        ({"name": ""}, "name"),
        ({"name": "x" * 500}, "name"),
        ({"country_code": "XX"}, "country_code"),
        ({"language": "klingon"}, "language"),
        ({"stay_from": "2026-05-01", "stay_until": "2026-04-01"}, "stay_until"),
        ({"stay_from": "yesterday"}, "stay_from"),
        ({"consent": ""}, "consent"),
        ({"channels": "pigeon"}, "channels"),
        ({"kin_phone": "+39 06 6982 0000"}, "kin_phone"),
        ({"kin_name": "", "kin_phone": KIN}, "kin_name"),
        ({"kin_language": "klingon"}, "kin_language"),
    ]
    for change, field in cases:
        answer = visitor.post("/enrol/details", {**DETAILS, **change})
        assert answer.status_code == 400, change
        html = answer.get_data(as_text=True)
        assert f'data-testid="error-{field}"' in html, change
        # The refused field says so to a screen reader, and points at its error (the channels, a
        # group of boxes, through their fieldset).
        marked = (rf'id="{field}"[^>]*aria-describedby="{field}-error"' if field == "channels"
                  else rf'id="{field}"[^>]*aria-invalid="true" aria-describedby="{field}-error"')
        assert re.search(marked, html), change
    assert registrants() == []
    assert db.session.scalar(sa.select(SelfEnrolment.id)) is None
    # The proof is still good after the refusals.
    assert visitor.post("/enrol/details", DETAILS).status_code == 302


@pytest.mark.parametrize("name", ["Chen Jing", "陈静", "陳靜", "Zoë O'Neill-Łukasz", "محمد علي",
                                  "Иван Петров", "김민준", "'; DROP TABLE registrant; --",
                                  "<script>alert(1)</script>"])
def test_names_in_every_script_are_kept_as_typed(app: Flask, visitor: Visitor, name: str) -> None:
    visitor.prove()
    assert visitor.post("/enrol/details", {**DETAILS, "name": name}).status_code == 302
    assert registrants()[0].name == name
    other = Visitor(app.test_client())
    other.prove()
    page = other.client.get("/enrol/details").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page


@pytest.mark.parametrize(("lang", "text"), [
    ("zh_Hans", "登记接收安全提醒"), ("zh_Hant", "登記接收安全提醒"), ("it", "Registrati"),
    ("fr", "Inscrivez-vous"), ("es", "Regístrese"), ("en", "Register for safety alerts"),
])
def test_the_page_speaks_six_languages(app: Flask, client: FlaskClient, lang: str, text: str) -> None:
    page = client.get(f"/enrol/?lang={lang}").get_data(as_text=True)
    assert text in page
    assert f'lang="{lang.replace("_", "-")}"' in page


@pytest.mark.parametrize(("header", "text"), [
    ("it-IT,it;q=0.9", "Registrati"), ("zh-TW", "登記接收安全提醒"), ("zh-CN,zh", "登记接收安全提醒"),
    ("es-ES", "Regístrese"),
    ("de-DE", "登记接收安全提醒"),  # no page in German: the office's default language
])
def test_the_default_language_comes_from_the_browser(app: Flask, client: FlaskClient, header: str,
                                                     text: str) -> None:
    page = client.get("/enrol/", headers={"Accept-Language": header}).get_data(as_text=True)
    assert text in page


def test_refusals_in_the_visitors_language(app: Flask, client: FlaskClient) -> None:
    visitor = Visitor(client, "it")
    answer = visitor.ask_code("+39 06 6982 0000")
    assert answer.status_code == 400 and "fisso" in answer.get_data(as_text=True)
    visitor.ask_code()
    wrong = visitor.post("/enrol/verify", {"code": "000000" if last_code() != "000000" else "111111"})
    assert wrong.status_code == 400 and "codice" in wrong.get_data(as_text=True)


def test_the_code_message_is_in_the_visitors_language(app: Flask, client: FlaskClient) -> None:
    Visitor(client, "it").ask_code()
    body = db.session.scalar(sa.select(ConsoleMessage.body))
    assert body is not None and "codice" in body


def test_codes_are_found_by_keyed_hash(app: Flask, visitor: Visitor) -> None:
    visitor.ask_code()
    row = db.session.scalar(sa.select(EnrolmentCode))
    assert row is not None and row.phone_hash == phones.search_hash(NUMBER)
    raw = db.session.execute(sa.text("SELECT phone FROM enrolment_code")).scalar()
    assert NUMBER not in str(raw)


def test_no_proof_no_details(app: Flask, visitor: Visitor) -> None:
    assert visitor.client.get("/enrol/details").status_code == 302
    assert visitor.client.get("/enrol/verify").status_code == 302
    assert visitor.post("/enrol/details", DETAILS).status_code == 400
    assert visitor.post("/enrol/end", {"confirm": "yes"}).status_code == 400
    assert visitor.post("/enrol/verify", {"code": "123456"}).status_code == 400
    assert registrants() == []


def test_the_forms_behind_a_code_refuse_hostile_input(app: Flask, visitor: Visitor) -> None:
    """The bad-input sweep's classes of trouble on the code, details and end forms: a 4xx with a
    message, never a 500, and no registration half-written."""
    visitor.ask_code()
    bodies = [encode_form({"csrf_token": visitor.token, "code": value}) for value in HOSTILE_TEXT.values()]
    bodies.append(encode_form({"csrf_token": visitor.token, "code": INVALID_UTF8}))
    for body in bodies[:codes.MAX_TRIES]:
        answer = visitor.client.post("/enrol/verify", data=body,
                                     content_type="application/x-www-form-urlencoded")
        assert answer.status_code == 400 and "invalid-feedback" in answer.get_data(as_text=True)
    again = Visitor(app.test_client())
    again.prove()
    for trouble, value in [*HOSTILE_TEXT.items(), ("invalid_utf8", INVALID_UTF8), ("gbk", GBK)]:
        for field in ("name", "city", "kin_name", "kin_phone", "country_code", "language", "stay_from",
                      "timezone", "channels"):
            body = encode_form({**DETAILS, "csrf_token": again.token, field: value})
            answer = again.client.post("/enrol/details", data=body,
                                       content_type="application/x-www-form-urlencoded")
            if answer.status_code == 302:  # valid: plain text in any script, or an optional field
                assert field in ("name", "city", "kin_name") or trouble in ("empty", "blank"), \
                    (field, trouble)
                assert field not in ("kin_phone", "country_code", "language"), (field, trouble)
                an_hour_later()
                again = Visitor(app.test_client())
                again.prove()
                continue
            assert answer.status_code == 400, (field, trouble, answer.status_code)
            assert f'data-testid="error-{field}"' in answer.get_data(as_text=True), (field, trouble)
    ends = [encode_form({"csrf_token": again.token, "confirm": value}) for value in HOSTILE_TEXT.values()]
    for body in ends:
        answer = again.client.post("/enrol/end", data=body, content_type="application/x-www-form-urlencoded")
        assert answer.status_code == 400, answer.status_code
    assert all(person.ended_at is None for person in registrants())
    # Whatever was accepted was written whole: each registration with its enrolment row.
    assert len(registrants()) == 1  # one number: each accepted form changed the one registration
    assert db.session.scalar(sa.select(sa.func.count(SelfEnrolment.id))) == 1


def test_subject_access_and_erasure_cover_the_next_of_kin(app: Flask, visitor: Visitor,
                                                          make_user: Callable[..., Any]) -> None:
    from consular.auth.models import Role
    from consular.registry.subject_data import erase_registrant, subject_access_export

    visitor.prove()
    visitor.post("/enrol/details", {**DETAILS, "kin_language": "en"})
    [person] = registrants()
    coordinator = make_user(role=Role.coordinator)
    export = subject_access_export(person, user=coordinator)
    section = export["self_enrolment"]
    assert section["next_of_kin_phone"] == KIN and section["consent_version"] == CONSENT_VERSION
    assert section["next_of_kin_language"] == "en"
    assert erase_registrant(person, user=coordinator)
    db.session.commit()
    extra = db.session.scalar(sa.select(SelfEnrolment))
    assert extra is not None and extra.next_of_kin_name is None and extra.next_of_kin_phone is None
    assert extra.next_of_kin_language is None
    assert extra.consent_version == CONSENT_VERSION


def test_codes_are_deleted_a_day_after(app: Flask, visitor: Visitor) -> None:
    visitor.ask_code()
    for row in db.session.scalars(sa.select(EnrolmentCode)):
        row.created_at -= codes.KEEP_CODES + timedelta(minutes=1)
    db.session.commit()
    Visitor(app.test_client()).ask_code("+393123450002")
    assert db.session.scalars(sa.select(EnrolmentCode.phone)).all() == ["+393123450002"]


@pytest.mark.parametrize("written", [
    "+39 312 345 6789", "0039 312 345 6789", "393123456789", "+39-312-345-6789", "(+39) 312 345 6789",
    "'+39 312 345 6789", "+39.312.345.6789", "＋３９ ３１２ ３４５ ６７８９", " +393123456789 ",
])
def test_numbers_in_every_format_reach_the_same_registration(app: Flask, visitor: Visitor,
                                                               written: str) -> None:
    assert visitor.ask_code(written).status_code == 302, written
    assert db.session.scalar(sa.select(EnrolmentCode.phone)) == NUMBER
    body = db.session.scalar(sa.select(ConsoleMessage.body))
    assert body is not None and last_code() in body


def test_the_limits_hold_when_requests_come_at_once(app: Flask) -> None:
    visitors = [Visitor(app.test_client()) for _ in range(12)]
    statuses: list[int] = []

    def ask(visitor: Visitor) -> None:
        with app.app_context():
            statuses.append(visitor.ask_code().status_code)

    threads = [threading.Thread(target=ask, args=(v,)) for v in visitors]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(statuses) == [302] * codes.MAX_CODES_PER_NUMBER + [429] * (12 - codes.MAX_CODES_PER_NUMBER)
    assert db.session.scalar(sa.select(sa.func.count(EnrolmentCode.id))) == codes.MAX_CODES_PER_NUMBER
