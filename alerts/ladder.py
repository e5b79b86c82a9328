"""The ladder for the silent of a safety check (逐级联络): someone who has not answered on any channel
(an SMS or WhatsApp reply, a key pressed on a call, a call of the call round that reached them) is
reminded, then called, then their next of kin is texted, then a station is asked to visit them.

- **reminder**: the safety check's one re-send, after the alert's call-round time
  (``Alert.call_round_minutes``; ``alerts.jobs.safety_check_followups`` sends it and records the
  rung; an alert that does not re-send records the rung as skipped).
- **call**: ``ladder_call_minutes`` after the reminder, a voice call with the same question
  (the delivery goes back to the dispatcher on the voice channel, as the re-send does on its own);
  skipped without consent to calls, or once the alert has expired.
- **kin**: ``ladder_kin_minutes`` after the call, an SMS to the next of kin the person gave when
  they enrolled (``SelfEnrolment``: the one record of next of kin), in the kin's own language when
  they gave one, else the person's (the alert's base language when neither has an SMS catalog);
  the dispatcher sends it from the step's row (``alerts.dispatch.kin``). Skipped without next of
  kin.
- **visit**: ``ladder_visit_minutes`` after the next-of-kin rung, a welfare-visit case for the
  person's own station, else the nearest active station within LADDER_VISIT_RADIUS_KM; with none
  in reach the case waits unassigned in triage.

Each rung is a ``LadderStep`` row, unique per (delivery, rung), inserted in the same transaction
that schedules the rung's message or call or makes its case: two workers, or a worker killed and
started again, never give anyone a rung twice. A rung whose minutes are 0 is recorded as skipped
("off") and the ladder goes on. ``climb_ladders`` is the worker's job.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from alerts.channels.sms import texts
from alerts.dispatch.claim import OPEN_STATES
from alerts.models import (
    LADDER_RUNGS,
    Alert,
    AlertState,
    CallOutcome,
    Delivery,
    DeliveryState,
    LadderRung,
    LadderStep,
    LadderStepState,
    ladder_minutes,
)
from config import current_settings
from consular.db import begin_write, commit_step, db, dialect, unit_of_work, utcnow
from consular.registry.models import Registrant

log = logging.getLogger("alerts.ladder")

FOLLOWUP_WINDOW = timedelta(days=14)  # as the follow-up job: older safety checks are left alone
BATCH = 500  # deliveries a rung takes per transaction (the next transaction goes on)
REACHED = (CallOutcome.reached_safe, CallOutcome.reached_needs_help)
# The rung each rung follows, and the column of its minutes on the alert.
_AFTER = {LadderRung.call: LadderRung.reminder, LadderRung.kin: LadderRung.call,
          LadderRung.visit: LadderRung.kin}
_MINUTES = {LadderRung.call: Alert.ladder_call_minutes, LadderRung.kin: Alert.ladder_kin_minutes,
            LadderRung.visit: Alert.ladder_visit_minutes}
TAKEN_STATES = (LadderStepState.taken, LadderStepState.pending, LadderStepState.claimed,
                LadderStepState.sent, LadderStepState.failed)


def silent() -> sa.ColumnElement[bool]:
    """No answer on any channel: no reply by SMS, WhatsApp or a key on a call, and no call of the
    call round that reached the person."""
    return sa.and_(Delivery.reply_kind.is_(None),
                   sa.or_(Delivery.call_outcome.is_(None), Delivery.call_outcome.not_in(REACHED)))


def insert_step(delivery_id: int, alert_id: int, rung: LadderRung, state: LadderStepState, now: datetime,
                **values: Any) -> int | None:
    """The rung's row, unless the delivery has it already: its id, or None (someone else took it).
    The unique (delivery, rung) decides, whatever the isolation level."""
    row = {"delivery_id": delivery_id, "alert_id": alert_id, "rung": rung, "state": state,
           "taken_at": now, "attempts": 0, **values}
    table: Any = LadderStep.__table__
    statement: Any
    if dialect() == "postgresql":
        statement = postgresql.insert(table).values(**row).on_conflict_do_nothing()
    else:
        statement = sqlite.insert(table).values(**row).on_conflict_do_nothing()
    inserted = db.session.execute(statement.returning(table.c.id)).scalar_one_or_none()
    if inserted is not None:
        db.session.execute(sa.update(Delivery).where(Delivery.id == delivery_id)
                           .values(ladder_rung=rung.value).execution_options(synchronize_session=False))
    return inserted


def record_reminders(alert_id: int, delivery_ids: list[int], now: datetime, *, resent: bool) -> int:
    """The reminder rung of these deliveries: taken (the re-send is scheduled in the same
    transaction) or skipped (the alert does not re-send, or has expired). Flushes."""
    state = LadderStepState.taken if resent else LadderStepState.skipped
    reason = None if resent else "no_resend"
    return sum(insert_step(d, alert_id, LadderRung.reminder, state, now, skip_reason=reason) is not None
               for d in delivery_ids)


@dataclass
class ClimbCounts:
    taken: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)


def _locked(query: Any) -> Any:
    if dialect() == "postgresql":
        return query.with_for_update(of=Delivery, skip_locked=True)
    return query


def _due(alert_id: int, rung: LadderRung, cutoff: datetime) -> Any:
    """Deliveries of the alert still silent whose previous rung was climbed before ``cutoff`` and
    that do not have this rung; nothing of theirs in flight (a message or call being sent)."""
    before = sa.orm.aliased(LadderStep)
    mine = sa.orm.aliased(LadderStep)
    query = (sa.select(Delivery.id, Delivery.registrant_id)
             .join(before, sa.and_(before.delivery_id == Delivery.id, before.rung == _AFTER[rung]))
             .where(Delivery.alert_id == alert_id, silent(), Delivery.state.not_in(OPEN_STATES),
                    before.taken_at <= cutoff,
                    before.state.not_in((LadderStepState.pending, LadderStepState.claimed)),
                    ~sa.exists().where(mine.delivery_id == Delivery.id, mine.rung == rung))
             .order_by(Delivery.id).limit(BATCH))
    return _locked(query)


@unit_of_work()
def climb_ladders(now: datetime | None = None) -> ClimbCounts:
    """Climb the next rung for everyone of a safety check still silent when its time has come
    (the worker's job; safe to run twice, or in two workers at once). Each rung of each alert is
    taken in transactions of ``BATCH`` deliveries."""
    now = now or utcnow()
    counts = ClimbCounts()
    commit_step()
    alerts = db.session.execute(
        sa.select(Alert.id, Alert.identifier, Alert.state, Alert.expires_at, Alert.base_language,
                  *_MINUTES.values())
        .where(Alert.safety_check.is_(True), Alert.state.in_((AlertState.sending, AlertState.sent)),
               Alert.fanned_out_at >= now - FOLLOWUP_WINDOW)).all()
    for alert in alerts:
        for rung in (LadderRung.call, LadderRung.kin, LadderRung.visit):
            minutes = ladder_minutes(getattr(alert, f"ladder_{rung.value}_minutes"), rung.value)
            while True:
                begin_write()
                rows = db.session.execute(_due(alert.id, rung, now - timedelta(minutes=minutes))).all()
                if not rows:
                    commit_step()
                    break
                for delivery_id, registrant_id in rows:
                    outcome = _climb(alert, rung, minutes, delivery_id, registrant_id, now)
                    if outcome is not None:
                        (counts.taken if outcome == "taken" else counts.skipped)[rung.value] += 1
                commit_step()
                if len(rows) < BATCH:
                    break
        taken = sum(counts.taken.values())
        if taken or sum(counts.skipped.values()):
            log.info("ladder of safety check %s: taken %s, skipped %s", alert.id, dict(counts.taken),
                     dict(counts.skipped))
    return counts


def _climb(alert: Any, rung: LadderRung, minutes: int, delivery_id: int, registrant_id: int,
           now: datetime) -> str | None:
    """Take (or skip) one rung for one delivery; None when another worker took it meanwhile."""
    if minutes == 0:
        return _skip(alert.id, delivery_id, rung, "off", now)
    person = db.session.get(Registrant, registrant_id)
    if person is None or person.ended_at is not None:
        return _skip(alert.id, delivery_id, rung, "ended", now)
    if rung == LadderRung.call:
        if person.voice_consent_at is None:
            return _skip(alert.id, delivery_id, rung, "no_voice_consent", now)
        if alert.expires_at <= now:
            return _skip(alert.id, delivery_id, rung, "expired", now)
        if insert_step(delivery_id, alert.id, rung, LadderStepState.taken, now) is None:
            return None
        # The call goes through the dispatcher, as the re-send does: the delivery is due again,
        # on the voice channel, its previous message kept for late status callbacks.
        db.session.execute(
            sa.update(Delivery).where(Delivery.id == delivery_id)
            .values(state=DeliveryState.pending, due_at=now, channel="voice",
                    previous_provider_id=Delivery.provider_id, provider_id=None, provider_status=None,
                    error_code=None, final_at=None, claimed_by=None, lease_until=None,
                    reconcile_from=None, skip_reason=None)
            .execution_options(synchronize_session=False))
        # The alert is being sent again until the call is placed (whatever state it was read in).
        db.session.execute(
            sa.update(Alert).where(Alert.id == alert.id, Alert.state == AlertState.sent)
            .values(state=AlertState.sending, finished_at=None, version=Alert.version + 1)
            .execution_options(synchronize_session=False))
        return "taken"
    if rung == LadderRung.kin:
        kin_phone, kin_language = next_of_kin(registrant_id)
        if not kin_phone:
            return _skip(alert.id, delivery_id, rung, "no_next_of_kin", now)
        locale = (texts.normalise_sms_locale(kin_language) or texts.normalise_sms_locale(person.language)
                  or alert.base_language)
        taken = insert_step(delivery_id, alert.id, rung, LadderStepState.pending, now, phone=kin_phone,
                            locale=locale)
        return "taken" if taken is not None else None
    # The welfare visit: the case is made in the transaction that takes the rung, so once.
    step_id = insert_step(delivery_id, alert.id, rung, LadderStepState.taken, now)
    if step_id is None:
        return None
    from consular.cases.operations.intake import open_welfare_visit

    event = db.session.scalar(sa.select(Alert.event).where(Alert.id == alert.id)) or ""
    case = open_welfare_visit(registrant_id=person.id, name=person.name, phone=person.phone,
                              country_code=person.country_code, city=person.city, alert_id=alert.id,
                              alert_event=event, station_id=nearest_station(person))
    db.session.execute(sa.update(LadderStep).where(LadderStep.id == step_id).values(case_id=case.id)
                       .execution_options(synchronize_session=False))
    return "taken"


def _skip(alert_id: int, delivery_id: int, rung: LadderRung, reason: str, now: datetime) -> str | None:
    inserted = insert_step(delivery_id, alert_id, rung, LadderStepState.skipped, now, skip_reason=reason)
    return "skipped" if inserted is not None else None


def next_of_kin(registrant_id: int) -> tuple[str | None, str | None]:
    """The next of kin's number and language the person gave when they enrolled (the register's
    one record of next of kin): (None, None) without one; the language None when not given."""
    from alerts.enrolment.models import SelfEnrolment

    row = db.session.execute(sa.select(SelfEnrolment.next_of_kin_phone, SelfEnrolment.next_of_kin_language)
                             .where(SelfEnrolment.registrant_id == registrant_id)).first()
    if row is None or not row.next_of_kin_phone:
        return None, None
    return row.next_of_kin_phone, row.next_of_kin_language or None


def nearest_station(person: Registrant) -> int | None:
    """The station for a welfare visit: the person's own when active, else the nearest active
    station (its city's place in the city index) within LADDER_VISIT_RADIUS_KM of where the person
    is, else one in the person's own city; None when no station is in reach."""
    from consular.network.models import ServiceStation
    from consular.places import cities

    if person.station_id is not None:
        own = db.session.get(ServiceStation, person.station_id)
        if own is not None and own.active:
            return own.id
    stations = list(db.session.scalars(sa.select(ServiceStation).where(ServiceStation.active.is_(True))
                                       .order_by(ServiceStation.id)))
    if person.latitude is not None and person.longitude is not None:
        reach = current_settings().ladder_visit_radius_km
        best: tuple[float, int] | None = None
        for station in stations:
            found = cities.find(station.city, station.country_code)
            if not found:
                continue
            km = cities.distance_km(person.latitude, person.longitude, found[0].latitude, found[0].longitude)
            if km <= reach and (best is None or km < best[0]):
                best = (km, station.id)
        if best is not None:
            return best[1]
    same_city = [s for s in stations if person.city and s.country_code == person.country_code
                 and s.city.casefold() == person.city.casefold()]
    return same_city[0].id if same_city else None


# --- what the pages show ------------------------------------------------------------------------


def rung_counts(alert_id: int) -> dict[str, dict[str, int]]:
    """Per rung (in order): how many people it was taken for, and skipped for (with the reasons);
    for the next-of-kin SMS, how many were sent and failed."""
    rows = db.session.execute(
        sa.select(LadderStep.rung, LadderStep.state, LadderStep.skip_reason, sa.func.count())
        .where(LadderStep.alert_id == alert_id)
        .group_by(LadderStep.rung, LadderStep.state, LadderStep.skip_reason)).all()
    counts: dict[str, dict[str, int]] = {rung.value: {"taken": 0, "skipped": 0, "sent": 0, "failed": 0}
                                         for rung in LADDER_RUNGS}
    for rung, state, reason, n in rows:
        entry = counts[LadderRung(rung).value]
        if state == LadderStepState.skipped:
            entry["skipped"] += n
            entry[f"skipped:{reason or ''}"] = entry.get(f"skipped:{reason or ''}", 0) + n
        else:
            entry["taken"] += n
            if state == LadderStepState.sent:
                entry["sent"] += n
            elif state == LadderStepState.failed:
                entry["failed"] += n
    return counts


def rungs_of(delivery_ids: list[int]) -> dict[int, str]:
    """The rung each delivery has reached (those that reached one)."""
    if not delivery_ids:
        return {}
    return {row[0]: str(row[1]) for row in db.session.execute(
        sa.select(Delivery.id, Delivery.ladder_rung)
        .where(Delivery.id.in_(delivery_ids), Delivery.ladder_rung.is_not(None)))}
