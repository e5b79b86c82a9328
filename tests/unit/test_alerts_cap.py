"""CAP 1.2 export and the public Atom feed: every document validates against the OASIS schema;
the feed lists public, real, issued alerts only and links each to its CAP file."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
import time_machine
from lxml import etree

from alerts import targeting
from alerts.authoring import cap
from alerts.authoring import operations as ops
from alerts.models import Alert, CapMsgType
from consular.auth.models import Role
from consular.db import db, utcnow
from tests.support.alerts import alert_input, approved_alert, make_registrant, texts

NS = {"cap": cap.CAP_NS, "atom": "http://www.w3.org/2005/Atom"}


@pytest.fixture
def coordinators(make_user):
    return make_user(Role.coordinator, locale="en"), make_user(Role.coordinator, locale="en")


def parse(document: bytes) -> etree._Element:
    return etree.fromstring(document)


def issued(author, approver, **data):
    make_registrant()
    alert = approved_alert(author, approver, **data)
    targeting.fan_out(alert)
    db.session.commit()
    return alert


def test_a_multilingual_alert_is_valid_cap_with_one_info_per_language(coordinators):
    author, approver = coordinators
    alert = approved_alert(author, approver, areas=[{"country_code": "IT", "city": "Prato"},
                                                    {"country_code": "FR", "city": ""}])
    document = cap.to_cap_xml(alert)
    assert cap.validate_cap(document) == []

    root = parse(document)
    assert root.findtext("cap:identifier", namespaces=NS) == alert.identifier
    assert root.findtext("cap:status", namespaces=NS) == "Actual"
    assert root.findtext("cap:msgType", namespaces=NS) == "Alert"
    assert root.findtext("cap:scope", namespaces=NS) == "Restricted"
    sent = root.findtext("cap:sent", namespaces=NS)
    assert sent.endswith("+08:00") and "Z" not in sent  # the office's offset, never "Z"
    infos = root.findall("cap:info", namespaces=NS)
    assert [i.findtext("cap:language", namespaces=NS) for i in infos] == ["zh-Hans", "en", "it"]
    italian = infos[2]
    assert italian.findtext("cap:headline", namespaces=NS) == "Manifestazione a Prato"
    assert italian.findtext("cap:urgency", namespaces=NS) == "Immediate"
    areas = italian.findall("cap:area", namespaces=NS)
    assert [a.findtext("cap:areaDesc", namespaces=NS) for a in areas] == ["Prato, Italia", "Francia"]
    assert [a.findtext("cap:geocode/cap:value", namespaces=NS) for a in areas] == ["IT", "FR"]
    assert areas[0].findtext("cap:geocode/cap:valueName", namespaces=NS) == "ISO3166-1"
    chinese = infos[0]
    assert chinese.findtext("cap:area/cap:areaDesc", namespaces=NS) == "Prato, 意大利"


def test_update_and_cancel_reference_the_original_and_validate(coordinators):
    author, approver = coordinators
    original = issued(author, approver, public=True)
    update = ops.create_update(original, user=author)
    notice = ops.create_cancel_notice(original, user=approver)
    db.session.commit()
    expected = f"{cap.sender_id()},{original.identifier},{cap.cap_time(original.approved_at)}"
    for derived, msg_type in ((update, "Update"), (notice, "Cancel")):
        document = cap.to_cap_xml(derived)
        assert cap.validate_cap(document) == []
        root = parse(document)
        assert root.findtext("cap:msgType", namespaces=NS) == msg_type
        assert root.findtext("cap:references", namespaces=NS) == expected
    assert update.msg_type == CapMsgType.Update and notice.references_id == original.id


def test_a_drill_says_so(coordinators):
    author, approver = coordinators
    drill = approved_alert(author, approver, status="Exercise")
    document = cap.to_cap_xml(drill)
    assert cap.validate_cap(document) == []
    root = parse(document)
    assert root.findtext("cap:status", namespaces=NS) == "Exercise"
    assert "Exercise" in root.findtext("cap:note", namespaces=NS)


def test_a_broken_document_is_reported_by_the_schema():
    assert cap.validate_cap(b"<alert xmlns='urn:oasis:names:tc:emergency:cap:1.2'><identifier>x"
                            b"</identifier></alert>")
    assert cap.validate_cap(b"not xml")


def test_utc_is_written_as_minus_zero(app):
    moment = utcnow().replace(microsecond=0)
    assert cap.cap_time(moment, "UTC").endswith("-00:00")
    assert cap.cap_time(moment, "Europe/Rome")[-6:] in ("+01:00", "+02:00")


def test_the_atom_feed_lists_public_real_issued_alerts_with_links_to_cap(coordinators, client):
    author, approver = coordinators
    public = issued(author, approver, public=True)
    issued(author, approver, public=False)  # restricted
    issued(author, approver, public=True, status="Exercise")  # a drill
    approved_alert(author, approver, public=True, send_at=utcnow() + timedelta(hours=2))  # not out yet

    response = client.get("/alerts/feed.atom")
    assert response.status_code == 200
    assert response.mimetype == "application/atom+xml"
    feed = parse(response.data)
    assert feed.tag == "{http://www.w3.org/2005/Atom}feed"
    for required in ("atom:id", "atom:title", "atom:updated", "atom:author/atom:name"):
        assert feed.findtext(required, namespaces=NS), required
    entries = feed.findall("atom:entry", namespaces=NS)
    assert len(entries) == 1
    entry = entries[0]
    for required in ("atom:id", "atom:title", "atom:updated"):
        assert entry.findtext(required, namespaces=NS), required
    link = entry.find("atom:link[@rel='alternate']", namespaces=NS)
    assert link.get("type") == "application/cap+xml"
    assert link.get("href").endswith(f"/alerts/{public.identifier}.cap.xml")
    assert entry.findtext("atom:title", namespaces=NS) == "普拉托市中心游行"

    cap_file = client.get(link.get("href").replace("http://localhost", ""))
    assert cap_file.status_code == 200 and cap.validate_cap(cap_file.data) == []


def test_an_empty_feed_is_still_a_valid_feed(client, app):
    feed = parse(client.get("/alerts/feed.atom").data)
    assert feed.findtext("atom:updated", namespaces=NS)
    assert feed.findall("atom:entry", namespaces=NS) == []


def test_non_public_cap_files_are_for_coordinators_only(coordinators, client, make_user, logged_in):
    author, approver = coordinators
    restricted = issued(author, approver, public=False)
    url = f"/alerts/{restricted.identifier}.cap.xml"
    assert client.get(url).status_code == 404
    assert logged_in(make_user(Role.admin)).get(url).status_code == 404
    assert logged_in(make_user(Role.liaison_officer)).get(url).status_code == 404
    response = logged_in(author).get(url)
    assert response.status_code == 200 and cap.validate_cap(response.data) == []
    assert client.get("/alerts/no-such-alert.cap.xml").status_code == 404
    assert client.get("/alerts/" + "x" * 300 + ".cap.xml").status_code == 404


# --- one message per identifier, events per language, runs, media type ----------------------------


def test_sent_is_fixed_once_per_identifier_and_a_draft_is_a_draft(coordinators):
    """A CAP message is its sender, identifier and sent time: what is exported under an identifier
    never changes. Before approval the export is a Draft under a provisional identifier of that
    version of the draft; approval issues the alert under its own identifier, sent at approval."""
    author, approver = coordinators
    with time_machine.travel(utcnow() - timedelta(hours=2), tick=False):
        alert = ops.create_alert(alert_input(), texts("zh_Hans", "en"), [{"country_code": "IT"}],
                                 user=author)
        db.session.commit()
    draft = parse(cap.to_cap_xml(alert))
    assert cap.validate_cap(cap.to_cap_xml(alert)) == []
    assert draft.findtext("cap:status", namespaces=NS) == "Draft"
    draft_id = draft.findtext("cap:identifier", namespaces=NS)
    assert draft_id != alert.identifier and draft_id.startswith(alert.identifier)
    assert "Actual" in draft.findtext("cap:note", namespaces=NS)  # what it will be once approved

    ops.submit_for_approval(alert, user=author)
    ops.approve(alert, user=approver)
    db.session.commit()
    issued_doc = parse(cap.to_cap_xml(alert))
    assert issued_doc.findtext("cap:identifier", namespaces=NS) == alert.identifier
    assert issued_doc.findtext("cap:status", namespaces=NS) == "Actual"
    sent = issued_doc.findtext("cap:sent", namespaces=NS)
    assert sent == cap.cap_time(alert.approved_at)
    # Sending, finishing and later exports keep the same identifier with the same sent time.
    targeting.fan_out(alert)
    db.session.commit()
    with time_machine.travel(utcnow() + timedelta(hours=3), tick=False):
        again = parse(cap.to_cap_xml(alert))
    assert (again.findtext("cap:identifier", namespaces=NS), again.findtext("cap:sent", namespaces=NS)) == (
        alert.identifier, sent)


def test_event_is_written_in_each_info_s_own_language(coordinators):
    author, approver = coordinators
    per_language = texts("zh_Hans", "en", "it")
    per_language["it"]["event"] = "Manifestazioni di piazza"
    alert = ops.create_alert(alert_input(event="街头抗议"), per_language, [{"country_code": "IT"}],
                             user=author)
    ops.submit_for_approval(alert, user=author)
    ops.approve(alert, user=approver)
    db.session.commit()
    document = cap.to_cap_xml(alert)
    assert cap.validate_cap(document) == []
    events = {i.findtext("cap:language", namespaces=NS): i.findtext("cap:event", namespaces=NS)
              for i in parse(document).findall("cap:info", namespaces=NS)}
    # Italian as written; Chinese (the base language) is the alert's own event; English, with no
    # event of its own, names the category in English, never the Chinese text under "en".
    assert events == {"zh-Hans": "街头抗议", "it": "Manifestazioni di piazza", "en": "Security threat"}


def test_a_recurring_run_takes_effect_at_its_own_time(coordinators):
    author, approver = coordinators
    series = approved_alert(author, approver, recurrence="0 9 * * *",
                            expires_at=utcnow() + timedelta(days=30))
    fire = ops.next_fire_time(series, utcnow())
    assert fire is not None
    with time_machine.travel(fire + timedelta(minutes=3), tick=False):
        run = ops.spawn_occurrence(series, fire)
        db.session.commit()
        document = cap.to_cap_xml(run)
    assert cap.validate_cap(document) == []
    info = parse(document).find("cap:info", namespaces=NS)
    assert info.findtext("cap:effective", namespaces=NS) == cap.cap_time(fire)
    assert info.findtext("cap:expires", namespaces=NS) == cap.cap_time(run.expires_at)
    # The series itself is no message: its CAP file names its runs' times, not the approval's.
    series_info = parse(cap.to_cap_xml(series)).find("cap:info", namespaces=NS)
    assert series_info.findtext("cap:effective", namespaces=NS) != cap.cap_time(series.approved_at)


def test_cap_files_are_served_as_application_cap_xml(coordinators, client, logged_in):
    author, approver = coordinators
    public = issued(author, approver, public=True)
    response = client.get(f"/alerts/{public.identifier}.cap.xml")
    assert response.status_code == 200
    assert response.mimetype == "application/cap+xml"
    assert cap.validate_cap(response.data) == []


def test_the_compose_page_takes_an_event_per_language(coordinators, logged_in):
    from tests.conftest import csrf_from

    author, _approver = coordinators
    page = logged_in(author)
    token = csrf_from(page.get("/alerts/new").get_data(as_text=True))
    form = {"csrf_token": token, "status": "Actual", "event": "街头抗议", "category": "Security",
            "urgency": "Immediate", "severity": "Severe", "certainty": "Likely", "base_language": "zh_Hans",
            "languages": ["zh_Hans", "it"], "area_country": ["IT"], "area_city": [""], "send_mode": "now",
            "expires_at": (utcnow() + timedelta(hours=24)).astimezone(ops.office_zone()).strftime(
                "%Y-%m-%dT%H:%M"), "action": "save",
            "headline-zh_Hans": "游行", "body-zh_Hans": "请避开车站。", "event-zh_Hans": "",
            "headline-it": "Manifestazione", "body-it": "Evitate la stazione.", "event-it": "Cortei"}
    too_long = page.client.post("/alerts/new", data={**form, "event-it": "x" * 121})
    assert too_long.status_code == 400 and "120" in too_long.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Alert)) == 0
    assert page.client.post("/alerts/new", data=form).status_code == 303
    alert = db.session.scalars(sa.select(Alert)).one()
    assert {t.language: t.event for t in alert.texts} == {"zh_Hans": "", "it": "Cortei"}
    assert 'value="Cortei"' in page.get(f"/alerts/{alert.id}/edit").get_data(as_text=True)
