"""The duplicate warning and search across scripts: one person written as 张伟, 張偉, "ZHANG WEI",
"Wei Zhang" or "zhāng wěi" is one person; ID and phone numbers match whatever their format; the
window and the user's scope are respected, and names are never stored in the clear."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from consular.cases import operations as ops
from consular.cases.duplicates import find_duplicates
from consular.cases.models import Case, PersonNameKey
from consular.cases.names import name_keys
from consular.cases.queries import search_cases
from consular.db import db, utcnow
from tests.support.cases import World, case_data, person


@pytest.fixture
def existing(world: World) -> Case:
    case = ops.create_case(case_data(), [person(), {"role": "family", "name_zh": "张父",
                                                    "phone": "13905771234"}], user=world.officer_a)
    db.session.commit()
    return case


def found(persons: list[dict[str, object]], country: str | None = "IT", **kw: object):
    return find_duplicates(persons, country_code=country, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("spelling", [
    {"name_zh": "张伟"}, {"name_zh": "張偉"}, {"name_latin": "ZHANG WEI"}, {"name_latin": "Wei Zhang"},
    {"name_latin": "zhāng wěi"}, {"name_latin": "Zhang, Wei"}, {"name_zh": "张 伟"},
])
def test_the_same_person_in_any_script_with_the_same_birth_date_is_found(
        world: World, existing: Case, spelling: dict[str, str]) -> None:
    matches = found([{**spelling, "birth_date": "1980-03-15"}], country="FR", user=world.coordinator)
    assert [c.case_id for c in matches.candidates] == [existing.id]
    assert matches.candidates[0].reason == "name_birth_date"
    assert matches.candidates[0].reference == existing.reference and matches.hidden == 0


def test_the_same_name_in_the_same_country_is_found_without_a_birth_date(world: World,
                                                                        existing: Case) -> None:
    matches = found([{"name_latin": "Wei ZHANG"}], country="it", user=world.coordinator)
    assert [(c.case_id, c.reason) for c in matches.candidates] == [(existing.id, "name_country")]


def test_a_different_birth_date_and_a_different_country_is_someone_else(world: World, existing: Case) -> None:
    assert found([{"name_zh": "张伟", "birth_date": "1991-01-01"}], country="FR").candidates == []
    assert found([{"name_zh": "张伟"}], country="FR").candidates == []
    assert found([{"name_zh": "李伟", "birth_date": "1980-03-15"}], country="IT").candidates == []


def test_the_same_passport_number_in_another_case_is_found(world: World, existing: Case) -> None:
    matches = found([{"name_zh": "王五", "id_number": " e1234-5678 "}], country="DE", user=world.coordinator)
    assert [(c.case_id, c.reason) for c in matches.candidates] == [(existing.id, "id_number")]


@pytest.mark.parametrize(("phone", "country"), [
    ("+39 333 765 4321", "IT"), ("0039 333 7654321", "IT"), ("333-765-4321", "IT"), ("+393337654321", None),
    ("139 0577 1234", "IT"),  # the family's home number, typed without the country code
])
def test_the_same_phone_in_any_format_is_found(world: World, existing: Case, phone: str,
                                               country: str | None) -> None:
    matches = found([{"name_zh": "某人", "phone": phone}], country=country, user=world.coordinator)
    assert [(c.case_id, c.reason) for c in matches.candidates] == [(existing.id, "phone")]


def test_cases_outside_the_window_are_not_found(world: World, existing: Case) -> None:
    db.session.execute(sa.update(Case).where(Case.id == existing.id)
                       .values(reported_at=utcnow() - timedelta(days=200)))
    db.session.commit()
    assert found([{"id_number": "E12345678"}]).candidates == []
    assert found([{"id_number": "E12345678"}], window_days=365).candidates != []
    assert found([{"id_number": "E12345678"}], exclude_case_id=existing.id, window_days=365).candidates == []


def test_an_officer_learns_a_similar_case_exists_without_seeing_it(world: World, existing: Case) -> None:
    other_point = found([person()], user=world.officer_b)
    assert other_point.candidates == [] and other_point.hidden == 1
    own_point = found([person()], user=world.officer_a)
    assert [c.case_id for c in own_point.candidates] == [existing.id] and own_point.hidden == 0
    assert own_point.candidates[0].reasons[0] == "id_number"  # the strongest reason first
    assert found([person()], user=world.admin).hidden == 1


def test_garbage_input_finds_nothing_and_breaks_nothing(world: World, existing: Case) -> None:
    for persons in ([], [None], ["张伟"], [{"name_zh": 5, "phone": ["x"], "birth_date": "never"}],
                    [{"id_number": "x" * 5000, "phone": "1" * 5000, "role": "boss"}]):
        assert found(persons).candidates == []  # type: ignore[arg-type]
    assert found([{"name_zh": "张伟"}], country="Narnia").candidates == []


def test_names_are_stored_only_as_keyed_hashes(world: World, existing: Case) -> None:
    hashes = set(db.session.scalars(sa.select(PersonNameKey.key_hash)))
    assert hashes and all(len(h) == 64 for h in hashes)
    assert not {"张伟", "zhangwei", "ZHANGWEI"} & hashes
    assert {"张伟", "zhangwei", "weizhang"} <= name_keys("张伟", None)
    assert {"lvbu", "lubu", "lyubu"} <= name_keys("吕布", None)
    assert "ouyangnana" in name_keys("欧阳娜娜", None)
    assert "shantianfang" in name_keys("单田芳", None)  # the surname reading of 单


def test_search_finds_a_case_by_reference_name_phone_or_id_within_scope(world: World, existing: Case) -> None:
    year, number = existing.reference.split("-")

    def ids(query: str, user=world.coordinator) -> list[int]:
        return list(db.session.scalars(search_cases(query, user).with_only_columns(Case.id)))

    for query in (existing.reference, f"{year}-{int(number)}", str(int(number)), "张伟", "張偉", "zhang wei",
                  "WEI ZHANG", "+39 333 765 4321", "139 0577 1234", "e12345678",
                  "拘留"):
        assert ids(query) == [existing.id], query
    assert ids("张伟", world.officer_a) == [existing.id]
    assert ids("张伟", world.officer_b) == []
    assert ids("张伟", world.admin) == []
    for nothing in ("", "   ", "\x00", "李四", "9999-999999", "%", "_"):
        assert ids(nothing) == [], nothing
