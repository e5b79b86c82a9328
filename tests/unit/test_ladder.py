"""The ladder for the silent of a safety check, rung by rung, through the official client against the
fake Twilio over HTTP with the jobs on a driven clock: an answer on any channel (an SMS, a key on a
call, a call of the call round that reached the person) stops it; someone without next of kin has
that rung recorded as skipped, counted, and the ladder goes on; the welfare visit is one case per
person and alert, for the nearest station, or unassigned in triage when no station is in reach; the
pages show the counts per rung and each person's rung."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from alerts.authoring.call_round import record_call
from alerts.enrolment.models import SelfEnrolment
from alerts.jobs import climb_ladders, safety_check_followups
from alerts.ladder import insert_step, nearest_station, rung_counts
from alerts.models import (
    CallOutcome,
    CapUrgency,
    Delivery,
    LadderRung,
    LadderStep,
    LadderStepState,
)
from consular.auth.models import Role, User
from consular.cases.models import Case, CaseStatus, Channel
from consular.db import db, utcnow
from consular.network.models import ServiceStation
from consular.registry.models import Registrant
from tests.support.dispatch import TwilioSetup, deliveries, make_alert, make_registrant, new_phone, send_alert

CALLER = "+15005550006"


@pytest.fixture
def tw(make_twilio: Callable[..., TwilioSetup]) -> TwilioSetup:
    return make_twilio(TWILIO_VOICE_FROM=CALLER, CALLS_PER_SECOND=500)


def someone(*, kin: bool = True, city: str = "Prato", country: str = "IT",
            place: tuple[float, float] | None = (43.8777, 11.1023), kin_language: str | None = None
            ) -> Registrant:
    person = make_registrant(language="it", name="Anna Rossi", city=city, country=country)
    person.channels, person.voice_consent_at = "sms,voice", utcnow()
    if place is not None:
        person.latitude, person.longitude = place
    if kin:
        db.session.add(SelfEnrolment(registrant_id=person.id, next_of_kin_name="Marco",
                                     next_of_kin_phone=new_phone("+86139"), channels=["sms", "voice"],
                                     next_of_kin_language=kin_language,
                                     consent_version="1", consent_locale="it", consent_text="…",
                                     consent_at=utcnow()))
    db.session.commit()
    return person


class Clock:
    """The ladder's times: each step a rung's minutes (and a minute) after the one before."""

    def __init__(self, tw: TwilioSetup) -> None:
        self.tw = tw
        self.now = utcnow()

    def dispatch(self) -> None:
        self.tw.run_until_idle(now=self.now)
        assert self.tw.fake.wait_idle(30)

    def advance(self, minutes: int) -> datetime:
        self.now += timedelta(minutes=minutes + 1)
        return self.now


def start(tw: TwilioSetup, people: list[Registrant], **kw: Any) -> tuple[Any, Clock]:
    alert = make_alert(languages=("it",), urgency=CapUrgency.Immediate, safety_check=True,
                       resend_unanswered=True, event="terremoto", expires_in=timedelta(days=2), **kw)
    clock = Clock(tw)
    send_alert(alert)
    clock.dispatch()
    return alert, clock


def rungs(alert_id: int) -> dict[int, str | None]:
    return {d.registrant_id: d.ladder_rung for d in deliveries(alert_id)}


def sms_answer(tw: TwilioSetup, person: Registrant, body: str = "1") -> None:
    assert tw.fake.send_inbound(person.phone, CALLER, body, f"{tw.base_url}/webhooks/twilio/inbound")[
        "status"] == 200


def test_an_answer_on_any_channel_stops_the_ladder(app: Flask, tw: TwilioSetup,
                                                  make_user: Callable[..., User]) -> None:
    by_sms, by_key, by_call_round, silent = someone(), someone(), someone(), someone()
    tw.fake.configure(numbers={by_key.phone: {"digits": "1"}, silent.phone: {"call": "no-answer"}})
    alert, clock = start(tw, [by_sms, by_key, by_call_round, silent])

    safety_check_followups(clock.advance(alert.call_round_minutes))
    clock.dispatch()  # the reminder to all four
    sms_answer(tw, by_sms)  # answers the reminder by SMS
    coordinator = make_user(Role.coordinator)
    row = db.session.scalar(sa.select(Delivery).where(Delivery.registrant_id == by_call_round.id))
    assert row is not None
    record_call(row, CallOutcome.reached_safe, "", user=coordinator, now=utcnow())  # found safe by phone
    db.session.commit()

    climbed = climb_ladders(clock.advance(60))
    assert climbed.taken["call"] == 2  # not those who answered by SMS or were reached by the call round
    clock.dispatch()  # the calls: one presses 1, one does not pick up
    assert [len(tw.fake.calls(p.phone)) for p in (by_sms, by_key, by_call_round, silent)] == [0, 1, 0, 1]

    assert climb_ladders(clock.advance(120)).taken["kin"] == 1  # only the one still silent
    clock.dispatch()
    assert climb_ladders(clock.advance(240)).taken["visit"] == 1
    assert rungs(alert.id) == {by_sms.id: "reminder", by_key.id: "call", by_call_round.id: "reminder",
                               silent.id: "visit"}
    # An answer after the last rung changes nothing already done, and stops nothing twice.
    assert not sum(climb_ladders(clock.advance(600)).taken.values())


def test_without_next_of_kin_the_rung_is_skipped_counted_and_the_ladder_goes_on(
        app: Flask, tw: TwilioSetup, make_station: Callable[..., ServiceStation]) -> None:
    prato = make_station(city="Prato")
    with_kin, without_kin = someone(), someone(kin=False)
    tw.fake.configure(numbers={p.phone: {"call": "no-answer"} for p in (with_kin, without_kin)})
    alert, clock = start(tw, [with_kin, without_kin])
    safety_check_followups(clock.advance(alert.call_round_minutes))
    clock.dispatch()
    climb_ladders(clock.advance(60))
    clock.dispatch()
    climbed = climb_ladders(clock.advance(120))
    assert (climbed.taken["kin"], climbed.skipped["kin"]) == (1, 1)
    clock.dispatch()
    counts = rung_counts(alert.id)
    assert (counts["kin"]["taken"], counts["kin"]["skipped"], counts["kin"]["skipped:no_next_of_kin"],
            counts["kin"]["sent"]) == (1, 1, 1, 1)
    skipped = db.session.scalar(sa.select(LadderStep).join(Delivery, Delivery.id == LadderStep.delivery_id)
                                .where(Delivery.registrant_id == without_kin.id,
                                       LadderStep.rung == LadderRung.kin))
    assert skipped is not None and (skipped.state, skipped.skip_reason) == (LadderStepState.skipped,
                                                                            "no_next_of_kin")
    assert climb_ladders(clock.advance(240)).taken["visit"] == 2  # both get the welfare visit
    db.session.expire_all()
    cases = list(db.session.scalars(sa.select(Case).where(
        Case.registrant_id.in_([with_kin.id, without_kin.id]))))
    assert sorted(c.registrant_id or 0 for c in cases) == sorted([with_kin.id, without_kin.id])
    assert {c.station_id for c in cases} == {prato.id}


def test_the_welfare_visit_is_one_case_for_the_nearest_station_or_triage(
        app: Flask, tw: TwilioSetup, make_station: Callable[..., ServiceStation]) -> None:
    milan, florence = make_station(city="Milano"), make_station(city="Firenze")
    make_station(city="Roma", active=False)
    near_florence = someone(kin=False)  # Prato: Florence is 20 km away, Milan 250
    in_tokyo = someone(kin=False, city="Tokyo", country="JP", place=(35.68, 139.69))
    assert nearest_station(near_florence) == florence.id and nearest_station(in_tokyo) is None
    assert milan.id != florence.id
    tw.fake.configure(numbers={p.phone: {"call": "no-answer"} for p in (near_florence, in_tokyo)})
    alert, clock = start(tw, [near_florence, in_tokyo], country=("IT", "JP"))
    safety_check_followups(clock.advance(alert.call_round_minutes))
    clock.dispatch()
    climb_ladders(clock.advance(60))
    clock.dispatch()
    climb_ladders(clock.advance(120))
    later = clock.advance(240)
    assert climb_ladders(later).taken["visit"] == 2
    assert not sum(climb_ladders(later).taken.values())  # run again: nothing more
    assert not sum(climb_ladders(later + timedelta(days=1)).taken.values())
    # A second worker that read the same delivery before the first committed gets no row, so makes
    # no second case.
    row = db.session.scalar(sa.select(Delivery).where(Delivery.registrant_id == near_florence.id))
    assert row is not None
    assert insert_step(row.id, alert.id, LadderRung.visit, LadderStepState.taken, later) is None
    db.session.rollback()
    db.session.expire_all()
    cases = {c.registrant_id: c for c in db.session.scalars(sa.select(Case).where(
        Case.registrant_id.in_([near_florence.id, in_tokyo.id])))}
    assert len(cases) == 2
    assert (cases[near_florence.id].station_id, cases[near_florence.id].status) == (florence.id,
                                                                                    CaseStatus.assigned)
    assert (cases[in_tokyo.id].station_id, cases[in_tokyo.id].status) == (None, CaseStatus.new)
    # Nobody replied: the cases say how they came, a welfare visit, not a reply to the safety check.
    assert {c.channel for c in cases.values()} == {Channel.welfare_visit}
    steps = {s.delivery_id: s for s in db.session.scalars(
        sa.select(LadderStep).where(LadderStep.rung == LadderRung.visit))}
    assert {s.case_id for s in steps.values()} == {c.id for c in cases.values()}


def test_the_pages_show_counts_per_rung_and_each_persons_rung(app: Flask, tw: TwilioSetup,
                                                            make_user: Callable[..., User],
                                                            logged_in: Callable[[User], Any]) -> None:
    answering, silent = someone(), someone()
    tw.fake.configure(numbers={answering.phone: {"digits": "1"}, silent.phone: {"call": "no-answer"}})
    alert, clock = start(tw, [answering, silent])
    safety_check_followups(clock.advance(alert.call_round_minutes))
    clock.dispatch()
    climb_ladders(clock.advance(60))
    clock.dispatch()
    client = logged_in(make_user(Role.coordinator, locale="en"))
    page = client.get(f"/alerts/{alert.id}/progress").get_data(as_text=True)
    assert 'data-rung="reminder"' in page and 'data-rung="call"' in page
    data = client.get(f"/alerts/{alert.id}/progress.json").get_json()
    assert {r["rung"]: r["taken"] for r in data["ladder"]} == {"reminder": 2, "call": 2, "kin": 0,
                                                              "visit": 0}
    round_page = client.get(f"/alerts/{alert.id}/call-round").get_data(as_text=True)
    silent_row = db.session.scalar(sa.select(Delivery.id).where(Delivery.registrant_id == silent.id))
    assert f'id="call-{silent_row}"' in round_page
    assert 'data-rung="call"' in round_page


def test_the_next_of_kin_read_their_message_in_their_own_language(app: Flask, tw: TwilioSetup) -> None:
    """A kin who reads Chinese gets the SMS in Chinese (the event as the alert's Chinese text names
    it), one who gave no language gets it in the person's (Italian), one who reads Japanese (a
    language the alert was not written in) gets Japanese with the alert's own event name."""
    in_chinese, in_italian, in_japanese = (someone(kin_language="zh_Hans"), someone(),
                                           someone(kin_language="ja"))
    people = [in_chinese, in_italian, in_japanese]
    tw.fake.configure(numbers={p.phone: {"call": "no-answer"} for p in people})
    alert = make_alert(languages=("it", "zh_Hans"), urgency=CapUrgency.Immediate, safety_check=True,
                       resend_unanswered=True, event="terremoto", expires_in=timedelta(days=2))
    alert.place = "Prato"
    {t.language: t for t in alert.texts}["zh_Hans"].event = "地震"
    db.session.commit()
    clock = Clock(tw)
    send_alert(alert)
    clock.dispatch()
    safety_check_followups(clock.advance(alert.call_round_minutes))
    clock.dispatch()
    climb_ladders(clock.advance(60))
    clock.dispatch()
    assert climb_ladders(clock.advance(120)).taken["kin"] == 3
    clock.dispatch()

    def kin_message(person: Registrant) -> str:
        phone = db.session.scalar(sa.select(SelfEnrolment.next_of_kin_phone)
                                  .where(SelfEnrolment.registrant_id == person.id))
        assert phone
        [message] = tw.fake.messages(phone)
        return str(message["body"])

    chinese = kin_message(in_chinese)
    assert "地震发生后（Prato附近），我们未能联系上Anna Rossi。" in chinese and "terremoto" not in chinese
    italian = kin_message(in_italian)
    assert "Non siamo riusciti a contattare Anna Rossi" in italian and "terremoto" in italian
    japanese = kin_message(in_japanese)
    assert "Prato付近のterremotoの後、Anna Rossiさんと連絡が取れていません。" in japanese
    steps = {s.delivery_id: s.locale for s in db.session.scalars(
        sa.select(LadderStep).where(LadderStep.rung == LadderRung.kin))}
    assert sorted(steps.values()) == ["it", "ja", "zh_Hans"]


def test_a_next_of_kin_message_not_sent_yet_is_dropped_when_the_person_answers(app: Flask,
                                                                             tw: TwilioSetup) -> None:
    late = someone()
    tw.fake.configure(numbers={late.phone: {"call": "no-answer"}})
    alert, clock = start(tw, [late])
    safety_check_followups(clock.advance(alert.call_round_minutes))
    clock.dispatch()
    climb_ladders(clock.advance(60))
    clock.dispatch()
    assert climb_ladders(clock.advance(120)).taken["kin"] == 1  # the next-of-kin SMS waits to be sent
    sms_answer(tw, late)  # … and the person answers first
    clock.dispatch()
    kin = db.session.scalar(sa.select(SelfEnrolment.next_of_kin_phone)
                            .where(SelfEnrolment.registrant_id == late.id))
    assert kin and not tw.fake.messages(kin)
    step = db.session.scalar(sa.select(LadderStep).where(LadderStep.rung == LadderRung.kin))
    assert step is not None and (step.state, step.skip_reason) == (LadderStepState.skipped, "answered")
    assert not sum(climb_ladders(clock.advance(240)).taken.values())  # and no welfare visit


def test_each_alert_keeps_its_own_ladder_times_from_the_compose_screen_and_the_api(
        app: Flask, make_user: Callable[..., User], logged_in: Callable[[User], Any]) -> None:
    from tests.conftest import api_headers

    coordinator = make_user(Role.coordinator, locale="en")
    page = logged_in(coordinator).get("/alerts/new").get_data(as_text=True)
    assert 'name="ladder_call_minutes"' in page and 'value="60"' in page and 'value="240"' in page
    body = {"event": "Earthquake", "category": "Geo", "urgency": "Immediate", "severity": "Severe",
            "certainty": "Observed", "base_language": "it", "safety_check": True,
            "ladder_call_minutes": 15, "ladder_kin_minutes": 0,
            "texts": {"it": {"headline": "Terremoto", "body": "Rispondete 1 o 2."}},
            "areas": [{"country_code": "IT"}]}
    made = app.test_client().post("/api/v1/alerts", json=body, headers=api_headers(coordinator))
    assert made.status_code == 201, made.get_json()
    answer = made.get_json()
    # Given: kept; left out: the settings' (LADDER_VISIT_MINUTES); 0 turns the rung off.
    assert (answer["ladder_call_minutes"], answer["ladder_kin_minutes"], answer["ladder_visit_minutes"]) == (
        15, 0, 240)
