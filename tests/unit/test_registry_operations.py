"""Registering people for alerts: what is accepted, what is refused with which message, one
current registration per number, the time zone of a city, status changes from the alerts side,
ending, erasure on request (and the legal hold that stops it) and the subject-access export."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa
from flask_babel import force_locale

from consular.audit.models import AuditEntry
from consular.auth.models import Role
from consular.db import db, keyring
from consular.registry import languages, phones, subject_data
from consular.registry import operations as ops
from consular.registry.models import ConsentMethod, Registrant, RegistrantKind, RegistrantStatus
from consular.registry.places import normalise_place, timezone_for, zones_for_country

PERSON = {"name": "王伟", "phone": "+39 312 345 6789", "country_code": "IT", "city": "Milano",
          "consent_method": "written"}


@pytest.fixture(autouse=True)
def _english(app):
    """Messages in English, as a reader who chose English sees them."""
    with force_locale("en"):
        yield


@pytest.fixture
def coordinator(make_user):
    return make_user(Role.coordinator)


def count() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Registrant)) or 0


def refused(data, user) -> dict[str, str]:
    with pytest.raises(ops.RegistryInputError) as caught:
        ops.register(data, user=user)
    db.session.rollback()
    return caught.value.errors


# --- registering --------------------------------------------------------------------------------


def test_a_registration_is_normalised_sealed_and_records_consent(coordinator):
    registrant = ops.register({**PERSON, "phone": "312 345 6789", "language": "zh-CN",
                               "consent_note": "登记表 0042"}, user=coordinator)
    db.session.commit()
    assert registrant.phone == "+393123456789"  # a national number read as Italian
    assert registrant.language == "zh_Hans" and registrant.kind == RegistrantKind.citizen_abroad
    assert registrant.timezone == "Europe/Rome"
    assert registrant.status == RegistrantStatus.active and registrant.ended_at is None
    assert registrant.consent_method == ConsentMethod.written
    assert registrant.consent_by_id == coordinator.id and registrant.created_by_id == coordinator.id
    assert (datetime.now(UTC) - registrant.consent_at).total_seconds() < 60  # default: now
    assert registrant.consent_note == "登记表 0042"

    raw = db.session.execute(sa.text("SELECT name, phone, phone_hash, current_phone_hash "
                                     "FROM registrant")).one()
    assert "王伟" not in raw.name and "3123456789" not in raw.phone  # sealed at rest
    assert raw.phone_hash == raw.current_phone_hash == phones.phone_key("+393123456789")

    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "registrant.create"))
    assert entry is not None and entry.object_id == str(registrant.id)
    assert "王伟" not in str(entry.detail) and "3123456789" not in str(entry.detail)


def test_consent_is_required_and_recorded_as_given(coordinator):
    errors = refused({k: v for k, v in PERSON.items() if k != "consent_method"}, coordinator)
    assert "consent_method" in errors
    errors = refused({**PERSON, "consent_method": "imported"}, coordinator)
    assert "consent_method" in errors  # only an import records "imported"
    errors = refused({**PERSON, "consent_at": "2999-01-01T10:00"}, coordinator)
    assert errors["consent_at"] == "This moment is in the future."
    past = ops.register({**PERSON, "consent_at": "2025-03-01T09:30"}, user=coordinator)
    # Without a zone, a consent time is the office's (Asia/Shanghai): 01:30 UTC.
    assert past.consent_at == datetime(2025, 3, 1, 1, 30, tzinfo=UTC)
    assert count() == 1


@pytest.mark.parametrize(("phone", "message"), [
    ("12345", "Not a valid phone number"),
    ("+39 06 1234 5678", "This is a landline number"),  # a Rome landline: SMS cannot reach it
    ("+39 800 123 456", "cannot receive text messages"),  # toll-free
    ("", "This field is required."),
    ("+86 139 0577 0000" * 4, "At most 40 characters."),
])
def test_numbers_that_cannot_receive_sms_are_refused(coordinator, phone, message):
    errors = refused({**PERSON, "phone": phone}, coordinator)
    assert message in errors["phone"]
    assert count() == 0


def test_numbers_that_may_be_mobile_are_accepted(coordinator):
    # US numbers are FIXED_LINE_OR_MOBILE: phonenumbers cannot tell, so they are accepted.
    us = ops.register({**PERSON, "phone": "(212) 555-0142", "country_code": "US",
                       "city": "New York"}, user=coordinator)
    assert us.phone == "+12125550142" and us.timezone == "America/New_York"
    # A spreadsheet dropped the "+": the digits of an international number are understood.
    cn = ops.register({**PERSON, "phone": "8613912345678", "country_code": "IT"}, user=coordinator)
    assert cn.phone == "+8613912345678"


def test_every_problem_is_reported_at_once_and_nothing_is_written(coordinator):
    errors = refused({"name": "", "phone": "abc", "country_code": "XX", "language": "klingon",
                      "kind": "tourist", "stay_from": "2025-09-01", "stay_until": "2025-08-01",
                      "consent_method": "written", "hobby": "chess"}, coordinator)
    assert set(errors) >= {"name", "country_code", "language", "kind", "stay_until", "hobby"}
    assert "Not a country code" in errors["country_code"]
    assert errors["stay_until"] == "The stay cannot end before it starts."
    assert errors["hobby"] == "Unknown or read-only field."
    assert count() == 0


@pytest.mark.parametrize(("given", "stored"), [
    ("zh", "zh_Hans"), ("zh-TW", "zh_Hant"), ("zh_Hant", "zh_Hant"), ("zh-Hans-CN", "zh_Hans"),
    ("EN", "en"), ("pt-BR", "pt"), ("中文", "zh_Hans"), ("繁體中文", "zh_Hant"), ("意大利语", "it"),
    ("Italiano", "it"), ("English", "en"), ("日本語", "ja"), ("한국어", "ko"),
])
def test_alert_languages(given, stored):
    assert languages.language_from_text(given) == stored


@pytest.mark.parametrize("given", ["nl", "klingon", "x-y", "", "zh-Latn-CN-extra"])
def test_languages_without_alert_texts_are_refused(given):
    with pytest.raises(ValueError):  # noqa: PT011 (ValueError is the contract)
        languages.language_from_text(given)


# --- one current registration per number --------------------------------------------------------


def test_a_second_current_registration_of_a_number_is_refused(coordinator, make_user):
    first = ops.register(PERSON, user=coordinator)
    db.session.commit()
    with pytest.raises(ops.RegistryInputError) as caught:
        ops.register({**PERSON, "name": "王芳", "phone": "0039 312 345 6789"}, user=coordinator)
    db.session.rollback()
    assert caught.value.existing_id == first.id
    assert f"registration no. {first.id}" in caught.value.errors["phone"]

    # An officer who cannot see that registration learns only that the number is taken.
    officer = make_user(Role.liaison_officer)
    with pytest.raises(ops.RegistryInputError) as hidden:
        ops.register({**PERSON, "name": "王芳"}, user=officer)
    db.session.rollback()
    assert hidden.value.existing_id is None
    assert "another liaison point or station" in hidden.value.errors["phone"]
    assert str(first.id) not in hidden.value.errors["phone"]

    # Once the first registration has ended, the number can be registered again.
    ops.end_registration(first, user=coordinator, reason="returned_home")
    again = ops.register({**PERSON, "name": "王芳"}, user=officer)
    db.session.commit()
    assert phones.find_by_phone("+393123456789") == again
    assert count() == 2


def test_the_database_itself_holds_one_current_registration_per_number(coordinator):
    first = ops.register(PERSON, user=coordinator)
    db.session.commit()
    twin = ops.new_registrant(ops.check_new_registrant({**PERSON, "name": "x"}, user=coordinator,
                                                       duplicates=False),
                              user=coordinator, consent_method=ConsentMethod.verbal,
                              consent_at=first.consent_at)
    db.session.add(twin)
    with pytest.raises(sa.exc.IntegrityError):
        db.session.flush()
    db.session.rollback()
    assert count() == 1


def test_changing_the_number_checks_it_like_a_new_one(coordinator):
    one = ops.register(PERSON, user=coordinator)
    two = ops.register({**PERSON, "name": "李娜", "phone": "+39 312 345 0000"}, user=coordinator)
    db.session.commit()
    with pytest.raises(ops.RegistryInputError) as caught:
        ops.update_registrant(two, {"phone": "+393123456789"}, user=coordinator)
    db.session.rollback()
    assert caught.value.existing_id == one.id
    ops.set_status(two, RegistrantStatus.invalid_number, "21211 invalid To")
    changed = ops.update_registrant(two, {"phone": "+39 312 345 1111", "name": "李娜"},
                                    user=coordinator)
    db.session.commit()
    assert changed == ["phone"]
    assert two.status == RegistrantStatus.active  # a new number is worth trying again
    assert phones.find_by_phone("+393123451111") == two
    assert phones.find_by_phone("+393123450000") is None


# --- time zones ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("country", "city", "zone"), [
    ("IT", "Milano", "Europe/Rome"),
    ("IT", "米兰", "Europe/Rome"),
    ("IT", "", "Europe/Rome"),  # one zone for the whole country
    ("US", "New York", "America/New_York"),
    ("US", "纽约", "America/New_York"),
    ("US", "los angeles", "America/Los_Angeles"),
    ("ES", "Barcelona", "Europe/Madrid"),
    ("ES", "巴塞罗那", "Europe/Madrid"),
    ("ES", "Las Palmas de Gran Canaria", "Atlantic/Canary"),
    ("BR", "Sao Paulo", "America/Sao_Paulo"),
    ("DE", "Frankfurt", "Europe/Berlin"),  # Büsingen keeps Berlin's clock
    ("CN", "温州", "Asia/Shanghai"),  # one legal time
    ("US", "Springfield", None),  # several Springfields on different clocks: ask
    ("US", "Nowhere Creek", None),
    ("ES", "", None),
    ("XX", "Roma", None),
])
def test_the_zone_follows_from_the_city(country, city, zone):
    assert timezone_for(country, city) == zone


def test_place_names_compare_without_case_accents_or_spaces():
    assert normalise_place("São Paulo") == normalise_place("SAO-PAULO") == normalise_place("sao paulo")
    assert normalise_place("温州市") == normalise_place("温州")
    assert zones_for_country("es") == ["Europe/Madrid", "Africa/Ceuta", "Atlantic/Canary"]


def test_an_unknown_city_in_a_country_with_several_zones_asks_for_the_zone(coordinator):
    errors = refused({**PERSON, "country_code": "US", "city": "Nowhere Creek",
                      "phone": "+1 212 555 0150"}, coordinator)
    assert errors["timezone"] == "We cannot tell the time zone of Nowhere Creek. Choose it from the list."
    chosen = ops.register({**PERSON, "country_code": "US", "city": "Nowhere Creek",
                           "phone": "+1 212 555 0150", "timezone": "america/chicago"},
                          user=coordinator)
    assert chosen.timezone == "America/Chicago"
    errors = refused({**PERSON, "timezone": "Asia/Tokyo"}, coordinator)
    assert errors["timezone"] == "Asia/Tokyo is not a time zone of Italy. Choose one from the list."


def test_moving_city_moves_the_zone(coordinator):
    registrant = ops.register({**PERSON, "country_code": "ES", "city": "Madrid",
                               "phone": "+34 612 345 678"}, user=coordinator)
    assert registrant.timezone == "Europe/Madrid"
    # The edit form sends the old zone back unchanged: the new city decides.
    ops.update_registrant(registrant, {"city": "Las Palmas", "timezone": "Europe/Madrid"},
                          user=coordinator)
    assert registrant.timezone == "Atlantic/Canary"
    ops.update_registrant(registrant, {"city": "Somewhere unknown", "timezone": ""},
                          user=coordinator)
    assert registrant.timezone == "Atlantic/Canary"  # nothing new to tell: the zone stays


# --- the alerts side: status, lookup ------------------------------------------------------------


def test_status_changes_from_replies_and_the_provider(coordinator):
    registrant = ops.register(PERSON, user=coordinator)
    db.session.commit()
    assert phones.find_by_phone("+393123456789") == registrant
    assert phones.find_by_phone("+39 312 345 6789") == registrant
    assert phones.find_by_phone("+393120000000") is None

    assert ops.set_status(registrant, "opted_out", "STOP") is True
    assert ops.set_status(registrant, RegistrantStatus.opted_out, "STOP") is False  # no change
    assert ops.set_status(registrant, RegistrantStatus.active, "START") is True
    # A START by the person is their consent, by text message.
    assert registrant.consent_method == ConsentMethod.sms and registrant.consent_by_id is None
    ops.set_status(registrant, RegistrantStatus.invalid_number, "21614 not a mobile number")
    db.session.commit()
    assert registrant.status_reason == "21614 not a mobile number"
    entries = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "registrant.status")
                                 .order_by(AuditEntry.id)).all()
    assert [(e.detail["from"], e.detail["to"], e.username) for e in entries] == [
        ("active", "opted_out", "system"), ("opted_out", "active", "system"),
        ("active", "invalid_number", "system")]


def test_staff_reactivating_an_opted_out_person_records_consent_again(coordinator):
    registrant = ops.register(PERSON, user=coordinator)
    ops.set_status(registrant, RegistrantStatus.opted_out, "STOP")
    with pytest.raises(ops.RegistryInputError) as caught:
        ops.change_status(registrant, "active", user=coordinator)
    assert "consent_method" in caught.value.errors
    assert registrant.status == RegistrantStatus.opted_out
    assert ops.change_status(registrant, "active", user=coordinator, consent_method="verbal",
                             consent_note="电话确认") is True
    assert registrant.consent_method == ConsentMethod.verbal
    assert registrant.consent_by_id == coordinator.id


def test_an_ended_registration_cannot_be_changed(coordinator):
    registrant = ops.register(PERSON, user=coordinator)
    assert ops.end_registration(registrant, user=coordinator, reason="returned_home") is True
    assert ops.end_registration(registrant, user=coordinator, reason="other") is False
    assert registrant.current_phone_hash is None and registrant.ended_reason == "returned_home"
    with pytest.raises(ops.RegistryConflict):
        ops.update_registrant(registrant, {"city": "Roma"}, user=coordinator)
    with pytest.raises(ops.RegistryInputError):
        ops.end_registration(ops.register(PERSON, user=coordinator), user=coordinator,
                             reason="bored")


# --- erasure and subject access -----------------------------------------------------------------


def raw_values(registrant_id: int) -> sa.Row:
    table = Registrant.__table__
    return db.session.execute(sa.select(
        sa.type_coerce(table.c.name, sa.Text), sa.type_coerce(table.c.phone, sa.Text),
        table.c.phone_hash, table.c.current_phone_hash, table.c.name_hash, table.c.city,
        table.c.stay_from).where(table.c.id == registrant_id)).one()


def test_erasure_overwrites_the_personal_data(coordinator):
    registrant = ops.register({**PERSON, "stay_from": "2025-01-10", "stay_until": date(2026, 1, 10),
                               "consent_note": "王伟签字"}, user=coordinator)
    db.session.commit()
    before = raw_values(registrant.id)
    assert keyring().open(before[1], "registrant", "phone") == "+393123456789"

    assert subject_data.erase_registrant(registrant, user=coordinator) is True
    db.session.commit()
    name, phone, phone_hash, current, name_hash, city, stay_from = raw_values(registrant.id)
    assert name is None
    # The phone is no longer the old number:
    assert phone != before[1] and keyring().open(phone, "registrant", "phone") == ""
    assert phone_hash == "" and current is None and name_hash is None
    assert city == "" and stay_from is None
    assert registrant.ended_at is not None and registrant.erased_at is not None
    assert registrant.consent_note == ""
    assert registrant.country_code == "IT" and registrant.language == "zh_Hans"  # statistics stay
    assert phones.find_by_phone("+393123456789") is None
    assert subject_data.erase_registrant(registrant, user=coordinator) is False
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry)
                             .where(AuditEntry.action == "registrant.erase")) == 1
    # The number is free again.
    ops.register(PERSON, user=coordinator)


def test_erasure_is_refused_under_legal_hold(coordinator):
    registrant = ops.register(PERSON, user=coordinator)
    assert ops.set_legal_hold(registrant, True, user=coordinator) is True
    db.session.commit()
    with pytest.raises(ops.RegistryConflict, match="legal hold"):
        subject_data.erase_registrant(registrant, user=coordinator)
    db.session.rollback()
    assert registrant.name == "王伟" and registrant.erased_at is None
    ops.set_legal_hold(registrant, False, user=coordinator)
    assert subject_data.erase_registrant(registrant, user=coordinator) is True


def test_the_subject_access_export_holds_everything_and_is_audited(coordinator, make_point):
    point = make_point("七都街道联络点")
    registrant = ops.register({**PERSON, "liaison_point_id": point.id, "stay_from": "2025-01-10",
                               "consent_note": "表 7"}, user=coordinator)
    ops.set_status(registrant, RegistrantStatus.opted_out, "STOP")
    subject_data.SUBJECT_ACCESS_SECTIONS["deliveries"] = lambda r: [{"registrant": r.id, "alert": 1}]
    try:
        body = subject_data.subject_access_export(registrant, user=coordinator)
    finally:
        del subject_data.SUBJECT_ACCESS_SECTIONS["deliveries"]
    db.session.commit()
    reg = body["registration"]
    assert reg["name"] == "王伟" and reg["phone"] == "+393123456789" and reg["city"] == "Milano"
    assert reg["home_liaison_point"] == {"id": point.id, "name": "七都街道联络点"}
    assert reg["stay_from"] == "2025-01-10" and reg["status"] == "opted_out"
    assert body["consent"]["method"] == "written" and body["consent"]["note"] == "表 7"
    assert body["consent"]["recorded_by"]["username"] == coordinator.username
    assert [h["action"] for h in body["history"]] == ["registrant.create", "registrant.status"]
    assert body["deliveries"] == [{"registrant": registrant.id, "alert": 1}]
    import json

    json.dumps(body)  # JSON-able as it is
    entry = db.session.scalar(sa.select(AuditEntry).where(
        AuditEntry.action == "registrant.subject_access"))
    assert entry is not None and entry.object_id == str(registrant.id)


def test_the_retention_job_erases_without_a_user(coordinator):
    registrant = ops.register(PERSON, user=coordinator)
    db.session.commit()
    assert subject_data.erase_registrant(registrant, user=None, reason="retention") is True
    db.session.commit()
    assert registrant.ended_reason == "retention" and registrant.name is None
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "registrant.erase"))
    assert entry is not None and entry.username == "system" and entry.user_id is None
    assert entry.detail == {"reason": "retention"}
    with pytest.raises(ValueError):  # noqa: PT011
        subject_data.erase_registrant(registrant, user=None, reason="because")
