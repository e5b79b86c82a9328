"""Who receives an alert: one INSERT … SELECT creates one delivery per (alert, registrant), in the
language each person gets, and running it twice adds nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from alerts import targeting
from alerts.authoring import operations as ops
from alerts.models import AlertState, Delivery, DeliveryState, NotSentReason
from consular.auth.models import Role
from consular.db import db, utcnow
from consular.registry.models import RegistrantKind, RegistrantStatus
from tests.support.alerts import approved_alert, make_registrant


@pytest.fixture
def coordinators(make_user):
    return make_user(Role.coordinator), make_user(Role.coordinator)


def deliveries(alert_id: int) -> dict[int, Delivery]:
    return {d.registrant_id: d for d in db.session.scalars(
        sa.select(Delivery).where(Delivery.alert_id == alert_id))}


def test_fan_out_creates_one_delivery_per_recipient_and_a_second_run_adds_nothing(coordinators):
    author, approver = coordinators
    people = [make_registrant("IT", "zh_Hans") for _ in range(5)]
    make_registrant("FR", "zh_Hans", city="Paris")  # another country
    alert = approved_alert(author, approver)

    now = utcnow()
    assert targeting.fan_out(alert, now) == 5
    db.session.commit()
    assert targeting.fan_out(alert, now) == 0  # safe to run twice
    db.session.commit()

    rows = deliveries(alert.id)
    assert set(rows) == {p.id for p in people}
    assert all(d.state == DeliveryState.pending and d.country_code == "IT" for d in rows.values())
    assert all(d.due_at == alert.send_at for d in rows.values())
    assert alert.state == AlertState.sending and alert.planned_count == 5
    assert alert.fanned_out_at is not None


def test_the_database_refuses_a_second_delivery_for_the_same_person(coordinators):
    author, approver = coordinators
    person = make_registrant()
    alert = approved_alert(author, approver)
    targeting.fan_out(alert)
    db.session.commit()
    db.session.add(Delivery(alert_id=alert.id, registrant_id=person.id, language="zh_Hans",
                            country_code="IT"))
    with pytest.raises(sa.exc.IntegrityError):
        db.session.flush()
    db.session.rollback()


def test_each_person_gets_their_language_or_its_fallback_or_the_base_language(coordinators):
    author, approver = coordinators
    zh = make_registrant(language="zh_Hans")
    hant = make_registrant(language="zh_Hant")  # no Traditional text: Simplified
    it = make_registrant(language="it")
    en = make_registrant(language="en")
    fr = make_registrant(language="fr")  # no French text: the base language
    alert = approved_alert(author, approver, languages=("zh_Hans", "en", "it"))
    targeting.fan_out(alert)
    db.session.commit()

    rows = deliveries(alert.id)
    assert {person.id: rows[person.id].language for person in (zh, hant, it, en, fr)} == {
        zh.id: "zh_Hans", hant.id: "zh_Hans", it.id: "it", en.id: "en", fr.id: "zh_Hans"}


def test_base_language_other_than_chinese_is_the_last_resort(coordinators):
    author, approver = coordinators
    hant = make_registrant(language="zh_Hant")
    ru = make_registrant(language="ru")
    alert = approved_alert(author, approver, languages=("en", "it"), base_language="it")
    targeting.fan_out(alert)
    db.session.commit()
    rows = deliveries(alert.id)
    assert rows[hant.id].language == "it" and rows[ru.id].language == "it"


def test_a_city_narrows_a_country_ignoring_case_and_spaces(coordinators):
    author, approver = coordinators
    prato = make_registrant(city="Prato")
    prato_upper = make_registrant(city=" PRATO ")
    milano = make_registrant(city="Milano")
    paris = make_registrant("FR", city="Paris")
    lyon = make_registrant("FR", city="Lyon")
    alert = approved_alert(author, approver, areas=[{"country_code": "IT", "city": "prato"},
                                                    {"country_code": "FR", "city": ""}])
    targeting.fan_out(alert)
    db.session.commit()
    assert set(deliveries(alert.id)) == {prato.id, prato_upper.id, paris.id, lyon.id}
    assert milano.id not in deliveries(alert.id)


def test_audience_kinds_and_who_is_there_now(coordinators):
    author, approver = coordinators
    today = utcnow().date()
    student_here = make_registrant(kind=RegistrantKind.student)
    student_left = make_registrant(kind=RegistrantKind.student, stay_until=today - timedelta(days=1))
    student_not_yet = make_registrant(kind=RegistrantKind.student, stay_from=today + timedelta(days=3))
    student_dated = make_registrant(kind=RegistrantKind.student, stay_from=today - timedelta(days=3),
                                    stay_until=today)
    citizen = make_registrant(kind=RegistrantKind.citizen_abroad)
    alert = approved_alert(author, approver, audience_kinds=["student"], present_only=True)
    targeting.fan_out(alert)
    db.session.commit()
    chosen = set(deliveries(alert.id))
    assert chosen == {student_here.id, student_dated.id}
    assert not chosen & {student_left.id, student_not_yet.id, citizen.id}


def test_opted_out_invalid_and_ended_registrations_get_nothing(coordinators):
    author, approver = coordinators
    active = make_registrant()
    make_registrant(status=RegistrantStatus.opted_out)
    make_registrant(status=RegistrantStatus.invalid_number)
    make_registrant(ended=True)
    alert = approved_alert(author, approver)
    assert targeting.fan_out(alert) == 1
    db.session.commit()
    assert set(deliveries(alert.id)) == {active.id}


def test_preview_counts_by_language_after_fallback_and_by_country(coordinators):
    author, approver = coordinators
    for language in ("zh_Hans", "zh_Hant", "it", "fr"):
        make_registrant(language=language)
    make_registrant("FR", "en", city="Paris")
    alert = ops.create_alert(
        {"event": "Strike", "expires_at": utcnow() + timedelta(hours=3)},
        {"zh_Hans": {"headline": "罢工", "body": "明日交通罢工。"},
         "it": {"headline": "Sciopero", "body": "Domani sciopero dei trasporti."}},
        [{"country_code": "IT"}, {"country_code": "FR"}], user=author)
    db.session.commit()
    counted = targeting.preview(alert)
    assert counted.total == 5
    assert counted.by_language == {"zh_Hans": 4, "it": 1}  # zh_Hant, fr and en fall back
    assert counted.by_country == {"IT": 4, "FR": 1}
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Delivery)) == 0  # only counted


def test_an_expired_alert_is_closed_instead_of_sent(coordinators):
    author, approver = coordinators
    make_registrant()
    alert = approved_alert(author, approver)
    assert targeting.fan_out(alert, alert.expires_at + timedelta(seconds=1)) == 0
    db.session.commit()
    assert alert.state == AlertState.not_sent and deliveries(alert.id) == {}
    assert alert.not_sent_reason == NotSentReason.expired


def test_fan_out_refuses_a_draft_and_a_recurring_template(coordinators):
    author, approver = coordinators
    draft = ops.create_alert({"event": "x", "expires_at": utcnow() + timedelta(hours=2)},
                             {"zh_Hans": {"headline": "标题", "body": "内容"}},
                             [{"country_code": "IT"}], user=author)
    with pytest.raises(ValueError, match="not scheduled"):
        targeting.fan_out(draft)
    series = approved_alert(author, approver, recurrence="0 9 * * 1",
                            expires_at=utcnow() + timedelta(days=60))
    with pytest.raises(ValueError, match="template"):
        targeting.fan_out(series)


def test_cancel_during_sending_stops_every_message_not_yet_handed_over(coordinators):
    author, approver = coordinators
    people = [make_registrant() for _ in range(6)]
    alert = approved_alert(author, approver)
    targeting.fan_out(alert)
    db.session.commit()
    rows = deliveries(alert.id)
    now = utcnow()
    done, in_provider, claimed, deferred = (rows[people[0].id], rows[people[1].id],
                                            rows[people[2].id], rows[people[3].id])
    done.state, done.final_at = DeliveryState.delivered, now
    in_provider.state, in_provider.provider_id, in_provider.submitted_at = DeliveryState.claimed, "SM1", now
    claimed.state, claimed.claimed_by, claimed.lease_until = DeliveryState.claimed, "w1", now
    deferred.state = DeliveryState.deferred
    db.session.commit()

    stopped = ops.cancel(alert, user=approver, reason="The protest was called off")
    db.session.commit()

    assert stopped == 4  # two pending, one deferred, one claimed but not submitted
    rows = deliveries(alert.id)
    assert rows[done.registrant_id].state == DeliveryState.delivered
    assert rows[in_provider.registrant_id].state == DeliveryState.claimed  # the provider has it
    for person in (people[2], people[3], people[4], people[5]):
        assert rows[person.id].state == DeliveryState.skipped
        assert rows[person.id].skip_reason == "cancelled"
    assert alert.state == AlertState.cancelled and alert.cancel_reason == "The protest was called off"
