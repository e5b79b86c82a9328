"""Reading a geographic area from the compose form: the shapes, decimal degrees as people type
them, what is wrong with a shape in the reader's language, and the country a typed shape is in."""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _

from alerts import geo

GEO_SHAPES = ("circle", "polygon")


def geo_message(code: str) -> str:
    """What is wrong with a shape (``alerts.geo.GeoInputError.code``), in the reader's language."""
    if code == "radius":
        return _("The radius must be more than 0 km and at most %(max)s km.",
                 max=f"{geo.MAX_RADIUS_KM:,.0f}")
    if code == "polygon_format":
        return _("Type the polygon's corners as latitude,longitude pairs separated by spaces, for "
                 "example 43.9,11.0 43.9,11.2 43.8,11.1.")
    if code == "polygon_size":
        return _("The number of a polygon's different corners must be from 3 to %(max)d.",
                 max=geo.MAX_VERTICES)
    if code == "polygon_crossing":
        return _("The polygon's edges cross each other. Give its corners in order around the area.")
    if code == "polygon_antimeridian":
        return _("A polygon may not cross the 180th meridian: aim at each side separately.")
    return _("A latitude is between -90 and 90 and a longitude between -180 and 180 (decimal "
             "degrees, for example 43.88, 11.10).")


def _number(raw: Any) -> float | None:
    """A decimal number from the form (a comma as the decimal mark is accepted); None when empty.
    Raises ValueError."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    if isinstance(raw, bool):
        raise ValueError(raw)
    if isinstance(raw, int | float):
        return float(raw)
    if not isinstance(raw, str) or len(raw) > 40:
        raise ValueError(raw)
    return float(raw.strip().replace(",", "."))


def _country_near(latitude: float, longitude: float) -> str:
    """The country of the nearest city within 100 km (a circle or polygon typed as coordinates
    gets it for CAP's geocode and the preview's countries), or ""."""
    from consular.places import cities

    near = cities.within(latitude, longitude, 100.0)
    return near[0][0].country if near else ""
