"""Activities and risk points through their operations: what each role may log and see, the values
refused (a talk on a day not yet come, a head count of -1 or 10⁹, a patrol of an inactive station, a
measure due before its risk was found, a file of the wrong type) with nothing written, the places
marked active, the coverage gaps, and a drill's report of its Exercise alert's reach."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask_babel import force_locale

from alerts.models import CapStatus, Delivery, DeliveryState, ReplyKind
from consular.activities import operations as ops
from consular.activities import risks
from consular.activities.checks import ActivityConflict, ActivityInputError, office_today
from consular.activities.coverage import work_gaps
from consular.activities.models import Activity, ActivityAttachment, MeasureState, RiskPoint, RiskState
from consular.activities.reach import alerts
from consular.audit.models import AuditEntry
from consular.auth.models import Role
from consular.auth.scoping import scoped
from consular.db import db, utcnow
from consular.registry import operations as registry
from tests.support.dispatch import make_alert, send_alert
from tests.unit.conftest import WorkWorld

YESTERDAY = "2026-01-10"


@pytest.fixture(autouse=True)
def _in_english(app: Flask) -> Iterator[None]:
    """The operations' messages in English (outside a request they follow the default, Chinese)."""
    with force_locale("en"):
        yield


def talk(w: WorkWorld, user: Any = None, **changes: Any) -> dict[str, Any]:
    return {"kind": "talk", "title": "温州大学预防性领保宣讲", "held_on": YESTERDAY, "place_kind": "home",
            "division_id": w.division.id, "audience": "students", "setting": "university",
            "head_count": "120", **changes}


def patrol(w: WorkWorld, station: Any = None, **changes: Any) -> dict[str, Any]:
    return {"kind": "patrol", "title": "巡查普拉托服务站", "held_on": YESTERDAY, "place_kind": "station",
            "station_id": (station or w.station).id, "audience": "volunteers", "head_count": 6,
            **changes}


def count(model: type) -> int:
    return int(db.session.scalar(sa.select(sa.func.count()).select_from(model)) or 0)


def test_an_officer_logs_a_talk_for_the_own_point_which_becomes_active(work_world: WorkWorld) -> None:
    w = work_world
    assert w.point.last_activity_at is None
    logged = ops.log_activity(talk(w), user=w.officer)
    db.session.commit()
    assert (logged.head_count, logged.setting.value, logged.owner_point_id) == (120, "university", w.point.id)
    assert [p.id for p in logged.points] == [w.point.id]  # the point took part
    assert logged.organiser == w.point.name  # the default organiser: the officer's point
    db.session.refresh(w.point)
    assert w.point.last_activity_at is not None
    entry = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "activity.create")).one()
    assert entry.user_id == w.officer.id and entry.detail["head_count"] == 120


@pytest.mark.parametrize(("changes", "field", "says"), [
    ({"held_on": (date.today() + timedelta(days=3)).isoformat()}, "held_on", "has not come yet"),
    ({"head_count": "-1"}, "head_count", "A whole number from 0 to 100000."),
    ({"head_count": 10**9}, "head_count", "A whole number from 0 to 100000."),
    ({"head_count": "一百"}, "head_count", "A whole number"),
    ({"held_on": "2026-02-30"}, "held_on", "Not a date"),
    ({"setting": ""}, "setting", "required"),
    ({"kind": "patrol"}, "kind", "cannot log this kind"),
    ({"kind": "training", "audience": "students", "setting": ""}, "audience", "Choose one of"),
    ({"title": "Prato\u202egnp.exe"}, "title", "text-direction overrides"),
    ({"place_kind": "abroad", "country_code": "XX", "city": ""}, "country_code", "country code"),
])
def test_bad_values_are_refused_by_field_and_nothing_is_written(
        work_world: WorkWorld, changes: dict[str, Any], field: str, says: str) -> None:
    w = work_world
    with pytest.raises(ActivityInputError) as refused:
        ops.log_activity(talk(w, **changes), user=w.officer)
    db.session.rollback()
    assert says in refused.value.errors[field], refused.value.errors
    assert count(Activity) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry)
                             .where(AuditEntry.action.like("activity.%"))) == 0


def test_a_patrol_of_an_inactive_station_is_refused(work_world: WorkWorld) -> None:
    w = work_world
    w.other_station.active = False
    db.session.commit()
    with pytest.raises(ActivityInputError) as refused:
        ops.log_activity(patrol(w, w.other_station), user=w.coordinator)
    db.session.rollback()
    assert "deactivated" in refused.value.errors["station_id"]
    assert count(Activity) == 0


def test_roles_log_only_their_kinds_and_see_only_their_scope(work_world: WorkWorld) -> None:
    w = work_world
    own = ops.log_activity(talk(w), user=w.officer)
    other = ops.log_activity(talk(w, title="瓯北镇社区宣讲", setting="community", audience="residents"),
                             user=w.other_officer)
    drill = ops.log_activity({"kind": "drill", "title": "普拉托站应急演练", "held_on": YESTERDAY,
                              "place_kind": "station", "station_id": w.station.id, "audience": "volunteers",
                              "head_count": 12}, user=w.volunteer)
    visit = ops.log_activity(patrol(w, w.other_station), user=w.coordinator)
    centre_training = ops.log_activity({"kind": "training", "title": "联络员培训班", "held_on": YESTERDAY,
                                        "place_kind": "home", "division_id": w.division.id,
                                        "audience": "liaison_officers", "head_count": 40,
                                        "point_ids": [w.point.id]}, user=w.coordinator)
    db.session.commit()
    with pytest.raises(ActivityInputError):
        ops.log_activity(patrol(w), user=w.volunteer)  # patrols are the centre's visits
    db.session.rollback()
    with pytest.raises(ops.ActivityRefused):
        ops.log_activity(talk(w), user=w.admin)  # admins: figures only
    db.session.rollback()

    def seen(user: Any) -> set[int]:
        return set(db.session.scalars(scoped(Activity, user).with_only_columns(Activity.id)))

    assert seen(w.coordinator) == {own.id, other.id, drill.id, visit.id, centre_training.id}
    assert seen(w.officer) == {own.id, centre_training.id}  # its talk, and the training it attended
    assert seen(w.other_officer) == {other.id}
    assert seen(w.volunteer) == {drill.id}
    assert seen(w.other_volunteer) == {visit.id}  # its station was patrolled
    assert seen(w.admin) == set()
    # Only the owner (or the centre) changes an activity.
    with pytest.raises(ops.ActivityRefused):
        ops.update_activity(centre_training, {"head_count": 41}, user=w.officer)
    assert ops.update_activity(own, {"head_count": "130"}, user=w.officer) == ["head_count"]


def test_a_patrol_with_its_checklist_marks_the_station_and_fills_the_coverage_gaps(
        app: Flask, work_world: WorkWorld) -> None:
    w = work_world
    before = work_gaps(w.coordinator)
    assert {g.station.id for g in before.unpatrolled} == {w.station.id, w.other_station.id}
    assert {p.id for p in before.untrained} == {w.point.id, w.other_point.id}
    today = office_today().isoformat()
    visit = ops.log_activity(patrol(w, held_on=today, contacts_verified="y", volunteers_active="y",
                                    problems="宣传资料不足"), user=w.coordinator)
    ops.log_activity({"kind": "training", "title": "联络员培训班", "held_on": today, "place_kind": "online",
                      "audience": "liaison_officers", "head_count": 25}, user=w.officer)
    db.session.commit()
    [check] = visit.checks
    assert (check.station_id, check.contacts_verified, check.materials_on_hand) == (w.station.id, True, False)
    assert check.problems == "宣传资料不足"
    db.session.refresh(w.station)
    assert w.station.last_activity_at is not None
    after = work_gaps(w.coordinator)
    assert [g.station.id for g in after.unpatrolled] == [w.other_station.id]
    assert [p.id for p in after.untrained] == [w.other_point.id]
    # A second station's checklist joins the patrol; an inactive one cannot.
    ops.record_check(visit, w.other_station.id, {"contacts_verified": True}, user=w.coordinator)
    db.session.commit()
    assert {s.id for s in visit.stations} == {w.station.id, w.other_station.id}
    talk_logged = ops.log_activity(talk(w), user=w.officer)
    with pytest.raises(ActivityConflict):
        ops.record_check(talk_logged, w.station.id, {}, user=w.officer)
    db.session.rollback()


def test_follow_ups_are_due_on_or_after_the_activity(work_world: WorkWorld) -> None:
    w = work_world
    logged = ops.log_activity(talk(w), user=w.officer)
    with pytest.raises(ActivityInputError) as refused:
        ops.add_follow_up(logged, {"action": "寄送材料", "owner": "中心", "due_on": "2026-01-01"},
                          user=w.officer)
    assert "before the activity" in refused.value.errors["due_on"]
    done = ops.add_follow_up(logged, {"action": "寄送材料", "owner": "中心", "due_on": "2026-02-01"},
                             user=w.officer)
    assert ops.complete_follow_up(done, user=w.officer) is True
    assert ops.complete_follow_up(done, user=w.officer) is False


def test_a_station_reports_a_risk_and_the_centre_accepts_it_with_measures(work_world: WorkWorld) -> None:
    w = work_world
    reported = risks.report_risk({"title": "冒充警察电话诈骗", "kind": "scam", "level": "medium",
                                  "found_on": YESTERDAY, "description": "多名学生接到电话"}, user=w.volunteer)
    db.session.commit()
    assert reported.state == RiskState.reported and reported.reported_by_station_id == w.station.id
    assert [s.id for s in reported.stations] == [w.station.id] and reported.country_list == ["IT"]
    with pytest.raises(ops.ActivityRefused):
        risks.accept_risk(reported, user=w.volunteer)
    with pytest.raises(ActivityInputError):
        risks.decline_risk(reported, user=w.coordinator, note="")  # a reason is required
    db.session.rollback()
    risks.accept_risk(reported, user=w.coordinator)
    with pytest.raises(ActivityInputError) as early:
        risks.add_measure(reported, {"action": "发提醒", "owner": "中心", "due_on": "2026-01-01"},
                          user=w.coordinator)
    assert "before the risk was found" in early.value.errors["due_on"]
    first = risks.add_measure(reported, {"action": "发布安全提醒", "owner": "领保中心",
                                         "due_on": "2026-02-01"}, user=w.coordinator)
    risks.add_measure(reported, {"action": "联系当地警方", "owner": "普拉托服务站", "due_on": "2026-02-15"},
                      user=w.coordinator)
    risks.update_measure(first, {"state": "done"}, user=w.coordinator)
    db.session.commit()
    assert reported.state == RiskState.open and first.state == MeasureState.done and first.done_on
    with pytest.raises(ActivityConflict):
        risks.accept_risk(reported, user=w.coordinator)
    # Who sees it: the reporting station and the centre.
    for user, visible in ((w.coordinator, True), (w.volunteer, True), (w.other_volunteer, False),
                          (w.officer, False), (w.admin, False)):
        assert (db.session.scalar(scoped(RiskPoint, user).where(RiskPoint.id == reported.id)) is not None) \
            == visible, user.role


def test_a_risk_cannot_be_found_tomorrow_nor_named_with_an_unknown_country(work_world: WorkWorld) -> None:
    w = work_world
    with pytest.raises(ActivityInputError) as refused:
        risks.report_risk({"title": "x", "kind": "scam", "level": "low",
                           "found_on": (date.today() + timedelta(days=2)).isoformat(),
                           "country_codes": "IT, ZZ"}, user=w.coordinator)
    assert set(refused.value.errors) == {"found_on", "country_codes"}
    db.session.rollback()
    assert count(RiskPoint) == 0


def test_attachments_are_checked_by_content_sealed_and_gone_when_refused(app: Flask,
                                                                        work_world: WorkWorld) -> None:
    w = work_world
    logged = ops.log_activity(talk(w), user=w.officer)
    db.session.commit()
    folder = Path(app.instance_path) / "attachments"
    before = set(folder.iterdir()) if folder.exists() else set()
    with pytest.raises(ActivityInputError) as refused:
        ops.add_attachment(logged, "slides.pdf", io.BytesIO(b"\x00\x01binary"), user=w.officer)
    assert "not accepted" in refused.value.errors["file"]
    with pytest.raises(ActivityInputError) as mismatch:
        ops.add_attachment(logged, "photo.jpg", io.BytesIO(b"%PDF-1.4 slides"), user=w.officer)
    assert "does not match" in mismatch.value.errors["file"]
    sheet = ops.add_attachment(logged, "签到表.txt", io.BytesIO("签到：陈静、林芳".encode()), user=w.officer)
    db.session.rollback()  # the request failed after all: the file goes with it
    assert set(folder.iterdir()) == before and count(ActivityAttachment) == 0
    sheet = ops.add_attachment(logged, "签到表.txt", io.BytesIO("签到：陈静、林芳".encode()), user=w.officer)
    db.session.commit()
    stored = (folder / sheet.storage_key).read_bytes()
    assert "陈静".encode() not in stored  # sealed at rest
    with pytest.raises(ops.ActivityRefused):
        ops.add_attachment(logged, "x.txt", io.BytesIO(b"x"), user=w.other_officer)


def test_an_attachment_over_the_size_limit_is_refused(make_app: Any, make_user: Any) -> None:
    small = make_app(ATTACHMENT_MAX_MB=1)
    with small.app_context(), force_locale("en"):
        from consular.network.models import LiaisonPoint

        officer = make_user(Role.liaison_officer)
        point = db.session.get(LiaisonPoint, officer.liaison_point_id)
        assert point is not None
        logged = ops.log_activity({"kind": "talk", "title": "宣讲", "held_on": YESTERDAY,
                                   "place_kind": "online", "audience": "public", "setting": "online",
                                   "head_count": 10}, user=officer)
        with pytest.raises(ActivityInputError) as refused:
            ops.add_attachment(logged, "big.txt", io.BytesIO(b"a" * (1024 * 1024 + 1)), user=officer)
        assert "too large" in refused.value.errors["file"]
        db.session.rollback()


def test_a_drill_report_reads_its_exercise_alerts_reach_and_answer_times(app: Flask,
                                                                         work_world: WorkWorld) -> None:
    w = work_world
    for n in range(5):
        registry.register({"name": f"演练{n}", "phone": f"+39 347 100 20{n:02d}", "country_code": "IT",
                           "city": "Prato", "consent_method": "written"}, user=w.coordinator)
    db.session.commit()
    exercise = make_alert(status=CapStatus.Exercise, safety_check=True, event="Earthquake drill")
    assert send_alert(exercise) == 5
    sent_at = utcnow() - timedelta(hours=2)
    answers = [timedelta(minutes=5), timedelta(minutes=20), timedelta(minutes=45), None, None]
    for delivery, after in zip(db.session.scalars(sa.select(Delivery).order_by(Delivery.id)), answers,
                               strict=True):
        delivery.submitted_at = sent_at
        delivery.state = DeliveryState.delivered if after is not None else DeliveryState.failed
        if after is not None:
            delivery.replied_at, delivery.reply_kind = sent_at + after, ReplyKind.safe
    db.session.commit()
    real = make_alert(event="Real")
    with pytest.raises(ActivityInputError) as refused:
        ops.log_activity({"kind": "drill", "title": "演练", "held_on": YESTERDAY, "place_kind": "online",
                          "audience": "volunteers", "head_count": 5, "alert_id": real.id}, user=w.coordinator)
    assert "Exercise" in refused.value.errors["alert_id"]
    db.session.rollback()
    drill = ops.log_activity({"kind": "drill", "title": "普拉托地震演练", "held_on": YESTERDAY,
                              "place_kind": "online", "audience": "volunteers", "head_count": 5,
                              "alert_id": exercise.id}, user=w.coordinator)
    db.session.commit()
    reach = alerts().reach([drill.alert_id or 0])[exercise.id]
    assert (reach.planned, reach.sent, reach.delivered, reach.failed, reach.answered) == (5, 5, 3, 2, 3)
    assert reach.within == {10: 1, 30: 2, 60: 3}


def test_nothing_of_a_risk_is_half_written_when_one_station_is_inactive(work_world: WorkWorld) -> None:
    w = work_world
    w.other_station.active = False
    db.session.commit()
    with pytest.raises(ActivityInputError):
        risks.report_risk({"title": "x", "kind": "route", "level": "low", "found_on": YESTERDAY,
                           "station_ids": [w.station.id, w.other_station.id]}, user=w.coordinator)
    db.session.rollback()
    assert count(RiskPoint) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(sa.table("risk_point_station"))) == 0
