"""CAP 1.2 export (OASIS Common Alerting Protocol): one ``<alert>`` per alert, one ``<info>`` per
language, one ``<area>`` per target area with its ISO 3166 country code as a geocode, and a circle's
``<circle>`` ("lat,lon radius-in-km") or a polygon's ``<polygon>``.

A CAP message is its sender, identifier and sent time, and never changes once published. So an
alert not yet approved is exported as a ``Draft`` under a provisional identifier of that version
of the draft (``<identifier>-draft-<version>``, sent when that version was written); approval
issues it under its own identifier, sent at the approval, and that pair stays the same for good.
A recurring series is approved once and each run is an alert of its own, effective at its run
time; the series' own file takes effect at its first run.

Each ``<info>`` is entirely in its language: its ``<event>`` is the text's own event, else (in the
base language) the alert's event, else the kind of event of its category from the ``sms`` catalog.

Times carry the office's UTC offset (CAP forbids "Z"; UTC itself is written "-00:00"). An Update
or Cancel names the alerts it refers to in CAP's "sender,identifier,sent" form. Every document we
produce validates against the OASIS schema vendored in ``alerts/authoring/schemas/`` (see its NOTICE).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from lxml import etree

import i18n
from alerts.authoring import placeholders
from alerts.geo import circle_text
from alerts.models import Alert, AlertArea, AlertText, AreaShape, CapMsgType, CapStatus
from config import current_settings
from consular.db import db
from consular.network.models import CoordinationCentre

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
SCHEMA_PATH = Path(__file__).parent / "schemas" / "CAP-v1.2.xsd"
GEOCODE_NAME = "ISO3166-1"
RESTRICTION = "Registered recipients of the consular protection safety alert service"
MEDIA_TYPE = "application/cap+xml"
NOTES = {
    CapStatus.Exercise: "Exercise (drill): no action is required.",
    CapStatus.Test: "Technical test: disregard.",
}
DRAFT_NOTE = "Draft awaiting approval; once approved it is issued with status {status}."
SERIES_NOTE = "A recurring series: each run is issued as an alert of its own."


@cache
def cap_schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(SCHEMA_PATH)))


def validate_cap(document: bytes) -> list[str]:
    """The schema's complaints about ``document`` (empty when it is valid CAP 1.2)."""
    schema = cap_schema()
    try:
        tree = etree.fromstring(document, parser=etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError as exc:
        return [str(exc)]
    if schema.validate(tree):
        return []
    return [f"line {e.line}: {e.message}" for e in schema.error_log]


def cap_time(moment: datetime, zone: str | None = None) -> str:
    """``2026-01-20T09:00:00+08:00``: seconds precision, an explicit offset, "-00:00" for UTC."""
    tz = ZoneInfo(zone or current_settings().office_timezone)
    local = moment.astimezone(tz).replace(microsecond=0)
    offset = local.utcoffset() or timedelta(0)
    if offset == timedelta(0):
        return local.strftime("%Y-%m-%dT%H:%M:%S") + "-00:00"
    return local.isoformat()


def sender_id() -> str:
    """Who we are in CAP's ``sender``: alerts@ the public host name."""
    base = current_settings().public_base_url
    host = urlsplit(base).hostname if base else None
    return f"alerts@{host or 'consular.invalid'}"


def is_issued(alert: Alert) -> bool:
    """Approved: from then on its CAP identifier and sent time are fixed."""
    return alert.approved_at is not None


def cap_identifier(alert: Alert) -> str:
    """The alert's identifier once issued; before, a provisional one for this version of the draft
    (each change of a draft is another draft message, never the issued one)."""
    return alert.identifier if is_issued(alert) else f"{alert.identifier}-draft-{alert.version}"


def sent_time(alert: Alert) -> datetime:
    """CAP ``sent``: when the alert was issued (approved), or when this version of a draft was
    written."""
    return alert.approved_at or alert.updated_at or alert.created_at


def effective_time(alert: Alert) -> datetime | None:
    """When the alert takes effect: its send time; for a recurring series, its first run."""
    if alert.recurs:
        from alerts.authoring.recurrence import schedule_of, upcoming_runs

        schedule = schedule_of(alert)
        start = alert.send_at or alert.approved_at or alert.created_at
        runs = upcoming_runs(schedule, start, alert.expires_at, count=1) if schedule else []
        return runs[0] if runs else None
    return alert.send_at


def reference_of(alert: Alert) -> str:
    return f"{sender_id()},{cap_identifier(alert)},{cap_time(sent_time(alert))}"


def event_for(alert: Alert, text: AlertText) -> str:
    """CAP ``<event>`` in the text's language (see the module's docstring)."""
    if text.event:
        return text.event
    if text.language == alert.base_language:
        return alert.event
    from alerts.channels.sms.texts import category_event

    return category_event(text.language, alert.category.value)


def bcp47(language: str) -> str:
    """``zh_Hans`` → ``zh-Hans``."""
    return language.replace("_", "-")


def _centre() -> CoordinationCentre | None:
    return db.session.scalar(sa.select(CoordinationCentre).order_by(CoordinationCentre.id).limit(1))


def _sub(parent: etree._Element, name: str, text: str | None = None) -> etree._Element:
    element = etree.SubElement(parent, f"{{{CAP_NS}}}{name}")
    if text is not None:
        element.text = text
    return element


def area_description(country_code: str, city: str, language: str) -> str:
    country = i18n.country_name(country_code, bcp47(language).replace("-", "_"))
    return f"{city}, {country}" if city else country


def describe_for_cap(area: AlertArea, language: str) -> str:
    """``<areaDesc>``: the country (and city); a circle adds its radius ("Prato, Italia (50 km)"),
    a polygon is described by its country (its ``<polygon>`` says the rest)."""
    if area.shape == AreaShape.place:
        return area_description(area.country_code, area.city, language)
    place = area.city
    if not place and area.shape == AreaShape.circle and area.latitude is not None:
        place = f"{area.latitude:.4f},{area.longitude:.4f}"
    if area.country_code:
        place = area_description(area.country_code, place, language)
    if area.shape == AreaShape.circle and area.radius_km:
        return f"{place} ({area.radius_km:g} km)" if place else f"{area.radius_km:g} km"
    return place or "polygon"


def to_cap_xml(alert: Alert) -> bytes:
    """The alert as a CAP 1.2 document (UTF-8, with an XML declaration)."""
    root = etree.Element(f"{{{CAP_NS}}}alert", nsmap={None: CAP_NS})
    _sub(root, "identifier", cap_identifier(alert))
    _sub(root, "sender", sender_id())
    _sub(root, "sent", cap_time(sent_time(alert)))
    _sub(root, "status", alert.status.value if is_issued(alert) else "Draft")
    _sub(root, "msgType", alert.msg_type.value)
    _sub(root, "scope", "Public" if alert.public else "Restricted")
    if not alert.public:
        _sub(root, "restriction", RESTRICTION)
    notes = [DRAFT_NOTE.format(status=alert.status.value)] if not is_issued(alert) else []
    notes += [note for note in (NOTES.get(alert.status), SERIES_NOTE if alert.recurs else None) if note]
    if notes:
        _sub(root, "note", " ".join(notes))
    if alert.msg_type in (CapMsgType.Update, CapMsgType.Cancel) and alert.references is not None:
        _sub(root, "references", reference_of(alert.references))

    centre = _centre()
    base_first = sorted(alert.texts, key=lambda t: (t.language != alert.base_language, t.id or 0))
    effective = effective_time(alert)
    for text in base_first:
        info = _sub(root, "info")
        _sub(info, "language", bcp47(text.language))
        _sub(info, "category", alert.category.value)
        _sub(info, "event", event_for(alert, text))
        _sub(info, "urgency", alert.urgency.value)
        _sub(info, "severity", alert.severity.value)
        _sub(info, "certainty", alert.certainty.value)
        if effective is not None:
            _sub(info, "effective", cap_time(effective))
        _sub(info, "expires", cap_time(alert.expires_at))
        sender_name = centre.name_in(text.language) if centre is not None else ""
        if sender_name:
            _sub(info, "senderName", sender_name)
        shown = placeholders.public_text(alert, text)
        _sub(info, "headline", shown["headline"])
        _sub(info, "description", shown["body"])
        if shown["instruction"]:
            _sub(info, "instruction", shown["instruction"])
        for area in alert.areas:
            element = _sub(info, "area")
            _sub(element, "areaDesc", describe_for_cap(area, text.language))
            if area.shape == AreaShape.polygon and area.polygon:
                _sub(element, "polygon", area.polygon)
            elif (area.shape == AreaShape.circle and area.latitude is not None
                  and area.longitude is not None and area.radius_km):
                _sub(element, "circle", circle_text(area.latitude, area.longitude, area.radius_km))
            if area.country_code:
                geocode = _sub(element, "geocode")
                _sub(geocode, "valueName", GEOCODE_NAME)
                _sub(geocode, "value", area.country_code)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))
