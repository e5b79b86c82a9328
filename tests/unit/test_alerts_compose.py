"""Writing, approving, cancelling and following alerts, as coordinators do it: the compose form and
its live estimate, the two-person rule, cancel during a send, recurring alerts, the progress and
call-round pages, and bad input on every form and endpoint (a clear 4xx, nothing half-written)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from alerts import targeting
from alerts.authoring import compose
from alerts.authoring import operations as ops
from alerts.models import Alert, AlertState, AlertText, CapMsgType, Delivery, DeliveryState, ReplyKind
from config import ConfigError, load_settings
from consular.audit.models import AuditEntry
from consular.auth.models import Role
from consular.db import db, utcnow
from tests.conftest import csrf_from, signed_in
from tests.support.alerts import (
    alert_input,
    approved_alert,
    make_registrant,
    texts,
)

OFFICE = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def coordinators(make_user):
    return (make_user(Role.coordinator, username="zhang", locale="en"),
            make_user(Role.coordinator, username="li", locale="en"))


def local(moment) -> str:
    return moment.astimezone(OFFICE).strftime("%Y-%m-%dT%H:%M")


def compose_form(**overrides: Any) -> dict[str, Any]:
    form: dict[str, Any] = {
        "status": "Actual", "event": "Street protests", "category": "Security",
        "urgency": "Immediate", "severity": "Severe", "certainty": "Likely",
        "base_language": "zh_Hans", "languages": ["zh_Hans", "en", "it"],
        "area_country": ["IT", ""], "area_city": ["", ""],
        "send_mode": "now", "expires_at": local(utcnow() + timedelta(hours=24)),
        "safety_check_minutes": "60", "action": "submit",
    }
    for lang, fields in texts().items():
        form[f"headline-{lang}"] = fields["headline"]
        form[f"body-{lang}"] = fields["body"]
        form[f"instruction-{lang}"] = ""
    form.update(overrides)
    return form


def alert_count() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Alert)) or 0


def only_alert() -> Alert:
    return db.session.scalars(sa.select(Alert)).one()


# --- roles ----------------------------------------------------------------------------------------


def test_only_coordinators_see_the_alert_pages(coordinators, make_user, logged_in, client):
    author, approver = coordinators
    make_registrant()
    alert = approved_alert(author, approver, safety_check=True)
    targeting.fan_out(alert)
    db.session.commit()
    pages = ["/alerts", "/alerts/new", f"/alerts/{alert.id}", f"/alerts/{alert.id}/progress",
             f"/alerts/{alert.id}/progress.json", f"/alerts/{alert.id}/call-round"]
    coordinator = logged_in(author)
    for url in pages:
        assert coordinator.get(url).status_code == 200, url
    for role in (Role.admin, Role.liaison_officer, Role.station_volunteer):
        other = signed_in(logged_in, make_user(role))
        for url in pages:
            assert other.get(url).status_code == 404, (role, url)
        for url in (f"/alerts/{alert.id}/cancel", f"/alerts/{alert.id}/approve", "/alerts/estimate",
                    "/alerts/new"):
            assert other.post(url, {"reason": "x"}).status_code == 404, (role, url)
        assert 'href="/alerts"' not in other.get("/").get_data(as_text=True)
    assert client.get("/alerts").status_code == 302  # to the login page
    assert alert.state == AlertState.sending  # nobody else changed it


def test_the_navigation_offers_alerts_to_coordinators(coordinators, logged_in):
    page = logged_in(coordinators[0]).get("/").get_data(as_text=True)
    assert 'href="/alerts"' in page


# --- compose, the two-person rule -----------------------------------------------------------------


def test_a_coordinator_writes_an_alert_and_another_approves_it(coordinators, logged_in):
    author, approver = coordinators
    make_registrant(language="it")
    writer = signed_in(logged_in, author)

    page = writer.get("/alerts/new")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'data-sms-counter="counter-zh_Hans"' in html and "Asia/Shanghai" in html

    response = writer.post("/alerts/new", compose_form())
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    alert = only_alert()
    assert alert.state == AlertState.pending_approval and alert.author_id == author.id
    assert sorted(t.language for t in alert.texts) == ["en", "it", "zh_Hans"]
    assert [(a.country_code, a.city) for a in alert.areas] == [("IT", "")]
    assert alert.send_at is None

    detail = writer.get(f"/alerts/{alert.id}").get_data(as_text=True)
    assert "Waiting for approval by another coordinator" in detail
    assert 'data-testid="approve"' not in detail
    refused = writer.post(f"/alerts/{alert.id}/approve")
    assert refused.status_code == 403
    assert "another coordinator must approve it" in refused.get_data(as_text=True)
    db.session.expire_all()
    assert alert.state == AlertState.pending_approval and alert.approver_id is None

    second = signed_in(logged_in, approver)
    assert 'data-testid="approve"' in second.get(f"/alerts/{alert.id}").get_data(as_text=True)
    approved = second.post(f"/alerts/{alert.id}/approve")
    assert approved.status_code == 303
    assert approved.headers["Location"].endswith(f"/alerts/{alert.id}/progress")
    db.session.expire_all()
    assert alert.state == AlertState.scheduled and alert.approver_id == approver.id
    assert alert.send_at is not None and abs((alert.send_at - utcnow()).total_seconds()) < 60
    actions = list(db.session.scalars(sa.select(AuditEntry.action).where(
        AuditEntry.object_type == "alert").order_by(AuditEntry.id)))
    # The author's own approval was refused, and that attempt is on record too.
    assert actions == ["alert.create", "alert.submit", "access.refused", "alert.approve"]


def test_whoever_edited_last_cannot_approve_either(coordinators):
    author, editor = coordinators
    alert = ops.create_alert(alert_input(), texts("zh_Hans"), [{"country_code": "IT"}], user=author)
    ops.update_alert(alert, alert_input(event="Changed"), texts("zh_Hans"), [{"country_code": "IT"}],
                     user=editor)
    ops.submit_for_approval(alert, user=editor)
    with pytest.raises(ops.AlertActionRefused) as refused:
        ops.approve(alert, user=editor)
    assert refused.value.status_code == 403
    with pytest.raises(ops.AlertActionRefused):
        ops.approve(alert, user=author)


def alert_by(author, *languages, submitted=False):
    """An alert of ``author`` to Italy (the shared input, its texts in ``languages`` or in all),
    ``submitted`` for approval or a draft, committed."""
    alert = ops.create_alert(alert_input(), texts(*languages), [{"country_code": "IT"}], user=author)
    if submitted:
        ops.submit_for_approval(alert, user=author)
    db.session.commit()
    return alert


def test_editing_an_alert_waiting_for_approval_returns_it_to_draft(coordinators, logged_in):
    author, approver = coordinators
    alert = alert_by(author, "zh_Hans", submitted=True)
    writer = signed_in(logged_in, author)
    form = writer.get(f"/alerts/{alert.id}/edit").get_data(as_text=True)
    assert "takes it back to draft" in form
    response = writer.post(f"/alerts/{alert.id}/edit", compose_form(
        languages=["zh_Hans"], event="Protests moved", action="save"))
    assert response.status_code == 303
    db.session.expire_all()
    assert alert.state == AlertState.draft and alert.event == "Protests moved"
    assert [t.language for t in alert.texts] == ["zh_Hans"]


def test_an_approved_alert_cannot_be_edited(coordinators, logged_in):
    author, approver = coordinators
    alert = approved_alert(author, approver)
    with pytest.raises(ops.AlertActionRefused):
        ops.update_alert(alert, alert_input(), texts(), [{"country_code": "IT"}], user=author)
    response = signed_in(logged_in, author).post(f"/alerts/{alert.id}/edit", compose_form())
    assert response.status_code == 303  # back to the alert, with a message
    db.session.expire_all()
    assert alert.state == AlertState.scheduled and alert.event == "Street protests"


def test_sending_back_needs_a_reason_and_shows_it_to_the_author(coordinators, logged_in):
    author, approver = coordinators
    alert = alert_by(author, "zh_Hans", submitted=True)
    second = signed_in(logged_in, approver)
    no_reason = second.post(f"/alerts/{alert.id}/reject", {"reason": "  "})
    assert no_reason.status_code == 400 and "Say why" in no_reason.get_data(as_text=True)
    db.session.expire_all()
    assert alert.state == AlertState.pending_approval
    assert second.post(f"/alerts/{alert.id}/reject", {"reason": "Add the Italian text"}).status_code == 303
    db.session.expire_all()
    assert alert.state == AlertState.draft
    page = signed_in(logged_in, author).get(f"/alerts/{alert.id}").get_data(as_text=True)
    assert "Add the Italian text" in page
    assert signed_in(logged_in, author).post(f"/alerts/{alert.id}/reject",
                                             {"reason": "x"}).status_code == 409


def test_add_and_remove_language_tabs_without_saving(coordinators, logged_in):
    writer = signed_in(logged_in, coordinators[0])
    form = compose_form(languages=["zh_Hans"], action="add_language", new_language="it")
    page = writer.post("/alerts/new", form)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'name="body-it"' in html and 'data-sms-counter="counter-it"' in html
    assert TEXTS_ZH_BODY in html  # what was typed is kept
    page = writer.post("/alerts/new", compose_form(action="remove_language:en"))
    html = page.get_data(as_text=True)
    assert 'name="body-en"' not in html and 'name="body-it"' in html
    assert alert_count() == 0


TEXTS_ZH_BODY = texts("zh_Hans")["zh_Hans"]["body"]


# --- bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("overrides", "message"), [
    ({"event": ""}, "This field is required."),
    ({"headline-zh_Hans": ""}, "The headline in Chinese"),
    # An empty text, or one of only spaces and invisible characters, in any language
    ({"body-zh_Hans": ""}, "The message in Chinese"),
    ({"body-it": " \t\r\n "}, "The message in Italian is empty."),
    ({"body-en": "\u00a0\u3000\u200b\u200d\u2060\ufeff\u00ad\u200f\u3164\ufe0f"},
     "The message in English is empty."),
    ({"headline-it": "\u2800 \u200b"}, "The headline in Italian is empty."),
    ({"languages": ["en"]}, "base language"),
    ({"languages": ["tlh"]}, "at least one language"),
    ({"headline-en": "x" * 161}, "At most 160 characters."),
    ({"body-zh_Hans": "请注意安全，避开人群。" * 70}, "SMS segments; the limit is 10"),
    ({"body-en": "Long message. " * 120}, "At most 1600 characters."),
    ({"area_country": ["XX"], "area_city": [""]}, "Choose a country from the list."),
    ({"area_country": [""], "area_city": [""]}, "Choose at least one country"),
    ({"status": "Actualy"}, "Choose one of"),
    ({"urgency": "Soon"}, "Choose one of"),
    ({"audience_kinds": ["aliens"]}, "recipient groups"),
    ({"expires_at": "tomorrow"}, "Enter a date and time."),
    ({"expires_at": local(utcnow() - timedelta(hours=1))}, "The expiry must be in the future."),
    ({"send_mode": "at", "send_at": local(utcnow() + timedelta(hours=30))},
     "The expiry must be after the send time."),
    ({"send_mode": "at", "send_at": local(utcnow() - timedelta(hours=2))}, "This time has passed"),
    ({"send_mode": "at", "send_at": ""}, "Choose the time to send"),
    ({"send_mode": "recurring", "recurrence_kind": "weekly", "recurrence_time": "09:00"},
     "Tick at least one day of the week."),
    ({"send_mode": "recurring", "recurrence_kind": "monthly", "recurrence_day": "32",
      "recurrence_time": "09:00"}, "Enter a day of the month from 1 to 31."),
    ({"send_mode": "recurring", "recurrence_kind": "holiday", "recurrence_holiday": "easter",
      "recurrence_days_before": "3", "recurrence_time": "09:00"}, "Choose a holiday from the list."),
    ({"send_mode": "recurring", "recurrence_kind": "daily", "recurrence_time": "9h"},
     "Enter a time of day such as 09:00."),
    ({"send_mode": "later"}, "Choose when to send."),
    ({"safety_check": "y", "safety_check_minutes": "0"}, "Enter a number of minutes"),
    ({"safety_check": "y", "safety_check_minutes": "ten"}, "Enter a number of minutes"),
    ({"safety_check": "y", "ladder_kin_minutes": "-5"}, "Enter a number of minutes from 0 to 10080"),
    ({"safety_check": "y", "ladder_visit_minutes": "99999"}, "Enter a number of minutes from 0 to 10080"),
    ({"safety_check": "y", "ladder_call_minutes": "\u0661\u0662"}, "Enter a number of minutes"),
])
def test_bad_compose_input_is_refused_with_a_message_and_nothing_saved(coordinators, logged_in,
                                                                       overrides, message):
    writer = signed_in(logged_in, coordinators[0])
    response = writer.post("/alerts/new", compose_form(**overrides))
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert message in html, html[html.find("invalid-feedback") - 200:][:1500]
    assert "The alert was not saved" in html
    assert alert_count() == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AlertText)) == 0


def test_bad_input_gets_the_message_in_chinese_for_a_chinese_reader(make_user, logged_in):
    writer = signed_in(logged_in, make_user(Role.coordinator, locale="zh_Hans"))
    response = writer.post("/alerts/new", compose_form(event=""))
    assert response.status_code == 400
    assert alert_count() == 0


def test_an_empty_text_is_refused_in_the_readers_language(make_user, logged_in):
    writer = signed_in(logged_in, make_user(Role.coordinator, locale="zh_Hans"))
    response = writer.post("/alerts/new", compose_form(**{"body-it": "\u3000 \u200b"}))
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "意大利语" in html and "为空" in html, html[html.find("invalid-feedback") - 200:][:1500]
    assert alert_count() == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AlertText)) == 0


def edited_by_its_author(coordinators, logged_in, **fields):
    """An author's draft, and the answer to their edit of it with ``fields`` changed."""
    author, _approver = coordinators
    alert = alert_by(author)
    return alert, signed_in(logged_in, author).post(f"/alerts/{alert.id}/edit", compose_form(**fields))


def test_emptying_a_text_while_editing_changes_nothing(coordinators, logged_in):
    alert, response = edited_by_its_author(coordinators, logged_in, event="New", **{"body-en": " \u200b "})
    assert response.status_code == 400
    assert "The message in English is empty." in response.get_data(as_text=True)
    db.session.expire_all()
    assert alert.event == "Street protests" and alert.state == AlertState.draft
    assert {t.language: t.body for t in alert.texts}["en"] == "Avoid the station area this afternoon."


def test_an_alert_with_an_empty_text_cannot_be_approved(coordinators, logged_in):
    author, approver = coordinators
    alert = ops.create_alert(alert_input(), texts(), [{"country_code": "IT"}], user=author)
    ops.submit_for_approval(alert, user=author)
    # A text emptied behind the compose screen's back (an import, a hand edit of the database)
    {t.language: t for t in alert.texts}["it"].body = "\u200b \u00a0"
    db.session.commit()
    response = signed_in(logged_in, approver).post(f"/alerts/{alert.id}/approve")
    assert response.status_code == 409
    assert "its text in Italian is empty" in response.get_data(as_text=True)
    db.session.expire_all()
    assert alert.state == AlertState.pending_approval and alert.approver_id is None
    with pytest.raises(ops.AlertActionRefused, match="意大利语文本为空"):  # outside a request: Chinese
        ops.approve(alert, user=approver)
    assert alert.state == AlertState.pending_approval


def test_editing_with_bad_input_changes_nothing(coordinators, logged_in):
    alert, response = edited_by_its_author(coordinators, logged_in, event="New", **{"headline-it": ""})
    assert response.status_code == 400
    db.session.expire_all()
    assert alert.event == "Street protests"
    assert {t.language: t.headline for t in alert.texts}["it"] == "Manifestazione a Prato"


def test_unknown_alerts_and_actions_are_not_found(coordinators, logged_in):
    writer = signed_in(logged_in, coordinators[0])
    for url in ("/alerts/999999", "/alerts/0", f"/alerts/{2**40}", "/alerts/999999/progress.json"):
        assert writer.get(url).status_code == 404, url
    assert writer.post("/alerts/999999/approve").status_code == 404
    assert writer.post("/alerts/new", compose_form(action="explode")).status_code == 400


def test_operations_refuse_input_of_the_wrong_type(coordinators):
    author, _approver = coordinators
    cases: list[tuple[Any, Any, Any, str]] = [
        (alert_input(event=5), texts("zh_Hans"), [{"country_code": "IT"}], "event"),
        (alert_input(expires_at=utcnow().replace(tzinfo=None)), texts("zh_Hans"),
         [{"country_code": "IT"}], "expires_at"),
        (alert_input(colour="red"), texts("zh_Hans"), [{"country_code": "IT"}], "colour"),
        (alert_input(), {"zh_Hans": "just text"}, [{"country_code": "IT"}], "texts.zh_Hans"),
        (alert_input(), texts("zh_Hans"), "IT", "areas"),
        (alert_input(), texts("zh_Hans"), [{"country_code": 39}], "areas.0.country_code"),
        (alert_input(), texts("zh_Hans"), [{"country_code": "IT", "city": "P" * 121}], "areas.0.city"),
        (alert_input(present_only="perhaps"), texts("zh_Hans"), [{"country_code": "IT"}], "present_only"),
    ]
    for data, text, areas, key in cases:
        with pytest.raises(ops.AlertInputError) as refused:
            ops.create_alert(data, text, areas, user=author)
        assert key in refused.value.errors, (key, refused.value.errors)
    assert alert_count() == 0


# --- cancel ---------------------------------------------------------------------------------------


def test_cancel_during_a_send_from_the_page_stops_the_rest(coordinators, logged_in):
    author, approver = coordinators
    for _ in range(4):
        make_registrant()
    alert = approved_alert(author, approver)
    targeting.fan_out(alert)
    first = db.session.scalars(sa.select(Delivery).where(Delivery.alert_id == alert.id)).first()
    first.state, first.final_at = DeliveryState.delivered, utcnow()
    db.session.commit()
    page = signed_in(logged_in, author)
    assert "Stop sending" in page.get(f"/alerts/{alert.id}").get_data(as_text=True)
    assert page.post(f"/alerts/{alert.id}/cancel", {"reason": ""}).status_code == 400
    response = page.post(f"/alerts/{alert.id}/cancel", {"reason": "Wrong city"})
    assert response.status_code == 303
    db.session.expire_all()
    states = sorted(str(s) for s in db.session.scalars(
        sa.select(Delivery.state).where(Delivery.alert_id == alert.id)))
    assert states == ["delivered", "skipped", "skipped", "skipped"]
    assert alert.state == AlertState.cancelled
    assert page.post(f"/alerts/{alert.id}/cancel", {"reason": "again"}).status_code == 409


def test_a_cancel_notice_once_approved_stops_the_original(coordinators):
    author, approver = coordinators
    for _ in range(3):
        make_registrant()
    original = approved_alert(author, approver)
    with pytest.raises(ops.AlertActionRefused):
        ops.create_cancel_notice(original, user=author)  # not out yet: cancel it instead
    targeting.fan_out(original)
    db.session.commit()
    notice = ops.create_cancel_notice(original, user=author)
    assert notice.msg_type == CapMsgType.Cancel and notice.state == AlertState.draft
    with pytest.raises(ops.AlertActionRefused):
        ops.create_update(notice, user=author)
    ops.submit_for_approval(notice, user=author)
    ops.approve(notice, user=approver)
    db.session.commit()
    assert original.state == AlertState.cancelled
    assert set(db.session.scalars(sa.select(Delivery.state).where(
        Delivery.alert_id == original.id))) == {DeliveryState.skipped}


def test_update_and_cancel_notice_buttons_make_prefilled_drafts(coordinators, logged_in):
    author, approver = coordinators
    make_registrant()
    original = approved_alert(author, approver)
    targeting.fan_out(original)
    db.session.commit()
    page = signed_in(logged_in, approver)
    response = page.post(f"/alerts/{original.id}/update")
    assert response.status_code == 303
    update = db.session.scalar(sa.select(Alert).where(Alert.references_id == original.id))
    assert update is not None and update.msg_type == CapMsgType.Update
    assert update.author_id == approver.id
    assert response.headers["Location"].endswith(f"/alerts/{update.id}/edit")
    edit = page.get(f"/alerts/{update.id}/edit").get_data(as_text=True)
    assert "Update of an alert" in edit and "Manifestazione a Prato" in edit


# --- recurring alerts -----------------------------------------------------------------------------


def test_a_recurring_alert_spawns_one_run_per_fire_time(coordinators):
    author, approver = coordinators
    now = utcnow()
    series = approved_alert(author, approver, recurrence="0 9 * * *",
                            expires_at=now + timedelta(days=30), event="Holiday reminder")
    fire = ops.next_fire_time(series, now)
    assert fire is not None and fire.astimezone(OFFICE).hour == 9 and fire > now
    # Nothing due yet; at the fire time the run is made, once.
    later = fire + timedelta(minutes=1)
    assert ops.next_fire_time(series, later) == fire
    run = ops.spawn_occurrence(series, fire)
    again = ops.spawn_occurrence(series, fire)
    db.session.commit()
    assert run.id == again.id
    assert run.parent_id == series.id and run.state == AlertState.scheduled
    assert run.approver_id == approver.id and run.recurrence is None and run.send_at == fire
    assert run.expires_at == fire + timedelta(days=1)  # until the next run
    assert sorted(t.language for t in run.texts) == ["en", "it", "zh_Hans"]
    assert [a.country_code for a in run.areas] == ["IT"]
    assert ops.next_fire_time(series, later) == fire + timedelta(days=1)
    # Runs missed while no worker ran are coalesced into the latest one.
    assert ops.next_fire_time(series, fire + timedelta(days=3, hours=1)) == fire + timedelta(days=3)

    ops.cancel(series, user=author, reason="Holiday over")
    db.session.commit()
    assert run.state == AlertState.cancelled
    assert ops.next_fire_time(series, later) is None


def test_the_compose_estimate_previews_the_next_runs(coordinators, logged_in):
    page = signed_in(logged_in, coordinators[0])
    response = page.post("/alerts/estimate", compose_form(
        send_mode="recurring", recurrence_kind="yearly", recurrence_month="1", recurrence_day="20",
        recurrence_time="09:00"))
    assert response.status_code == 200
    runs = response.get_json()["runs"]
    assert len(runs) == 3 and "Jan 20" in runs[0] and "09:00" in runs[0]
    # Each run is valid for a day, not until the end of the series: the SMS says so.
    assert "Valido fino al 21 gen" in response.get_json()["languages"]["it"]["sms"]
    bad = page.post("/alerts/estimate", compose_form(send_mode="recurring", recurrence_kind="yearly",
                                                     recurrence_month="1", recurrence_day="0",
                                                     recurrence_time="09:00"))
    assert bad.status_code == 200 and "from 1 to 31" in bad.get_json()["runs_error"]


# --- the estimate panel ---------------------------------------------------------------------------


def test_estimate_counts_recipients_cost_and_time(same_db_app, coordinators):
    author, _approver = coordinators
    for language in ("zh_Hans", "zh_Hans", "it"):
        make_registrant(language=language)
    make_registrant("CN", "zh_Hans", city="Wenzhou", timezone="Asia/Shanghai")
    other = same_db_app(SMS_PRICE_PER_SEGMENT="default=0.05,IT=0.10", SMS_CURRENCY="EUR",
                        SMS_SEGMENTS_PER_SECOND="2")
    from tests.conftest import Browser

    browser = Browser(other.test_client())
    assert browser.login(author.username).status_code == 302
    browser._token = csrf_from(browser.get("/").get_data(as_text=True))
    form = compose_form(area_country=["IT", "CN"], area_city=["", ""])
    with other.app_context():
        response = browser.post("/alerts/estimate", form)
    assert response.status_code == 200, response.get_data(as_text=True)
    data = response.get_json()
    assert data["total"] == 4
    assert {row["code"]: row["count"] for row in data["by_language"]} == {"zh_Hans": 3, "it": 1}
    assert {row["code"]: row["count"] for row in data["by_country"]} == {"IT": 3, "CN": 1}
    zh_segments = data["languages"]["zh_Hans"]["segments"]
    it_segments = data["languages"]["it"]["segments"]
    assert data["languages"]["it"]["encoding"] == "GSM-7"
    assert data["languages"]["zh_Hans"]["encoding"] == "UCS-2"
    assert data["segments"] == 3 * zh_segments + it_segments
    expected = Decimal("0.10") * (2 * zh_segments + it_segments) + Decimal("0.05") * zh_segments
    assert Decimal(data["cost"]) == expected.quantize(Decimal("0.01"))
    assert "€" in data["cost_text"]
    assert data["seconds"] == pytest.approx(data["segments"] / 2, abs=0.1)
    # The whole SMS the counter shows: marker, validity line and footer included.
    assert "STOP" in data["languages"]["it"]["tail"]
    assert data["languages"]["it"]["sms"].startswith("Manifestazione a Prato\n")


def test_estimate_shows_the_drill_marker_and_replaceable_characters(coordinators, logged_in):
    page = signed_in(logged_in, coordinators[0])
    data = page.post("/alerts/estimate", compose_form(**{
        "status": "Exercise", "body-en": "Avoid the \u201cstation\u201d area \u2013 today."})).get_json()
    english = data["languages"]["en"]
    assert english["marker"].strip() == "[EXERCISE]"
    assert english["sms"].startswith("[EXERCISE] Protest in central Prato")
    assert english["encoding"] == "UCS-2"
    assert english["replaceable"] == {"\u201c": '"', "\u201d": '"', "\u2013": "-"}


@pytest.mark.parametrize("overrides", [
    {"area_country": ["XX"], "area_city": [""]},
    {"status": "Maybe"},
    {"base_language": "tlh"},
    {"audience_kinds": ["aliens"]},
])
def test_estimate_refuses_what_the_form_cannot_send(coordinators, logged_in, overrides):
    page = signed_in(logged_in, coordinators[0])
    response = page.post("/alerts/estimate", compose_form(**overrides))
    assert response.status_code == 400
    assert response.get_json()["message"]


def test_estimate_without_a_csrf_token_is_refused(coordinators, logged_in):
    page = logged_in(coordinators[0])
    response = page.client.post("/alerts/estimate", data=compose_form(),
                                headers={"Accept": "application/json"})
    assert response.status_code == 400


def test_the_price_setting_is_validated():
    for bad in ("IT=0.05", "default=cheap", "default=-1", "default=0.1,ITA=2", "default=1,default=2"):
        with pytest.raises(ConfigError, match="SMS_PRICE_PER_SEGMENT"):
            load_settings({"SMS_PRICE_PER_SEGMENT": bad, "CONSULAR_ENV": "test"}, environ={})
    with pytest.raises(ConfigError, match="SMS_CURRENCY"):
        load_settings({"SMS_CURRENCY": "EURO", "CONSULAR_ENV": "test"}, environ={})


def test_price_lookup_falls_back_to_the_default(app):
    assert compose.price_for("IT") == Decimal("0.05")
    assert compose.prices() == {"default": Decimal("0.05")}


# --- progress and the call round ------------------------------------------------------------------


def test_progress_counts_by_state_language_and_country(coordinators, logged_in):
    author, approver = coordinators
    people = [make_registrant(language="it") for _ in range(3)] + [make_registrant(language="zh_Hans")]
    make_registrant("FR", "en", city="Paris")
    alert = approved_alert(author, approver, areas=[{"country_code": "IT"}, {"country_code": "FR"}])
    targeting.fan_out(alert)
    rows = {d.registrant_id: d for d in db.session.scalars(
        sa.select(Delivery).where(Delivery.alert_id == alert.id))}
    rows[people[0].id].state = DeliveryState.delivered
    rows[people[1].id].state = DeliveryState.failed
    rows[people[2].id].state, rows[people[2].id].skip_reason = DeliveryState.skipped, "opted_out"
    db.session.commit()

    page = signed_in(logged_in, author)
    data = page.get(f"/alerts/{alert.id}/progress.json").get_json()
    assert data["totals"]["planned"] == 5
    assert data["totals"]["delivered"] == 1 and data["totals"]["failed"] == 1
    assert data["totals"]["skipped"] == 1 and data["totals"]["opted_out"] == 1
    assert data["totals"]["pending"] == 2 and data["percent"] == 60
    assert data["eta_text"] and not data["finished"]
    languages = {row["code"]: row for row in data["by_language"]}
    assert languages["it"]["planned"] == 3 and languages["it"]["delivered"] == 1
    assert {row["code"]: row["planned"] for row in data["by_country"]} == {"IT": 4, "FR": 1}
    html = page.get(f"/alerts/{alert.id}/progress").get_data(as_text=True)
    assert 'data-testid="progress-bar"' in html and 'aria-valuenow="60"' in html


def test_the_call_round_lists_who_needs_a_call_and_is_audited(coordinators, logged_in):
    author, approver = coordinators
    helpme = make_registrant(name="求助人")
    silent = make_registrant(name="未回复")
    safe = make_registrant(name="已平安")
    recent = make_registrant(name="刚发送")
    unreached = make_registrant(name="未送达")
    alert = approved_alert(author, approver, safety_check=True, safety_check_minutes=30)
    targeting.fan_out(alert)
    rows = {d.registrant_id: d for d in db.session.scalars(
        sa.select(Delivery).where(Delivery.alert_id == alert.id))}
    long_ago = utcnow() - timedelta(hours=1)
    for person in (helpme, silent, safe):
        rows[person.id].state, rows[person.id].submitted_at = DeliveryState.delivered, long_ago
    rows[recent.id].state, rows[recent.id].submitted_at = DeliveryState.delivered, utcnow()
    rows[unreached.id].state, rows[unreached.id].error_code = DeliveryState.undelivered, 30003
    rows[helpme.id].reply_kind = ReplyKind.need_help
    rows[safe.id].reply_kind = ReplyKind.safe
    db.session.commit()

    page = signed_in(logged_in, approver)
    html = page.get(f"/alerts/{alert.id}/call-round").get_data(as_text=True)
    assert "求助人" in html and "未回复" in html
    assert "已平安" not in html and "刚发送" not in html
    # Who asked for help first, then whom the message did not reach, then the silent.
    assert html.index("求助人") < html.index("未送达") < html.index("未回复")
    assert helpme.phone in html and "Message not delivered" in html
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "alert.call_round.view"))
    assert entry is not None and entry.detail == {"rows": 3} and entry.user_id == approver.id
    replies = page.get(f"/alerts/{alert.id}/progress.json").get_json()["replies"]
    assert replies == {"safe": 1, "need_help": 1, "unknown": 0, "none": 2, "unreached": 1,
                       "call_no_answer": 0, "call_wrong_number": 0, "call_message_left": 0}
    assert sum(replies.values()) == 5  # everyone sent to is accounted for, once


def test_no_call_round_without_a_safety_check(coordinators, logged_in):
    author, approver = coordinators
    alert = approved_alert(author, approver)
    assert signed_in(logged_in, author).get(f"/alerts/{alert.id}/call-round").status_code == 404


def test_the_audit_trail_keeps_no_personal_data(coordinators):
    author, approver = coordinators
    person = make_registrant(name="张三")
    alert = approved_alert(author, approver)
    targeting.fan_out(alert)
    ops.cancel(alert, user=author, reason="Done")
    db.session.commit()
    details = " ".join(str(e.detail) for e in db.session.scalars(
        sa.select(AuditEntry).where(AuditEntry.object_type == "alert")))
    assert person.phone not in details and "张三" not in details


def test_the_list_shows_states_badges_and_who_did_what(coordinators, logged_in):
    author, approver = coordinators
    approved_alert(author, approver, status="Exercise")
    ops.create_alert(alert_input(event="Typhoon"), texts("zh_Hans"), [{"country_code": "JP"}], user=author)
    db.session.commit()
    html = signed_in(logged_in, approver).get("/alerts").get_data(as_text=True)
    assert "Drill" in html and "Approved, scheduled" in html and "Draft" in html
    assert author.display_name in html and approver.display_name in html
    assert "Japan" in html
    pending = signed_in(logged_in, approver).get("/alerts?state=draft").get_data(as_text=True)
    assert "Typhoon" in pending and "Street protests" not in pending
    assert signed_in(logged_in, approver).get("/alerts?state=bogus&page=x").status_code == 200


def test_a_recurring_alert_is_written_on_the_compose_screen(coordinators, logged_in):
    author, _approver = coordinators
    page = signed_in(logged_in, author)
    response = page.post("/alerts/new", compose_form(
        send_mode="recurring", recurrence_kind="yearly", recurrence_month="1", recurrence_day="25",
        recurrence_time=" 10:00 "))
    assert response.status_code == 303, response.get_data(as_text=True)[:1000]
    alert = only_alert()
    assert alert.recurrence_kind == "yearly" and alert.send_at is None and alert.recurrence is None
    assert alert.recurrence_rule == {"time": "10:00", "month": 1, "day": 25, "until": None}
    html = page.get(f"/alerts/{alert.id}").get_data(as_text=True)
    assert "Every year on January 25 at 10:00" in html and "Next: " in html and "Jan 25" in html


def test_the_demo_alerts_load_once_and_match_the_demo_people(make_user):
    from alerts.demo import load_demo_alerts

    make_user(Role.coordinator, username="coordinator")
    make_user(Role.coordinator, username="coordinator2")
    for _ in range(12):
        make_registrant(city="Prato")
    make_registrant(city="Milano")
    assert load_demo_alerts() == 3
    assert load_demo_alerts() == 0
    alerts = {a.event: a for a in db.session.scalars(sa.select(Alert))}
    drill = alerts["平安确认演练"]
    assert drill.state == AlertState.sent and drill.status.value == "Exercise"
    assert drill.planned_count == 12 and drill.approver_id != drill.author_id
    states = [str(s) for s in db.session.scalars(sa.select(Delivery.state).where(
        Delivery.alert_id == drill.id))]
    assert states.count("delivered") >= 10
    # Each delivery records the segments its recipient's SMS takes, as the counter counts them.
    sent = compose.analyse_alert(drill, {"zh_Hans": "Europe/Rome"})["zh_Hans"]
    assert sent.encoding.segments > 1
    assert set(db.session.scalars(sa.select(Delivery.segments).where(
        Delivery.alert_id == drill.id))) == {sent.encoding.segments}
    reminder = alerts["春节出行安全"]
    assert reminder.state == AlertState.scheduled and reminder.recurrence_kind == "holiday"
    assert reminder.recurrence_rule == {"time": "10:00", "holiday": "spring_festival", "days_before": 14,
                                        "until": None}
    assert ops.next_fire_time(reminder, utcnow()) is not None
    assert alerts["暴雨"].state == AlertState.pending_approval
