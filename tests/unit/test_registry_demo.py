"""The demo registrants: some 300 people matching the demo network, registered by its officers
and stations with their consent, valid mobile numbers, a few opted out and one invalid number;
loading twice adds nobody."""

from __future__ import annotations

from collections import Counter

import phonenumbers
import sqlalchemy as sa

from consular import phones
from consular.auth.models import Role, User
from consular.db import db
from consular.registry import operations as ops
from consular.registry.demo import load_demo_registrants
from consular.registry.languages import SMS_LOCALES
from consular.registry.models import Registrant, RegistrantKind, RegistrantStatus
from tests.support.snapshot import load_demo_once


def test_demo_registrants_match_the_demo_network(app):
    load_demo_once()  # load_demo() calls load_demo_registrants at its end
    people = list(db.session.scalars(sa.select(Registrant)))
    assert 280 <= len(people) <= 340
    countries = Counter(r.country_code for r in people)
    assert countries.most_common(1)[0][0] == "IT"
    assert {"IT", "FR", "ES", "NL", "DE", "NG", "AE", "US", "CN"} <= set(countries)
    languages = Counter(r.language for r in people)
    assert languages.most_common(1)[0][0] == "zh_Hans"
    assert {"zh_Hant", "en", "it", "fr", "es", "de", "ja", "ko"} <= set(languages)
    assert set(languages) <= set(SMS_LOCALES)
    kinds = Counter(r.kind for r in people)
    assert all(kinds[kind] > 0 for kind in RegistrantKind)
    statuses = Counter(r.status for r in people)
    assert 3 <= statuses[RegistrantStatus.opted_out] <= 10
    assert statuses[RegistrantStatus.invalid_number] == 1
    assert len({r.phone for r in people}) == len(people)
    for r in people:
        number = phonenumbers.parse(r.phone)
        assert phonenumbers.is_valid_number(number) and phonenumbers.number_type(number) in \
            ops.SMS_CAPABLE, r.phone
        assert r.current_phone_hash == phones.search_hash(r.phone)
    by_role = Counter(db.session.get(User, r.consent_by_id).role for r in people)
    assert by_role[Role.liaison_officer] > 0 and by_role[Role.station_volunteer] > 0
    assert {r.timezone for r in people if r.country_code == "US"} == {"America/New_York"}
    assert {r.timezone for r in people if r.country_code == "CN"} == {"Asia/Shanghai"}

    assert load_demo_registrants() == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Registrant)) == len(people)


def test_without_the_demo_network_nothing_is_loaded(app):
    assert load_demo_registrants() == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Registrant)) == 0
