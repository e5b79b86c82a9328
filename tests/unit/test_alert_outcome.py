"""An alert that reached nobody says so: it ends ``not_sent`` with the reason (everyone opted out,
quiet hours outlasting the expiry, nobody reachable…) on the list, detail and progress pages and
in the audit trail; the progress page splits "skipped" by reason; and the compose and approval
pages warn before approval when quiet hours outlast the expiry or nobody can be reached."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
import time_machine
from flask import Flask

from alerts.authoring import operations as ops
from alerts.dispatch.record import finish_alerts_now
from alerts.models import Alert, AlertState, CapUrgency, DeliveryState, NotSentReason
from consular.audit.models import AuditEntry
from consular.auth.models import Role, User
from consular.db import db, utcnow
from consular.registry.models import Registrant, RegistrantStatus
from tests.conftest import Browser, signed_in
from tests.support.alerts import alert_input, texts
from tests.support.dispatch import (
    TwilioSetup,
    deliveries,
    make_alert,
    make_registrant,
    send_alert,
)

EVENING = datetime(2026, 1, 15, 22, 0, tzinfo=UTC)  # 23:00 in Rome: quiet until 07:00 (06:00 UTC)


def reread(alert: Alert) -> Alert:
    db.session.expire_all()
    row = db.session.get(Alert, alert.id)
    assert row is not None
    return row


def coordinator_page(logged_in: Callable[[User], Browser], make_user: Callable[..., User],
                     locale: str = "en") -> Browser:
    return signed_in(logged_in, make_user(Role.coordinator, locale=locale))


def test_quiet_hours_outlasting_the_expiry_end_in_not_sent_and_every_page_says_why(
        app: Flask, make_twilio: Callable[..., TwilioSetup], make_user: Callable[..., User],
        logged_in: Callable[[User], Browser]) -> None:
    setup = make_twilio(QUIET_HOURS="22:00-07:00")
    with time_machine.travel(EVENING, tick=True):
        people = [make_registrant(language="it") for _ in range(3)]
        alert = make_alert(languages=("zh_Hans", "it"), expires_in=timedelta(hours=2))  # ends 02:00 Rome
        send_alert(alert)
        setup.run_until_idle()
        assert setup.fake.messages() == []
        assert {(d.state, d.skip_reason) for d in deliveries(alert.id)} == {
            (DeliveryState.skipped, "quiet_hours")}
        finished = reread(alert)
        assert (finished.state, finished.not_sent_reason) == (AlertState.not_sent,
                                                               NotSentReason.quiet_hours)
        entry = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "alert.not_sent")).one()
        assert entry.detail["reason"] == "quiet_hours"

        page = coordinator_page(logged_in, make_user)
        listing = page.get("/alerts").get_data(as_text=True)
        assert "Not sent" in listing
        assert "None sent: Quiet hours where the recipients live lasted past the alert" in listing
        assert "0 sent" not in listing
        assert "Not sent" in page.get("/alerts?state=not_sent").get_data(as_text=True)
        detail = page.get(f"/alerts/{alert.id}").get_data(as_text=True)
        assert 'data-testid="not-sent"' in detail and "No message of this alert went out." in detail
        data = page.get(f"/alerts/{alert.id}/progress.json").get_json()
        assert data["state"] == "not_sent" and data["finished"] and data["state_label"] == "Not sent"
        assert data["not_sent_reason"] == "quiet_hours"
        assert data["skipped_reasons"] == [{
            "code": "quiet_hours", "count": len(people),
            "label": "Quiet hours at the recipient last past the alert's expiry"}]


def test_everyone_opted_out_after_planning_is_not_sent_because_they_opted_out(
        app: Flask, twilio: TwilioSetup) -> None:
    people = [make_registrant() for _ in range(2)]
    alert = make_alert()
    send_alert(alert)
    for person in people:  # STOP between the planning and the send
        db.session.get(Registrant, person.id).status = RegistrantStatus.opted_out  # type: ignore[union-attr]
    db.session.commit()
    twilio.run_until_idle()
    finished = reread(alert)
    assert (finished.state, finished.not_sent_reason) == (AlertState.not_sent, NotSentReason.opted_out)


def test_an_alert_nobody_can_receive_is_not_sent_for_want_of_recipients(app: Flask) -> None:
    make_registrant(country="FR", timezone="Europe/Paris")
    alert = make_alert(country="DE")
    assert send_alert(alert) == 0
    assert finish_alerts_now(utcnow()) == [alert.id]
    finished = reread(alert)
    assert (finished.state, finished.not_sent_reason) == (AlertState.not_sent, NotSentReason.no_recipients)


def test_an_alert_past_its_expiry_before_planning_is_not_sent_because_it_expired(app: Flask) -> None:
    make_registrant()
    alert = make_alert(expires_in=timedelta(minutes=10))
    send_alert(alert, utcnow() + timedelta(minutes=11))
    finished = reread(alert)
    assert (finished.state, finished.not_sent_reason) == (AlertState.not_sent, NotSentReason.expired)


def test_mixed_reasons_are_several_and_one_message_out_is_sent(app: Flask, twilio: TwilioSetup,
                                                                make_user: Callable[..., User],
                                                                logged_in: Callable[[User], Browser]) -> None:
    quitter, gone = make_registrant(), make_registrant()
    mixed = make_alert()
    send_alert(mixed)
    db.session.get(Registrant, quitter.id).status = RegistrantStatus.opted_out  # type: ignore[union-attr]
    db.session.get(Registrant, gone.id).ended_at = utcnow()  # type: ignore[union-attr]
    db.session.commit()
    twilio.run_until_idle()
    finished = reread(mixed)
    assert (finished.state, finished.not_sent_reason) == (AlertState.not_sent, NotSentReason.several)
    page = coordinator_page(logged_in, make_user, locale="zh_Hans")
    data = page.get(f"/alerts/{mixed.id}/progress.json").get_json()
    assert {row["code"]: row["count"] for row in data["skipped_reasons"]} == {"opted_out": 1, "ended": 1}
    assert {row["label"] for row in data["skipped_reasons"]} == {"收件人已退订", "该登记已终止"}
    html = page.get(f"/alerts/{mixed.id}/progress").get_data(as_text=True)
    assert 'data-reason="opted_out"' in html and "收件人已退订" in html

    make_registrant()  # active again: the next alert reaches someone
    reached = make_alert()
    send_alert(reached)
    twilio.run_until_idle()
    done = reread(reached)
    assert (done.state, done.not_sent_reason) == (AlertState.sent, None)


def test_progress_splits_skipped_by_reason_while_sending(app: Flask, make_user: Callable[..., User],
                                                         logged_in: Callable[[User], Browser]) -> None:
    people = [make_registrant() for _ in range(5)]
    alert = make_alert()
    send_alert(alert)
    rows = {d.registrant_id: d for d in deliveries(alert.id)}
    for person, reason in zip(people, ("opted_out", "invalid_number", "invalid_number", "expired"),
                              strict=False):
        rows[person.id].state, rows[person.id].skip_reason = DeliveryState.skipped, reason
    db.session.commit()
    page = coordinator_page(logged_in, make_user)
    data = page.get(f"/alerts/{alert.id}/progress.json").get_json()
    assert data["totals"]["skipped"] == 4
    assert [(r["code"], r["count"]) for r in data["skipped_reasons"]] == [
        ("invalid_number", 2), ("expired", 1), ("opted_out", 1)]
    assert data["skipped_reasons"][0]["label"] == "The number cannot receive SMS"
    html = page.get(f"/alerts/{alert.id}/progress").get_data(as_text=True)
    assert "Skipped, by reason" in html and "The alert expired before it could be sent" in html


# --- warnings before approval ------------------------------------------------------------------


def compose_form(now: datetime, **overrides: Any) -> dict[str, Any]:
    form: dict[str, Any] = {
        "status": "Actual", "event": "Street protests", "category": "Security",
        "urgency": "Expected", "severity": "Moderate", "certainty": "Likely",
        "base_language": "zh_Hans", "languages": ["zh_Hans"], "area_country": ["IT"], "area_city": [""],
        "send_mode": "now", "safety_check_minutes": "60", "action": "submit",
        "expires_at": (now + timedelta(hours=2)).astimezone(ops.office_zone()).strftime("%Y-%m-%dT%H:%M"),
        "headline-zh_Hans": "普拉托市中心游行", "body-zh_Hans": "请避开火车站一带。",
        "instruction-zh_Hans": "",
    }
    form.update(overrides)
    return form


def test_compose_warns_when_quiet_hours_outlast_the_expiry(app: Flask, make_user: Callable[..., User],
                                                           logged_in: Callable[[User], Browser]) -> None:
    with time_machine.travel(EVENING, tick=True):
        make_registrant(language="it")  # Rome, 23:00
        make_registrant(language="it")
        make_registrant(language="en", country="IT", timezone="Asia/Shanghai")  # 06:00 there: awake
        page = coordinator_page(logged_in, make_user)
        data = page.post("/alerts/estimate", compose_form(EVENING)).get_json()
        assert data["total"] == 3
        assert data["warnings"] == ["2 of 3 recipients are in quiet hours until after the expiry "
                                    "(Europe/Rome) and would get nothing."]
        # Urgent alerts ignore quiet hours; a later expiry lets the morning come first.
        assert page.post("/alerts/estimate", compose_form(EVENING, urgency="Immediate")).get_json()[
            "warnings"] == []
        later = (EVENING + timedelta(hours=12)).astimezone(ops.office_zone()).strftime("%Y-%m-%dT%H:%M")
        assert page.post("/alerts/estimate", compose_form(EVENING, expires_at=later)).get_json()[
            "warnings"] == []
        # The page itself (no script) shows the same warning once the form is saved and reopened.
        response = page.post("/alerts/new", compose_form(EVENING, action="save"))
        assert response.status_code == 303
        alert = db.session.scalars(sa.select(Alert)).one()
        html = page.get(f"/alerts/{alert.id}/edit").get_data(as_text=True)
        assert "2 of 3 recipients are in quiet hours" in html


def test_compose_warns_when_everyone_in_the_area_has_opted_out(app: Flask, make_user: Callable[..., User],
                                                               logged_in: Callable[[User], Browser]) -> None:
    make_registrant(status=RegistrantStatus.opted_out)
    make_registrant(status=RegistrantStatus.opted_out)
    make_registrant(status=RegistrantStatus.invalid_number)
    page = coordinator_page(logged_in, make_user)
    data = page.post("/alerts/estimate", compose_form(utcnow())).get_json()
    assert data["total"] == 0
    assert data["warnings"] == ["Nobody can receive this alert: everyone registered for it has "
                                "unsubscribed or has a number that cannot receive SMS (unsubscribed: 2; "
                                "number unusable: 1)."]
    empty = page.post("/alerts/estimate", compose_form(utcnow(), area_country=["DE"])).get_json()
    assert empty["warnings"] == ["Nobody is registered in these areas for this audience: the alert would "
                                 "reach no one."]


def test_the_approver_sees_the_quiet_hours_warning_before_approving(
        app: Flask, make_user: Callable[..., User], logged_in: Callable[[User], Browser]) -> None:
    with time_machine.travel(EVENING, tick=True):
        make_registrant(language="zh_Hans")
        author = make_user(Role.coordinator, locale="zh_Hans")
        data = alert_input(EVENING, urgency="Expected", severity="Moderate",
                           expires_at=EVENING + timedelta(hours=2))
        alert = ops.create_alert(data, texts("zh_Hans"), [{"country_code": "IT", "city": ""}], user=author)
        ops.submit_for_approval(alert, user=author)
        db.session.commit()
        approver = coordinator_page(logged_in, make_user, locale="zh_Hans")
        html = approver.get(f"/alerts/{alert.id}").get_data(as_text=True)
        assert 'data-testid="reach-warnings"' in html and 'data-testid="approve"' in html
        assert "免打扰时段" in html  # in the approver's language
        # An urgent alert goes whatever the hour: no warning.
        alert.urgency = CapUrgency.Immediate
        db.session.commit()
        again = approver.get(f"/alerts/{alert.id}").get_data(as_text=True)
        assert 'data-testid="reach-warnings"' not in again


def test_a_public_alert_that_reached_nobody_stays_in_the_public_feed(app: Flask, client: Any) -> None:
    """The feed publishes the alert itself (it was approved and issued); it never claims who got a
    text, so an alert nobody received by SMS is still listed, as it was while sending."""
    alert = make_alert(country="DE")
    alert.public = True
    db.session.commit()
    send_alert(alert)
    assert "/alerts/" + alert.identifier in client.get("/alerts/feed.atom").get_data(as_text=True)
    finish_alerts_now(utcnow())
    assert reread(alert).state == AlertState.not_sent
    assert "/alerts/" + alert.identifier in client.get("/alerts/feed.atom").get_data(as_text=True)
