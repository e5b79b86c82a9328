"""Risk-point operations: the only code that reports, enters, accepts, declines, changes or closes risk
points (风险点), their measures (措施) and their links to the alerts and cases that arose from them.

A station volunteer reports a local risk from the station's page; it waits, as ``reported``, until
the centre accepts it into the register (``open``) or declines it with a reason. The centre enters
risks directly, sets measures with an owner and a due date, and closes a risk that has passed.
Checks first, then writes, flushes and an audit entry; the caller commits.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _

import i18n
from consular.activities.checks import ActivityConflict, ActivityInputError, Check, office_today
from consular.activities.models import (
    MeasureState,
    RiskKind,
    RiskLevel,
    RiskMeasure,
    RiskPoint,
    RiskState,
    risk_point_alert,
    risk_point_case,
)
from consular.activities.operations import ActivityRefused, apply_changes
from consular.activities.reach import alerts
from consular.audit.operations import record
from consular.auth.models import Role, User
from consular.auth.scoping import can_manage_risk_points, can_report_risk
from consular.cases.models import Case
from consular.db import db, utcnow
from consular.network.models import ServiceStation

RISK_FIELDS = ("title", "kind", "level", "description", "found_on", "country_codes", "station_ids")
MEASURE_FIELDS = ("action", "owner", "due_on", "state")
MAX = {"title": 200, "description": 5000, "action": 300, "owner": 120, "note": 500, "countries": 20}


def _refuse_unless(allowed: bool) -> None:
    if not allowed:
        raise ActivityRefused(_("You are not allowed to do this."))


def _countries(check: Check) -> None:
    """Country codes: a JSON list or text "IT, FR"; each one a known code."""
    if "country_codes" not in check.data:
        return
    raw = check.data["country_codes"]
    if raw is None:
        raw = ""
    if isinstance(raw, str):
        raw = [part.strip() for part in raw.replace("，", ",").split(",") if part.strip()]
    if not isinstance(raw, list | tuple) or len(raw) > MAX["countries"] or \
            not all(isinstance(code, str) for code in raw):
        check.fail("country_codes", _("Enter country codes such as IT, FR."))
        return
    codes: list[str] = []
    for code in raw:
        upper = code.strip().upper()
        if not i18n.is_country_code(upper):
            check.fail("country_codes", _("Not a country code. Use the two-letter ISO code, for "
                                          "example IT."))
            return
        if upper not in codes:
            codes.append(upper)
    check.out["country_codes"] = ",".join(codes)


def _check_risk(data: Mapping[str, Any], risk: RiskPoint | None) -> dict[str, Any]:
    check = Check(data, RISK_FIELDS)
    if risk is None:
        check.require("title", "kind", "level", "found_on")
    check.text("title", MAX["title"], required=True)
    check.enum("kind", RiskKind, required=risk is None or "kind" in data)
    check.enum("level", RiskLevel, required=risk is None or "level" in data)
    check.notes("description", MAX["description"])
    found_on = check.day("found_on", required=risk is None or "found_on" in data, past=True)
    if risk is not None and found_on is not None and \
            any(m.due_on < found_on for m in risk.measures):
        check.fail("found_on", _("A measure of this risk is due before that day."))
    _countries(check)
    station_ids = check.ids("station_ids")
    if station_ids is not None:
        check.out["stations"] = check.existing(
            "station_ids", ServiceStation, station_ids, active_only=True,
            inactive_text=_("A deactivated station cannot be named."))
        check.out.pop("station_ids", None)
    return check.done()


def report_risk(data: Mapping[str, Any], *, user: User) -> RiskPoint:
    """A station volunteer's report of a local risk (the centre accepts it into the register), or a
    risk the centre enters itself (in the register at once)."""
    _refuse_unless(can_report_risk(user))
    values = _check_risk(data, None)
    stations = values.pop("stations", [])
    station = db.session.get(ServiceStation, user.station_id) if user.station_id else None
    if user.role == Role.station_volunteer and station is not None:
        if station not in stations:
            stations.insert(0, station)
        if not values.get("country_codes"):
            values["country_codes"] = station.country_code
    centre = user.role == Role.coordinator
    risk = RiskPoint(**values, stations=stations,
                     state=RiskState.open if centre else RiskState.reported,
                     reported_by_id=user.id,
                     reported_by_station_id=station.id if station and not centre else None,
                     decided_by_id=user.id if centre else None,
                     decided_at=utcnow() if centre else None)
    db.session.add(risk)
    db.session.flush()
    record("risk_point.report" if not centre else "risk_point.create", "risk_point", risk.id,
           {"kind": risk.kind.value, "level": risk.level.value, "state": risk.state.value}, user=user)
    return risk


def update_risk(risk: RiskPoint, data: Mapping[str, Any], *, user: User) -> list[str]:
    """Change a risk point (the centre; a volunteer may correct its own report until it is decided)."""
    own_report = (user.role == Role.station_volunteer and risk.state == RiskState.reported
                  and risk.reported_by_station_id == user.station_id)
    _refuse_unless(can_manage_risk_points(user) or own_report)
    values = _check_risk(data, risk)
    changed = apply_changes(risk, values, collections=("stations",))
    if changed:
        db.session.flush()
        record("risk_point.update", "risk_point", risk.id, {"fields": changed}, user=user)
    return changed


def record_view(risk: RiskPoint, *, user: User, via: str = "page") -> None:
    record("risk_point.view", "risk_point", risk.id, {"via": via}, user=user)


def _note(raw: Any, *, required: bool) -> str:
    check = Check({"note": raw if raw is not None else ""}, ["note"])
    check.text("note", MAX["note"], required=required)
    return str(check.done().get("note", ""))


def _decide(risk: RiskPoint, user: User, note: Any, *, reason_required: bool, state: RiskState,
            action: str) -> None:
    """The centre's decision on a reported risk: ``state`` (open or declined), by whom, when, why."""
    _refuse_unless(can_manage_risk_points(user))
    text = _note(note, required=reason_required)
    if risk.state != RiskState.reported:
        raise ActivityConflict(_("Only a reported risk waits for a decision."))
    risk.state, risk.decided_by_id, risk.decided_at, risk.decision_note = \
        state, user.id, utcnow(), text
    db.session.flush()
    record(action, "risk_point", risk.id, {}, user=user)


def accept_risk(risk: RiskPoint, *, user: User, note: Any = "") -> None:
    """Take a reported risk into the register."""
    _decide(risk, user, note, reason_required=False, state=RiskState.open, action="risk_point.accept")


def decline_risk(risk: RiskPoint, *, user: User, note: Any) -> None:
    """Do not take a reported risk into the register; the reason is required (the station reads it)."""
    _decide(risk, user, note, reason_required=True, state=RiskState.declined,
            action="risk_point.decline")


def close_risk(risk: RiskPoint, *, user: User, note: Any = "") -> None:
    """The risk has passed (or its measures are done): it stays in the register, closed."""
    _refuse_unless(can_manage_risk_points(user))
    text = _note(note, required=False)
    if risk.state != RiskState.open:
        raise ActivityConflict(_("Only an open risk can be closed."))
    risk.state = RiskState.closed
    if text:
        risk.decision_note = text
    db.session.flush()
    record("risk_point.close", "risk_point", risk.id, {}, user=user)


# --- measures ---------------------------------------------------------------------------------


def _check_measure(data: Mapping[str, Any], risk: RiskPoint, measure: RiskMeasure | None) -> dict[str, Any]:
    check = Check(data, MEASURE_FIELDS)
    if measure is None:
        check.require("action", "owner", "due_on")
    check.text("action", MAX["action"], required=True)
    check.text("owner", MAX["owner"], required=True)
    check.day("due_on", required=measure is None or "due_on" in data, not_before=risk.found_on,
              not_before_text=_("A measure cannot be due before the risk was found."))
    check.enum("state", MeasureState, required=False)
    return check.done()


def add_measure(risk: RiskPoint, data: Mapping[str, Any], *, user: User) -> RiskMeasure:
    _refuse_unless(can_manage_risk_points(user))
    if risk.state not in (RiskState.open, RiskState.reported):
        raise ActivityConflict(_("Measures are set for a risk in the register."))
    values = _check_measure(data, risk, None)
    if values.get("state") is None:
        values["state"] = MeasureState.planned
    measure = RiskMeasure(risk_point_id=risk.id, **values)
    if measure.state == MeasureState.done:
        measure.done_on = max(office_today(), risk.found_on)
    db.session.add(measure)
    db.session.flush()
    record("risk_point.measure", "risk_point", risk.id,
           {"measure_id": measure.id, "state": measure.state.value}, user=user)
    return measure


def update_measure(measure: RiskMeasure, data: Mapping[str, Any], *, user: User) -> list[str]:
    """Change a measure; moving it to ``done`` dates it today."""
    _refuse_unless(can_manage_risk_points(user))
    values = _check_measure(data, measure.risk_point, measure)
    if values.get("state") is None:
        values.pop("state", None)
    changed = apply_changes(measure, values)
    if "state" in changed:
        measure.done_on = max(office_today(), measure.risk_point.found_on) \
            if measure.state == MeasureState.done else None
    if changed:
        db.session.flush()
        record("risk_point.measure_update", "risk_point", measure.risk_point_id,
               {"measure_id": measure.id, "fields": changed}, user=user)
    return changed


# --- what arose from a risk --------------------------------------------------------------------


def linked_alert_ids(risk: RiskPoint) -> list[int]:
    return list(db.session.scalars(sa.select(risk_point_alert.c.alert_id)
                                   .where(risk_point_alert.c.risk_point_id == risk.id)
                                   .order_by(risk_point_alert.c.alert_id)))


def linked_case_ids(risk: RiskPoint) -> list[int]:
    return list(db.session.scalars(sa.select(risk_point_case.c.case_id)
                                   .where(risk_point_case.c.risk_point_id == risk.id)
                                   .order_by(risk_point_case.c.case_id)))


def _add_link(risk: RiskPoint, table: sa.Table, key: str, linked_id: int, linked: list[int],
              user: User) -> None:
    """Link ``linked_id`` (an alert's, a case's) to the risk, once: linking again changes nothing."""
    if linked_id not in linked:
        db.session.execute(table.insert().values(risk_point_id=risk.id, **{key: linked_id}))
        record("risk_point.link", "risk_point", risk.id, {key: linked_id}, user=user)


def link(risk: RiskPoint, data: Mapping[str, Any], *, user: User) -> str:
    """Link an alert (by its id) or a case (by its reference, 2026-000123, or id) that arose from
    the risk; returns what was linked ("alert" or "case"). Linking again changes nothing."""
    _refuse_unless(can_manage_risk_points(user))
    check = Check(data, ("alert_id", "case_reference"))
    has_alert = data.get("alert_id") not in (None, "", 0, "0")
    has_case = data.get("case_reference") not in (None, "")
    if has_alert == has_case:
        check.fail("alert_id", _("Name one alert or one case."))
        check.done()
    if has_alert:
        check.identifier("alert_id")
        alert_id = check.out.get("alert_id")
        if alert_id is not None and alert_id not in alerts().describe([alert_id]):
            check.fail("alert_id", _("Choose an entry from the list."))
        check.done()
        assert alert_id is not None
        _add_link(risk, risk_point_alert, "alert_id", alert_id, linked_alert_ids(risk), user)
        return "alert"
    reference = check.text("case_reference", 20, required=True)
    case_id = None
    if reference:
        case_id = db.session.scalar(sa.select(Case.id).where(Case.reference == reference))
        if case_id is None and reference.isascii() and reference.isdigit() and len(reference) < 10:
            case_id = db.session.scalar(sa.select(Case.id).where(Case.id == int(reference)))
        if case_id is None:
            check.fail("case_reference", _("No case has this reference."))
    check.done()
    assert case_id is not None
    _add_link(risk, risk_point_case, "case_id", case_id, linked_case_ids(risk), user)
    return "case"


__all__ = ["ActivityConflict", "ActivityInputError", "RiskKind", "RiskLevel"]
