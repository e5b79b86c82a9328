"""A subject-access export includes the alerts sent to the person, the texts they sent us and the
calls of the call round; erasing the person wipes those texts and the calls' notes too (the delivery
rows and the calls' outcomes, with no personal data, stay)."""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa

from alerts.models import CallAttempt, CallOutcome, Delivery, InboundMessage
from consular.auth.models import Role, User
from consular.db import db, keyring, utcnow
from consular.registry.subject_data import erase_registrant, subject_access_export
from tests.support.dispatch import make_alert, make_registrant, send_alert


def test_export_and_erasure_cover_the_alerts_side(app: object, make_user: Callable[..., User]) -> None:
    coordinator = make_user(Role.coordinator)
    person = make_registrant(phone="+393330000111", name="赵敏")
    alert = make_alert(safety_check=True)
    assert send_alert(alert) == 1
    db.session.add(InboundMessage(provider_id="SM1", from_number="+393330000111",
                                  from_hash=keyring().search_hash("+393330000111", "phone"),
                                  body="2 my leg is broken", kind="need_help", registrant_id=person.id,
                                  received_at=utcnow()))
    delivery = db.session.scalars(sa.select(Delivery)).one()
    db.session.add(CallAttempt(delivery_id=delivery.id, outcome=CallOutcome.message_left,
                               note="left word with her sister", called_by_id=coordinator.id))
    db.session.commit()

    export = subject_access_export(person, user=coordinator)
    assert [m["alert"] for m in export["messages"]["alerts_sent"]] == [alert.identifier]
    assert export["messages"]["texts_received"][0]["text"] == "2 my leg is broken"
    [call] = export["messages"]["calls"]
    assert (call["outcome"], call["note"]) == ("message_left", "left word with her sister")

    assert erase_registrant(person, user=coordinator)
    db.session.commit()
    message = db.session.scalars(sa.select(InboundMessage)).one()
    assert (message.body, message.from_number, message.from_hash) == ("", "", "")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Delivery)) == 1
    db.session.expire_all()
    attempt = db.session.scalars(sa.select(CallAttempt)).one()
    assert (attempt.outcome, attempt.note) == (CallOutcome.message_left, None)
