"""The ladder for the silent of a safety check, end to end through the official client against the
fake Twilio over HTTP, the jobs called with an advancing fixed clock (no sleeping).

100 recipients of a safety check near Prato:

- 40 answer the first message by SMS; 10 of them have WhatsApp first but are not on WhatsApp, and
  get the message by SMS instead (the fallback), then answer by SMS;
- 25 answer the reminder by SMS (they climb the reminder rung only);
- 20 press 1 and 5 press 2 on the ladder's call (the reminder rung, then the call);
- 10 never answer: 5 are called and do not pick up, 5 gave no consent to calls (the call rung is
  skipped for them); all 10 have next of kin, who get an SMS, and their station (the nearest to
  Prato: Prato's, not Milan's) gets a welfare-visit case for each.

Counts per rung are exact, nobody gets a rung twice, and a dispatch round that dies between taking
the ladder's calls and placing them (its claims held, nothing sent) is taken over after its lease:
each call is placed once, and climbing again takes no rung a second time. (An in-process
interruption, on a driven clock; ``test_ladder_processes`` kills real worker processes with
SIGKILL while they place the ladder's calls and text the next of kin.)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from flask import Flask

from alerts.dispatch.claim import claim_batch
from alerts.enrolment.models import SelfEnrolment
from alerts.jobs import climb_ladders, finish_alerts_job, reclaim_leases, reply_counts, safety_check_followups
from alerts.ladder import rung_counts
from alerts.models import AlertState, CapUrgency, DeliveryState, LadderStep, ReplyKind
from config import current_settings
from consular.cases.models import Case, CaseStatus, Channel, Priority, TimelineEntry, TimelineKind
from consular.db import db, utcnow
from consular.network.models import ServiceStation
from consular.registry.models import Registrant
from tests.support.dispatch import TwilioSetup, deliveries, make_alert, make_registrant, new_phone, send_alert

CALLER = "+15005550006"
WHATSAPP = "+15005550007"
PRATO = (43.8777, 11.1023)


def station(name: str, city: str) -> ServiceStation:
    row = ServiceStation(name=name, country_code="IT", city=city, host_organisation="Associazione",
                         timezone="Europe/Rome")
    db.session.add(row)
    db.session.commit()
    return row


def person(*, voice: bool = False, whatsapp: bool = False, kin: bool = False) -> Registrant:
    someone = make_registrant(language="it", name="Wang Xiaoming")
    someone.latitude, someone.longitude = PRATO  # placed, but with no station of their own
    channels = ["sms"]
    if whatsapp:
        channels.insert(0, "whatsapp")
        someone.whatsapp_consent_at = utcnow()
    if voice:
        channels.append("voice")
        someone.voice_consent_at = utcnow()
    someone.channels = ",".join(channels)
    if kin:
        db.session.add(SelfEnrolment(registrant_id=someone.id, next_of_kin_name="Wang Da",
                                     next_of_kin_phone=new_phone("+86138"), channels=channels,
                                     consent_version="1", consent_locale="it", consent_text="…",
                                     consent_at=utcnow()))
    db.session.commit()
    return someone


def kin_phone(someone: Registrant) -> str:
    phone = db.session.scalar(sa.select(SelfEnrolment.next_of_kin_phone)
                              .where(SelfEnrolment.registrant_id == someone.id))
    assert phone
    return phone


@pytest.fixture
def twilio_ladder(make_twilio: Callable[..., TwilioSetup]) -> TwilioSetup:
    return make_twilio(TWILIO_VOICE_FROM=CALLER, TWILIO_WHATSAPP_FROM=WHATSAPP, CALLS_PER_SECOND=500)


def test_the_ladder_for_100_recipients_of_a_safety_check(app: Flask, twilio_ladder: TwilioSetup) -> None:
    tw = twilio_ladder
    prato, milan = station("Prato station", "Prato"), station("Milan station", "Milano")
    by_sms = [person() for _ in range(30)] + [person(whatsapp=True) for _ in range(10)]
    not_on_whatsapp = by_sms[30:]
    after_reminder = [person() for _ in range(25)]
    press_1 = [person(voice=True) for _ in range(20)]
    press_2 = [person(voice=True) for _ in range(5)]
    silent_called = [person(voice=True, kin=True) for _ in range(5)]
    silent_uncalled = [person(kin=True) for _ in range(5)]
    silent = silent_called + silent_uncalled
    everyone = by_sms + after_reminder + press_1 + press_2 + silent
    assert len(everyone) == 100
    tw.fake.configure(not_on_whatsapp=[p.phone for p in not_on_whatsapp], numbers={
        **{p.phone: {"digits": "1"} for p in press_1}, **{p.phone: {"digits": "2"} for p in press_2},
        **{p.phone: {"call": "no-answer"} for p in silent_called}})

    def answer_by_sms(people: list[Registrant]) -> None:
        for p in people:
            assert tw.fake.send_inbound(p.phone, CALLER, "1",
                                        f"{tw.base_url}/webhooks/twilio/inbound")["status"] == 200

    def dispatch(now: datetime | None = None) -> None:
        tw.run_until_idle(now=now)
        assert tw.fake.wait_idle(60)
        tw.run_until_idle(now=now)  # what the callbacks sent back (the WhatsApp fallbacks)
        assert tw.fake.wait_idle(60)

    alert = make_alert(languages=("it", "zh_Hans"), urgency=CapUrgency.Immediate, safety_check=True,
                       resend_unanswered=True, event="terremoto", expires_in=timedelta(days=2))
    alert.place = "Prato"
    db.session.commit()
    assert (alert.ladder_call_minutes, alert.ladder_kin_minutes, alert.ladder_visit_minutes) == (60, 120, 240)
    send_alert(alert)
    dispatch()
    answer_by_sms(by_sms)
    for p in not_on_whatsapp:  # one WhatsApp message that failed, then the SMS they answered
        assert len(tw.fake.messages(f"whatsapp:{p.phone}")) == 1 and len(tw.fake.messages(p.phone)) == 1

    # T1: the call-round time (120 minutes by default): the reminder (the safety check's re-send).
    t1 = utcnow() + timedelta(minutes=121)
    followed = safety_check_followups(t1)
    assert (followed.call_round, followed.resent) == (60, 60)
    assert not sum(climb_ladders(t1).taken.values())  # the call waits for T2
    dispatch(t1)
    answer_by_sms(after_reminder)

    # T2, an hour after the reminder: the call, for those who consented to calls.
    t2 = t1 + timedelta(minutes=61)
    climbed = climb_ladders(t2)
    assert (climbed.taken["call"], climbed.skipped["call"]) == (30, 5)
    # A dispatch round takes the calls and dies before placing any: its claims are held.
    dead = claim_batch("dead-worker", t2, 100)
    assert len(dead) == 30 and {c.channel for c in dead} == {"voice"}
    assert not sum(climb_ladders(t2).taken.values())  # climbing again takes nothing twice
    assert tw.run_until_idle(now=t2) == 0  # held by the dead round
    after_lease = t2 + timedelta(seconds=current_settings().dispatch_lease_seconds + 1)
    assert reclaim_leases(after_lease) == 30
    dispatch(after_lease)
    for p in press_1 + press_2 + silent_called:
        assert len(tw.fake.calls(p.phone)) == 1, "each call placed once"

    # T3, two hours after the call: the next of kin of the ten still silent get an SMS.
    t3 = after_lease + timedelta(minutes=121)
    climbed = climb_ladders(t3)
    assert (climbed.taken["kin"], climbed.skipped["kin"]) == (10, 0)
    assert not sum(climb_ladders(t3).taken.values())
    dispatch(t3)
    for p in silent:
        [text] = tw.fake.messages(kin_phone(p))
        assert "Wang Xiaoming" in text["body"] and "Prato" in text["body"] and "terremoto" in text["body"]

    # T4, four hours after the next of kin: a welfare visit for each, for the nearest station.
    t4 = t3 + timedelta(minutes=241)
    climbed = climb_ladders(t4)
    assert (climbed.taken["visit"], climbed.skipped["visit"]) == (10, 0)
    assert not sum(climb_ladders(t4 + timedelta(hours=5)).taken.values())
    db.session.expire_all()
    welfare = list(db.session.scalars(sa.select(Case).where(
        Case.registrant_id.in_([p.id for p in silent]))))
    assert len(welfare) == 10 and {c.registrant_id for c in welfare} == {p.id for p in silent}
    assert {(c.station_id, c.status, c.priority, c.channel) for c in welfare} == {
        (prato.id, CaseStatus.assigned, Priority.P1, Channel.welfare_visit)}
    assert milan.id != prato.id
    for case in welfare:
        created = db.session.scalar(sa.select(TimelineEntry.detail).where(
            TimelineEntry.case_id == case.id, TimelineEntry.kind == TimelineKind.created))
        assert created is not None and created["alert_id"] == alert.id

    # Counts per rung, exact.
    counts = rung_counts(alert.id)
    assert {rung: (c["taken"], c["skipped"]) for rung, c in counts.items()} == {
        "reminder": (60, 0), "call": (30, 5), "kin": (10, 0), "visit": (10, 0)}
    assert counts["call"]["skipped:no_voice_consent"] == 5 and counts["kin"]["sent"] == 10
    answers = reply_counts(alert.id)
    assert (answers["safe"], answers["need_help"], answers["unanswered"]) == (85, 5, 10)
    # "Need help" on the call opened the usual cases; nobody got any rung twice.
    helped = list(db.session.scalars(sa.select(Case).where(Case.registrant_id.in_([p.id for p in press_2]))))
    assert len(helped) == 5 and all(c.priority == Priority.P1 for c in helped)
    steps = Counter((s.delivery_id, s.rung) for s in db.session.scalars(sa.select(LadderStep)))
    assert set(steps.values()) == {1} and len(steps) == 60 + 35 + 10 + 10
    rows = {d.registrant_id: d for d in deliveries(alert.id)}
    for p in by_sms:
        assert len(tw.fake.messages(p.phone)) == 1 and not tw.fake.calls(p.phone)
        assert rows[p.id].ladder_rung is None
    for p in after_reminder:
        assert len(tw.fake.messages(p.phone)) == 2 and not tw.fake.calls(p.phone)
        assert rows[p.id].ladder_rung == "reminder"
    for p in press_1 + press_2:
        assert len(tw.fake.messages(p.phone)) == 2 and rows[p.id].ladder_rung == "call"
        assert rows[p.id].reply_kind == (ReplyKind.safe if p in press_1 else ReplyKind.need_help)
    for p in silent:
        assert len(tw.fake.messages(p.phone)) == 2 and rows[p.id].ladder_rung == "visit"
        assert len(tw.fake.calls(p.phone)) == (1 if p in silent_called else 0)
    assert {d.state for d in rows.values()} <= {DeliveryState.delivered, DeliveryState.undelivered}
    finish_alerts_job(t4)
    db.session.expire_all()
    assert alert.state == AlertState.sent
