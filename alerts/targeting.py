"""Who receives an alert, decided in SQL: the registrants of its areas (country, optionally city)
and audience, still registered and reachable, optionally only those whose stay dates say they are
there now; each with the language of the text they get.

``fan_out`` turns that into deliveries with ``INSERT … SELECT`` (``… ON CONFLICT DO NOTHING`` on
(alert, registrant) when the alert already has some): targeting 300,000 people is one statement, or
(as the worker does it) a few committed slices in registrant order, so the first messages go out
while the rest is planned; running it twice adds nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Self

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from alerts import geo
from alerts.events import announce_alert
from alerts.models import Alert, AlertArea, AlertState, AreaShape, Delivery, DeliveryState, NotSentReason
from consular.audit.operations import record
from consular.db import UTCDateTime, db, utcnow
from consular.registry.models import Registrant, RegistrantStatus


@dataclass(frozen=True)
class TargetArea:
    """A country (optionally a city in it, as registrants wrote it), or a circle, or a polygon
    (aimed at where registrants are placed; see ``alerts.geo``)."""

    country_code: str
    city: str = ""
    shape: str = "place"
    latitude: float | None = None
    longitude: float | None = None
    radius_km: float | None = None
    polygon: str | None = None

    @classmethod
    def of(cls, area: AlertArea) -> Self:
        return cls(area.country_code, area.city, str(area.shape or AreaShape.place),
                   area.latitude, area.longitude, area.radius_km, area.polygon)

    @property
    def centre(self) -> tuple[float, float] | None:
        """A circle's centre, or the middle of a polygon's bounding box (nearest first is
        measured from it); None for a country or city."""
        if self.shape == AreaShape.circle and self.latitude is not None and self.longitude is not None:
            return (self.latitude, self.longitude)
        if self.shape == AreaShape.polygon and self.polygon:
            box = geo.polygon_box(geo.polygon_points(self.polygon))
            west, east = box.lon_ranges[0]
            return ((box.south + box.north) / 2, (west + east) / 2)
        return None


@dataclass(frozen=True)
class Target:
    """What targeting needs to know of an alert (saved or still on the compose screen)."""

    areas: tuple[TargetArea, ...]
    languages: tuple[str, ...]  # the languages the alert has a text in
    base_language: str
    audience_kinds: tuple[str, ...] = ()  # empty: every kind
    present_only: bool = False

    @classmethod
    def of(cls, alert: Alert) -> Target:
        return cls(
            areas=tuple(TargetArea.of(a) for a in alert.areas),
            languages=tuple(t.language for t in alert.texts),
            base_language=alert.base_language,
            audience_kinds=tuple(k for k in alert.audience_kinds.split(",") if k),
            present_only=alert.present_only,
        )


@dataclass
class Preview:
    """Recipients counted by the language they will get and by country."""

    total: int = 0
    by_language: dict[str, int] = field(default_factory=dict)
    by_country: dict[str, int] = field(default_factory=dict)
    by_language_country: dict[tuple[str, str], int] = field(default_factory=dict)


def language_map(languages: Iterable[str], base_language: str) -> dict[str, str]:
    """For each SMS locale a registrant may have chosen, the language of the text they get: their
    own if the alert has it, else the next in their fallback chain that it has (zh_Hant →
    zh_Hans), else the alert's base language."""
    from alerts.channels.sms.texts import SMS_LOCALES, fallback_chain

    have = set(languages)
    chosen: dict[str, str] = {}
    for locale in SMS_LOCALES:
        chain = [lang for lang in fallback_chain(locale, base_language) if lang in have]
        chosen[locale] = chain[0] if chain else base_language
    return chosen


def language_case(target: Target) -> sa.ColumnElement[str]:
    """The chosen language as a SQL CASE over ``registrant.language``."""
    mapping = language_map(target.languages, target.base_language)
    whens = [(Registrant.language == locale, sa.literal(lang))
             for locale, lang in mapping.items() if lang != target.base_language]
    if not whens:
        return sa.literal(target.base_language, sa.String)
    return sa.case(*whens, else_=sa.literal(target.base_language))


def _area_filter(areas: Sequence[TargetArea], lat: Any = Registrant.latitude,
                 lon: Any = Registrant.longitude) -> sa.ColumnElement[bool]:
    """Inside one of the areas (on the registrant's own columns, or on ``lat``/``lon`` given)."""
    clauses: list[sa.ColumnElement[bool]] = []
    for area in areas:
        code = area.country_code.upper()
        if area.shape == AreaShape.circle and area.centre is not None and area.radius_km:
            clauses.append(geo.within_circle(lat, lon, area.centre[0], area.centre[1], area.radius_km))
        elif area.shape == AreaShape.polygon and area.polygon:
            clauses.append(geo.inside_polygon(lat, lon, geo.polygon_points(area.polygon)))
        elif area.shape != AreaShape.place:
            continue
        elif area.city.strip():
            clauses.append(sa.and_(Registrant.country_code == code,
                                   sa.func.lower(sa.func.trim(Registrant.city))
                                   == area.city.strip().lower()))
        else:
            clauses.append(Registrant.country_code == code)
    return sa.or_(*clauses) if clauses else sa.false()


def recipients_where(target: Target, today: date,
                     area: sa.ColumnElement[bool] | None = None) -> list[sa.ColumnElement[bool]]:
    """The conditions a registrant must meet to receive the alert: in its audience, registered and
    reachable (not unsubscribed, a number that takes SMS). ``area``: another test of the place in
    place of the areas' own (their boxes alone, for ``count_in_shapes``)."""
    return [Registrant.status == RegistrantStatus.active, *audience_where(target, today, area)]


def audience_where(target: Target, today: date,
                   area: sa.ColumnElement[bool] | None = None) -> list[sa.ColumnElement[bool]]:
    """Who the alert is meant for, reachable or not: registered (not ended) in its areas and
    audience, and there now when it asks for that."""
    conditions: list[sa.ColumnElement[bool]] = [
        Registrant.ended_at.is_(None),
        _area_filter(target.areas) if area is None else area,
    ]
    if target.audience_kinds:
        conditions.append(Registrant.kind.in_(target.audience_kinds))
    if target.present_only:
        # "Who is there now": no stay dates counts as present.
        conditions.append(sa.or_(Registrant.stay_from.is_(None), Registrant.stay_from <= today))
        conditions.append(sa.or_(Registrant.stay_until.is_(None), Registrant.stay_until >= today))
    return conditions


def _box(area: TargetArea) -> geo.Box | None:
    if area.shape == AreaShape.circle and area.centre is not None and area.radius_km:
        return geo.circle_box(area.centre[0], area.centre[1], area.radius_km)
    if area.shape == AreaShape.polygon and area.polygon:
        return geo.polygon_box(geo.polygon_points(area.polygon))
    return None


def count_in_shapes(target: Target, today: date) -> int:
    """How many registrants ``recipients_where`` selects, for a target of circles and polygons
    only (a hazard's area), counted per place: people are placed at their city's coordinates, so
    many share a point, and the exact test (the distance, or the polygon's crossings) runs once per
    point rather than once per person; the counts come from the reachable-location index alone."""
    shapes = [a for a in target.areas if a.shape in (AreaShape.circle, AreaShape.polygon)]
    if len(shapes) != len(target.areas):
        raise ValueError("count_in_shapes counts circles and polygons only")
    boxes = [box.where(Registrant.latitude, Registrant.longitude) for box in map(_box, shapes) if box]
    if not boxes:
        return 0
    points = (sa.select(Registrant.latitude.label("lat"), Registrant.longitude.label("lon"),
                        sa.func.count().label("people"))
              .where(*recipients_where(target, today, area=sa.or_(*boxes)))
              .group_by(Registrant.latitude, Registrant.longitude)
              .offset(0)  # a fence: the exact test must not be pushed down to every row
              .subquery())
    return int(db.session.scalar(sa.select(sa.func.coalesce(sa.func.sum(points.c.people), 0))
                                 .where(_area_filter(shapes, points.c.lat, points.c.lon))) or 0)


def recipients_select(alert: Alert | Target, now: datetime | None = None) -> sa.Select[int, str, str]:
    """``SELECT registrant.id, <language>, registrant.country_code`` of everyone the alert reaches."""
    target = alert if isinstance(alert, Target) else Target.of(alert)
    moment = now or utcnow()
    return (
        sa.select(Registrant.id.label("registrant_id"),
                  language_case(target).label("language"),
                  Registrant.country_code.label("country_code"))
        .where(*recipients_where(target, moment.date()))
    )


def preview(alert: Alert | Target, now: datetime | None = None) -> Preview:
    """How many people the alert would reach, by language (after the fallback) and country."""
    target = alert if isinstance(alert, Target) else Target.of(alert)
    result = Preview()
    if not target.areas or not target.base_language:
        return result
    chosen = recipients_select(target, now).subquery()
    rows = db.session.execute(
        sa.select(chosen.c.language, chosen.c.country_code, sa.func.count())
        .group_by(chosen.c.language, chosen.c.country_code)
    ).all()
    for language, country, count in rows:
        result.total += count
        result.by_language[language] = result.by_language.get(language, 0) + count
        result.by_country[country] = result.by_country.get(country, 0) + count
        result.by_language_country[(language, country)] = count
    result.by_language = dict(sorted(result.by_language.items(), key=lambda kv: -kv[1]))
    result.by_country = dict(sorted(result.by_country.items(), key=lambda kv: -kv[1]))
    return result


@dataclass
class Reach:
    """Who of the alert's audience a send at ``send_at`` would actually reach: the recipients (the
    same query as the preview and the fan-out), those left out because they unsubscribed or their
    number takes no SMS (by status), and the recipients whose quiet hours at ``send_at`` last past
    the expiry (by time zone): the dispatcher would skip them
    (alerts.dispatch.quiet.QuietHours.holds_past)."""

    recipients: int = 0
    unreachable: dict[str, int] = field(default_factory=dict)
    quiet_past_expiry: dict[str, int] = field(default_factory=dict)

    @property
    def quiet_total(self) -> int:
        return sum(self.quiet_past_expiry.values())


def reach(target: Target, *, send_at: datetime, expires_at: datetime | None, urgent: bool,
          quiet_hours: str, office_zone: str) -> Reach:
    """See ``Reach``. Quiet hours do not hold back an urgent alert (Immediate or Extreme)."""
    from alerts.dispatch.quiet import QuietHours, zone

    result = Reach()
    if not target.areas or not target.base_language:
        return result
    today = send_at.date()
    by_zone = db.session.execute(
        sa.select(Registrant.timezone, sa.func.count()).where(*recipients_where(target, today))
        .group_by(Registrant.timezone)).all()
    result.recipients = sum(count for _zone, count in by_zone)
    left_out = db.session.execute(
        sa.select(Registrant.status, sa.func.count())
        .where(Registrant.status != RegistrantStatus.active, *audience_where(target, today))
        .group_by(Registrant.status)).all()
    result.unreachable = {str(status): count for status, count in left_out}
    quiet = QuietHours.from_setting(quiet_hours)
    if quiet is not None and not urgent and expires_at is not None:
        for tz_name, count in by_zone:
            if quiet.holds_past(send_at, zone(tz_name, office_zone), expires_at):
                name = tz_name or office_zone
                result.quiet_past_expiry[name] = result.quiet_past_expiry.get(name, 0) + count
    return result


def _insert_ignoring_duplicates(dialect: str) -> Any:
    if dialect == "postgresql":
        return postgresql.insert(Delivery)
    if dialect == "sqlite":
        return sqlite.insert(Delivery)
    raise RuntimeError(f"fan-out needs PostgreSQL or SQLite, not {dialect}")


# A large alert is fanned out in committed slices, so its first messages go out while the rest is
# still being planned: a first small slice, then larger ones (each slice is one transaction).
FIRST_SLICE = 1_000
SLICE = 20_000


def fan_out(alert: Alert, now: datetime | None = None, *, slice_size: int | None = None) -> int:
    """Create one pending delivery per recipient of a due, approved alert, then mark the alert as
    sending. Without ``slice_size``: every recipient in one statement. With it: the next (at most)
    ``slice_size`` recipients in registrant order; ``alert.fanout_after`` then says where the next
    slice goes on, and is None once every recipient has a delivery (no alert is finished before).
    An alert aimed at a geographic area goes nearest first: its first slice is the nearest
    ``slice_size``, then the rest in one statement.
    Safe to run twice: a second run inserts nothing. Returns the number of deliveries created by
    this call. An alert already past its expiry is closed instead (nothing is sent after it)."""
    moment = now or utcnow()
    if alert.recurs:
        raise ValueError("a recurring alert is a template: fan out its occurrences")
    if alert.state not in (AlertState.scheduled, AlertState.sending):
        raise ValueError(f"alert {alert.id} is {alert.state}, not scheduled")
    if slice_size is not None and slice_size < 1:
        raise ValueError("slice_size must be at least 1")
    if alert.expires_at <= moment:
        if alert.state == AlertState.scheduled:
            alert.state = AlertState.not_sent
            alert.not_sent_reason = NotSentReason.expired
            alert.finished_at = moment
            db.session.flush()
            record("alert.expired_unsent", "alert", alert.id, {"identifier": alert.identifier},
                   username="scheduler")
        elif alert.fanout_after is not None:
            # Expired half-way: those not yet planned get nothing; the rest ends as usual.
            alert.fanout_after = None
            db.session.flush()
            record("alert.fan_out", "alert", alert.id,
                   {"identifier": alert.identifier, "deliveries": alert.planned_count,
                    "planned": alert.planned_count, "stopped": "expired"}, username="scheduler")
        return 0
    due = alert.send_at or moment
    target = Target.of(alert)
    source = sa.select(
        sa.literal(alert.id, sa.Integer),
        Registrant.id,
        language_case(target),
        Registrant.country_code,
        sa.literal(DeliveryState.pending.value, sa.String),
        sa.literal(due, UTCDateTime()),
        sa.literal(0, sa.Integer),
    ).where(*recipients_where(target, moment.date()))
    centre = next((a.centre for a in target.areas if a.centre is not None), None)
    dialect = db.session.get_bind().dialect.name
    columns = ["alert_id", "registrant_id", "language", "country_code", "state", "due_at", "attempts"]
    going_on = alert.state == AlertState.sending and alert.fanout_after is not None
    before = alert.planned_count if going_on else _planned(alert.id)
    if centre is not None:
        # Nearest first: deliveries are made in order of distance from the area's centre, so their
        # ids (the claim's order within one due time) follow it. Sliced, the nearest ``slice_size``
        # are planned and committed first (they go out at once), then all the rest in one
        # statement, in the same order (``fanout_after`` is 0 in between: "the rest, by distance").
        source = source.order_by(
            sa.func.coalesce(geo.haversine_term(Registrant.latitude, Registrant.longitude, *centre), 2.0),
            Registrant.id)
    if centre is not None and slice_size is not None and before == 0 and not going_on:
        result = db.session.execute(sa.insert(Delivery).from_select(columns, source.limit(slice_size)))
        count = getattr(result, "rowcount", -1)
        inserted = count if isinstance(count, int) and count >= 0 else _planned(alert.id)
        planned = inserted
        alert.fanout_after = 0 if inserted >= slice_size else None
    elif centre is not None and going_on:
        db.session.execute(_insert_ignoring_duplicates(dialect).from_select(columns, source)
                           .on_conflict_do_nothing(index_elements=["alert_id", "registrant_id"]))
        planned = _planned(alert.id)
        inserted = planned - before
        alert.fanout_after = None
    elif centre is None and slice_size is not None and (going_on or before == 0):
        # The next slice, past every registrant already planned (so a plain INSERT: the alert's
        # row is locked by the job, no one else is adding deliveries to it).
        after = alert.fanout_after if going_on else None
        page = source.order_by(Registrant.id).limit(slice_size)
        if after is not None:
            page = page.where(Registrant.id > after)
        result = db.session.execute(sa.insert(Delivery).from_select(columns, page))
        count = getattr(result, "rowcount", -1)
        inserted = count if isinstance(count, int) and count >= 0 else _planned(alert.id) - before
        planned = before + inserted
        alert.fanout_after = (db.session.scalar(
            sa.select(sa.func.max(Delivery.registrant_id)).where(Delivery.alert_id == alert.id))
            if inserted >= slice_size else None)
    elif before == 0:
        # The first fan-out in one statement: a plain INSERT, about a quarter faster than the
        # speculative insertion of ON CONFLICT. Should someone have raced us, the unique constraint
        # still refuses the duplicate and the job tries again, then taking the path below.
        result = db.session.execute(sa.insert(Delivery).from_select(columns, source))
        count = getattr(result, "rowcount", -1)
        inserted = count if isinstance(count, int) and count >= 0 else _planned(alert.id)
        planned = inserted
        alert.fanout_after = None
    else:
        # Counted before and after: a driver's rowcount for INSERT … SELECT … ON CONFLICT is not
        # reliable everywhere (psycopg may answer -1).
        db.session.execute(_insert_ignoring_duplicates(dialect).from_select(columns, source)
                           .on_conflict_do_nothing(index_elements=["alert_id", "registrant_id"]))
        planned = _planned(alert.id)
        inserted = planned - before
        alert.fanout_after = None
    first = alert.fanned_out_at is None
    alert.planned_count = planned
    if first:
        alert.fanned_out_at = moment
    alert.state = AlertState.sending
    db.session.flush()
    if first:
        announce_alert("alert.sent", alert, planned=planned)
    if alert.fanout_after is None and (first or inserted or going_on):
        record("alert.fan_out", "alert", alert.id,
               {"identifier": alert.identifier,
                "deliveries": planned if going_on else inserted,  # a sliced one: all its slices
                "planned": planned},
               username="scheduler")
    return inserted


def _planned(alert_id: int) -> int:
    return db.session.scalar(
        sa.select(sa.func.count()).select_from(Delivery).where(Delivery.alert_id == alert_id)) or 0
