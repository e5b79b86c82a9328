"""What a hazard feed document says, as events: CAP 1.2 alerts inside an Atom or RSS feed (as
national weather services and GDACS publish them: an entry embeds a ``cap:alert`` or links to one)
or on their own, and USGS earthquake GeoJSON summaries.

XML is read with ``defusedxml``: a DTD, an entity declaration or an external reference is refused
outright (no billion laughs, no file or network read by the parser). Every value is checked (finite
coordinates in range, bounded text), and an entry that cannot be read is skipped, not the feed.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
ATOM_NS = "http://www.w3.org/2005/Atom"
CAP = "{%s}" % CAP_NS  # noqa: UP031  (ElementTree's "{namespace}tag")
ATOM = "{%s}" % ATOM_NS  # noqa: UP031
MAX_ENTRIES = 5000  # entries read from one document (a USGS "all month" summary has ~10,000 tiny ones)
SEVERITY_RANK = {"Extreme": 4, "Severe": 3, "Moderate": 2, "Minor": 1, "Unknown": 0}
CAP_TYPES = ("application/cap+xml", "application/xml", "text/xml")

# CAP's category (and, for Geo, its event words) → the template library's hazard.
_CATEGORY_HAZARD = {"Met": "flood_typhoon", "Fire": "fire", "Security": "unrest", "Health": "epidemic",
                    "Transport": "transport_accident"}
_QUAKE_WORDS = re.compile(r"earthquake|quake|seism|sismo|terremoto|erdbeben|землетрясен|地震|지진",
                          re.IGNORECASE)


class FeedFormatError(ValueError):
    """A document that is not what its feed's kind promises (or is hostile XML)."""


@dataclass
class ParsedEvent:
    """One event as a feed tells it."""

    external_id: str
    keys: tuple[str, ...]  # every name it goes by (see ``HazardEventKey``)
    kind: str  # a template hazard
    event: str
    severity: str
    occurred_at: datetime
    updated_at: datetime
    latitude: float | None = None
    longitude: float | None = None
    radius_km: float | None = None
    polygon: str | None = None  # "lat,lon lat,lon …", as CAP writes it (not checked yet)
    magnitude: float | None = None
    headline: str = ""
    place: str = ""
    link: str = ""
    cancelled: bool = False


@dataclass
class FeedDocument:
    """A feed's events, and the CAP documents its entries only link to (to be fetched)."""

    events: list[ParsedEvent] = field(default_factory=list)
    cap_links: list[str] = field(default_factory=list)


def _text(value: Any, limit: int) -> str:
    if not isinstance(value, str):
        return ""
    clean = "".join(ch for ch in value if ch.isprintable() or ch in " \t")
    return " ".join(clean.split())[:limit]


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _point(lat: float | None, lon: float | None) -> bool:
    return lat is not None and lon is not None and -90 <= lat <= 90 and -180 <= lon <= 180


# --- USGS GeoJSON ----------------------------------------------------------------------------------


def magnitude_severity(magnitude: float) -> str:
    """CAP's severity for an earthquake of this magnitude (a rough scale, for the page's order)."""
    if magnitude >= 7:
        return "Extreme"
    if magnitude >= 6:
        return "Severe"
    if magnitude >= 5:
        return "Moderate"
    return "Minor"


def _millis(value: Any) -> datetime | None:
    number = _number(value)
    if number is None or not 0 <= number < 4e12:
        return None
    return datetime.fromtimestamp(number / 1000, UTC)


def parse_usgs(body: bytes, radius_km: float) -> FeedDocument:
    """A USGS GeoJSON summary: a FeatureCollection of earthquakes (``properties.type``; quarry
    blasts and explosions are left out), each a Point [longitude, latitude, depth]."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise FeedFormatError("not JSON") from exc
    if not isinstance(document, dict) or document.get("type") != "FeatureCollection" \
            or not isinstance(document.get("features"), list):
        raise FeedFormatError("not a GeoJSON FeatureCollection")
    out = FeedDocument()
    for feature in document["features"][:MAX_ENTRIES]:
        event = _usgs_feature(feature, radius_km)
        if event is not None:
            out.events.append(event)
    return out


def _usgs_feature(feature: Any, radius_km: float) -> ParsedEvent | None:
    if not isinstance(feature, dict):
        return None
    props, geometry = feature.get("properties"), feature.get("geometry")
    if not isinstance(props, dict) or not isinstance(geometry, dict) or geometry.get("type") != "Point":
        return None
    if props.get("type", "earthquake") != "earthquake":
        return None
    coordinates = geometry.get("coordinates")
    if not isinstance(coordinates, list) or len(coordinates) < 2:
        return None
    lon, lat = _number(coordinates[0]), _number(coordinates[1])
    magnitude = _number(props.get("mag"))
    occurred = _millis(props.get("time"))
    event_id = _text(feature.get("id"), 100)
    if not _point(lat, lon) or magnitude is None or occurred is None or not event_id:
        return None
    ids = [i for i in (_text(part, 100) for part in str(props.get("ids") or "").split(",")) if i]
    keys = tuple(dict.fromkeys(f"usgs:{i}" for i in [event_id, *ids]))
    place = _text(props.get("place"), 120)
    return ParsedEvent(
        external_id=event_id, keys=keys, kind="earthquake", event="Earthquake",
        severity=magnitude_severity(magnitude), occurred_at=occurred,
        updated_at=_millis(props.get("updated")) or occurred, latitude=lat, longitude=lon,
        radius_km=radius_km, magnitude=round(magnitude, 2),
        headline=_text(props.get("title"), 300) or f"M {magnitude:.1f} - {place}", place=place,
        link=_link(props.get("url")))


def _link(value: Any) -> str:
    text = _text(value, 500)
    return text if text.startswith(("https://", "http://")) else ""


# --- CAP in Atom or RSS ----------------------------------------------------------------------------


def read_xml(body: bytes) -> Element:
    """The document's root; hostile or broken XML is a ``FeedFormatError``."""
    try:
        return fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise FeedFormatError(f"refused XML ({type(exc).__name__})") from exc
    except ParseError as exc:
        raise FeedFormatError("not well-formed XML") from exc


def parse_cap_feed(body: bytes) -> FeedDocument:
    """An Atom feed, an RSS channel or a CAP alert on its own. An entry that embeds a
    ``cap:alert`` gives its event; one that links to a CAP document (``application/cap+xml``, or
    a link ending in .cap) gives the link, to be fetched and read with ``parse_cap_alert``."""
    root = read_xml(body)
    out = FeedDocument()
    if root.tag == CAP + "alert":
        out.events.extend(cap_events(root))
        return out
    if root.tag == ATOM + "feed":
        entries = root.findall(ATOM + "entry")
    elif root.tag == "rss":
        entries = root.findall("channel/item")
    else:
        raise FeedFormatError("neither an Atom feed, an RSS channel nor a CAP alert")
    for entry in entries[:MAX_ENTRIES]:
        embedded = next(entry.iter(CAP + "alert"), None)
        if embedded is not None:
            out.events.extend(cap_events(embedded, fallback_link=_entry_link(entry)))
            continue
        link = _cap_link(entry)
        if link:
            out.cap_links.append(link)
    return out


def parse_cap_alert(body: bytes, link: str) -> list[ParsedEvent]:
    root = read_xml(body)
    if root.tag != CAP + "alert":
        raise FeedFormatError("not a CAP 1.2 alert")
    return list(cap_events(root, fallback_link=link))


def _entry_link(entry: Element) -> str:
    for link in entry.findall(ATOM + "link"):
        if link.get("rel", "alternate") == "alternate":
            return _link(link.get("href"))
    return _link((entry.findtext("link") or "").strip())


def _cap_link(entry: Element) -> str:
    for link in [*entry.findall(ATOM + "link"), *entry.findall("enclosure")]:
        href = link.get("href") or link.get("url") or ""
        if link.get("type", "").split(";")[0].strip() in CAP_TYPES[:1] or href.endswith(".cap"):
            return _link(href)
    text = (entry.findtext("link") or "").strip()
    return _link(text) if text.endswith(".cap") else ""


def _cap(element: Element, name: str, limit: int = 300) -> str:
    return _text(element.findtext(CAP + name) or "", limit)


def _moment(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.astimezone(UTC) if moment.tzinfo is not None else None


def _cap_key(sender: str, identifier: str) -> str:
    return f"cap:{sender},{identifier}"[:250]


def cap_events(alert: Element, fallback_link: str = "") -> Iterator[ParsedEvent]:
    """The event of one CAP alert (none when it is a test, an exercise or unreadable): its most
    severe level, the English information block (else the first) for its words, the first polygon
    (else circle) of its areas, the onset or effective time (else when it was sent)."""
    identifier, sender = _cap(alert, "identifier", 200), _cap(alert, "sender", 200)
    sent = _moment(_cap(alert, "sent", 40))
    if not identifier or sent is None or _cap(alert, "status", 20) != "Actual":
        return
    infos = alert.findall(CAP + "info")
    if not infos:
        return
    info = next((i for i in infos if _cap(i, "language", 20).lower().startswith("en")), infos[0])
    severity = max((_cap(i, "severity", 20) for i in infos),
                   key=lambda s: SEVERITY_RANK.get(s, -1))
    severity = severity if severity in SEVERITY_RANK else "Unknown"
    keys = [_cap_key(sender, identifier)]
    for reference in _cap(alert, "references", 2000).split():
        parts = reference.split(",")
        if len(parts) >= 2:
            keys.append(_cap_key(parts[0], parts[1]))
    event = ParsedEvent(
        external_id=identifier, keys=tuple(dict.fromkeys(keys)), kind=_hazard(info),
        event=_cap(info, "event", 120), severity=severity,
        occurred_at=_moment(_cap(info, "onset", 40)) or _moment(_cap(info, "effective", 40)) or sent,
        updated_at=sent, headline=_cap(info, "headline", 300),
        link=_link(_cap(info, "web", 500)) or fallback_link,
        cancelled=_cap(alert, "msgType", 20) == "Cancel")
    areas = [a for i in [info, *infos] for a in i.findall(CAP + "area")]
    event.place = next((_cap(a, "areaDesc", 120) for a in areas if _cap(a, "areaDesc", 120)), "")
    _cap_area(event, areas)
    yield event


def _hazard(info: Element) -> str:
    categories = [_text(c.text, 20) for c in info.findall(CAP + "category")]
    if "Geo" in categories:
        return "earthquake" if _QUAKE_WORDS.search(_cap(info, "event", 120)) else "other"
    return next((_CATEGORY_HAZARD[c] for c in categories if c in _CATEGORY_HAZARD), "other")


def _cap_area(event: ParsedEvent, areas: list[Element]) -> None:
    for area in areas:
        for polygon in area.findall(CAP + "polygon"):
            text = _text(polygon.text, 100_000)
            if text:
                event.polygon = text
                return
    for area in areas:
        for circle in area.findall(CAP + "circle"):
            match = re.fullmatch(r"\s*([-+]?[\d.]+)\s*,\s*([-+]?[\d.]+)\s+([\d.]+)\s*", circle.text or "")
            if match is None:
                continue
            lat, lon, radius = (_number(g) for g in match.groups())
            if _point(lat, lon) and radius is not None:
                event.latitude, event.longitude, event.radius_km = lat, lon, max(radius, 1.0)
                return
