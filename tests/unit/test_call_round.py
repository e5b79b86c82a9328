"""The call round records what each call found: outcomes count in the safety-check figures (a call
that finds someone in need of help opens a case as an SMS "2" does), several calls are kept as a
history and the latest decides, notes are sealed at rest, and the list exports to CSV and XLSX with
formula-like text kept as text. Honest receipts: messages to a country that sends no delivery
receipt are "sent, no receipt expected", never waiting for ever nor counted as delivered."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
import requests
import sqlalchemy as sa
from openpyxl import load_workbook

from alerts import targeting
from alerts.authoring.maps import answers_by_place
from alerts.authoring.receipts import receipt_share
from alerts.models import Alert, CallAttempt, Delivery, DeliveryState, ReplyKind
from consular.audit.models import AuditEntry
from consular.auth.models import Role
from consular.cases.models import Case, Priority
from consular.db import db, utcnow
from consular.phones import calling_country
from consular.registry.models import Registrant
from tests.conftest import signed_in
from tests.support.alerts import approved_alert, make_registrant


@pytest.fixture
def coordinators(make_user):
    return (make_user(Role.coordinator, username="zhang", locale="en"),
            make_user(Role.coordinator, username="li", locale="en"))


def silent_check(author, approver, *people: Registrant) -> tuple[Alert, dict[int, Delivery]]:
    """A safety check whose messages went out an hour ago and nobody answered."""
    alert = approved_alert(author, approver, safety_check=True, safety_check_minutes=30)
    targeting.fan_out(alert)
    rows = {d.registrant_id: d for d in db.session.scalars(
        sa.select(Delivery).where(Delivery.alert_id == alert.id))}
    for person in people:
        rows[person.id].state = DeliveryState.delivered
        rows[person.id].submitted_at = utcnow() - timedelta(hours=1)
    db.session.commit()
    return alert, rows


def record(page, alert: Alert, delivery: Delivery, outcome: str, note: str = ""):
    return page.post(f"/alerts/{alert.id}/call-round/{delivery.id}", {"outcome": outcome, "note": note})


def replies(page, alert: Alert) -> dict[str, int]:
    return page.get(f"/alerts/{alert.id}/progress.json").get_json()["replies"]


def test_a_call_that_finds_someone_in_need_opens_a_case_like_an_sms_2(coordinators, logged_in):
    author, approver = coordinators
    hurt, fine = make_registrant(name="受伤者"), make_registrant(name="平安者")
    alert, rows = silent_check(author, approver, hurt, fine)
    page = signed_in(logged_in, approver)
    assert replies(page, alert)["none"] == 2

    answer = record(page, alert, rows[hurt.id], "reached_needs_help", "腿受伤，在家，需要药品")
    assert answer.status_code == 303
    followed = page.get(answer.headers["Location"]).get_data(as_text=True)
    assert "A case is open in the triage queue" in followed
    [case] = db.session.scalars(sa.select(Case).where(Case.registrant_id == hurt.id)).all()
    assert case.priority == Priority.P1  # as the SMS answer "2" opens it
    assert record(page, alert, rows[fine.id], "reached_safe").status_code == 303

    counted = replies(page, alert)
    assert (counted["need_help"], counted["safe"], counted["none"]) == (1, 1, 0)
    data = page.get(f"/alerts/{alert.id}/progress.json").get_json()
    assert data["calls"]["reached_needs_help"] == 1 and data["calls"]["reached_safe"] == 1
    html = page.get(f"/alerts/{alert.id}/call-round").get_data(as_text=True)
    # The one who needs help stays at the top; the one found safe at the bottom, marked so.
    assert html.index("受伤者") < html.index("平安者")
    assert "Reached: needs help" in html and "腿受伤，在家，需要药品" in html and "Reached: safe" in html

    # A second call that finds help still needed joins the open case.
    record(page, alert, rows[hurt.id], "reached_needs_help", "still waiting for the doctor")
    assert len(db.session.scalars(sa.select(Case).where(Case.registrant_id == hurt.id)).all()) == 1
    entries = db.session.scalars(sa.select(AuditEntry).where(
        AuditEntry.action == "alert.call_round.outcome").order_by(AuditEntry.id)).all()
    assert [(e.user_id, e.detail["outcome"]) for e in entries] == [
        (approver.id, "reached_needs_help"), (approver.id, "reached_safe"),
        (approver.id, "reached_needs_help")]
    assert "腿受伤" not in str([e.detail for e in entries])  # who, when and what: never the note


def test_calls_that_do_not_reach_are_shown_as_such_and_the_latest_call_decides(coordinators, logged_in):
    author, approver = coordinators
    people = [make_registrant(name=f"第{i}人") for i in range(3)]
    alert, rows = silent_check(author, approver, *people)
    page = signed_in(logged_in, approver)
    record(page, alert, rows[people[0].id], "no_answer")
    record(page, alert, rows[people[1].id], "wrong_number")
    record(page, alert, rows[people[2].id], "message_left", "voicemail in Italian")
    counted = replies(page, alert)
    assert (counted["call_no_answer"], counted["call_wrong_number"], counted["call_message_left"],
            counted["none"]) == (1, 1, 1, 0)
    html = page.get(f"/alerts/{alert.id}/progress").get_data(as_text=True)
    assert "Called: wrong number" in html and "Called: message left" in html

    # Called again later and reached: the latest call decides; the first stays in the history.
    record(page, alert, rows[people[0].id], "reached_safe", "at a friend's house")
    counted = replies(page, alert)
    assert (counted["safe"], counted["call_no_answer"]) == (1, 0)
    attempts = db.session.scalars(sa.select(CallAttempt).where(
        CallAttempt.delivery_id == rows[people[0].id].id).order_by(CallAttempt.id)).all()
    assert [a.outcome.value for a in attempts] == ["no_answer", "reached_safe"]
    assert all(a.called_by_id == approver.id and a.called_at for a in attempts)
    html = page.get(f"/alerts/{alert.id}/call-round").get_data(as_text=True)
    assert "1 earlier call" in html and "No answer" in html


def test_a_persons_own_later_answer_outranks_an_earlier_call(coordinators, logged_in):
    author, approver = coordinators
    person = make_registrant()
    alert, rows = silent_check(author, approver, person)
    page = signed_in(logged_in, approver)
    record(page, alert, rows[person.id], "reached_safe")
    delivery = db.session.get(Delivery, rows[person.id].id)
    delivery.reply_kind, delivery.replied_at = ReplyKind.need_help, utcnow() + timedelta(minutes=5)
    db.session.commit()
    counted = replies(page, alert)
    assert (counted["need_help"], counted["safe"]) == (1, 0)


def test_the_call_note_is_sealed_at_rest(coordinators, logged_in):
    author, approver = coordinators
    person = make_registrant()
    alert, rows = silent_check(author, approver, person)
    record(signed_in(logged_in, approver), alert, rows[person.id], "message_left", "CANARY-call-note")
    stored = db.session.execute(sa.text("SELECT note FROM call_attempt")).scalar_one()
    assert "CANARY" not in stored
    assert db.session.scalars(sa.select(CallAttempt)).one().note == "CANARY-call-note"


@pytest.mark.parametrize(("form", "message"), [
    ({"outcome": ""}, "Choose what the call found."),
    ({"outcome": "reached"}, "Choose what the call found."),
    ({"outcome": "no_answer", "note": "x" * 1001}, "At most 1000 characters."),
    ({"outcome": "no_answer", "note": "ok\u202eevil"}, "Remove the control characters"),
])
def test_a_refused_call_form_says_why_and_records_nothing(coordinators, logged_in, form, message):
    author, approver = coordinators
    person = make_registrant()
    alert, rows = silent_check(author, approver, person)
    page = signed_in(logged_in, approver)
    answer = page.post(f"/alerts/{alert.id}/call-round/{rows[person.id].id}", form)
    assert answer.status_code == 400
    assert message in answer.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CallAttempt)) == 0
    assert db.session.get(Delivery, rows[person.id].id).call_outcome is None


def test_a_delivery_of_another_alert_is_not_found(coordinators, logged_in):
    author, approver = coordinators
    person = make_registrant()
    alert, rows = silent_check(author, approver, person)
    other = approved_alert(author, approver, safety_check=True)
    page = signed_in(logged_in, approver)
    assert page.post(f"/alerts/{other.id}/call-round/{rows[person.id].id}",
                     {"outcome": "no_answer"}).status_code == 404
    assert page.get(f"/alerts/{alert.id}/call-round.pdf").status_code == 404


def test_the_call_round_exports_to_csv_and_xlsx_with_formulas_kept_as_text(coordinators, logged_in):
    author, approver = coordinators
    sly = make_registrant(name="=HYPERLINK(\"http://x\",\"a\")")
    alert, rows = silent_check(author, approver, sly)
    page = signed_in(logged_in, approver)
    record(page, alert, rows[sly.id], "message_left", "@SUM(1+1)")
    rows[sly.id].ladder_rung = "kin"  # the ladder has reached their next of kin
    db.session.commit()

    csv = page.get(f"/alerts/{alert.id}/call-round.csv")
    assert csv.status_code == 200 and csv.mimetype == "text/csv"
    text = csv.get_data().decode("utf-8-sig")
    assert "Latest call" in text and "Message left" in text
    assert "'=HYPERLINK" in text and "'@SUM(1+1)" in text

    xlsx = page.get(f"/alerts/{alert.id}/call-round.xlsx")
    assert xlsx.status_code == 200
    sheet = load_workbook(io.BytesIO(xlsx.get_data())).active
    values = [[cell.value for cell in row] for row in sheet.iter_rows()]
    header, row = values[0], values[1]
    assert row[header.index("Name")].startswith("'=")
    assert row[header.index("Latest call")] == "Message left"
    assert row[header.index("Ladder")] == "SMS to the next of kin"
    assert row[header.index("Note")] == "'@SUM(1+1)" and row[header.index("Calls")] == 1
    exports = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "alert.call_round.export"))
    assert sorted(e.detail["format"] for e in exports) == ["csv", "xlsx"]


# --- honest receipts --------------------------------------------------------------------------------


def past_messages(alert: Alert, country: str, count: int, delivered: int) -> None:
    """Messages of two days ago to numbers of ``country``, ``delivered`` of them with a receipt."""
    people = [make_registrant(commit=False) for _ in range(count)]
    db.session.flush()
    sent_at = utcnow() - timedelta(days=2)
    for i, person in enumerate(people):
        db.session.add(Delivery(alert_id=alert.id, registrant_id=person.id, language="zh_Hans",
                                country_code="IT", phone_country=country, provider_id=f"SMold{country}{i}",
                                state=DeliveryState.delivered if i < delivered else DeliveryState.sent,
                                submitted_at=sent_at, due_at=sent_at))
    db.session.commit()


def test_messages_to_a_country_without_receipts_are_sent_no_receipt_expected(coordinators, logged_in):
    author, approver = coordinators
    earlier = approved_alert(author, approver)
    past_messages(earlier, "CU", 30, 3)  # 10%: receipts are not expected there
    past_messages(earlier, "FR", 30, 27)  # 90%: they are
    assert receipt_share("CU", utcnow()).percent == pytest.approx(10.0)

    now_people = [make_registrant(name=f"n{i}") for i in range(3)]
    alert = approved_alert(author, approver)
    targeting.fan_out(alert)
    rows = {d.registrant_id: d for d in db.session.scalars(
        sa.select(Delivery).where(Delivery.alert_id == alert.id))}
    for person, country in zip(now_people, ("CU", "CU", "FR"), strict=True):
        rows[person.id].state, rows[person.id].phone_country = DeliveryState.sent, country
        rows[person.id].submitted_at, rows[person.id].provider_id = utcnow(), f"SMnow{person.id}"
    db.session.commit()

    page = signed_in(logged_in, approver)
    data = page.get(f"/alerts/{alert.id}/progress.json").get_json()
    assert data["totals"]["no_receipt"] == 2 and data["totals"]["sent"] == 1
    assert data["totals"]["delivered"] == 0  # never implied
    assert [c["code"] for c in data["no_receipt_countries"]] == ["CU"]
    html = page.get(f"/alerts/{alert.id}/progress").get_data(as_text=True)
    assert "Sent, no receipt expected" in html and "10% of the last 30 messages had a receipt" in html


def test_too_few_messages_say_nothing_and_receipts_are_then_expected(coordinators, logged_in):
    author, approver = coordinators
    earlier = approved_alert(author, approver)
    past_messages(earlier, "CU", 10, 0)  # ten without a receipt: too few to judge
    person = make_registrant()
    alert = approved_alert(author, approver)
    targeting.fan_out(alert)
    delivery = db.session.scalars(sa.select(Delivery).where(Delivery.alert_id == alert.id,
                                                            Delivery.registrant_id == person.id)).one()
    delivery.state, delivery.phone_country, delivery.submitted_at = DeliveryState.sent, "CU", utcnow()
    db.session.commit()
    data = signed_in(logged_in, approver).get(f"/alerts/{alert.id}/progress.json").get_json()
    assert data["totals"]["no_receipt"] == 0 and data["no_receipt_countries"] == []


def test_the_destination_country_is_read_from_the_calling_code():
    assert calling_country("+393331234567") == "IT"
    assert calling_country("+8613123456789") == "CN"
    assert calling_country("+5352345678") == "CU"
    assert calling_country("+12025550123") == "US"
    assert calling_country("0039333") is None and calling_country("+") is None


@pytest.mark.parametrize("callback_first", [False, True], ids=["answer_first", "callback_first"])
def test_the_dispatcher_records_the_country_of_each_number(app, twilio, callback_first):
    """Whether Twilio's answer or its first status callback reaches us first."""
    from tests.support.dispatch import deliveries, make_alert, send_alert
    from tests.support.dispatch import make_registrant as registrant_with
    from tests.support.webhooks import twilio_signature

    if callback_first:
        twilio.fake.configure(callbacks={"enabled": False})

        def post_sent(message):  # before the fake answers the request: "sent" arrives first
            params = twilio.fake.state.callback_params(message, "sent", None)
            signature = twilio_signature(message.status_callback, params)
            assert requests.post(message.status_callback, data=params, timeout=10,
                                 headers={"X-Twilio-Signature": signature}).status_code == 204
        twilio.fake.set_on_accept(post_sent)
    italian = registrant_with(phone="+393331230001")
    chinese = registrant_with(phone="+8613123450001")
    alert = make_alert()
    send_alert(alert)
    assert twilio.run_until_idle() == 2
    twilio.fake.set_on_accept(None)
    if callback_first:
        assert {d.state for d in deliveries(alert.id)} == {DeliveryState.sent}
    countries = {d.registrant_id: d.phone_country for d in deliveries(alert.id)}
    assert countries == {italian.id: "IT", chinese.id: "CN"}


def test_the_map_of_answers_counts_what_the_calls_found(coordinators, logged_in):
    author, approver = coordinators
    people = [make_registrant(commit=False) for _ in range(2)]
    for person in people:
        person.latitude, person.longitude = 43.88, 11.10
    db.session.commit()
    alert, rows = silent_check(author, approver, *people)
    page = signed_in(logged_in, approver)
    record(page, alert, rows[people[0].id], "reached_safe")
    record(page, alert, rows[people[1].id], "reached_needs_help")
    [place] = answers_by_place(db.session.get(Alert, alert.id))
    assert (place["safe"], place["need_help"], place["no_answer"]) == (1, 1, 0)
