"""Demo cases: about sixty cases over the last eighteen months, in every state, so the triage
queue, the case pages, the station inboxes and the yearly report look like a real office's.

The spread follows what a Wenzhou-style office sees: most cases in Italy, France and Spain; lost
passports, unpaid wages and business quarrels, fraud and theft first, then illness, detention,
missing relatives, a few deaths, and one flood in Prato that groups five cases under an incident.
Names are common Wenzhou names with their passport spelling; phone numbers are made up (valid
in form for their country, assigned to nobody); ID numbers are invented.

Every case is built through the domain operations (``consular.cases.operations``), by the demo
user who would really act — the liaison officer who logged it, the coordinator who triaged it,
the station volunteer who worked it — so the timelines, hand-offs, referrals and notifications
are consistent with what the pages would have made. The operations stamp everything with the
present moment; after each step this module moves the moments it just wrote (the timeline entry,
the case's step times, the hand-off's times, the notifications) back to when the story says it
happened. Each case is logged under a reference of the year it was reported in (reserved from
that year's sequence just before), in the order of report, so the notices and audit entries its
story writes name the reference it keeps. The audit
trail is append-only and keeps the moment the demo was loaded: it tells the truth about who
loaded what, when. Notifications of the past are marked as read and none is texted.

The story itself (who, where, when, what happens, the words written) is
``consular.cases.demo_story``'s; this module tells it.

Loading is idempotent: nothing happens when the register already holds a case, or when the demo
network (its users) is missing.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from config import current_settings
from consular.auth.models import User
from consular.cases import deadlines
from consular.cases import operations as ops
from consular.cases.demo_story import (
    C1,
    C2,
    CLOSE_NOTE,
    DECLINE_REASON,
    FALLBACK_STATION,
    FAMILY,
    FLOOD,
    HOME_DIVISION,
    INSTRUCTIONS,
    MEN,
    MISSION_CITY,
    MISSION_NOTE,
    OFFICER_NOTE,
    PROGRESS,
    RELATIVES,
    REOPEN_REASON,
    RESOLUTION,
    SAME_SURNAME,
    SEED,
    SPECS,
    STATION_FOR,
    TRIAGE_NOTE,
    WOMEN,
    ZONES,
    D,
    O,
    P,
    Spec,
    _Numbers,
    passport_spelling,
)
from consular.cases.models import (
    AssignmentStatus,
    Case,
    CaseKind,
    Incident,
    Notification,
    SmsState,
    TimelineEntry,
)
from consular.db import db, unit_of_work, utcnow
from consular.network.models import Division, Mission, ServiceStation

# --- building the stories -------------------------------------------------------------------------


@dataclass
class _Step:
    hours: float  # after the report
    run: Callable[[Case], Any]
    actor: str  # who acted (for the first response of the centre)


class _Loader:
    def __init__(self, now: datetime, rng: random.Random) -> None:
        self.now = now
        self.rng = rng
        self.numbers = _Numbers(rng)
        self.users = {u.username: u for u in db.session.scalars(sa.select(User))}
        self.stations: dict[str, ServiceStation] = {
            name.removeprefix("station-"): u.station for name, u in self.users.items()
            if name.startswith("station-") and u.station is not None}
        self.missions = list(db.session.scalars(sa.select(Mission).where(Mission.active)
                                                .order_by(Mission.id)))
        self.flood: Incident | None = None
        self.men = list(MEN)
        self.women = list(WOMEN)
        rng.shuffle(self.men)
        rng.shuffle(self.women)

    def user(self, username: str) -> User:
        return self.users[username]

    def mission_for(self, country: str | None, city: str) -> Mission | None:
        found = [m for m in self.missions if m.country_code == country]
        preferred = [m for m in found if m.city == MISSION_CITY.get(city, city)]
        return (preferred or found)[0] if found else None

    # people ---------------------------------------------------------------------------------

    def persons(self, spec: Spec) -> list[dict[str, Any]]:
        names = self.women if spec.female else self.men
        name = names.pop() if names else ("王晓红" if spec.female else "陈建国")
        relative = next((RELATIVES[w] for w in RELATIVES if w in spec.summary), None)
        first, last = relative[2] if relative else (1965, 2002)
        born = datetime(first, 1, 1) + timedelta(days=self.rng.randint(0, 365 * (last - first) + 300))
        involved: dict[str, Any] = {
            "role": "involved", "name_zh": name, "name_latin": passport_spelling(name),
            "gender": "female" if spec.female else "male", "birth_date": born.date().isoformat()}
        if spec.kind == CaseKind.domestic:
            return [{"role": "involved", "name_latin": "ROSSI GIULIA", "gender": "female",
                     "nationality": "IT", "id_kind": "foreign_passport", "id_number": "YA1234567",
                     "phone": self.numbers.phone("IT")}]
        if spec.category not in (D.missing, D.dead):
            involved["phone"] = self.numbers.phone(spec.country or "CN")
        if spec.category in (D.lost_documents, D.detained, D.dead, D.ill, D.stranded) or \
                self.rng.random() < 0.4:
            involved["id_kind"] = "passport"
            involved["id_number"] = self.numbers.passport()
        relationship, female = relative[:2] if relative else self.rng.choice(FAMILY)
        family_names = WOMEN if female else MEN
        family_name = name[0] + self.rng.choice(family_names)[1:] if relationship in SAME_SURNAME \
            else self.rng.choice(family_names)
        family = {"role": "family", "name_zh": family_name, "relationship": relationship,
                  "phone": self.numbers.phone("CN")}
        return [involved, family]

    # one case -------------------------------------------------------------------------------

    def steps(self, spec: Spec, station_key: str | None) -> list[_Step]:
        r = self.rng
        if spec.declined_by and spec.declined_by == station_key:
            station_key = FALLBACK_STATION.get(station_key, station_key)
        pace = spec.pace
        triager = C2 if r.random() < 0.3 else C1
        urgency = {P.P1: 0.4, P.P2: 1.5, P.P3: 4, P.P4: 10}[spec.priority]
        t = urgency * r.uniform(0.5, 1.6)
        out: list[_Step] = []
        if spec.ends == "new":
            return out

        def add(hours: float, actor: str, run: Callable[[Case], Any]) -> None:
            out.append(_Step(hours, run, actor))

        def v(case: Case) -> int:
            return case.version

        def hand_to(hours: float, actor: str, station: ServiceStation) -> None:
            add(hours, actor, lambda c: ops.assign(c, user=self.user(actor), station_id=station.id,
                                                   coordinator_id=None,
                                                   instructions=INSTRUCTIONS[spec.category],
                                                   expected_version=v(c)))

        def accepted(hours: float, actor: str) -> None:
            add(hours, actor, lambda c: ops.accept_assignment(c, user=self.user(actor),
                                                              expected_version=v(c)))

        add(t, triager, lambda c: ops.triage(
            c, user=self.user(triager), priority=spec.priority,
            note=TRIAGE_NOTE if r.random() < 0.4 else None, expected_version=v(c)))
        if spec.incident:
            t += 0.2
            add(t, triager, lambda c: ops.link_incident(c, self._flood(), user=self.user(triager),
                                                        expected_version=v(c)))
        mission = self.mission_for(spec.country, spec.city) if spec.mission else None
        if mission is not None:
            t += 0.3
            add(t, triager, lambda c: ops.refer(c, user=self.user(triager), target="mission",
                                                mission_id=mission.id, note=MISSION_NOTE))
            t += r.uniform(3, 10)
            add(t, triager, lambda c: ops.update_referral(
                c.referrals[-1], user=self.user(triager), status="acknowledged",
                external_reference=f"LB-{r.randint(1000, 9999)}"))
        if spec.ends == "triaged":
            return out

        worker = f"station-{station_key}" if station_key and not spec.centre_only else None
        if worker is None:  # the centre handles it itself
            t += r.uniform(0.5, 2)
            add(t, triager, lambda c: ops.assign(c, user=self.user(triager), station_id=None,
                                                 coordinator_id=self.user(triager).id,
                                                 instructions=None, expected_version=v(c)))
            t += r.uniform(0.2, 2)
            add(t, triager, lambda c: ops.start_work(c, user=self.user(triager), expected_version=v(c)))
            resolver = triager
        else:
            if spec.declined_by and spec.declined_by in self.stations:
                first = self.stations[spec.declined_by]
                t += r.uniform(1, 3) * pace
                hand_to(t, triager, first)
                t += r.uniform(4, 12)
                decliner = f"station-{spec.declined_by}"
                add(t, decliner, lambda c: ops.decline_assignment(
                    c, user=self.user(decliner), reason=DECLINE_REASON, expected_version=v(c)))
            station = self.stations[station_key]  # type: ignore[index]
            t += r.uniform(1, 5) * pace
            hand_to(t, triager, station)
            if spec.ends == "assigned":
                return out
            t += r.uniform(1, 10) * pace
            accepted(t, worker)
            resolver = worker
        t += r.uniform(18, 50) * pace
        add(t, resolver, lambda c: ops.add_note(c, user=self.user(resolver),
                                                text=PROGRESS[spec.category]))
        if spec.by.startswith("officer") and (spec.ends != "in_progress" or r.random() < 0.5):
            t += r.uniform(20, 60) * pace
            add(t, spec.by, lambda c: ops.add_note(c, user=self.user(spec.by), text=OFFICER_NOTE))
        if spec.ends == "in_progress":
            return out
        if spec.waits:
            t += r.uniform(10, 40) * pace
            add(t, resolver, lambda c: ops.wait_external(c, user=self.user(resolver),
                                                         waiting_on=spec.waits or "",
                                                         expected_version=v(c)))
            if spec.ends == "waiting":
                return out
            t += r.uniform(48, 240) * pace
            add(t, resolver, lambda c: ops.resume_work(c, user=self.user(resolver),
                                                       expected_version=v(c)))
        outcome = spec.outcome or O.assisted
        t += r.uniform(24, 200) * pace
        add(t, resolver, lambda c: ops.resolve(c, user=self.user(resolver), outcome=outcome,
                                               note=RESOLUTION[outcome], expected_version=v(c)))
        if mission is not None:
            add(t + 0.5, triager, lambda c: ops.update_referral(
                c.referrals[-1], user=self.user(triager), status="completed"))
        if spec.ends == "resolved":
            return out
        closer = C1 if r.random() < 0.7 else C2
        t += r.uniform(6, 60)
        add(t, closer, lambda c: ops.close_case(c, user=self.user(closer), outcome=outcome,
                                                note=CLOSE_NOTE if r.random() < 0.5 else None,
                                                expected_version=v(c)))
        if spec.ends == "reopened" and station_key:
            again = self.stations["milano"] if "milano" in self.stations else self.stations[station_key]
            volunteer = f"station-{'milano' if 'milano' in self.stations else station_key}"
            t += 24 * r.uniform(15, 30)
            add(t, C1, lambda c: ops.reopen(c, user=self.user(C1), reason=REOPEN_REASON,
                                            expected_version=v(c)))
            t += r.uniform(1, 3)
            hand_to(t, C1, again)
            t += r.uniform(2, 8)
            accepted(t, volunteer)
        return out

    def _flood(self) -> Incident:
        if self.flood is None:
            raise RuntimeError("the flood incident is made before its cases")
        return self.flood

    def make_flood(self, reported: datetime) -> None:
        occurred = reported - timedelta(hours=10)
        self.flood = ops.create_incident({**FLOOD, "occurred_at": occurred.isoformat()},
                                         user=self.user(C1))
        self.flood.created_at = reported - timedelta(hours=2)
        self.flood.updated_at = self.flood.created_at
        db.session.flush()

    def reported_at(self, spec: Spec) -> datetime:
        reported = self.now - timedelta(days=spec.days_ago)
        if spec.days_ago >= 2 and not spec.incident:
            # Families walk into a liaison point in office hours; hotlines and stations any time.
            day = reported.astimezone(_office_zone())
            if spec.by.startswith("officer") and spec.channel is None:
                day = day.replace(hour=self.rng.randint(8, 16), minute=self.rng.randint(0, 59))
            else:
                day = day.replace(hour=self.rng.randint(0, 23), minute=self.rng.randint(0, 59))
            reported = day.astimezone(reported.tzinfo)
        return reported

    def load(self, spec: Spec, reported: datetime) -> Case:
        """Log ``spec``'s case as reported at ``reported``, under the next reference of that year
        (office time), then play its story."""
        station_key = STATION_FOR.get((spec.country or "", spec.city))
        if spec.incident and self.flood is None:
            self.make_flood(reported)
        data: dict[str, Any] = {
            "kind": spec.kind.value, "category": spec.category.value,
            "priority": spec.priority.value, "summary": spec.summary,
            "narrative": spec.narrative or None, "country_code": spec.country, "city": spec.city,
            "timezone": ZONES.get(spec.country or "") if spec.kind == CaseKind.abroad else None,
            "occurred_at": (reported - timedelta(hours=self.rng.uniform(3, 30))).astimezone(
                ZoneInfo(ZONES.get(spec.country or "", "Asia/Shanghai"))).isoformat(),
            "tags": "洪灾" if spec.incident else "",
        }
        if spec.channel is not None:
            data["channel"] = spec.channel.value
        if spec.kind == CaseKind.domestic:
            # An incident in the city happens in one of its townships or street offices.
            data["division_id"] = db.session.scalar(
                sa.select(Division.id).where(Division.name == HOME_DIVISION))
            data["city"] = ""
        # The reference of the year it was reported in, taken before the case is logged: the
        # notices and audit entries its story writes name it, and audit entries never change.
        [reference] = ops.reserve_references(reported.astimezone(_office_zone()).year, 1)
        case = ops.create_case(data, self.persons(spec), user=self.user(spec.by), reference=reference)
        self._shift_new(case, reported)
        steps = self.steps(spec, station_key)
        available = (self.now - reported).total_seconds() / 3600 - 0.25
        longest = steps[-1].hours if steps else 0
        scale = min(1.0, available / longest) if longest > 0 else 1.0
        last = reported
        for step in steps:
            at = (reported + timedelta(hours=step.hours * scale)).replace(microsecond=0)
            before = self._marks(case)
            step.run(case)
            db.session.flush()
            self._shift_step(case, at, before)
            last = max(last, at)
        self._finish(case, last)
        return case

    # moving the present moments into the story's past ---------------------------------------

    def _marks(self, case: Case) -> dict[str, Any]:
        return {
            "timeline": db.session.scalar(sa.select(sa.func.max(TimelineEntry.id))
                                          .where(TimelineEntry.case_id == case.id)) or 0,
            "notification": db.session.scalar(sa.select(sa.func.max(Notification.id))) or 0,
            "first_response_at": case.first_response_at, "assigned_at": case.assigned_at,
            "triaged_at": case.triaged_at, "resolved_at": case.resolved_at,
            "closed_at": case.closed_at,
            "assignments": {a.id: (a.responded_at, a.done_at, a.revoked_at) for a in case.assignments},
            "referrals": {r.id: r.updated_at for r in case.referrals},
        }

    def _shift_new(self, case: Case, reported: datetime) -> None:
        case.reported_at = reported
        case.created_at = reported
        case.last_activity_at = reported
        if case.first_response_at is not None:  # logged by a coordinator: answered at once
            case.first_response_at = reported
        for person in case.persons:
            person.created_at = reported
        db.session.execute(sa.update(TimelineEntry).where(TimelineEntry.case_id == case.id)
                           .values(at=reported).execution_options(synchronize_session=False))
        db.session.flush()

    def _shift_step(self, case: Case, at: datetime, before: dict[str, Any]) -> None:
        db.session.execute(sa.update(TimelineEntry).where(
            TimelineEntry.case_id == case.id, TimelineEntry.id > before["timeline"]).values(at=at)
            .execution_options(synchronize_session=False))
        db.session.execute(sa.update(Notification).where(Notification.id > before["notification"])
                           .values(created_at=at, sms_state=SmsState.none)
                           .execution_options(synchronize_session=False))
        for key in ("triaged_at", "assigned_at", "resolved_at", "closed_at"):
            if getattr(case, key) is not None and getattr(case, key) != before[key]:
                setattr(case, key, at)
        if case.first_response_at is not None and before["first_response_at"] is None:
            case.first_response_at = at
        case.last_activity_at = at
        for a in case.assignments:
            previous = before["assignments"].get(a.id)
            if previous is None:
                a.assigned_at = at
                continue
            responded, done, revoked = previous
            if a.responded_at is not None and responded is None:
                a.responded_at = at
            if a.done_at is not None and done is None:
                a.done_at = at
            if a.revoked_at is not None and revoked is None:
                a.revoked_at = at
        for referral in case.referrals:
            if referral.id not in before["referrals"]:
                referral.created_at = at
                referral.updated_at = at
            elif referral.updated_at != before["referrals"][referral.id]:
                referral.updated_at = at
        db.session.flush()

    def _finish(self, case: Case, last: datetime) -> None:
        """Deadlines as they ran from the report; the last step is the last activity."""
        case.assignment_due_at = None
        case.first_response_due_at = None
        restart = any(a.status == AssignmentStatus.declined for a in case.assignments) or \
            db.session.scalar(sa.select(TimelineEntry.id).where(
                TimelineEntry.case_id == case.id, TimelineEntry.action == "reopen").limit(1)) is not None
        deadlines.compute_deadlines(case, now=last, restart_assignment=restart and
                                    case.status.value in ("new", "triaged"))
        case.last_activity_at = last
        case.updated_at = last
        db.session.flush()


def _office_zone() -> ZoneInfo:
    return ZoneInfo(current_settings().office_timezone)


def _quiet_past_notifications(now: datetime) -> None:
    """What happened before today was read long ago; what is recent stays unread."""
    db.session.execute(sa.update(Notification).where(Notification.created_at < now - timedelta(days=3))
                       .values(read_at=Notification.created_at))


@unit_of_work()
def load_demo_cases(seed: int = SEED) -> int:
    """Log the demo cases (idempotent: nothing when any case exists or the demo users are
    missing). Commits. Returns how many cases were made."""
    if db.session.scalar(sa.select(Case.id).limit(1)) is not None:
        return 0
    needed = {C1, C2, *(s.by for s in SPECS)} | {f"station-{k}" for k in STATION_FOR.values()}
    have = set(db.session.scalars(sa.select(User.username).where(User.username.in_(needed),
                                                                 User.active.is_(True))))
    if have != needed:
        return 0
    now = utcnow().replace(microsecond=0)
    loader = _Loader(now, random.Random(seed))  # noqa: S311 — made-up demo data, not a secret
    # Logged in the order they were reported, so each year's references follow that order.
    moments = [(loader.reported_at(spec), n, spec)
               for n, spec in enumerate(sorted(SPECS, key=lambda s: -s.days_ago))]
    cases = [loader.load(spec, reported)
             for reported, _n, spec in sorted(moments, key=lambda m: (m[0], m[1]))]
    db.session.expire_all()  # the timeline's moments were moved in SQL
    _quiet_past_notifications(now)
    return len(cases)


def demo_case_count() -> int:
    return len(SPECS)


__all__ = ["SPECS", "load_demo_cases", "demo_case_count", "passport_spelling"]
