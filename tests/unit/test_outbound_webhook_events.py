"""The events are emitted where things happen: an alert's submission, approval (and break-glass),
the start of its sending and its cancellation; a "need help" answer to a safety check through the
fake Twilio's signed inbound webhook, and the case it opens; each reaching a receiver on loopback."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
import sqlalchemy as sa
from flask import Flask

from alerts.authoring import operations as alert_ops
from alerts.models import AlertState, CapUrgency
from consular.auth.models import Role, User
from consular.cases.models import Case
from consular.db import db, utcnow
from consular.webhooks import operations as ops
from consular.webhooks.events import EVENTS
from consular.webhooks.models import WebhookDelivery
from consular.webhooks.outbox import deliver_due
from tests.support.dispatch import TwilioSetup, make_alert, make_registrant, send_alert
from tests.support.hook_receiver import HookReceiver
from tests.support.replies import OUR_NUMBER


def outbox() -> list[tuple[str, dict]]:
    db.session.expire_all()
    return [(r.event_type, json.loads(r.body)["data"]) for r in
            db.session.scalars(sa.select(WebhookDelivery).order_by(WebhookDelivery.id))]


@pytest.fixture
def subscribed(make_user: Callable[..., User], hook_receiver: HookReceiver) -> HookReceiver:
    admin = make_user(Role.admin)
    _subscription, secret = ops.create_subscription(url=hook_receiver.url("/ok"), description="",
                                                    events=list(EVENTS), active=True, user=admin)
    db.session.commit()
    hook_receiver.secret = secret
    return hook_receiver


def test_an_alerts_life_is_announced(app: Flask, make_user: Callable[..., User],
                                     subscribed: HookReceiver) -> None:
    author, approver = make_user(Role.coordinator), make_user(Role.coordinator)
    alert = make_alert()
    alert.state, alert.approved_at, alert.author_id = AlertState.draft, None, author.id
    db.session.commit()
    alert_ops.submit_for_approval(alert, user=author)
    db.session.commit()
    alert_ops.approve(alert, user=approver)
    db.session.commit()
    send_alert(alert)
    send_alert(alert)  # a second run of the fan-out starts nothing new
    alert_ops.cancel(alert, user=author, reason="wrong area")
    db.session.commit()

    events = outbox()
    assert [e for e, _data in events] == ["alert.submitted", "alert.approved", "alert.sent",
                                          "alert.cancelled"]
    assert all(data["alert_id"] == alert.id and data["identifier"] == alert.identifier
               for _e, data in events)
    assert events[1][1]["break_glass"] is False
    assert events[3][1]["reason"] == "wrong area" and events[3][1]["was"] == "sending"
    assert deliver_due("w1") == 4
    assert [r.event_type for r in subscribed.hits("/ok")] == [e for e, _data in events]
    assert all(r.signature_ok for r in subscribed.hits("/ok"))


def test_a_refused_operation_announces_nothing(app: Flask, make_user: Callable[..., User],
                                               subscribed: HookReceiver) -> None:
    author = make_user(Role.coordinator)
    alert = make_alert()
    alert.state, alert.approved_at, alert.author_id = AlertState.pending_approval, None, author.id
    db.session.commit()
    with pytest.raises(alert_ops.AlertActionRefused):
        alert_ops.approve(alert, user=author)  # the two-person rule
    db.session.rollback()
    assert outbox() == []


def test_break_glass_is_announced_as_an_approval(app: Flask, make_user: Callable[..., User],
                                                 subscribed: HookReceiver) -> None:
    from alerts.authoring.break_glass import break_glass

    author = make_user(Role.coordinator)
    alert = make_alert(urgency=CapUrgency.Immediate)
    alert.state, alert.approved_at, alert.author_id = AlertState.draft, None, author.id
    db.session.commit()
    break_glass(alert, user=author, reason="the river is rising now")
    db.session.commit()
    [(event, data)] = outbox()
    assert event == "alert.approved" and data["break_glass"] is True


def test_need_help_and_the_case_it_opens_are_announced(app: Flask, make_twilio: Callable[..., TwilioSetup],
                                                        subscribed: HookReceiver) -> None:
    setup = make_twilio()
    person = make_registrant(language="en")
    alert = make_alert(languages=("zh_Hans", "en"), urgency=CapUrgency.Immediate, safety_check=True,
                       event="Earthquake")
    send_alert(alert)
    assert setup.run_until_idle() == 1
    before = len(outbox())
    inbound = f"{setup.base_url}/webhooks/twilio/inbound"
    for body in ("2", "2 need help"):  # the second joins the same case: nothing new to announce
        assert setup.fake.send_inbound(person.phone, OUR_NUMBER, body, inbound)["status"] == 200
    events = outbox()[before:]
    [case] = db.session.scalars(sa.select(Case).where(Case.registrant_id == person.id)).all()
    assert [e for e, _data in events] == ["case.opened_from_sms", "safety_check.need_help"]
    opened, need_help = events[0][1], events[1][1]
    assert opened == {"case_id": case.id, "reference": case.reference, "priority": "P1",
                      "alert_id": alert.id, "need_help": True}
    assert need_help["case_id"] == case.id and need_help["registrant_id"] == person.id
    assert need_help["alert_id"] == alert.id
    # Nothing personal leaves: no phone, no name, no message text.
    text = json.dumps(events, ensure_ascii=False)
    assert person.phone not in text and "need help" not in text
    deliver_due("w1", now=utcnow())
    assert {r.event_type for r in subscribed.hits("/ok")} >= {"case.opened_from_sms",
                                                               "safety_check.need_help"}
