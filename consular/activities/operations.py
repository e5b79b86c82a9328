"""Activity operations: the only code that logs or changes patrols, trainings, talks, drills and joint
meetings, their patrol checklists, attachments and follow-up actions.

Each operation checks who may do it and all of its input before it touches a row, so a refusal
leaves nothing half-written; then it writes, flushes, marks the places that did the work as active
(``consular.network.operations.touch_activity``) and records an audit entry. The caller commits.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, time
from typing import IO, Any, TypeVar
from zoneinfo import ZoneInfo

from flask_babel import gettext as _

from config import current_settings
from consular import attachments as files
from consular.activities.checks import ActivityConflict, ActivityInputError, Check, office_today
from consular.activities.models import (
    TRAINING_AUDIENCES,
    Activity,
    ActivityAttachment,
    ActivityKind,
    Audience,
    FollowUp,
    PatrolCheck,
    PlaceKind,
    TalkSetting,
)
from consular.activities.reach import alerts
from consular.audit.operations import record
from consular.auth.models import Role, User
from consular.auth.scoping import activity_kinds_for, can_edit_activity
from consular.db import db, utcnow
from consular.network.models import Division, LiaisonPoint, ServiceStation
from consular.network.operations import touch_activity

__all__ = ["ActivityConflict", "ActivityInputError"]

ACTIVITY_FIELDS = ("kind", "title", "held_on", "place_kind", "division_id", "country_code", "city",
                   "station_id", "organiser", "audience", "setting", "head_count", "notes",
                   "point_ids", "station_ids", "alert_id")
CHECK_FIELDS = ("contacts_verified", "volunteers_active", "materials_on_hand", "problems")
FOLLOW_UP_FIELDS = ("action", "owner", "due_on")
MAX = {"title": 200, "city": 120, "organiser": 200, "action": 300, "owner": 120, "problems": 2000}
# Sign-in sheets, photos and slides (as PDF or images), and spreadsheets of who came.
ATTACHMENT_KINDS = {"jpeg", "png", "webp", "heic", "pdf", "docx", "xlsx", "txt"}


class ActivityRefused(PermissionError):
    """The user's role may not do this (the views answer 403)."""


def _ensure_editable(activity: Activity, user: User) -> None:
    if not can_edit_activity(user, activity) or not user.active:
        raise ActivityRefused(_("You are not allowed to do this."))


# --- the activity itself ------------------------------------------------------------------------


def _current(activity: Activity | None) -> dict[str, Any]:
    """What an activity holds now, as input (an edit checks the whole activity as it will be)."""
    if activity is None:
        return {}
    return {"kind": activity.kind.value, "title": activity.title, "held_on": activity.held_on,
            "place_kind": activity.place_kind.value, "division_id": activity.division_id,
            "country_code": activity.country_code or "", "city": activity.city,
            "station_id": activity.station_id, "organiser": activity.organiser,
            "audience": activity.audience.value,
            "setting": activity.setting.value if activity.setting else "",
            "head_count": activity.head_count, "notes": activity.notes or "",
            "point_ids": [p.id for p in activity.points],
            "station_ids": [s.id for s in activity.stations], "alert_id": activity.alert_id}


Place = TypeVar("Place", Division, ServiceStation)


def _active_place(check: Check, key: str, model: type[Place], missing: str, inactive: str) -> None:
    """``key`` is required and names an active ``model`` row: where the activity was held."""
    check.identifier(key)
    if check.data.get(key) in (None, ""):
        check.fail(key, missing)
    elif key in check.out:
        place = db.session.get(model, check.out[key])
        if place is None:
            check.fail(key, _("Choose an entry from the list."))
        elif not place.active:
            check.fail(key, inactive)


def _check_place(check: Check, place: PlaceKind | None, kind: ActivityKind | None) -> None:
    for key in ("division_id", "station_id"):
        if check.data.get(key) in (0, "0"):
            check.data[key] = None
    if place == PlaceKind.home:
        _active_place(check, "division_id", Division, _("Choose the division where it was held."),
                      _("This division is deactivated."))
    elif place == PlaceKind.abroad:
        check.country("country_code")
        check.text("city", MAX["city"], required=True)
    elif place == PlaceKind.station:
        _active_place(check, "station_id", ServiceStation, _("Choose the station."),
                      _("This station is deactivated: an inactive station cannot be patrolled or "
                        "host an activity."))
    if kind == ActivityKind.patrol and place is not None and place != PlaceKind.station:
        check.fail("place_kind", _("A patrol is a visit to an overseas station: choose the station."))
    if place != PlaceKind.abroad:
        check.text("city", MAX["city"])  # not kept, but never text the rule refuses
    # Only the chosen kind of place is kept (a form sends every field).
    keep = {PlaceKind.home: ("division_id",), PlaceKind.abroad: ("country_code", "city"),
            PlaceKind.station: ("station_id",)}.get(place, ()) if place else ()
    for key in ("division_id", "country_code", "city", "station_id"):
        if key not in keep:
            check.out[key] = "" if key == "city" else None


def _check_activity(data: Mapping[str, Any], user: User, activity: Activity | None) -> dict[str, Any]:
    merged = {**_current(activity), **data}
    check = Check(merged, ACTIVITY_FIELDS)
    allowed = activity_kinds_for(user)
    kind = check.enum("kind", ActivityKind, required=True)
    if kind is not None and kind not in allowed:
        check.out.pop("kind", None)
        check.fail("kind", _("You cannot log this kind of activity.") if allowed
                   else _("You are not allowed to do this."))
    if activity is not None and kind is not None and kind != activity.kind:
        check.fail("kind", _("The kind of an activity cannot change; log a new one instead."))
    check.text("title", MAX["title"], required=True)
    check.day("held_on", required=True, past=True)
    place = check.enum("place_kind", PlaceKind, required=True)
    _check_place(check, place, kind)
    check.text("organiser", MAX["organiser"])
    audiences = TRAINING_AUDIENCES if kind == ActivityKind.training else tuple(Audience)
    check.enum("audience", Audience, audiences, required=True)
    if kind == ActivityKind.talk:
        check.enum("setting", TalkSetting, required=True)
    else:
        check.out["setting"] = None  # only a talk has one (a form sends the field for every kind)
    check.count("head_count", required=True)
    check.notes("notes")
    point_ids = check.ids("point_ids") or []
    station_ids = check.ids("station_ids") or []
    check.out["points"] = check.existing(
        "point_ids", LiaisonPoint, point_ids, active_only=activity is None,
        inactive_text=_("A deactivated liaison point cannot take part."))
    check.out["stations"] = check.existing(
        "station_ids", ServiceStation, station_ids, active_only=activity is None,
        inactive_text=_("A deactivated station cannot take part."))
    check.out.pop("point_ids", None)
    check.out.pop("station_ids", None)
    _check_alert(check, kind, merged.get("alert_id"))
    values = check.done()
    if "notes" in values and not values["notes"]:
        values["notes"] = None  # no notes are none, whether sent empty or not at all
    return values


def _check_alert(check: Check, kind: ActivityKind | None, raw: Any) -> None:
    if raw in (None, "", 0, "0"):
        check.out["alert_id"] = None
        return
    if kind != ActivityKind.drill:
        check.fail("alert_id", _("Only a drill names the exercise alert it sent."))
        return
    check.identifier("alert_id")
    alert_id = check.out.get("alert_id")
    if alert_id is None:
        return
    info = alerts().describe([alert_id]).get(alert_id)
    if info is None:
        check.fail("alert_id", _("Choose an entry from the list."))
    elif not info.exercise:
        check.fail("alert_id", _("A drill uses an Exercise alert, not a real one."))


def _place_activity(values: dict[str, Any], user: User) -> None:
    """An officer's activity is their point's (and their point took part); a volunteer's is their
    station's."""
    if user.role == Role.liaison_officer and user.liaison_point_id is not None:
        own = db.session.get(LiaisonPoint, user.liaison_point_id)
        if own is not None and own not in values["points"]:
            values["points"].append(own)
    if values.get("kind") == ActivityKind.patrol and values.get("station_id"):
        visited = db.session.get(ServiceStation, values["station_id"])
        if visited is not None and visited not in values["stations"]:
            values["stations"].insert(0, visited)


def _held_moment(day: date) -> datetime:
    """Noon of ``day`` in the office's zone, never later than now (the places' activity mark)."""
    zone = ZoneInfo(current_settings().office_timezone)
    return min(datetime.combine(day, time(12), tzinfo=zone), utcnow())


def _mark_places_active(activity: Activity) -> None:
    """A patrol marks the stations it visited active; any activity marks the point or station that
    logged it, its host station and the points that took part."""
    at = _held_moment(activity.held_on)
    stations = {s.id for s in activity.stations} if activity.kind == ActivityKind.patrol else set()
    if activity.station_id is not None:
        stations.add(activity.station_id)
    if activity.owner_station_id is not None:
        stations.add(activity.owner_station_id)
    points = {p.id for p in activity.points}
    if activity.owner_point_id is not None:
        points.add(activity.owner_point_id)
    for station_id in sorted(stations):
        touch_activity(station_id=station_id, at=at)
    for point_id in sorted(points):
        touch_activity(point_id=point_id, at=at)


def log_activity(data: Mapping[str, Any], *, user: User) -> Activity:
    """Log an activity that was held. A patrol's form may carry the checklist of the station it
    visited (``CHECK_FIELDS``)."""
    if not activity_kinds_for(user):
        raise ActivityRefused(_("You are not allowed to do this."))
    activity_data = {k: v for k, v in data.items() if k not in CHECK_FIELDS}
    check_data = {k: v for k, v in data.items() if k in CHECK_FIELDS}
    try:
        values = _check_activity(activity_data, user, None)
        errors: dict[str, str] = {}
    except ActivityInputError as exc:
        values, errors = {}, exc.errors
    checklist: dict[str, Any] = {}
    if check_data:  # checked whatever the kind (a form sends the fields); kept for a patrol
        try:
            checklist = _check_list(check_data)
        except ActivityInputError as exc:
            errors.update(exc.errors)
        if data.get("kind") != ActivityKind.patrol.value:
            checklist = {}
    if errors:
        raise ActivityInputError(errors)
    _place_activity(values, user)
    if not values.get("organiser"):
        values["organiser"] = _default_organiser(user)
    activity = Activity(**values, created_by_id=user.id,
                        owner_point_id=user.liaison_point_id if user.role == Role.liaison_officer
                        else None,
                        owner_station_id=user.station_id if user.role == Role.station_volunteer
                        else None)
    db.session.add(activity)
    db.session.flush()
    if checklist and activity.station_id is not None:
        db.session.add(PatrolCheck(activity_id=activity.id, station_id=activity.station_id, **checklist))
    _mark_places_active(activity)
    record("activity.create", "activity", activity.id,
           {"kind": activity.kind.value, "head_count": activity.head_count,
            "points": len(activity.points), "stations": len(activity.stations)}, user=user)
    db.session.flush()
    return activity


def _default_organiser(user: User) -> str:
    if user.role == Role.liaison_officer and user.liaison_point is not None:
        return user.liaison_point.name
    if user.role == Role.station_volunteer and user.station is not None:
        return user.station.name
    from consular.network.operations import the_centre

    centre = the_centre()
    return centre.name if centre is not None else ""


def apply_changes(target: Any, values: Mapping[str, Any], *, collections: tuple[str, ...] = ()) -> list[str]:
    """Set ``values`` on ``target``: the names of the fields that changed, sorted. A collection
    (``collections``: lists of places) changes when its members do, whatever their order."""
    changed = []
    for key, value in values.items():
        if key in collections:
            if {r.id for r in getattr(target, key)} != {r.id for r in value}:
                setattr(target, key, value)
                changed.append(key)
        elif getattr(target, key) != value:
            setattr(target, key, value)
            changed.append(key)
    return sorted(changed)


def update_activity(activity: Activity, data: Mapping[str, Any], *, user: User) -> list[str]:
    """Change an activity's details; returns the fields that changed."""
    _ensure_editable(activity, user)
    values = _check_activity(data, user, activity)
    _place_activity(values, user)
    changed = apply_changes(activity, values, collections=("points", "stations"))
    if changed:
        db.session.flush()
        _mark_places_active(activity)
        record("activity.update", "activity", activity.id, {"fields": changed}, user=user)
    return changed


def record_view(activity: Activity, *, user: User, via: str = "page") -> None:
    record("activity.view", "activity", activity.id, {"kind": activity.kind.value, "via": via},
           user=user)


# --- a patrol's checklists ------------------------------------------------------------------------


def _check_list(data: Mapping[str, Any]) -> dict[str, Any]:
    check = Check(data, CHECK_FIELDS)
    for key in ("contacts_verified", "volunteers_active", "materials_on_hand"):
        check.yes_no(key)
        check.out.setdefault(key, False)
    check.notes("problems", MAX["problems"])
    return check.done()


def record_check(activity: Activity, station_id: Any, data: Mapping[str, Any], *,
                 user: User) -> PatrolCheck:
    """The checklist of one station a patrol visited (again: it replaces the earlier answers). A
    station not yet among the patrol's is added to it (it must be active)."""
    _ensure_editable(activity, user)
    errors: dict[str, str] = {}
    station_check = Check({"station_id": station_id}, ["station_id"])
    station_check.identifier("station_id")
    station = None
    if "station_id" in station_check.out:
        station = db.session.get(ServiceStation, station_check.out["station_id"])
        if station is None:
            errors["station_id"] = _("Choose an entry from the list.")
        elif station not in activity.stations and not station.active:
            errors["station_id"] = _("This station is deactivated: an inactive station cannot be "
                                     "patrolled or host an activity.")
    else:
        errors.update(station_check.errors or {"station_id": _("Choose the station.")})
    try:
        values = _check_list(data)
    except ActivityInputError as exc:
        errors.update(exc.errors)
        values = {}
    if errors or station is None:
        raise ActivityInputError(errors)
    # The input first (every problem at once), then whether this activity has checklists at all.
    if activity.kind != ActivityKind.patrol:
        raise ActivityConflict(_("Only a patrol has station checklists."))
    if station not in activity.stations:
        activity.stations.append(station)
    found = next((c for c in activity.checks if c.station_id == station.id), None)
    if found is None:
        found = PatrolCheck(activity_id=activity.id, station_id=station.id)
        db.session.add(found)
    for key, value in values.items():
        setattr(found, key, value)
    found.checked_at = utcnow()
    db.session.flush()
    touch_activity(station_id=station.id, at=_held_moment(activity.held_on))
    record("activity.patrol_check", "activity", activity.id,
           {"station_id": station.id, **{k: values[k] for k in CHECK_FIELDS if k != "problems"}},
           user=user)
    return found


# --- attachments ----------------------------------------------------------------------------------


def add_attachment(activity: Activity, filename: str, stream: IO[bytes], *,
                   user: User) -> ActivityAttachment:
    """Keep a sign-in sheet, photo or slides for ``activity`` (checked by content, sealed at rest).
    A refusal raises :class:`ActivityInputError` on ``file``."""
    _ensure_editable(activity, user)
    try:
        stored = files.receive_file(filename, stream, allowed=ATTACHMENT_KINDS)
    except files.FileRefused as exc:
        raise ActivityInputError({"file": str(exc)}) from None
    att = ActivityAttachment(activity_id=activity.id, **stored.columns(), uploaded_by_id=user.id)
    db.session.add(att)
    db.session.flush()
    record("activity.attachment", "activity", activity.id,
           {"attachment_id": att.id, "content_type": att.content_type, "size": att.size}, user=user)
    return att


def record_download(att: ActivityAttachment, *, user: User) -> None:
    record("activity.attachment.download", "activity", att.activity_id,
           {"attachment_id": att.id}, user=user)


# --- follow-up actions ---------------------------------------------------------------------------


def add_follow_up(activity: Activity, data: Mapping[str, Any], *, user: User) -> FollowUp:
    """An action the activity left to do: what, who, by when (not before the activity was held)."""
    _ensure_editable(activity, user)
    check = Check(data, FOLLOW_UP_FIELDS)
    check.require("action", "owner", "due_on")
    check.text("action", MAX["action"], required=True)
    check.text("owner", MAX["owner"], required=True)
    check.day("due_on", required=True, not_before=activity.held_on,
              not_before_text=_("The action cannot be due before the activity was held."))
    values = check.done()
    follow_up = FollowUp(activity_id=activity.id, **values)
    db.session.add(follow_up)
    db.session.flush()
    record("activity.follow_up", "activity", activity.id, {"follow_up_id": follow_up.id}, user=user)
    return follow_up


def complete_follow_up(follow_up: FollowUp, *, user: User) -> bool:
    """Mark an action done (today); False when it already was."""
    _ensure_editable(follow_up.activity, user)
    if follow_up.done_on is not None:
        return False
    follow_up.done_on = max(office_today(), follow_up.activity.held_on)
    db.session.flush()
    record("activity.follow_up_done", "activity", follow_up.activity_id,
           {"follow_up_id": follow_up.id}, user=user)
    return True
