"""Geographic areas on the compose screen: the cities offered for a circle's centre, and how an
area is named to a reader."""

from __future__ import annotations

import sqlalchemy as sa
from flask_babel import get_locale
from flask_babel import gettext as _

import i18n
from alerts.models import AlertArea, AreaShape
from consular.db import db
from consular.places import cities
from consular.registry.models import Registrant

MAX_CHOICES = 300


def geo_city_choices() -> list[tuple[str, str]]:
    """(city name, "city, country") of the cities where registrants live, most registrants first
    (the list the centre's field suggests; any city of the index can be typed)."""
    rows = db.session.execute(
        sa.select(Registrant.country_code, Registrant.city, sa.func.count())
        .where(Registrant.ended_at.is_(None), Registrant.city != "", Registrant.latitude.is_not(None))
        .group_by(Registrant.country_code, Registrant.city)
        .order_by(sa.func.count().desc(), Registrant.city).limit(MAX_CHOICES)).all()
    locale = str(get_locale() or "en")
    seen: set[tuple[str, str]] = set()
    out: list[tuple[str, str]] = []
    for code, city, _count in rows:
        name = city_name(city, code, locale)
        if (code, name) in seen:
            continue
        seen.add((code, name))
        out.append((name, f"{name}, {i18n.country_name(code, locale)}"))
    return out


def city_name(city: str, country_code: str, locale: str) -> str:
    """A city (a circle's centre, a place on the maps) as a reader of ``locale`` names it: the city
    index's name in their language when the index knows the city; else as stored."""
    found = cities.find(city, country_code or None)
    return found[0].display_name(locale) if found else city


def describe_area(area: AlertArea) -> str:
    """"Prato (Italy)", "50 km around Prato (Italy)", "a polygon (Italy)", in the page's language
    (a Chinese page: "普拉托周边 50 公里（意大利）"). CAP's ``<areaDesc>`` is written elsewhere
    (``cap.describe_for_cap``) and keeps the stored spelling."""
    locale = str(get_locale() or "en")
    country = i18n.country_name(area.country_code, locale) if area.country_code else ""
    if area.shape == AreaShape.circle:
        centre = (city_name(area.city, area.country_code, locale) if area.city
                  else f"{area.latitude:.4f}, {area.longitude:.4f}")
        text = _("%(radius)s km around %(centre)s", radius=f"{area.radius_km:g}", centre=centre)
    elif area.shape == AreaShape.polygon:
        text = _("an area drawn as a polygon")
    else:
        text = area.city
    if not text:
        return country
    return _("%(area)s (%(country)s)", area=text, country=country) if country else text
