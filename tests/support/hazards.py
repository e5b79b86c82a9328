"""Hazard feed documents in their public formats, written for the tests: a USGS earthquake GeoJSON
summary, CAP 1.2 alerts embedded in an Atom feed or on their own (to be linked), and hostile XML."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from xml.sax.saxutils import escape

PRATO = (43.8777, 11.1022)
FAR_AWAY = (-20.5, -175.3)  # Tonga: nobody of the tests is registered near it
CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"


def millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


@dataclass
class Quake:
    id: str
    magnitude: float
    at: tuple[float, float]
    time: datetime
    updated: datetime
    place: str = "5 km NNE of Prato, Italy"
    ids: tuple[str, ...] = ()
    type: str = "earthquake"

    def feature(self) -> dict[str, object]:
        ids = self.ids or (self.id,)
        return {
            "type": "Feature", "id": self.id,
            "properties": {"mag": self.magnitude, "place": self.place, "time": millis(self.time),
                           "updated": millis(self.updated), "tz": None,
                           "url": f"https://earthquake.usgs.gov/earthquakes/eventpage/{self.id}",
                           "status": "reviewed", "tsunami": 0, "sig": 600, "net": "us",
                           "code": self.id[2:], "ids": "," + ",".join(ids) + ",", "type": self.type,
                           "title": f"M {self.magnitude} - {self.place}"},
            "geometry": {"type": "Point", "coordinates": [self.at[1], self.at[0], 10.0]},
        }


def usgs_summary(*quakes: Quake) -> str:
    return json.dumps({
        "type": "FeatureCollection",
        "metadata": {"generated": 0, "url": "https://earthquake.usgs.gov/summary", "title": "USGS",
                     "status": 200, "api": "1.14.1", "count": len(quakes)},
        "features": [q.feature() for q in quakes],
        "bbox": [-180, -90, 0, 180, 90, 700],
    })


@dataclass
class CapAlert:
    identifier: str
    sent: datetime
    event: str
    category: str
    severity: str
    polygon: str = ""
    circle: str = ""
    area_desc: str = "Toscana"
    status: str = "Actual"
    msg_type: str = "Alert"
    references: str = ""
    sender: str = "meteoalarm@example.org"
    headline: str = ""

    def xml(self) -> str:
        shapes = (f"<polygon>{self.polygon}</polygon>" if self.polygon else "") + \
            (f"<circle>{self.circle}</circle>" if self.circle else "")
        refs = f"<references>{escape(self.references)}</references>" if self.references else ""
        sent = self.sent.isoformat(timespec="seconds")
        return (
            f'<alert xmlns="{CAP_NS}"><identifier>{escape(self.identifier)}</identifier>'
            f"<sender>{escape(self.sender)}</sender><sent>{sent}</sent><status>{self.status}</status>"
            f"<msgType>{self.msg_type}</msgType><scope>Public</scope>{refs}"
            f"<info><language>it-IT</language><category>{self.category}</category>"
            f"<event>{escape(self.event)} (it)</event><urgency>Immediate</urgency>"
            f"<severity>{self.severity}</severity><certainty>Observed</certainty>"
            f"<headline>Allerta</headline><area><areaDesc>{escape(self.area_desc)}</areaDesc>{shapes}"
            f"</area></info>"
            f"<info><language>en-GB</language><category>{self.category}</category>"
            f"<event>{escape(self.event)}</event><urgency>Immediate</urgency>"
            f"<severity>{self.severity}</severity><certainty>Observed</certainty>"
            f"<effective>{sent}</effective>"
            f"<headline>{escape(self.headline or self.event + ' warning')}</headline>"
            f"<area><areaDesc>{escape(self.area_desc)}</areaDesc>{shapes}</area></info></alert>")


def cap_atom(embedded: list[CapAlert], linked: list[str] = ()) -> str:  # type: ignore[assignment]
    entries = [
        f"<entry><id>urn:x:{escape(a.identifier)}</id><title>{escape(a.event)}</title>"
        f"<updated>{a.sent.isoformat(timespec='seconds')}</updated>"
        f'<link rel="alternate" href="https://alerts.example.org/{escape(a.identifier)}"/>'
        f"<content type=\"text/xml\">{a.xml()}</content></entry>"
        for a in embedded]
    entries += [
        f"<entry><id>urn:x:{i}</id><title>linked</title><updated>2026-12-06T02:10:00Z</updated>"
        f'<link rel="alternate" type="application/cap+xml" href="{escape(url)}"/></entry>'
        for i, url in enumerate(linked)]
    return ('<?xml version="1.0" encoding="UTF-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
            "<id>urn:x:feed</id><title>CAP feed</title><updated>2026-12-06T02:10:00Z</updated>"
            + "".join(entries) + "</feed>")


def box(centre: tuple[float, float], half: float) -> str:
    lat, lon = centre
    corners = [(lat - half, lon - half), (lat - half, lon + half), (lat + half, lon + half),
               (lat + half, lon - half), (lat - half, lon - half)]
    return " ".join(f"{a:.4f},{b:.4f}" for a, b in corners)


BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'
              for i in range(1, 10))
    + ']><feed xmlns="http://www.w3.org/2005/Atom"><title>&lol9;</title></feed>')

EXTERNAL_ENTITY = (
    '<?xml version="1.0"?><!DOCTYPE feed [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    '<feed xmlns="http://www.w3.org/2005/Atom"><title>&xxe;</title></feed>')
