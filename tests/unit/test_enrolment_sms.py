"""Self-enrolment over SMS, against the fake Twilio through the official client: JOIN (and its
word in every SMS language) answers with the link to the page in the language of the word; the
code of the page leaves through the Twilio gateway like any other message."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from flask import Flask

from alerts.channels.sms import texts
from alerts.enrolment.models import EnrolmentCode
from alerts.models import InboundMessage
from alerts.replies.inbound import simulate_inbound
from alerts.replies.keywords import JOIN_KEYWORDS, ReplyKind, parse_reply
from consular.db import db
from tests.conftest import csrf_from
from tests.support.dispatch import TwilioSetup, make_registrant, new_phone
from tests.support.replies import text_in


@pytest.mark.parametrize(("word", "locale", "expected"), [
    ("JOIN", "en", "Register for safety alerts here"),
    ("join", "en", "Register for safety alerts here"),
    ("登记", "zh_Hans", "登记接收安全提醒"),
    ("登記", "zh_Hant", "登記接收安全提醒"),
    ("ISCRIVI", "it", "Registrati per gli avvisi"),
    ("Inscription", "fr", "Inscrivez-vous"),
    ("REGISTRO", "es", "Registrese"),
    ("ANMELDEN", "de", "anmelden"),
    ("등록", "ko", "안전 알림"),
])
def test_join_answers_with_the_link(app: Flask, twilio: TwilioSetup, word: str, locale: str,
                                    expected: str) -> None:
    answer = text_in(twilio, new_phone("+39312"), word)
    assert answer is not None and expected in answer
    page_lang = f"?lang={locale}" if locale in ("en", "zh_Hans", "zh_Hant", "it", "fr", "es") else ""
    assert f"{twilio.base_url}/enrol/{page_lang}" in answer
    assert db.session.scalar(sa.select(InboundMessage.kind)) == "enrol"


def test_join_from_a_registered_number_gives_the_same_link(app: Flask, twilio: TwilioSetup) -> None:
    person = make_registrant(language="zh_Hans")
    answer = text_in(twilio, person.phone, "ISCRIVI")
    assert answer == texts.join_answer("it", f"{twilio.base_url}/enrol/?lang=it")


def test_every_sms_language_has_a_join_word() -> None:
    found = {parse_reply(word).locale for word in JOIN_KEYWORDS}
    assert found == set(texts.SMS_LOCALES)
    for word in JOIN_KEYWORDS:
        assert parse_reply(word).kind == ReplyKind.enrol, word
    # Only as the whole message: "join us for dinner" is not a request for the link.
    assert parse_reply("join us for dinner").kind != ReplyKind.enrol


def test_join_on_the_console_gateway(app: Flask) -> None:
    result = simulate_inbound("+393123456700", "JOIN")
    assert result.kind == "enrol" and result.answer is not None and "/enrol/?lang=en" in result.answer


def test_the_code_goes_through_the_twilio_gateway(app: Flask, twilio: TwilioSetup) -> None:
    client = twilio.app.test_client()
    token = csrf_from(client.get("/enrol/?lang=fr").get_data(as_text=True))
    answer = client.post("/enrol/code", data={"csrf_token": token, "phone": "+33 6 12 34 56 78"})
    assert answer.status_code == 302
    assert twilio.fake.wait_idle()
    [message] = twilio.fake.messages(to="+33612345678")
    assert "Votre code d'inscription" in message["body"]
    code = re.search(r"\b(\d{6})\b", message["body"])
    assert code is not None
    row = db.session.scalar(sa.select(EnrolmentCode))
    assert row is not None and row.sent_at is not None and code.group(1) not in row.code_hash
    assert client.post("/enrol/verify", data={"csrf_token": token, "code": code.group(1)}).status_code == 302
