"""Inbound SMS through the fake Twilio's signed webhook: STOP / START / HELP in several languages,
safety-check answers that open cases, idempotency, the call-round list and the single re-send."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from alerts.channels.sms import texts
from alerts.jobs import call_round, reply_counts, safety_check_followups
from alerts.models import (
    Alert,
    AlertState,
    CapUrgency,
    ConsoleMessage,
    DeliveryState,
    InboundMessage,
    ReplyKind,
)
from alerts.replies.inbound import simulate_inbound
from consular.cases.models import Case, CaseStatus, Channel, Priority
from consular.db import db, utcnow
from consular.network.models import Mission, ServiceStation
from consular.registry.models import Registrant, RegistrantStatus
from tests.support.dispatch import (
    TwilioSetup,
    deliveries,
    make_alert,
    make_registrant,
    new_phone,
    send_alert,
)
from tests.support.replies import OUR_NUMBER, answer_of, text_in
from tests.support.webhooks import twilio_signature


def status_of(person: Registrant) -> RegistrantStatus:
    db.session.expire_all()
    row = db.session.get(Registrant, person.id)
    assert row is not None
    return row.status


@pytest.fixture
def hotline_setup(make_twilio: Callable[..., TwilioSetup]) -> TwilioSetup:
    return make_twilio(HOTLINE_NUMBER="+86 577 12308")


@pytest.mark.parametrize(("language", "stop", "start"), [
    ("zh_Hans", "退订", "开始"),
    ("en", "STOP", "START"),
    ("it", "ANNULLA", "RIATTIVA"),
    ("fr", "ARRÊT", "START"),
    ("ar", "توقف", "ابدأ"),
])
def test_stop_and_start_in_several_languages(app: Flask, hotline_setup: TwilioSetup, language: str,
                                             stop: str, start: str) -> None:
    person = make_registrant(language=language)
    answer = text_in(hotline_setup, person, stop)
    assert status_of(person) == RegistrantStatus.opted_out
    # Twilio flags its own keywords (OptOutType) and confirms those itself: one confirmation only.
    twilio_word = stop.upper() in ("STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT")
    assert answer == (None if twilio_word else texts.stop_confirmation(language))

    answer = text_in(hotline_setup, person, start)
    assert status_of(person) == RegistrantStatus.active
    assert answer == (None if start == "START" else texts.start_confirmation(language))
    kinds = list(db.session.scalars(sa.select(InboundMessage.kind).order_by(InboundMessage.id)))
    assert kinds == ["stop", "start"]


@pytest.mark.parametrize(("language", "word"), [("it", "AIUTO"), ("zh_Hans", "帮助"), ("ar", "مساعدة"),
                                                ("en", "HELP"), ("fr", "AIDE")])
def test_help_names_the_nearest_station_the_mission_and_the_hotline(
        app: Flask, hotline_setup: TwilioSetup, make_station: Any, make_mission: Any,
        language: str, word: str) -> None:
    make_station(name="罗马服务站", name_en="Rome station", city="Roma", contact_phone="+39061111111")
    prato: ServiceStation = make_station(name="普拉托服务站", name_en="Prato station", city="Prato",
                                         contact_phone="+390574222222")
    embassy: Mission = make_mission(name="中国驻意大利大使馆", name_en="Embassy of China in Italy",
                                    emergency_phone="+393387080008")
    person = make_registrant(language=language, city="Prato")
    answer = text_in(hotline_setup, person, word)
    chinese = language.startswith("zh")
    assert answer == texts.help_answer(
        language, station_name=prato.name if chinese else prato.name_en, station_phone=prato.contact_phone,
        mission_name=embassy.name if chinese else embassy.name_en, mission_phone=embassy.emergency_phone,
        hotline="+86 577 12308")
    assert status_of(person) == RegistrantStatus.active


def test_help_from_an_unknown_number_still_gives_the_hotline(app: Flask, hotline_setup: TwilioSetup) -> None:
    answer = text_in(hotline_setup, new_phone("+44770"), "HELP")
    assert answer is not None and "+86 577 12308" in answer
    assert db.session.scalar(sa.select(sa.func.count()).select_from(InboundMessage)) == 1


def safety_check_sent(setup: TwilioSetup, people: list[Registrant], **kw: Any) -> Alert:
    alert = make_alert(languages=("zh_Hans", "en"), urgency=CapUrgency.Immediate, safety_check=True,
                       event="Earthquake", **kw)
    send_alert(alert)
    assert setup.run_until_idle() == len(people)
    return alert


def cases_of(person: Registrant) -> list[Case]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(Case).where(Case.registrant_id == person.id)
                                   .order_by(Case.id)))


def test_safety_check_answers_are_recorded_and_need_help_opens_one_case(
        app: Flask, hotline_setup: TwilioSetup) -> None:
    safe, in_trouble, unclear = (make_registrant(language=lang) for lang in ("zh_Hans", "en", "zh_Hans"))
    outside = make_registrant(country="FR", language="en", timezone="Europe/Paris")
    alert = safety_check_sent(hotline_setup, [safe, in_trouble, unclear])

    assert text_in(hotline_setup, safe, "1") == texts.safety_ack_safe("zh_Hans")
    assert text_in(hotline_setup, in_trouble, "２") == texts.safety_ack_help("en")  # full-width digit
    # The unreadable answer opened a case: the person is told someone will call, not only "sorry".
    unclear_answer = text_in(hotline_setup, unclear, "blah")
    assert unclear_answer == texts.unclear_reply_followed_up("zh_Hans")
    assert "工作人员会尽快与您联系" in unclear_answer
    assert texts.safety_check_prompt("zh_Hans") in unclear_answer
    assert text_in(hotline_setup, outside, "blah") == texts.unknown_reply("en")  # nobody asked them

    rows = {d.registrant_id: d for d in deliveries(alert.id)}
    assert rows[safe.id].reply_kind == ReplyKind.safe and rows[safe.id].replied_at is not None
    assert rows[in_trouble.id].reply_kind == ReplyKind.need_help
    assert rows[unclear.id].reply_kind == ReplyKind.unknown
    assert cases_of(safe) == [] and cases_of(outside) == []
    [help_case] = cases_of(in_trouble)
    assert (help_case.status, help_case.priority, help_case.channel) == (CaseStatus.new, Priority.P1,
                                                                        Channel.sms_reply)
    assert help_case.country_code == "IT"
    [unclear_case] = cases_of(unclear)
    assert unclear_case.priority == Priority.P2  # unreadable: a person triages it

    # A second "2" joins the open case instead of opening another; "1" later never downgrades it.
    assert text_in(hotline_setup, in_trouble, "2") == texts.safety_ack_help("en")
    text_in(hotline_setup, in_trouble, "1")
    assert [c.id for c in cases_of(in_trouble)] == [help_case.id]
    assert {d.registrant_id: d.reply_kind for d in deliveries(alert.id)}[in_trouble.id] == ReplyKind.need_help
    linked = set(db.session.scalars(sa.select(InboundMessage.case_id).where(
        InboundMessage.registrant_id == in_trouble.id)))
    assert linked == {help_case.id, None}  # the "1" opened nothing
    assert reply_counts(alert.id) == {"safe": 1, "need_help": 1, "unknown": 1, "unanswered": 0,
                                      "call_round": 0}


def test_the_same_inbound_message_twice_has_no_second_effect(app: Flask, hotline_setup: TwilioSetup) -> None:
    person = make_registrant(language="en")
    safety_check_sent(hotline_setup, [person])
    url = f"{hotline_setup.base_url}/webhooks/twilio/inbound"
    params = {"MessageSid": "SM" + "7" * 32, "From": person.phone, "To": OUR_NUMBER, "Body": "2 help",
              "AccountSid": "AC" + "d" * 32}
    signature = twilio_signature(url, params)
    client = hotline_setup.app.test_client()
    first = client.post("/webhooks/twilio/inbound", data=params, headers={"X-Twilio-Signature": signature})
    second = client.post("/webhooks/twilio/inbound", data=params, headers={"X-Twilio-Signature": signature})
    assert answer_of(first.get_data(as_text=True)) == texts.safety_ack_help("en")
    assert answer_of(second.get_data(as_text=True)) is None
    assert db.session.scalar(sa.select(sa.func.count()).select_from(InboundMessage)) == 1
    assert len(cases_of(person)) == 1

    forged = client.post("/webhooks/twilio/inbound", data={**params, "MessageSid": "SM" + "8" * 32},
                         headers={"X-Twilio-Signature": signature})
    assert forged.status_code == 403
    assert db.session.scalar(sa.select(sa.func.count()).select_from(InboundMessage)) == 1


def test_unanswered_people_are_listed_and_sent_the_check_once_more(app: Flask,
                                                                    hotline_setup: TwilioSetup) -> None:
    answered, silent, unreachable = (make_registrant(language="en") for _ in range(3))
    alert = safety_check_sent(hotline_setup, [answered, silent, unreachable], safety_check_minutes=30,
                              resend_unanswered=True, expires_in=timedelta(hours=12))
    text_in(hotline_setup, answered, "I am safe")
    before = {m["sid"] for m in hotline_setup.fake.messages()}

    assert safety_check_followups(utcnow() + timedelta(minutes=10)).call_round == 0  # not yet
    number_gone = db.session.get(Registrant, unreachable.id)
    assert number_gone is not None
    number_gone.status = RegistrantStatus.invalid_number  # found out meanwhile
    db.session.commit()

    later = utcnow() + timedelta(minutes=31)
    counts = safety_check_followups(later)
    assert (counts.call_round, counts.resent) == (2, 2)
    assert {e.registrant_id for e in call_round(alert.id)} == {silent.id, unreachable.id}
    db.session.expire_all()
    assert db.session.get(Alert, alert.id).state == AlertState.sending  # type: ignore[union-attr]

    hotline_setup.run_until_idle(now=later)
    resent = [m for m in hotline_setup.fake.messages() if m["sid"] not in before]
    assert [m["to"] for m in resent] == [silent.phone]  # the invalid number is skipped, not sent
    rows = {d.registrant_id: d for d in deliveries(alert.id)}
    assert rows[silent.id].previous_provider_id in before and rows[silent.id].provider_id == resent[0]["sid"]
    assert rows[silent.id].resent_at is not None
    assert (rows[unreachable.id].state, rows[unreachable.id].skip_reason) == (DeliveryState.skipped,
                                                                            "invalid_number")
    # Never twice: later runs add no message; an answer to the re-send takes them off the list.
    assert safety_check_followups(later + timedelta(hours=2)).resent == 0
    hotline_setup.run_until_idle(now=later + timedelta(hours=2))
    assert len(hotline_setup.fake.messages()) == len(before) + 1
    text_in(hotline_setup, silent, "1")
    assert {e.registrant_id for e in call_round(alert.id)} == {unreachable.id}
    db.session.expire_all()
    assert db.session.get(Alert, alert.id).state == AlertState.sent  # type: ignore[union-attr]


def test_on_the_console_gateway_an_inbound_can_be_simulated(app: Flask) -> None:
    person = make_registrant(language="it")
    result = simulate_inbound(person.phone, "ANNULLA")
    db.session.commit()
    assert result.kind == "stop"
    assert status_of(person) == RegistrantStatus.opted_out
    [kept] = db.session.scalars(sa.select(ConsoleMessage)).all()
    assert (kept.to, kept.body) == (person.phone, texts.stop_confirmation("it"))


def test_a_text_can_be_received_from_the_command_line_on_the_console(app: Flask) -> None:
    person = make_registrant(language="zh_Hans")
    from consular.cli import sms_receive

    result = app.test_cli_runner().invoke(sms_receive, ["--from", person.phone, "帮助"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("help: ")
    [kept] = db.session.scalars(sa.select(ConsoleMessage)).all()
    assert kept.to == person.phone and kept.body in result.output
