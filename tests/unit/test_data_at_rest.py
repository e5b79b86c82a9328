"""Data at rest: canary values planted in every sensitive field through the real operations, pages and
webhooks appear nowhere in a dump of the database (nor lower-cased, ascii-folded, as pinyin, as digits
or as UTF-16), nor in the audit trail or the application log; key rotation re-seals every encrypted
column the models declare, and after the old key is dropped everything still reads."""

from __future__ import annotations

import io
import json
import logging
import re
import shutil
import sqlite3
import subprocess
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask, current_app

from alerts.dispatch.lanes import Dispatcher
from alerts.gateways.factory import gateway_from_settings
from alerts.models import (
    CallAttempt,
    CapUrgency,
    ConsoleMessage,
    Delivery,
    InboundMessage,
    LadderRung,
    LadderStep,
    LadderStepState,
)
from alerts.replies.inbound import simulate_inbound
from consular.activities import operations as activity_ops
from consular.activities import risks as risk_ops
from consular.audit.models import AuditEntry
from consular.auth.models import Role, User
from consular.cases import attachments
from consular.cases import operations as ops
from consular.cases.models import (
    Attachment,
    Case,
    CaseDraft,
    CasePerson,
    Incident,
    Referral,
    StationAssignment,
    TimelineEntry,
)
from consular.cases.names import name_keys
from consular.cases.search_keys import normalise_id_number
from consular.cli import keys
from consular.db import KeyRing, db, encrypted_columns
from consular.registry import imports
from consular.registry import operations as registry_ops
from consular.registry.models import Registrant, RegistrantImport
from consular.webhooks import operations as webhook_ops
from tests.conftest import KEY_A, KEY_B, Browser, csrf_from
from tests.support.cases import World, case_data
from tests.support.dispatch import (
    TwilioSetup,
    make_alert,
    send_alert,
)
from tests.support.replies import OUR_NUMBER

# Distinctive values, one per sensitive field (each unlikely to occur by chance in ciphertext).
NAME_ZH = "章柒凤"
NAME_LATIN = "ZHANG QIFENG CANARYA"
PASSPORT = "E-CANARY-91827"  # stored normalised: ECANARY91827
PHONE = "+39 347 918 2736"
REPORTER_NAME = "CANARY Reporter Lucia"
REPORTER_PHONE = "+86 139 0577 8642"
NARRATIVE = "CANARY-narrative: taken from the Via Pistoiese workshop at dawn by two men"
NARRATIVE_EDIT = "CANARY-narrative-edit: seen again near the Macrolotto warehouse"
MEDICAL = "CANARY-medical: insulin-dependent diabetic, allergic to penicillin"
NOTE = "CANARY-note: the brother says the employer kept the passport"
INSTRUCTIONS = "CANARY-instructions: visit Santo Stefano hospital, ward 4"
DECLINE = "CANARY-decline: our volunteer knows the family personally"
REFERRAL_NOTE = "CANARY-referral: lawyer asked for the custody order"
INCIDENT_TEXT = "CANARY-incident: bus overturned on the A1 near Barberino"
OUTCOME = "CANARY-outcome: released on bail, staying with cousin at Via Roma 9"
DRAFT = "CANARY-draft: half-typed story of the missing niece"
ATTACHMENT_NAME = "CANARY-scan-7f3a.txt"
ATTACHMENT_TEXT = "CANARY-custody-order: held at the Prato Questura, cell 3, since 2 June"
REGISTRANT_NAME = "CANARY-Zhang-7f3a"
REGISTRANT_PHONE = "+39 347 555 0193"
IMPORTED_NAME = "CANARY-Imported-Li-4c2d"
IMPORTED_PHONE = "+39 347 555 0277"
SMS_BODY = "2 CANARY-sms: trapped on the third floor at Via Bologna 41"
USER_PHONE = "+86 139 0577 3390"
TOTP_SECRET = "JBSWY3DPCANARYQQ"
DUPLICATE_NOTE = "CANARY-duplicate: the same man, his cousin called the other point"
# The network's own work: a talk's notes, a patrol's problems, a sign-in sheet, a reported risk.
ACTIVITY_NOTES = "CANARY-activity: Mr Chen of the Wenzhou shop asked about his detained son"
PATROL_PROBLEMS = "CANARY-patrol: volunteer Wang Li's phone number is out of date"
ACTIVITY_FILE_NAME = "CANARY-signin-3b9e.txt"
ACTIVITY_FILE_TEXT = "CANARY-signin: Lin Mei 139 0577 1122, Zhou Jie 139 0577 3344"
RISK_TEXT = "CANARY-risk: the fake officer calls from +39 0574 555 1234 using the name Rossi"
CALL_NOTE = "CANARY-call: left a message with her landlady, Via Bologna 41"
# Self-enrolment on the public page: the person's number and name, their next of kin's.
SELF_PHONE = "+39 347 555 0388"
SELF_NAME = "CANARY-Self-Wu-2e7b"
KIN_NAME = "CANARY-Kin-Chen-9d1e"
KIN_PHONE = "+86 139 0577 5521"

CANARIES = (NAME_ZH, NAME_LATIN, PASSPORT, PHONE, REPORTER_NAME, REPORTER_PHONE, NARRATIVE, NARRATIVE_EDIT,
            MEDICAL, NOTE, INSTRUCTIONS, DECLINE, REFERRAL_NOTE, INCIDENT_TEXT, OUTCOME, DRAFT,
            ATTACHMENT_NAME, ATTACHMENT_TEXT, REGISTRANT_NAME, REGISTRANT_PHONE, IMPORTED_NAME,
            IMPORTED_PHONE, SMS_BODY, USER_PHONE, TOTP_SECRET, DUPLICATE_NOTE, ACTIVITY_NOTES,
            PATROL_PROBLEMS, ACTIVITY_FILE_NAME, ACTIVITY_FILE_TEXT, RISK_TEXT, CALL_NOTE, SELF_PHONE,
            SELF_NAME, KIN_NAME, KIN_PHONE)
PHONES = (PHONE, REPORTER_PHONE, REGISTRANT_PHONE, IMPORTED_PHONE, USER_PHONE, SELF_PHONE, KIN_PHONE)


def ascii_fold(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def forms_of(value: str) -> set[str]:
    """The value and the transforms a careless copy would leave in a dump or a log."""
    forms = {value, value.lower(), value.upper(), ascii_fold(value).lower(), value.replace(" ", ""),
             value.replace("-", ""), json.dumps(value)[1:-1]}
    digits = "".join(ch for ch in value if ch.isdigit())
    if value in PHONES:
        forms |= {digits, digits[2:], "+" + digits}  # E.164, and without the country code
    if value == PASSPORT:
        forms.add(normalise_id_number(value))
    if value in (NAME_ZH, NAME_LATIN, REPORTER_NAME):
        forms |= {key for key in name_keys(value, None) if len(key) >= 8}  # pinyin and folded spellings
    # Short derived forms (a bare surname) would match by chance; the value itself always counts.
    return {form for form in forms if len(form) >= 8} | {value}


FORMS = {form: canary for canary in CANARIES for form in forms_of(canary)}


def found_in_text(text: str) -> set[str]:
    lowered = text.lower()
    return {canary for form, canary in FORMS.items() if form in text or form.lower() in lowered}


def found_in_bytes(blob: bytes) -> set[str]:
    hits = set()
    lowered = blob.lower()
    for form, canary in FORMS.items():
        for encoding in ("utf-8", "utf-16-le", "utf-16-be"):
            needle = form.encode(encoding)
            if needle in blob or needle.lower() in lowered:
                hits.add(canary)
    return hits


# --- the workflow that touches every sensitive field -------------------------------------------


@dataclass
class Planted:
    case: Case
    registrant: Registrant
    reply_case_id: int


def plant(w: World, twilio: TwilioSetup, coordinator_browser: Browser) -> Planted:
    """Create, edit, read and export, through the operations, the pages and Twilio's webhook."""
    c = w.coordinator
    w.volunteer_b.totp_secret = TOTP_SECRET
    w.coordinator2.phone = USER_PHONE  # an account's phone (the on-duty SMS goes to it)
    case = ops.create_case(case_data(narrative=NARRATIVE), [
        {"name_zh": NAME_ZH, "name_latin": NAME_LATIN, "birth_date": "1988-06-02", "id_number": PASSPORT,
         "phone": PHONE, "note": MEDICAL},
        {"role": "reporter", "name_latin": REPORTER_NAME, "phone": REPORTER_PHONE, "relationship": "sister"},
    ], user=w.officer_a)
    db.session.commit()
    ops.update_case(case, {"narrative": NARRATIVE_EDIT}, user=c, expected_version=case.version)
    ops.update_person(case.persons[0], {"note": MEDICAL + " (confirmed)"}, user=c,
                      expected_version=case.version)
    ops.add_note(case, user=c, text=NOTE)
    ops.triage(case, user=c, priority="P1", expected_version=case.version)
    ops.assign(case, user=c, station_id=w.station_a.id, coordinator_id=c.id, instructions=INSTRUCTIONS,
               expected_version=case.version)
    ops.decline_assignment(case, user=w.volunteer_a, reason=DECLINE, expected_version=case.version)
    ops.assign(case, user=c, station_id=w.station_a.id, coordinator_id=c.id, instructions=INSTRUCTIONS,
               expected_version=case.version)
    ops.accept_assignment(case, user=w.volunteer_a, expected_version=case.version)
    ops.refer(case, user=c, target="lawyer_team", target_name="Studio legale", note=REFERRAL_NOTE)
    incident = ops.create_incident({"title": "大巴事故", "country_code": "IT", "city": "Barberino",
                                    "description": INCIDENT_TEXT}, user=c)
    ops.link_incident(case, incident, user=c)
    # The same man logged again at another point: the centre compares the two cases, with a note.
    again = ops.create_case(case_data(), [{"name_zh": NAME_ZH, "id_number": PASSPORT}], user=w.officer_b)
    [link] = again.resembles
    ops.decide_duplicate(again, user=c, link_id=link.id, decision="same", note=DUPLICATE_NOTE)
    attachments.store_attachment(case, ATTACHMENT_NAME, io.BytesIO(f"{ATTACHMENT_TEXT}\n".encode()),
                                 "text/plain", user=w.volunteer_a)
    ops.save_draft(w.officer_a, {"summary": "走失", "narrative": DRAFT, "persons": [{"name_zh": NAME_ZH}]})
    ops.resolve(case, user=w.volunteer_a, outcome="released", note=OUTCOME, expected_version=case.version)
    registrant = registry_ops.register({"name": REGISTRANT_NAME, "phone": REGISTRANT_PHONE,
                                        "country_code": "IT", "city": "Prato", "language": "en",
                                        "consent_method": "written"}, user=c)
    csv = f"姓名,手机号,语言,国家,城市\n{IMPORTED_NAME},{IMPORTED_PHONE},English,IT,Prato\n".encode()
    job, report = imports.stage_import(csv, user=c, defaults={}, filename="list.csv")
    assert job is not None, report
    db.session.commit()

    # A safety check goes out through Twilio (the fake, over HTTP); the person texts back for help.
    alert = make_alert(languages=("en",), urgency=CapUrgency.Immediate, safety_check=True, event="Flood")
    send_alert(alert)
    assert twilio.run_until_idle() >= 1  # the check, and the case notices texted to staff
    result = twilio.fake.send_inbound(registrant.phone, OUR_NUMBER, SMS_BODY,
                                      f"{twilio.base_url}/webhooks/twilio/inbound")
    assert result["status"] == 200, result
    db.session.expire_all()
    reply_case = db.session.scalars(sa.select(Case).where(Case.registrant_id == registrant.id)).one()
    # The call round: a coordinator calls and notes what the call found.
    check_delivery = db.session.scalars(sa.select(Delivery).where(
        Delivery.alert_id == alert.id, Delivery.registrant_id == registrant.id)).one()
    called = coordinator_browser.post(f"/alerts/{alert.id}/call-round/{check_delivery.id}",
                                      {"outcome": "message_left", "note": CALL_NOTE})
    assert called.status_code == 303, called.get_data(as_text=True)[:500]

    # The embedded default (the console gateway) keeps what it "sends" in its outbox: an alert
    # through the real dispatcher, and the answer to a HELP played with ``consular sms-receive``.
    console_app = current_app._get_current_object()  # type: ignore[attr-defined]
    update = make_alert(languages=("en",), urgency=CapUrgency.Immediate, event="Flood update")
    send_alert(update)
    console = gateway_from_settings(console_app.extensions["consular.settings"])
    assert Dispatcher(console_app, console, "console-worker").run_once() >= 1
    assert simulate_inbound(registrant.phone, "HELP").answer
    db.session.commit()

    # A citizen registers on the public page: the code texted through Twilio (the fake), then
    # their details with a next of kin.
    enrol_on_the_public_page(twilio)
    # The ladder reached the next of kin of someone silent: the kin's number is kept with the rung.
    db.session.add(LadderStep(delivery_id=check_delivery.id, alert_id=alert.id, rung=LadderRung.kin,
                              state=LadderStepState.sent, phone=KIN_PHONE.replace(" ", ""),
                              locale="en"))

    # The network's work: a talk with notes and a sign-in sheet, a patrol that found a problem, a
    # station's report of a local risk.
    talk = activity_ops.log_activity(
        {"kind": "talk", "title": "宣讲", "held_on": "2026-01-15", "place_kind": "online",
         "audience": "residents", "setting": "online", "head_count": 40, "notes": ACTIVITY_NOTES},
        user=w.officer_a)
    activity_ops.add_attachment(talk, ACTIVITY_FILE_NAME, io.BytesIO(f"{ACTIVITY_FILE_TEXT}\n".encode()),
                                user=w.officer_a)
    activity_ops.log_activity(
        {"kind": "patrol", "title": "巡查", "held_on": "2026-01-20", "place_kind": "station",
         "station_id": w.station_a.id, "audience": "volunteers", "head_count": 4,
         "problems": PATROL_PROBLEMS}, user=c)
    risk_ops.report_risk({"title": "冒充警察诈骗", "kind": "scam", "level": "high", "found_on": "2026-01-10",
                          "description": RISK_TEXT}, user=w.volunteer_a)
    # A webhook receiver an admin configured: its signing secret is sealed like the rest.
    webhook_ops.create_subscription(url="http://127.0.0.1:9/hooks", description="", active=True,
                                    events=["alert.approved"], user=w.admin)
    db.session.commit()
    for url in (f"/activities/{talk.id}", f"/activities/{talk.id}/attachments/{talk.attachments[0].id}"):
        response = coordinator_browser.get(url)
        work_body = response.get_data()
        response.close()
        assert response.status_code == 200, url
    assert ACTIVITY_FILE_TEXT.encode() in work_body

    # Read and export, as a coordinator does in the browser.
    for url in (f"/cases/{case.id}", f"/cases/{reply_case.id}", f"/registrants/{registrant.id}",
                f"/cases/{case.id}/attachments/{case.attachments[0].id}"):
        response = coordinator_browser.get(url)
        body = response.get_data()
        response.close()  # the attachment is a file being streamed
        assert response.status_code == 200, url
    assert ATTACHMENT_TEXT.encode() in body  # the file's canary is really in it
    page = coordinator_browser.get(f"/cases/{case.id}").get_data(as_text=True)
    assert NAME_ZH in page and PASSPORT.replace("-", "") in page  # the canaries are really there
    export = coordinator_browser.get(f"/registrants/{registrant.id}/subject-access.json")
    assert export.status_code == 200 and SMS_BODY in export.get_data(as_text=True)
    db.session.expire_all()
    return Planted(case=case, registrant=registrant, reply_case_id=reply_case.id)


def enrol_on_the_public_page(twilio: TwilioSetup) -> None:
    visitor = twilio.app.test_client()
    token = csrf_from(visitor.get("/enrol/?lang=en").get_data(as_text=True))
    assert visitor.post("/enrol/code", data={"csrf_token": token, "phone": SELF_PHONE}).status_code == 302
    assert twilio.fake.wait_idle()
    [sms] = twilio.fake.messages(to=SELF_PHONE.replace(" ", ""))
    code = re.search(r"\b\d{6}\b", sms["body"])
    assert code is not None
    assert visitor.post("/enrol/verify", data={"csrf_token": token, "code": code.group(0)}).status_code == 302
    answer = visitor.post("/enrol/details", data={
        "csrf_token": token, "name": SELF_NAME, "language": "en", "country_code": "IT", "city": "Prato",
        "kin_name": KIN_NAME, "kin_phone": KIN_PHONE, "channels": "sms", "consent": "yes"})
    assert answer.status_code == 302, answer.get_data(as_text=True)[:500]


@pytest.fixture
def planted(app: Flask, world: World, twilio: TwilioSetup, logged_in: Callable[[User], Browser],
            caplog: pytest.LogCaptureFixture) -> Planted:
    caplog.set_level(logging.DEBUG, logger="consular")
    caplog.set_level(logging.DEBUG, logger="alerts")
    return plant(world, twilio, logged_in(world.coordinator))


# --- dumps -------------------------------------------------------------------------------------


def sqlite_dump(app: Flask) -> bytes:
    """The database file's bytes (with its journal, if any) and its SQL text dump."""
    path = Path(db.engine.url.database or "")
    db.session.remove()
    raw = b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal"), Path(f"{path}-journal"))
                   if p.exists())
    conn = sqlite3.connect(path)
    try:
        text = "\n".join(conn.iterdump())
    finally:
        conn.close()
    return raw + b"\n" + text.encode()


def postgres_dump(app: Flask) -> bytes:
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        pytest.skip("pg_dump is not installed")
    db.session.remove()
    url = db.engine.url.render_as_string(hide_password=False).replace("postgresql+psycopg", "postgresql")
    done = subprocess.run([pg_dump, "--format=plain", "--no-owner", url],  # noqa: S603 (our own URL)
                          capture_output=True, check=True, timeout=120)
    assert b"CREATE TABLE" in done.stdout
    return done.stdout


def dump(app: Flask) -> bytes:
    return postgres_dump(app) if db.engine.dialect.name == "postgresql" else sqlite_dump(app)


def test_a_database_dump_holds_no_canary_in_clear(planted: Planted, app: Flask) -> None:
    dumped = dump(app)
    assert b"v2:a:" in dumped  # sealed values are in the dump, as ciphertext
    assert found_in_bytes(dumped) == set()


def attachment_folder_bytes(app: Flask) -> bytes:
    folder = Path(app.instance_path) / "attachments"
    return b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())


def test_the_attachment_folder_holds_no_canary_in_clear(planted: Planted, app: Flask) -> None:
    stored = attachment_folder_bytes(app)
    assert stored  # the uploaded file is there
    assert found_in_bytes(stored) == set()


def test_the_audit_trail_and_the_log_hold_no_canary(planted: Planted, app: Flask,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    rows = db.session.execute(sa.select(AuditEntry)).scalars().all()
    actions = {row.action for row in rows}
    # The workflow did create, edit, read and export what it planted.
    assert {"case.create", "case.update", "case.person_update", "case.view", "registrant.subject_access",
            "case.attachment.download"} <= actions, actions
    leaks = {row.id: found for row in rows
             if (found := found_in_text(" ".join(str(getattr(row, c.key)) for c in AuditEntry.__table__.c)
                                        + json.dumps(row.detail, ensure_ascii=False)))}
    assert leaks == {}
    records = [r for phase in ("setup", "call") for r in caplog.get_records(phase)]  # type: ignore[arg-type]
    logged = [(r.name, r.getMessage() + (r.exc_text or "")) for r in records
              if not r.name.startswith("alerts.gateways.fake_twilio")]
    assert any(name.startswith("alerts.") for name, _ in logged)  # the log was really captured
    assert {name: found for name, text in logged if (found := found_in_text(text))} == {}


# --- key rotation ------------------------------------------------------------------------------


def raw_values() -> dict[str, list[str]]:
    """Every stored (sealed) value of every encrypted column the models declare, by table.column."""
    values: dict[str, list[str]] = {}
    for table, column in encrypted_columns():
        raw = sa.type_coerce(column, sa.Text)
        values[f"{table.name}.{column.name}"] = list(db.session.scalars(
            sa.select(raw).where(column.is_not(None), column != "")))
    return values


def plaintexts() -> dict[str, list[Any]]:
    """What the app reads back: every case with its people, timeline, hand-offs, referrals and files,
    every registrant, inbound text, import, draft and account."""
    db.session.expire_all()
    read: dict[str, list[Any]] = {}
    for model, fields in ((Case, ("narrative", "outcome_note")), (CasePerson, ("name_zh", "name_latin",
                          "id_number", "phone", "note")), (TimelineEntry, ("text",)),
                          (StationAssignment, ("instructions", "decline_reason")), (Referral, ("note",)),
                          (Incident, ("description",)), (Attachment, ("filename",)),
                          (CaseDraft, ("payload",)),
                          (Registrant, ("name", "phone")), (InboundMessage, ("from_number", "body")),
                          (RegistrantImport, ("content",)), (User, ("phone", "totp_secret")),
                          (ConsoleMessage, ("to", "body")), (CallAttempt, ("note",))):
        for row in db.session.scalars(sa.select(model).order_by(model.id)):
            read[f"{model.__tablename__}:{row.id}"] = [getattr(row, f) for f in fields]
    return read


def test_key_rotation_reseals_every_encrypted_column_and_the_old_key_can_go(
        planted: Planted, app: Flask, same_db_app: Callable[..., Flask]) -> None:
    before = raw_values()
    # Every encrypted column the models declare holds a planted value, so each is really checked.
    empty = sorted(name for name, values in before.items() if not values)
    assert empty == [], f"plant() leaves these encrypted columns empty: {empty}"
    assert all(value.startswith("v2:a:") for values in before.values() for value in values)
    readable = plaintexts()
    assert REGISTRANT_NAME in str(readable) and SMS_BODY in str(readable)

    # The same instance folder: the attachment files are rotated with the fields.
    rotated = same_db_app(FIELD_ENCRYPTION_KEYS=f"b:{KEY_B},a:{KEY_A}", INSTANCE_PATH=app.instance_path)
    with rotated.app_context():
        result = rotated.test_cli_runner().invoke(keys, ["rotate"])
        db.session.remove()
    assert result.exit_code == 0, result.output
    total = sum(len(values) for values in before.values())
    assert f"Done: {total} values" in result.output, result.output
    # The case's passport scan and the talk's sign-in sheet: one storage, every owner's files.
    assert "Attachment files: 2 re-encrypted" in result.output, result.output

    only_b = same_db_app(FIELD_ENCRYPTION_KEYS=f"b:{KEY_B}", INSTANCE_PATH=app.instance_path)
    ring_b = KeyRing(f"b:{KEY_B}", "unused-search-key-" + "z" * 30)
    with only_b.app_context():
        after = raw_values()
        assert {name: len(values) for name, values in after.items()} == \
            {name: len(values) for name, values in before.items()}
        stale = {name: sum(not v.startswith("v2:b:") for v in values) for name, values in after.items()}
        assert {name: n for name, n in stale.items() if n} == {}
        for name, values in after.items():
            table, column = name.split(".")
            for value in values:
                ring_b.open(value, table, column)  # authenticates under key b alone, in its column
        assert plaintexts() == readable  # the app without key a reads every case and registrant
        coordinator = db.session.scalars(sa.select(User).where(User.role == Role.coordinator,
                                                               User.totp_secret.is_(None))).first()
        assert coordinator is not None
        db.session.remove()
    browser = Browser(only_b.test_client())
    assert browser.login(coordinator.username).status_code == 302
    with only_b.app_context():
        attachment_id = db.session.scalars(sa.select(Attachment.id)).one()
        for url in (f"/cases/{planted.case.id}", f"/cases/{planted.reply_case_id}",
                    f"/registrants/{planted.registrant.id}",
                    f"/cases/{planted.case.id}/attachments/{attachment_id}"):
            response = browser.get(url)
            body = response.get_data()
            response.close()
            assert response.status_code == 200, url
        assert ATTACHMENT_TEXT.encode() in body  # the file, re-sealed with key b, opens
        page = browser.get(f"/cases/{planted.case.id}").get_data(as_text=True)
        assert NAME_ZH in page and NARRATIVE_EDIT in page
        db.session.remove()
    # And the rotated dump and attachment folder are as clean as the first.
    assert found_in_bytes(dump(app)) == set()
    assert found_in_bytes(attachment_folder_bytes(app)) == set()


@pytest.fixture(autouse=True)
def _no_leftover_engines(app: Flask) -> Iterator[None]:
    yield
    db.session.remove()


def test_the_upgrade_seals_console_numbers_written_before_it(tmp_path: Path) -> None:
    """Revision 0003 seals the numbers an older console outbox kept in clear, and its downgrade
    opens them again (a fresh SQLite database: the suite's schema is not touched)."""
    from flask_migrate import downgrade, upgrade

    from consular.app import create_app
    from tests.conftest import base_overrides

    other = create_app(base_overrides(tmp_path, f"sqlite:///{tmp_path}/outbox.db"))
    with other.app_context():
        try:
            upgrade(revision="0002_cases_registry_alerts")
            with db.engine.begin() as conn:
                conn.execute(sa.text("INSERT INTO console_message (key, \"to\", body, created_at) "
                                     "VALUES ('d1', :to, 'Flood warning', CURRENT_TIMESTAMP)"),
                             {"to": "+393475550193"})
            upgrade(revision="0003_console_outbox_sealed")
            stored = db.session.execute(sa.text('SELECT "to" FROM console_message')).scalar_one()
            assert stored.startswith("v2:a:") and "3475550193" not in stored
            assert db.session.scalars(sa.select(ConsoleMessage.to)).one() == "+393475550193"
            db.session.remove()
            downgrade(revision="0002_cases_registry_alerts")
            assert db.session.execute(sa.text('SELECT "to" FROM console_message')).scalar_one() \
                == "+393475550193"
        finally:
            db.session.remove()
            db.engine.dispose()
