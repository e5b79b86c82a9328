"""Alert templates (预警模板), break-glass sends (紧急发布) and what every alert SMS now says of itself:
placeholders refused when unknown or missing in a language, templates kept with their history, a new
alert from a template in every language at once, the placeholders filled for each recipient at
render time, the sender's signature and the UPDATE / CANCELLED / REMINDER markers counted in
segments, and break-glass refused where it must be, told to every coordinator, flagged until a
second coordinator has reviewed it."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask_babel import force_locale

from alerts import targeting
from alerts.authoring import break_glass as glass
from alerts.authoring import library, placeholders
from alerts.authoring import operations as ops
from alerts.authoring.demo_templates import TEMPLATES, load_demo_templates
from alerts.authoring.estimate import estimate_payload
from alerts.authoring.models import AlertTemplate, AlertTemplateRevision
from alerts.authoring.validation import AlertInputError
from alerts.channels.sms import texts as sms
from alerts.channels.sms.encoding import analyse, count_segments
from alerts.dispatch.lanes import Dispatcher
from alerts.gateways.factory import gateway_from_settings
from alerts.jobs import safety_check_followups
from alerts.models import Alert, AlertState, CapMsgType, ConsoleMessage, Delivery
from consular.audit.models import AuditEntry
from consular.auth.models import Role
from consular.cases.models import Notification
from consular.db import db, utcnow
from tests.conftest import signed_in
from tests.support.alerts import alert_input, make_registrant

SIGNATURES = "zh_Hans=【温州外事】;zh_Hant=【溫州外事】;en=[Wenzhou FAO];default=[Wenzhou FAO]"


@pytest.fixture
def coordinators(make_user):
    return (make_user(Role.coordinator, username="zhang", locale="en"),
            make_user(Role.coordinator, username="li", locale="en"),
            make_user(Role.coordinator, username="wang", locale="zh_Hans"))


@pytest.fixture
def settings_with(app: Flask, monkeypatch: pytest.MonkeyPatch):
    def change(**values: Any) -> None:
        current = app.extensions["consular.settings"]
        monkeypatch.setitem(app.extensions, "consular.settings", dataclasses.replace(current, **values))
    return change


def template_texts(**overrides: dict[str, str]) -> dict[str, dict[str, str]]:
    out = {
        "zh_Hans": {"headline": "{place}发生地震",
                    "body": "{time}{place}发生地震，求助请拨{mission_phone}。"},
        "en": {"headline": "Earthquake near {place}", "body": "At {time}. Help: {mission_phone}."},
        "it": {"headline": "Terremoto vicino a {place}", "body": "Alle {time}. Aiuto: {mission_phone}."},
    }
    out.update(overrides)
    return out


def template_data(**overrides: Any) -> dict[str, Any]:
    data = {"name": "测试地震", "hazard": "earthquake", "category": "Geo", "event": "地震",
            "urgency": "Immediate", "severity": "Extreme", "certainty": "Observed",
            "base_language": "zh_Hans", "safety_check": True, "active": True}
    data.update(overrides)
    return data


# --- placeholders ---------------------------------------------------------------------------------


def test_an_unknown_placeholder_is_refused_naming_it_and_the_known_ones(app: Flask, coordinators) -> None:
    bad = template_texts(en={"headline": "Earthquake near {place}", "body": "At {time}. Call {embassy}."})
    with pytest.raises(AlertInputError) as refused:
        library.create_template(template_data(), bad, user=coordinators[0])
    message = refused.value.errors["texts.en.body"]
    assert "{embassy}" in message and "{mission_phone}" in message
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AlertTemplate)) == 0


def test_a_placeholder_missing_in_one_language_is_refused_for_that_language(app: Flask,
                                                                              coordinators) -> None:
    bad = template_texts(it={"headline": "Terremoto", "body": "Alle {time}. Aiuto: {mission_phone}."})
    with pytest.raises(AlertInputError) as refused:
        library.create_template(template_data(), bad, user=coordinators[0])
    assert set(refused.value.errors) == {"texts.it.body"}
    assert "意大利语" in refused.value.errors["texts.it.body"]  # the office's language by default
    assert "{place}" in refused.value.errors["texts.it.body"]
    extra = template_texts(en={"headline": "Earthquake near {place}",
                               "body": "At {time}. Help: {mission_phone} or {hotline}."})
    with pytest.raises(AlertInputError) as refused:
        library.create_template(template_data(), extra, user=coordinators[0])
    assert "{hotline}" in refused.value.errors["texts.en.body"]


def test_an_alert_whose_text_uses_place_or_time_needs_them(app: Flask, coordinators) -> None:
    texts = {"zh_Hans": {"headline": "{place}地震", "body": "{time}发生地震。"}}
    with pytest.raises(AlertInputError) as refused:
        ops.create_alert(alert_input(), texts, [{"country_code": "IT"}], user=coordinators[0])
    assert set(refused.value.errors) == {"place", "event_time"}
    with pytest.raises(AlertInputError) as refused:
        ops.create_alert(alert_input(), {"zh_Hans": {"headline": "地震", "body": "请拨{phone}"}},
                         [{"country_code": "IT"}], user=coordinators[0])
    assert "{phone}" in refused.value.errors["texts.zh_Hans.body"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Alert)) == 0


def test_the_place_is_shown_in_the_readers_script_where_the_city_list_knows_it() -> None:
    assert placeholders.place_in("Prato", "zh_Hans") == "普拉托"
    assert placeholders.place_in("普拉托", "it") == "Prato"
    assert placeholders.place_in("Prato", "en") == "Prato"
    assert placeholders.place_in("Somewhere", "zh_Hans") == "Somewhere"
    values = placeholders.Values(hotline="+86 577 1234")
    assert placeholders.fill("Call {mission_phone}", values) == "Call +86 577 1234"  # never "Call "


# --- templates and their history --------------------------------------------------------------------


def test_coordinators_create_and_edit_templates_and_every_edit_is_kept(app: Flask, coordinators,
                                                                      make_user) -> None:
    author, editor, _third = coordinators
    template = library.create_template(template_data(), template_texts(), user=author)
    db.session.commit()
    version = template.version
    changed = template_texts(en={"headline": "Strong earthquake near {place}",
                                 "body": "At {time}. Help: {mission_phone}."})
    library.update_template(template, template_data(), changed, user=editor, expected_version=version)
    db.session.commit()
    revisions = db.session.scalars(sa.select(AlertTemplateRevision).where(
        AlertTemplateRevision.template_id == template.id).order_by(AlertTemplateRevision.number)).all()
    assert [(r.number, r.edited_by_id) for r in revisions] == [(1, author.id), (2, editor.id)]
    assert revisions[0].snapshot["texts"]["en"]["headline"] == "Earthquake near {place}"
    assert revisions[1].snapshot["texts"]["en"]["headline"] == "Strong earthquake near {place}"
    # The same form sent again changes nothing and adds no revision; a stale form is refused.
    library.update_template(template, template_data(), changed, user=editor,
                            expected_version=template.version)
    with pytest.raises(ops.AlertActionRefused):
        library.update_template(template, template_data(event="强震"), changed, user=author,
                                expected_version=version)
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AlertTemplateRevision)) == 2
    with pytest.raises(ops.AlertActionRefused):
        library.create_template(template_data(name="x"), template_texts(),
                                user=make_user(Role.liaison_officer))
    with pytest.raises(AlertInputError) as refused:
        library.create_template(template_data(), template_texts(), user=author)
    assert "name" in refused.value.errors
    actions = db.session.scalars(sa.select(AuditEntry.action).where(
        AuditEntry.action.like("alert_template.%")).order_by(AuditEntry.id)).all()
    assert actions == ["alert_template.create", "alert_template.update"]


def test_the_demo_library_has_every_hazard_in_all_twelve_languages(app: Flask, coordinators) -> None:
    assert load_demo_templates() == len(TEMPLATES)
    assert load_demo_templates() == 0
    db.session.commit()
    hazards = {t.hazard.value for t in db.session.scalars(sa.select(AlertTemplate))}
    assert hazards == {"earthquake", "flood_typhoon", "fire", "unrest", "attack", "epidemic",
                       "transport_accident", "scam", "holiday_travel", "student_season"}
    for template in db.session.scalars(sa.select(AlertTemplate)):
        assert sorted(t.language for t in template.texts) == sorted(sms.SMS_LOCALES)
        for text in template.texts:
            if text.language in ("en", "it", "fr", "de"):  # one septet a character
                assert analyse(f"{text.headline}\n{text.body}").encoding == "GSM-7", (template.name,
                                                                                       text.language)
        # An alert written from it, for Prato, fits every language within the segment limit.
        data, texts = library.alert_input_from(template)
        alert = ops.create_alert({**alert_input(), **data, "place": "Prato", "event_time": utcnow()},
                                 texts, [{"country_code": "IT", "city": "Prato"}], user=coordinators[0])
        assert alert.template_id is None and len(alert.texts) == 12
    db.session.rollback()


def test_template_pages_create_edit_and_fill_a_new_alert_in_every_language(app: Flask, coordinators,
                                                                          logged_in) -> None:
    load_demo_templates()
    db.session.commit()
    browser = signed_in(logged_in, coordinators[0])
    listing = browser.get("/alerts/templates").get_data(as_text=True)
    assert "地震：平安确认" in listing and "12 / 12" in listing
    quake = db.session.scalars(sa.select(AlertTemplate).where(AlertTemplate.hazard == "earthquake")).one()
    page = browser.get(f"/alerts/new?template={quake.id}").get_data(as_text=True)
    for lang in sms.SMS_LOCALES:
        assert f'name="headline-{lang}"' in page
    assert "{place}附近发生强烈地震" in page and 'selected value="Immediate"' in page
    form: dict[str, Any] = {"status": "Actual", "event": "地震", "category": "Geo", "urgency": "Immediate",
                            "severity": "Extreme", "certainty": "Observed", "base_language": "zh_Hans",
                            "languages": list(sms.SMS_LOCALES), "area_country": ["IT"],
                            "area_city": ["Prato"], "send_mode": "now", "place": "Prato",
                            "event_time": (utcnow() + timedelta(hours=8)).strftime("%Y-%m-%dT%H:%M"),
                            "expires_at": (utcnow() + timedelta(hours=30)).strftime("%Y-%m-%dT%H:%M"),
                            "safety_check": "y", "safety_check_minutes": "60", "action": "save",
                            "template_id": str(quake.id)}
    for text in quake.texts:
        form[f"headline-{text.language}"] = text.headline
        form[f"body-{text.language}"] = text.body
    saved = browser.post("/alerts/new", form)
    assert saved.status_code == 303, saved.get_data(as_text=True)[:2000]
    alert = db.session.scalars(sa.select(Alert)).one()
    assert alert.template_id == quake.id and alert.place == "Prato" and len(alert.texts) == 12
    # Editing a template through its page keeps a revision; a bad one is refused with its message.
    edit = browser.get(f"/alerts/templates/{quake.id}/edit").get_data(as_text=True)
    assert 'name="version"' in edit
    data = {"name": quake.name, "hazard": "earthquake", "category": "Geo", "event": "地震",
            "urgency": "Immediate", "severity": "Extreme", "certainty": "Observed",
            "base_language": "zh_Hans", "safety_check": "y", "active": "y",
            "version": str(quake.version)}
    for text in quake.texts:
        data[f"headline-{text.language}"] = text.headline
        data[f"body-{text.language}"] = text.body
    refused = browser.post(f"/alerts/templates/{quake.id}/edit",
                           {**data, "body-fr": "Séisme. Appelez {ambassade}."})
    assert refused.status_code == 400 and "{ambassade}" in refused.get_data(as_text=True)
    ok = browser.post(f"/alerts/templates/{quake.id}/edit", {**data, "event": "强烈地震"})
    assert ok.status_code == 303
    history = browser.get(f"/alerts/templates/{quake.id}").get_data(as_text=True)
    assert "Revision 2" in history


# --- rendering for each recipient ---------------------------------------------------------------


def _dispatch(app: Flask) -> list[str]:
    gateway = gateway_from_settings(app.extensions["consular.settings"])
    while Dispatcher(app, gateway, "test-worker").run_once():
        pass
    db.session.expire_all()
    return list(db.session.scalars(sa.select(ConsoleMessage.body).order_by(ConsoleMessage.id)))


def test_placeholders_are_filled_for_each_recipient_with_the_signature(
        app: Flask, coordinators, settings_with, make_station, make_mission) -> None:
    settings_with(sms_signatures=SIGNATURES)
    make_mission()
    make_station(name="普拉托服务站", name_en="Prato service station", city="Prato",
                 contact_phone="+39057411111")
    make_station(name="米兰服务站", name_en="Milan service station", city="Milano",
                 contact_phone="+39022222222")
    in_prato = make_registrant(language="it", city="Prato")
    in_milan = make_registrant(language="zh_Hans", city="Milano")
    texts = {"zh_Hans": {"headline": "{place}地震", "body": "请联系{station}或{mission_phone}。"},
             "it": {"headline": "Terremoto a {place}", "body": "Aiuto: {station}, {mission_phone}."}}
    alert = ops.create_alert(alert_input(severity="Extreme", place="Prato"), texts,
                             [{"country_code": "IT"}], user=coordinators[0])
    glass.break_glass(alert, user=coordinators[0], reason="地震，值班只有一人")
    targeting.fan_out(alert, utcnow())
    db.session.commit()
    bodies = _dispatch(app)
    assert len(bodies) == 2
    italian = next(b for b in bodies if b.startswith("[Wenzhou FAO] "))
    chinese = next(b for b in bodies if b.startswith("【温州外事】"))
    assert italian.startswith("[Wenzhou FAO] Terremoto a Prato\n")
    assert "+39057411111" in italian and "+393387080008" in italian
    assert chinese.startswith("【温州外事】普拉托地震\n")
    assert "米兰服务站 +39022222222" in chinese
    segments = {d.registrant_id: d.segments for d in db.session.scalars(sa.select(Delivery))}
    assert segments[in_prato.id] == count_segments(italian)
    assert segments[in_milan.id] == count_segments(chinese)


def test_update_cancel_and_reminder_carry_their_marker_counted_in_segments(app: Flask,
                                                                          settings_with) -> None:
    settings_with(sms_signatures=SIGNATURES)
    expires = utcnow() + timedelta(hours=4)
    plain = sms.render_alert_sms(headline="Flood", body="Move uphill.", locale="it", status="Actual",
                                 safety_check=True, expires_at=expires, tz_name="Europe/Rome")
    update = sms.render_alert_sms(headline="Flood", body="Move uphill.", locale="it", status="Actual",
                                  safety_check=True, expires_at=expires, tz_name="Europe/Rome",
                                  msg_type="Update", signature=sms.signature_for(SIGNATURES, "it"))
    assert update.startswith("[Wenzhou FAO] [AGGIORNAMENTO] Flood\n")
    assert update.endswith(plain.split("\n", 1)[1])
    cancel = sms.render_alert_sms(headline="Flood", body="Withdrawn.", locale="zh_Hans", status="Exercise",
                                  safety_check=False, expires_at=expires, tz_name="Asia/Shanghai",
                                  msg_type="Cancel", signature=sms.signature_for(SIGNATURES, "zh_Hans"))
    assert cancel.startswith("【温州外事】【演练】【已取消】Flood")
    reminder = sms.render_alert_sms(headline="Sei al sicuro?", body="", locale="it", status="Actual",
                                    safety_check=True, expires_at=expires, tz_name="Europe/Rome",
                                    reminder=True)
    assert reminder.startswith("[PROMEMORIA] Sei al sicuro?")
    for locale in sms.SMS_LOCALES:
        for kind in ("Update", "Cancel"):
            assert sms.kind_marker(locale, kind).strip() not in ("", "[UPDATE]") or locale in ("en",)
    # The compose page's figures count the signature and the markers.
    payload = estimate_payload(targeting.Target(areas=(targeting.TargetArea("IT", ""),),
                                                languages=("it",), base_language="it"),
                               {"it": {"headline": "Flood", "body": "Move uphill.", "instruction": ""}},
                               status="Actual", safety_check=True, expires_at=expires, msg_type="Update")
    whole = payload["languages"]["it"]
    assert whole["sms"].startswith("[Wenzhou FAO] [AGGIORNAMENTO] Flood")
    assert whole["segments"] == count_segments(whole["sms"])
    assert 0 < whole["automatic_units"] < whole["units"] and 0 < whole["automatic_share"] < 100


def test_the_resend_of_an_unanswered_safety_check_says_reminder(app: Flask, coordinators) -> None:
    make_registrant(language="en")
    alert = ops.create_alert(alert_input(severity="Extreme", safety_check=True, resend_unanswered=True,
                                         safety_check_minutes=60),
                             {"zh_Hans": {"headline": "地震", "body": "平安吗？"},
                              "en": {"headline": "Earthquake", "body": "Are you safe?"}},
                             [{"country_code": "IT"}], user=coordinators[0])
    ops.submit_for_approval(alert, user=coordinators[0])
    ops.approve(alert, user=coordinators[1])
    targeting.fan_out(alert, utcnow())
    db.session.commit()
    first = _dispatch(app)
    assert first[0].startswith("Earthquake\n")
    # Nobody answered within the check's time: the worker's follow-up sends it once more.
    assert safety_check_followups(utcnow() + timedelta(minutes=61)).resent == 1
    db.session.execute(sa.update(Delivery).values(due_at=utcnow()))  # that hour has passed
    db.session.commit()
    again = _dispatch(app)
    assert again[-1].startswith("[REMINDER] Earthquake\n")


# --- break-glass -------------------------------------------------------------------------------------


def _extreme(author, **overrides: Any) -> Alert:
    alert = ops.create_alert(alert_input(**{"severity": "Extreme", **overrides}),
                             {"zh_Hans": {"headline": "地震", "body": "请报平安"}},
                             [{"country_code": "IT"}], user=author)
    db.session.commit()
    return alert


def test_break_glass_sends_alone_marks_the_alert_and_tells_every_coordinator(app: Flask,
                                                                            coordinators) -> None:
    sender, second, third = coordinators
    alert = _extreme(sender)
    glass.break_glass(alert, user=sender, reason="凌晨2点强震，只有一人值班")
    db.session.commit()
    assert alert.state == AlertState.scheduled and alert.break_glass_by_id == sender.id
    assert alert.break_glass_review_due_at == alert.break_glass_at + timedelta(hours=12)
    told = db.session.scalars(sa.select(Notification.user_id).where(Notification.kind == "break_glass"))
    assert sorted(told) == sorted([second.id, third.id])
    assert [r for r in db.session.scalars(sa.select(AuditEntry.action))
            if r.startswith("alert.break")] == ["alert.break_glass"]


@pytest.mark.parametrize(("overrides", "reason", "refusal"), [
    ({}, "", "break_glass_reason"),
    ({}, "   ", "break_glass_reason"),
    ({"severity": "Minor", "urgency": "Immediate"}, "urgent", "Minor"),
    ({"severity": "Severe", "urgency": "Expected"}, "urgent", "Extreme"),
])
def test_break_glass_is_refused_without_a_reason_or_for_a_lesser_alert(app: Flask, coordinators,
                                                                       overrides, reason, refusal) -> None:
    alert = _extreme(coordinators[0], **overrides)
    with force_locale("en"), pytest.raises((AlertInputError, ops.AlertActionRefused)) as refused:
        glass.break_glass(alert, user=coordinators[0], reason=reason)
    said = refused.value.errors if isinstance(refused.value, AlertInputError) else refused.value.message
    assert refusal in said
    db.session.rollback()
    db.session.expire_all()
    assert db.session.get(Alert, alert.id).state == AlertState.draft
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Notification)) == 0


def test_a_setting_turns_break_glass_off(app: Flask, coordinators, settings_with) -> None:
    settings_with(break_glass_enabled=False)
    alert = _extreme(coordinators[0])
    with pytest.raises(ops.AlertActionRefused) as refused:
        glass.break_glass(alert, user=coordinators[0], reason="urgent")
    assert refused.value.status_code == 403
    assert not glass.break_glass_allowed(alert)


def test_a_second_coordinator_reviews_once_and_the_sender_cannot(app: Flask, coordinators,
                                                               logged_in) -> None:
    sender, second, _third = coordinators
    alert = _extreme(sender)
    glass.break_glass(alert, user=sender, reason="强震")
    db.session.commit()
    reviewer = signed_in(logged_in, second)
    home = reviewer.get("/").get_data(as_text=True)
    assert "Break-glass alerts waiting for your review" in home
    own = signed_in(logged_in, sender)
    refused = own.post(f"/alerts/{alert.id}/break-glass/review", {"review_note": "ok"})
    assert refused.status_code == 403
    assert "another coordinator must review it" in refused.get_data(as_text=True)
    done = reviewer.post(f"/alerts/{alert.id}/break-glass/review", {"review_note": "理由充分"})
    assert done.status_code == 303
    db.session.expire_all()
    alert = db.session.get(Alert, alert.id)
    assert alert.break_glass_reviewed_by_id == second.id and alert.break_glass_review_note == "理由充分"
    again = reviewer.post(f"/alerts/{alert.id}/break-glass/review", {"review_note": ""})
    assert again.status_code == 409
    assert "Break-glass alerts waiting for your review" not in reviewer.get("/").get_data(as_text=True)
    report = reviewer.get(f"/reports/{utcnow().year}").get_data(as_text=True)
    assert "Alerts sent by break-glass" in report and "Reviewed" in report


def test_break_glass_from_the_compose_page_and_without_a_reason_nothing_is_saved(
        app: Flask, coordinators, logged_in) -> None:
    browser = signed_in(logged_in, coordinators[0])
    form: dict[str, Any] = {
        "status": "Actual", "event": "地震", "category": "Geo", "urgency": "Immediate",
        "severity": "Extreme", "certainty": "Observed", "base_language": "zh_Hans",
        "languages": ["zh_Hans"], "headline-zh_Hans": "地震", "body-zh_Hans": "请报平安",
        "area_country": ["IT"], "area_city": [""], "send_mode": "now",
        "expires_at": (utcnow() + timedelta(hours=30)).strftime("%Y-%m-%dT%H:%M"),
        "safety_check_minutes": "60", "action": "break_glass", "break_glass_reason": "",
    }
    refused = browser.post("/alerts/new", form)
    assert refused.status_code == 400
    assert "cannot wait for a second coordinator" in refused.get_data(as_text=True)
    minor = browser.post("/alerts/new", {**form, "severity": "Minor", "break_glass_reason": "urgent"})
    assert minor.status_code == 422 and "Minor" in minor.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Alert)) == 0
    sent = browser.post("/alerts/new", {**form, "break_glass_reason": "值班只有一人"})
    assert sent.status_code == 303 and "/progress" in sent.headers["Location"]
    alert = db.session.scalars(sa.select(Alert)).one()
    assert alert.state == AlertState.scheduled and alert.break_glass_reason == "值班只有一人"
    assert alert.msg_type == CapMsgType.Alert


def test_the_cap_file_and_feed_show_the_placeholders_filled_and_stay_valid(app: Flask, coordinators,
                                                                         make_mission) -> None:
    from alerts.authoring.cap import to_cap_xml, validate_cap

    make_mission()
    alert = ops.create_alert(
        alert_input(severity="Extreme", place="Prato", public=True),
        {"zh_Hans": {"headline": "{place}地震", "body": "请拨{mission_phone}。"},
         "en": {"headline": "Earthquake near {place}", "body": "Call {mission_phone}."}},
        [{"country_code": "IT", "city": "Prato"}], user=coordinators[0])
    glass.break_glass(alert, user=coordinators[0], reason="强震")
    db.session.commit()
    document = to_cap_xml(alert)
    assert validate_cap(document) == []
    xml = document.decode()
    assert "普拉托地震" in xml and "Earthquake near Prato" in xml and "+393387080008" in xml
    assert "{" not in xml
