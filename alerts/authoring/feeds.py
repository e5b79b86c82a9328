"""The public side of alerts: an Atom 1.0 feed of public alerts (status Actual, once issued) and each
alert as a CAP 1.2 file. Public alerts need no login; any other alert's CAP file is for
coordinators only (404 to everyone else)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from flask import Blueprint, Response, abort, request, url_for
from lxml import etree

from alerts.authoring import placeholders
from alerts.authoring.cap import MEDIA_TYPE, cap_time, sent_time, to_cap_xml
from alerts.models import Alert, AlertState, CapStatus
from config import current_settings
from consular.auth.scoping import can_work_on_alerts
from consular.auth.session import current_user
from consular.db import db, utcnow
from consular.network.models import CoordinationCentre

bp = Blueprint("alert_feeds", __name__)

ATOM_NS = "http://www.w3.org/2005/Atom"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
FEED_SIZE = 50
# Issued: approved and gone out to the dispatcher. An alert that reached nobody by SMS (not_sent)
# was still issued: the feed publishes the alert, it never claims who got a text.
ISSUED = (AlertState.sending, AlertState.sent, AlertState.not_sent, AlertState.cancelled)


def is_public(alert: Alert) -> bool:
    """Listed in the feed and readable without login: marked public, real (not a drill or a test),
    and already issued."""
    return (alert.public and alert.status == CapStatus.Actual and alert.fanned_out_at is not None
            and alert.state in ISSUED)


def public_filter() -> sa.ColumnElement[bool]:
    return sa.and_(Alert.public.is_(True), Alert.status == CapStatus.Actual,
                   Alert.fanned_out_at.is_not(None), Alert.state.in_(ISSUED))


def _base_url() -> str:
    configured: str = current_settings().public_base_url
    return configured.rstrip("/") if configured else request.url_root.rstrip("/")


def cap_url(alert: Alert) -> str:
    return _base_url() + url_for("alert_feeds.cap_file", identifier=alert.identifier)


def _updated(alert: Alert) -> datetime:
    return max(t for t in (sent_time(alert), alert.cancelled_at, alert.fanned_out_at) if t is not None)


def _atom(parent: etree._Element, name: str, text: str | None = None, **attrs: str) -> etree._Element:
    element = etree.SubElement(parent, f"{{{ATOM_NS}}}{name}", **attrs)
    if text is not None:
        element.text = text
    return element


def atom_feed(alerts: list[Alert]) -> bytes:
    centre = db.session.scalar(sa.select(CoordinationCentre).limit(1))
    author = (centre.name_en or centre.name) if centre is not None else "Consular protection"
    feed = etree.Element(f"{{{ATOM_NS}}}feed", nsmap={None: ATOM_NS})
    self_url = _base_url() + url_for("alert_feeds.feed")
    _atom(feed, "id", self_url)
    _atom(feed, "title", f"{author}: safety alerts")
    _atom(feed, "updated", cap_time(max((_updated(a) for a in alerts), default=utcnow()), "UTC"))
    _atom(_atom(feed, "author"), "name", author)
    _atom(feed, "link", rel="self", type="application/atom+xml", href=self_url)
    for alert in alerts:
        text = next((t for t in alert.texts if t.language == alert.base_language), None) or \
            (alert.texts[0] if alert.texts else None)
        lang = (text.language if text else alert.base_language).replace("_", "-")
        entry = _atom(feed, "entry")
        url = cap_url(alert)
        _atom(entry, "id", url)
        shown = placeholders.public_text(alert, text) if text is not None else None
        _atom(entry, "title", shown["headline"] if shown else alert.event).set(XML_LANG, lang)
        _atom(entry, "updated", cap_time(_updated(alert), "UTC"))
        _atom(entry, "published", cap_time(sent_time(alert), "UTC"))
        _atom(entry, "link", rel="alternate", type=MEDIA_TYPE, href=url)
        _atom(entry, "category", term=alert.event)
        if shown is not None:
            _atom(entry, "summary", shown["body"]).set(XML_LANG, lang)
    return bytes(etree.tostring(feed, xml_declaration=True, encoding="UTF-8", pretty_print=True))


@bp.get("/alerts/feed.atom")
def feed() -> Response:
    alerts = list(db.session.scalars(
        sa.select(Alert).where(public_filter())
        .order_by(Alert.fanned_out_at.desc(), Alert.id.desc()).limit(FEED_SIZE)))
    return Response(atom_feed(alerts), mimetype="application/atom+xml")


@bp.get("/alerts/<identifier>.cap.xml")
def cap_file(identifier: str) -> Response:
    if len(identifier) > 120:
        abort(404)
    alert = db.session.scalar(sa.select(Alert).where(Alert.identifier == identifier))
    if alert is None:
        abort(404)
    user = current_user()
    if not is_public(alert) and (user is None or not can_work_on_alerts(user)):
        abort(404)
    response = Response(to_cap_xml(alert), mimetype=MEDIA_TYPE)
    response.headers["Content-Disposition"] = f'inline; filename="{alert.identifier}.cap.xml"'
    return response
