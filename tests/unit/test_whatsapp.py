"""WhatsApp through the official client against the fake Twilio over HTTP: registrants whose first
consented channel is WhatsApp get the alert at their whatsapp: address; one who is not on WhatsApp
(63003, as a failed status callback) or outside the session window (63016, on the create call)
gets it by SMS instead, once: never a second fallback, and a replayed callback changes nothing."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask

from alerts.models import AlertState, CapUrgency, DeliveryState
from consular.db import db, utcnow
from consular.registry.models import Registrant
from tests.support.dispatch import TwilioSetup, deliveries, make_alert, make_registrant, send_alert
from tests.support.webhooks import post_signed, state_of, status_params

SENDER = "+15005550006"


def on_whatsapp(consent: bool = True) -> Registrant:
    person = make_registrant(language="it")
    person.channels = "whatsapp,sms"
    person.whatsapp_consent_at = utcnow() if consent else None
    db.session.commit()
    return person


@pytest.fixture
def wa(make_twilio: Callable[..., TwilioSetup]) -> TwilioSetup:
    return make_twilio(TWILIO_WHATSAPP_FROM=SENDER)


def test_whatsapp_delivery_and_the_fallback_to_sms_once(app: Flask, wa: TwilioSetup) -> None:
    ok, missing, window, unconsented = on_whatsapp(), on_whatsapp(), on_whatsapp(), on_whatsapp(False)
    wa.fake.configure(not_on_whatsapp=[missing.phone],
                      numbers={f"whatsapp:{window.phone}": {"error": 63016},
                               # its SMS fails too: no second fallback
                               missing.phone: {"final_status": "failed", "error_code": 30008}})
    alert = make_alert(languages=("it",), urgency=CapUrgency.Immediate)
    send_alert(alert)
    wa.run_until_idle()
    assert wa.fake.wait_idle(30)
    wa.run_until_idle()  # the SMS of the one not on WhatsApp (its failure came by callback)
    assert wa.fake.wait_idle(30)

    def sent_to(person: Registrant) -> tuple[int, int]:
        return (len(wa.fake.messages(f"whatsapp:{person.phone}")), len(wa.fake.messages(person.phone)))

    assert sent_to(ok) == (1, 0)
    assert wa.fake.messages(f"whatsapp:{ok.phone}")[0]["from"] == f"whatsapp:{SENDER}"
    assert sent_to(missing) == (1, 1)
    assert sent_to(window) == (0, 1)  # refused at once: nothing accepted on WhatsApp
    assert sent_to(unconsented) == (0, 1)  # no consent to WhatsApp: SMS
    rows = {d.registrant_id: d for d in deliveries(alert.id)}
    first = rows[ok.id]
    assert (first.channel, first.state, first.fallback_at) == ("whatsapp", DeliveryState.delivered, None)
    for person in (missing, window):
        assert rows[person.id].channel == "sms" and rows[person.id].fallback_at is not None
    assert rows[missing.id].state == DeliveryState.failed  # the SMS failed: it stays failed
    assert rows[missing.id].previous_provider_id == wa.fake.messages(f"whatsapp:{missing.phone}")[0]["sid"]
    assert rows[window.id].state == DeliveryState.delivered
    db.session.expire_all()
    assert db.session.get(Registrant, missing.id).status == "active"  # type: ignore[union-attr]

    # The WhatsApp failure replayed (a duplicate or late callback): nothing happens again.
    whatsapp_sid = wa.fake.messages(f"whatsapp:{missing.phone}")[0]["sid"]
    path = f"/webhooks/twilio/status/{rows[missing.id].id}"
    before = state_of(rows[missing.id].id)
    client = wa.app.test_client()
    assert post_signed(client, path, status_params(whatsapp_sid, "failed", 63003),
                       url=f"{wa.base_url}{path}").status_code == 204
    after = state_of(rows[missing.id].id)
    assert (after.state, after.fallback_at, after.provider_id) == (before.state, before.fallback_at,
                                                                   before.provider_id)
    assert wa.run_until_idle() == 0 and sent_to(missing) == (1, 1)
    db.session.expire_all()
    assert alert.state == AlertState.sent


def test_a_failed_whatsapp_callback_reopens_a_finished_alert_for_the_sms(app: Flask, wa: TwilioSetup) -> None:
    person = on_whatsapp()
    # The callbacks held back, so that the failure arrives after the alert has finished, whatever
    # the machine's speed: the fake's own 63003 report, posted by the test.
    wa.fake.configure(not_on_whatsapp=[person.phone], callbacks={"enabled": False})
    alert = make_alert(languages=("it",), urgency=CapUrgency.Immediate)
    send_alert(alert)
    assert wa.run_until_idle() == 1
    db.session.expire_all()
    assert alert.state == AlertState.sent
    [message] = wa.fake.state.messages.values()
    [delivery] = deliveries(alert.id)
    path = f"/webhooks/twilio/status/{delivery.id}"
    assert post_signed(wa.app.test_client(), path, status_params(message.sid, "failed", 63003),
                       url=f"{wa.base_url}{path}").status_code == 204
    db.session.expire_all()
    assert alert.state == AlertState.sending  # the fallback made it sending again
    assert wa.run_until_idle() == 1
    db.session.expire_all()
    assert alert.state == AlertState.sent
    assert len(wa.fake.messages(person.phone)) == 1
