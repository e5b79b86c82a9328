"""What the alert maps show: the target area's shapes and people counted by place, never by name
(the compose page: recipients by place; the progress page: safety-check answers by place).

The maps are Leaflet (vendored, ``static/vendor/leaflet-1.9.4``) over Natural Earth's 1:110m
country outlines (``static/vendor/natural-earth-110m``), so they work with no tile server; a tile
server may be configured (``MAP_TILE_URL``). The typed fields stay the way to aim: the map shows
them, and a click on it fills them (a circle's centre, or a polygon's next corner appended to the
typed corners, which the server reads as if typed).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from flask import url_for
from flask_babel import get_locale
from flask_babel import gettext as _

from alerts import geo
from alerts.authoring.areas import city_name
from alerts.authoring.call_round import answer_column
from alerts.models import Alert, Delivery, ReplyKind
from alerts.targeting import Target, TargetArea, recipients_where
from config import current_settings
from consular.db import db, utcnow
from consular.registry.models import Registrant

MAX_PLACES = 400  # the most populated places drawn (a country-wide alert has thousands of cities)


def area_shapes(areas: Iterable[TargetArea]) -> list[dict[str, Any]]:
    shapes: list[dict[str, Any]] = []
    for area in areas:
        if area.shape == "circle" and area.latitude is not None and area.longitude is not None:
            shapes.append({"shape": "circle", "lat": area.latitude, "lon": area.longitude,
                           "radius_km": area.radius_km})
        elif area.shape == "polygon" and area.polygon:
            shapes.append({"shape": "polygon",
                           "points": [list(p) for p in geo.polygon_points(area.polygon)]})
    return shapes


def recipients_by_place(target: Target) -> list[dict[str, Any]]:
    """The recipients counted by where they are placed (their city's point or their own)."""
    if not target.areas or not target.base_language:
        return []
    count = sa.func.count().label("n")
    rows = db.session.execute(
        sa.select(Registrant.latitude, Registrant.longitude, sa.func.min(Registrant.city),
                  sa.func.min(Registrant.country_code), count)
        .where(*recipients_where(target, utcnow().date()), Registrant.latitude.is_not(None))
        .group_by(Registrant.latitude, Registrant.longitude)
        .order_by(count.desc()).limit(MAX_PLACES)).all()
    locale = str(get_locale() or "en")
    return [{"lat": lat, "lon": lon, "place": _place(city, code, locale), "count": n}
            for lat, lon, city, code, n in rows]


def answers_by_place(alert: Alert) -> list[dict[str, Any]]:
    """A safety check's answers by place: safe, need help, no answer (yet); a call of the call round
    that reached someone counts as their answer (``call_round.answer_column``)."""
    answer = answer_column()
    safe = sa.func.sum(sa.case((answer == ReplyKind.safe.value, 1), else_=0))
    help_ = sa.func.sum(sa.case((answer == ReplyKind.need_help.value, 1), else_=0))
    total = sa.func.count().label("n")
    rows = db.session.execute(
        sa.select(Registrant.latitude, Registrant.longitude, sa.func.min(Registrant.city),
                  sa.func.min(Registrant.country_code), safe, help_, total)
        .join(Registrant, Registrant.id == Delivery.registrant_id)
        .where(Delivery.alert_id == alert.id, Registrant.latitude.is_not(None))
        .group_by(Registrant.latitude, Registrant.longitude)
        .order_by(total.desc()).limit(MAX_PLACES)).all()
    locale = str(get_locale() or "en")
    return [{"lat": lat, "lon": lon, "place": _place(city, code, locale), "safe": int(s or 0),
             "need_help": int(h or 0), "no_answer": n - int(s or 0) - int(h or 0), "count": n}
            for lat, lon, city, code, s, h, n in rows]


def _place(city: str | None, country_code: str | None, locale: str) -> str:
    """A place on the maps named as the page's reader names it (普拉托 on a Chinese page)."""
    return city_name(city, country_code or "", locale) if city else ""


def map_config(*, areas: Iterable[TargetArea] = (), places: list[dict[str, Any]] | None = None,
               answers: bool = False) -> dict[str, Any]:
    """The data a map element carries (``data-map``), read by ``static/js/alert-map.js``."""
    return {
        "outlines": url_for("static", filename="vendor/natural-earth-110m/countries.geojson"),
        "tiles": current_settings().map_tile_url,
        "areas": area_shapes(areas),
        "places": places or [],
        "answers": answers,
        "labels": {"recipients": _("recipients"), "safe": _("safe"), "need_help": _("need help"),
                   "no_answer": _("no answer"), "centre_set": _("Centre set from the map")},
    }
