"""Logging cases: bad input of every kind is refused naming the field, with nothing written; good
input is normalised (phones in E.164, ID numbers folded, HTML kept literal); mass intake is all or
nothing and names each bad line; the audit trail never holds a name, ID number or phone."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask_babel import force_locale

from consular.audit.models import AuditEntry
from consular.cases import operations as ops
from consular.cases.models import (
    Case,
    CasePerson,
    CaseStatus,
    Channel,
    IdKind,
    Notification,
    PersonRole,
    Priority,
    TimelineEntry,
)
from consular.cases.policy import ActionRefused
from consular.db import db, utcnow
from tests.support.cases import World, build, case_data, person


def count(model: type) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model)) or 0


def totals() -> tuple[int, ...]:
    return tuple(count(m) for m in (Case, CasePerson, TimelineEntry, AuditEntry))


FUTURE = (utcnow() + timedelta(days=3)).isoformat()
Bad = tuple[str, dict[str, Any], list[dict[str, Any]], str]


def bad_case(label: str, field: str, value: Any) -> Bad:
    """The case's ``field`` set to ``value`` (one good person): refused naming the field."""
    return label, case_data(**{field: value}), [person()], field


def bad_person(label: str, field: str, value: Any, **other: Any) -> Bad:
    """A good case whose one person has ``field`` set to ``value`` (and ``other``): refused naming
    that person's field."""
    return label, case_data(), [person(**other, **{field: value})], f"persons.0.{field}"


BAD_CASES: list[Bad] = [
    bad_case("empty summary", "summary", ""),
    ("summary missing", {k: v for k, v in case_data().items() if k != "summary"}, [person()], "summary"),
    bad_case("huge summary", "summary", "长" * 201),
    bad_case("huge narrative", "narrative", "x" * 20_001),
    bad_case("summary not text", "summary", ["a"]),
    bad_case("control characters", "summary", "abc\x00def"),
    bad_case("bidi override", "city", "Prato\u202egnp.exe"),
    bad_case("no country abroad", "country_code", ""),
    bad_case("bad country", "country_code", "XX"),
    bad_case("bad country type", "country_code", 39),
    bad_case("unknown category", "category", "alien_abduction"),
    bad_case("unknown priority", "priority", "P0"),
    bad_case("unknown kind", "kind", "space"),
    bad_case("sms_reply is not a user channel", "channel", "sms_reply"),
    bad_case("welfare_visit is not a user channel", "channel", "welfare_visit"),
    bad_case("unknown field", "status", "closed"),
    bad_case("future occurrence", "occurred_at", FUTURE),
    bad_case("bad occurrence", "occurred_at", "last tuesday"),
    bad_case("ancient occurrence", "occurred_at", "1900-01-01T00:00:00"),
    bad_case("bad time zone", "timezone", "Mars/Olympus"),
    bad_case("bad tags", "tags", [1, 2]),
    bad_case("long tag", "tags", "x" * 41),
    ("no person", case_data(), [], "persons"),
    ("persons not a list", case_data(), "张伟", "persons"),  # type: ignore[list-item]
    ("person not a mapping", case_data(), ["张伟"], "persons.0"),  # type: ignore[list-item]
    ("only a reporter", case_data(), [{"role": "reporter", "name_zh": "李四"}], "persons"),
    ("involved without a name", case_data(), [{"phone": "+393331234567"}], "persons"),
    bad_person("future birth date", "birth_date", (utcnow() + timedelta(days=2)).date().isoformat()),
    bad_person("bad birth date", "birth_date", "1980-02-30"),
    bad_person("birth date nonsense", "birth_date", "yesterday"),
    bad_person("birth date 1800", "birth_date", "1850-01-01"),
    bad_person("bad phone", "phone", "12345"),
    bad_person("phone letters", "phone", "call me"),
    bad_person("bad id number", "id_number", "E1#"),
    bad_person("bad resident id", "id_number", "12345", id_kind="resident_id"),
    bad_person("unknown person role", "role", "suspect"),
    bad_person("unknown gender", "gender", "7"),
    bad_person("unknown id kind", "id_kind", "library_card"),
    bad_person("bad nationality", "nationality", "ZZZ"),
    bad_person("latin name in hanzi", "name_latin", "张伟"),
    bad_person("latin name with digits", "name_latin", "Zhang Wei 2"),
    bad_person("huge name", "name_zh", "张" * 61),
    bad_person("unknown person field", "password", "x"),
    bad_person("huge note", "note", "x" * 4001),
    ("too many persons", case_data(), [person(id_number=None)] * 51, "persons"),
]


@pytest.mark.parametrize(("data", "persons", "field"), [c[1:] for c in BAD_CASES],
                         ids=[c[0] for c in BAD_CASES])
def test_bad_input_is_refused_naming_the_field_and_nothing_is_written(
        world: World, data: dict[str, Any], persons: list[dict[str, Any]], field: str) -> None:
    before = totals()
    with pytest.raises(ops.CaseInputError) as bad:
        ops.create_case(data, persons, user=world.officer_a)
    assert field in bad.value.errors, bad.value.errors
    assert all(isinstance(m, str) and m for m in bad.value.errors.values())
    db.session.rollback()
    assert totals() == before


def test_every_problem_is_reported_at_once(world: World) -> None:
    with pytest.raises(ops.CaseInputError) as bad:
        ops.create_case(case_data(summary="", country_code="XX", priority="P9"),
                        [person(phone="0", birth_date="2999-01-01")], user=world.officer_a)
    assert {"summary", "country_code", "priority", "persons.0.phone", "persons.0.birth_date"} <= set(
        bad.value.errors)


def test_not_a_mapping_at_all(world: World) -> None:
    with pytest.raises(ops.CaseInputError):
        ops.create_case("summary=x", [person()], user=world.officer_a)  # type: ignore[arg-type]


def test_good_input_is_normalised_and_html_stays_literal(world: World) -> None:
    case = ops.create_case(
        case_data(summary="<script>alert(1)</script> 被拘留", country_code="it", tags="诈骗, 紧急,诈骗",
                  occurred_at="2026-01-05 14:30", timezone="europe/rome", kind="abroad"),
        [person(id_number=" e1234 5678 ", phone="333 765 4321", name_latin="Zhāng Wěi", gender="male"),
         {"role": "family", "name_zh": "张父", "phone": "139-0577-1234", "relationship": "父亲"},
         {"role": "involved", "name_zh": "张二", "id_number": "33030219800315123X"}],
        user=world.officer_a)
    db.session.commit()
    assert case.summary == "<script>alert(1)</script> 被拘留"
    assert case.country_code == "IT" and case.timezone == "Europe/Rome" and case.tags == "诈骗,紧急"
    assert case.occurred_at is not None and case.occurred_at.utcoffset() == timedelta(0)
    assert case.occurred_at.hour == 13  # 14:30 in Rome in winter is 13:30 UTC
    first, family, second = case.persons
    assert first.id_number == "E12345678" and first.id_kind == IdKind.passport
    assert first.phone == "+393337654321"  # read in the country of the case
    assert family.phone == "+8613905771234" and family.role == PersonRole.family
    assert family.relationship_to_involved == "父亲"
    assert second.id_kind == IdKind.resident_id
    assert case.channel == Channel.walk_in and case.priority == Priority.P3


NAME_RULE = ("A name holds letters only, with spaces, dots, apostrophes or hyphens between words: no "
             "digits, emoji or other signs.")


@pytest.mark.parametrize("bad", ["王小明😀", "WANG😀", "王小明2", "WANG XIAOMING 2", "♥", "王\u200d明",
                                 "WANG\ufe0f", "<b>王</b>"])
@pytest.mark.parametrize("field", ["name_zh", "name_latin"])
def test_one_rule_for_the_characters_of_a_name_in_either_script(world: World, field: str,
                                                                 bad: str) -> None:
    """The Chinese name and the passport spelling refuse the same characters with the same words."""
    with force_locale("en"), pytest.raises(ops.CaseInputError) as refused:
        ops.create_case(case_data(), [person(**{field: bad})], user=world.officer_a)
    assert refused.value.errors == {f"persons.0.{field}": NAME_RULE}


def test_names_with_separators_accents_and_any_script_are_kept(world: World) -> None:
    case = ops.create_case(case_data(), [
        person(name_zh="约翰·史密斯", name_latin="O'NEIL-SMITH JOHN"),
        person(name_zh="阿依古丽", name_latin="Zoë Ngọc Ánh", id_number="E7654321")],
        user=world.officer_a)
    assert [(p.name_zh, p.name_latin) for p in case.persons] == [
        ("约翰·史密斯", "O'NEIL-SMITH JOHN"), ("阿依古丽", "Zoë Ngọc Ánh")]
    with force_locale("en"), pytest.raises(ops.CaseInputError) as refused:
        # the passport spelling is Latin letters
        ops.create_case(case_data(), [person(name_latin="王小明")], user=world.officer_a)
    assert "Latin letters" in refused.value.errors["persons.0.name_latin"]


def test_officers_and_volunteers_log_for_their_own_place_only(world: World) -> None:
    with pytest.raises(ops.CaseInputError) as bad:
        ops.create_case(case_data(liaison_point_id=world.point_b.id), [person()], user=world.officer_a)
    assert "liaison_point_id" in bad.value.errors
    with pytest.raises(ops.CaseInputError) as bad:
        ops.create_case(case_data(reporting_station_id=world.station_b.id), [person()],
                        user=world.volunteer_a)
    assert "reporting_station_id" in bad.value.errors
    by_station = ops.create_case(case_data(), [person()], user=world.volunteer_a)
    assert by_station.channel == Channel.station and by_station.reporting_station_id == world.station_a.id
    by_centre = ops.create_case(case_data(liaison_point_id=str(world.point_b.id), priority="P1"),
                                [person()], user=world.coordinator)
    assert by_centre.liaison_point_id == world.point_b.id and by_centre.first_response_at is not None
    with pytest.raises(ops.CaseInputError):
        ops.create_case(case_data(liaison_point_id=999_999), [person()], user=world.coordinator)
    with pytest.raises(ActionRefused) as refused:
        ops.create_case(case_data(), [person()], user=world.admin)
    assert refused.value.status_code == 403


def test_a_p1_case_from_a_point_tells_the_coordinator_on_duty(world: World) -> None:
    ops.create_case(case_data(priority="P1"), [person()], user=world.officer_a)
    db.session.commit()
    kinds = set(db.session.scalars(sa.select(Notification.kind).where(
        Notification.user_id == world.coordinator.id)))
    assert kinds == {"new_case"}


def test_editing_facts_and_people(world: World) -> None:
    case = build(world, CaseStatus.triaged)
    v = case.version
    changed = ops.update_case(case, {**case_data(), "summary": "已转入医院", "city": "Firenze"},
                              user=world.officer_a, expected_version=v)
    assert changed == ["city", "summary"] and case.version == v + 1
    assert ops.update_case(case, {"summary": "已转入医院"}, user=world.officer_a,
                           expected_version=case.version) == []
    with pytest.raises(ops.CaseInputError) as bad:
        ops.update_case(case, {"priority": "P1"}, user=world.officer_a, expected_version=case.version)
    assert "priority" in bad.value.errors
    with pytest.raises(ops.CaseInputError) as bad:
        ops.update_case(case, {"country_code": ""}, user=world.officer_a, expected_version=case.version)
    assert "country_code" in bad.value.errors
    with pytest.raises(ops.CaseInputError):
        ops.update_case(case, {"liaison_point_id": world.point_b.id}, user=world.officer_a,
                        expected_version=case.version)

    main = case.persons[0]
    assert ops.update_person(main, {"phone": "+39 333 000 1111", "name_latin": "ZHANG WEI"},
                             user=world.officer_a, expected_version=case.version) == ["phone"]
    with pytest.raises(ops.CaseInputError):
        ops.update_person(main, {"name_zh": "", "name_latin": ""}, user=world.officer_a,
                          expected_version=case.version)
    with pytest.raises(ops.CaseInputError):
        ops.remove_person(main, user=world.officer_a, expected_version=case.version)
    extra = ops.add_person(case, {"role": "reporter", "name_zh": "邻居", "phone": "13905770000"},
                           user=world.officer_a, expected_version=case.version)
    ops.remove_person(extra, user=world.officer_a, expected_version=case.version)
    with pytest.raises(ops.CaseInputError):
        ops.add_person(case, {"role": "family"}, user=world.officer_a, expected_version=case.version)
    db.session.commit()
    assert len(case.persons) == 1


def test_mass_intake_creates_one_linked_case_per_person(world: World) -> None:
    text = ("name_zh,name_latin,birth_date,id_number,phone,gender\n"
            "张伟,ZHANG WEI,1980-03-15,E12345678,+393331112222,男\n"
            "\n"
            "李娜,LI NA,1992-07-01,E87654321,,女\n"
            "# a comment line\n"
            "王芳,,,,,\n")
    rows, problems = ops.parse_mass_list(text)
    assert problems == [] and [r["line"] for r in rows] == [2, 4, 6]
    cases = ops.mass_intake(world.incident, text, user=world.coordinator,
                            defaults={"category": "injured", "priority": "P2"})
    db.session.commit()
    assert len(cases) == 3 and len({c.reference for c in cases}) == 3
    assert all(c.incident_id == world.incident.id and c.country_code == "IT" and c.priority == Priority.P2
               for c in cases)
    assert cases[0].summary == world.incident.title
    assert cases[0].persons[0].gender.value == "male" and cases[0].persons[0].phone == "+393331112222"


def test_pasted_lines_without_delimiters_are_read_by_shape(world: World) -> None:
    rows, problems = ops.parse_mass_list("张伟 1980-03-15 E12345678 +393331112222 男\nLI Na 1992-07-01\n\t\n")
    assert problems == []
    assert rows[0]["name_zh"] == "张伟" and rows[0]["birth_date"] == "1980-03-15"
    assert rows[0]["id_number"] == "E12345678" and rows[0]["phone"] == "+393331112222"
    assert rows[1]["name_latin"] == "LI Na"
    tabbed, _ = ops.parse_mass_list("张伟\tZHANG WEI\t1980-03-15\n李娜\tLI NA")
    assert [r.get("name_latin") for r in tabbed] == ["ZHANG WEI", "LI NA"]


def test_one_tab_separated_line_leaves_the_comma_separated_ones_alone(world: World) -> None:
    """Each line is read with its own delimiter: a line copied from a spreadsheet (tabs) among
    typed ones (commas) does not make the others one long name."""
    rows, problems = ops.parse_mass_list("张伟,ZHANG WEI,1980-03-15,E12345678,+393331112222\n"
                                         "李娜\tLI NA\t1992-07-01\tE87654321\n"
                                         "王芳，WANG FANG，1975-05-05\n"
                                         "赵雷 1988-12-15 E22222222\n")
    assert problems == []
    assert [(r.get("name_zh"), r.get("name_latin"), r.get("birth_date")) for r in rows] == [
        ("张伟", "ZHANG WEI", "1980-03-15"), ("李娜", "LI NA", "1992-07-01"),
        ("王芳", "WANG FANG", "1975-05-05"), ("赵雷", None, "1988-12-15")]
    cases = ops.mass_intake(world.incident, "张伟,ZHANG WEI\n李娜\tLI NA\n", user=world.coordinator,
                            defaults={})
    assert [(c.persons[0].name_zh, c.persons[0].name_latin) for c in cases] == [
        ("张伟", "ZHANG WEI"), ("李娜", "LI NA")]


def test_one_bad_line_and_nothing_is_created(world: World) -> None:
    text = ("张伟,ZHANG WEI,1980-03-15,E12345678\n"
            "李娜,LI NA,2999-01-01,E87654321\n"
            "王芳,WANG FANG,1975-05-05,E12345678\n"
            ",,,\n")
    before = totals()
    with pytest.raises(ops.CaseInputError) as bad:
        ops.mass_intake(world.incident, text, user=world.coordinator, defaults={})
    assert set(bad.value.errors) == {"lines.2", "lines.3", "lines.4"}
    assert "2" in bad.value.errors["lines.2"]
    db.session.rollback()
    assert totals() == before


def test_mass_intake_refuses_other_roles_and_closed_incidents(world: World) -> None:
    with pytest.raises(ActionRefused):
        ops.mass_intake(world.incident, "张伟", user=world.officer_a, defaults={})
    world.incident.active = False
    db.session.commit()
    with pytest.raises(ops.CaseInputError):
        ops.mass_intake(world.incident, "张伟", user=world.coordinator, defaults={})
    world.incident.active = True
    for garbage in ("", "\n\n", "#only a comment", 5, [5]):
        with pytest.raises(ops.CaseInputError):
            ops.mass_intake(world.incident, garbage, user=world.coordinator, defaults={})  # type: ignore[arg-type]
    with pytest.raises(ops.CaseInputError) as bad:
        ops.mass_intake(world.incident, "张伟", user=world.coordinator, defaults={"priority": "P0"})
    assert "priority" in bad.value.errors
    with pytest.raises(ops.CaseInputError):
        ops.mass_intake(world.incident, "张伟,a,b,c,d,e,f,g,h", user=world.coordinator, defaults={})
    too_many = "\n".join(f"人{i}" for i in range(502))
    assert ops.parse_mass_list(too_many)[1]


def test_the_audit_trail_never_holds_personal_data(world: World) -> None:
    secrets = ["张伟", "ZHANG WEI", "E12345678", "393337654321", "1980-03-15", "张父", "13905771234",
               "家属称其于周一被带走", "请去医院探视", "已获释放", "Wang Fang", "393401234567"]
    build(world, CaseStatus.closed)
    case = ops.create_case(case_data(), [person(), {"role": "family", "name_zh": "张父",
                                                    "phone": "13905771234"}], user=world.officer_a)
    ops.add_note(case, user=world.officer_a, text="张伟的护照号码 E12345678")
    ops.create_case_from_sms_reply(registrant_id=1, name="Wang Fang", phone="+393401234567",
                                   country_code="IT", city="Milano", language="zh_Hans", reply_text="2",
                                   alert_id=1, alert_event="Flood", need_help=True)
    ops.mass_intake(world.incident, "张伟,ZHANG WEI,1980-03-15,E12345678", user=world.coordinator,
                    defaults={})
    db.session.commit()
    audit = [[e.action, e.object_id, e.detail] for e in db.session.scalars(sa.select(AuditEntry))]
    details = [e.detail for e in db.session.scalars(sa.select(TimelineEntry))]
    params = [n.params for n in db.session.scalars(sa.select(Notification))]
    readable = json.dumps([audit, details, params], ensure_ascii=False)
    for secret in secrets:
        assert secret not in readable, secret
    # …and sealed columns hold no plaintext either.
    raw = json.dumps([list(r) for r in db.session.execute(sa.text(
        "SELECT name_zh, name_latin, id_number, phone, note FROM case_person")).all()], ensure_ascii=False)
    raw += json.dumps([list(r) for r in db.session.execute(sa.text("SELECT text FROM timeline_entry")).all()],
                      ensure_ascii=False)
    for secret in secrets:
        assert secret not in raw, secret
