"""A demo year of the network's own work, logged through the operations as the people would log it:
trainings for liaison officers, station heads and the centre, patrols of most stations (with their
checklists; a few stations unvisited for over a year, a few points with nobody trained, so the
coverage report has gaps to show), preventive-safety talks in communities, universities,
enterprises, an exhibition, a cruise ship and online, drills (one with the demo's Exercise alert),
joint meetings, and risk points with measures, one still waiting for the centre and one declined.
Loaded after the alerts' demo; idempotent: nothing when any activity exists."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa

from consular.activities import operations as ops
from consular.activities import risks
from consular.activities.checks import office_today
from consular.activities.models import Activity
from consular.activities.reach import alerts
from consular.auth.models import User
from consular.db import db, unit_of_work
from consular.network.models import Division, LiaisonPoint, ServiceStation

# (days ago, who logs it, title, kind, audience, setting, head count, place)
TALKS = [
    (320, "officer01", "七都街道侨眷社区领保知识讲座", "community", "residents", 65),
    (298, "officer05", "温州大学出国留学生行前领保宣讲", "university", "students", 240),
    (276, "station-prato", "普拉托华人社区防诈骗宣讲", "community", "residents", 90),
    (250, "officer09", "瑞安外贸企业海外用工风险宣讲", "enterprise", "employees", 70),
    (233, "coordinator", "世界温州人大会展会领保咨询台", "exhibition", "public", 600),
    (205, "officer03", "温州医科大学海外实习生安全宣讲", "university", "students", 180),
    (190, "station-paris", "巴黎温州同乡会春季安全讲座", "community", "residents", 120),
    (171, "coordinator", "“温州号”邮轮出境游客领保宣讲", "cruise_ship", "travellers", 350),
    (150, "officer11", "柳市镇电器企业出海员工培训会宣讲", "enterprise", "employees", 85),
    (131, "station-madrid", "马德里华商防盗防抢宣讲", "community", "residents", 60),
    (112, "coordinator", "“平安出行”线上领保直播课", "online", "public", 1500),
    (96, "officer07", "塘下镇侨眷社区领保宣讲", "community", "residents", 55),
    (80, "station-lagos", "拉各斯中资企业员工安全宣讲", "enterprise", "employees", 110),
    (61, "officer02", "温州商学院留学生行前宣讲", "university", "students", 150),
    (44, "station-milano", "米兰华人商会防诈骗讲座", "community", "residents", 75),
    (27, "officer13", "瓯北街道出国务工人员行前宣讲", "community", "travellers", 40),
    (12, "coordinator", "暑期出境游线上安全课", "online", "public", 800),
]
# Stations patrolled (days ago) and what the checklist found.
PATROLS = [
    (300, "prato", True, True, True, ""),
    (262, "paris", True, True, False, "宣传册不足，已寄送补充"),
    (214, "madrid", True, False, True, "两名志愿者离开，需要补充"),
    (160, "milano", True, True, True, ""),
    (118, "lagos", False, True, True, "应急联系人电话已变更，当场更新"),
    (70, "dubai", True, True, True, ""),
    (22, "prato", True, True, True, ""),
]
TRAININGS = [
    (285, "全市领事保护联络员培训班（第一期）", "liaison_officers", 48, "home", 10),
    (190, "境外领事服务站负责人线上培训班", "station_heads", 22, "online", 0),
    (140, "领保协调中心应急处置业务培训", "centre_staff", 18, "home", 0),
    (55, "全市领事保护联络员培训班（第二期）", "liaison_officers", 41, "home", 6),
]
MEETINGS = [(240, "全市涉外领事保护联席会议（上半年）", 26), (35, "全市涉外领事保护联席会议（下半年）", 28)]
RISKS: list[dict[str, Any]] = [
    {"title": "冒充中国警察、使馆工作人员的电话诈骗", "kind": "scam", "level": "high", "days": 260,
     "countries": "IT, FR, ES", "stations": ["prato", "paris", "madrid"],
     "measures": [("发布防诈骗安全提醒", "领保协调中心", 20, "done"),
                  ("服务站在社区张贴防骗海报", "各服务站", 45, "done"),
                  ("联合公安开展劝阻回访", "市公安局反诈中心", 90, "in_progress")]},
    {"title": "部分海外雇主拖欠温籍务工人员工资", "kind": "employer", "level": "medium", "days": 200,
     "countries": "IT", "stations": ["prato", "milano"],
     "measures": [("梳理重点企业名单", "普拉托服务站", 30, "done"),
                  ("对接当地劳工律师团", "律师团", 60, "in_progress")]},
    {"title": "经第三国非法入境欧洲的偷渡线路", "kind": "route", "level": "high", "days": 150,
     "countries": "ES, IT", "stations": ["madrid"],
     "measures": [("在侨乡开展出入境法律宣讲", "瑞安市外办", 40, "done"),
                  ("与公安边检共享线索", "领保协调中心", 30, "planned")]},
    {"title": "雨季拉各斯城区内涝与道路中断", "kind": "season", "level": "medium", "days": 100,
     "countries": "NG", "stations": ["lagos"],
     "measures": [("雨季前发布出行提醒", "领保协调中心", 10, "done")]},
    {"title": "迪拜夏季高温户外作业中暑", "kind": "season", "level": "low", "days": 60,
     "countries": "AE", "stations": ["dubai"],
     "measures": [("提醒企业调整户外作业时间", "迪拜服务站", 14, "in_progress")]},
]


def _user(name: str) -> User | None:
    return db.session.scalar(sa.select(User).where(User.username == name))


def _station(key: str) -> ServiceStation | None:
    user = _user(f"station-{key}")
    return user.station if user is not None else None


@unit_of_work()
def load_demo_activities() -> int:
    """Create the demo year (idempotent). Commits. Returns how many activities were logged."""
    if db.session.scalar(sa.select(Activity.id).limit(1)) is not None:
        return 0
    coordinator = _user("coordinator")
    if coordinator is None:
        return 0
    today = office_today()

    def day(ago: int) -> str:
        return _in_this_year(today, ago).isoformat()

    division = db.session.scalar(sa.select(Division).where(Division.name == "五马街道"))
    home: dict[str, Any] = {"place_kind": "home", "division_id": division.id} if division else \
        {"place_kind": "online"}
    n = 0
    for ago, who, title, setting, audience, head_count in TALKS:
        user = _user(who) or coordinator
        place: dict[str, Any] = {"place_kind": "online"} if setting == "online" else dict(home)
        if user.station_id is not None:
            place = {"place_kind": "station", "station_id": user.station_id}
        elif setting == "cruise_ship":
            place = {"place_kind": "home", "division_id": division.id} if division else place
        if user.liaison_point is not None and setting != "online":
            place = {"place_kind": "home", "division_id": user.liaison_point.division_id}
        logged = ops.log_activity({"kind": "talk", "title": title, "held_on": day(ago), "setting": setting,
                                   "audience": audience, "head_count": head_count, **place}, user=user)
        if n % 4 == 0:
            ops.add_follow_up(logged, {"action": "补充寄送宣传材料", "owner": logged.organiser,
                                       "due_on": day(max(ago - 14, 0))}, user=user)
        n += 1
    points = list(db.session.scalars(sa.select(LiaisonPoint).where(LiaisonPoint.active.is_(True))
                                     .order_by(LiaisonPoint.id)))
    for ago, title, audience, head_count, place_kind, how_many in TRAININGS:
        # The first course reaches most points, the second the ones it missed but a few: those stay
        # on the coverage report's list of points with nobody trained this year.
        chosen = points[:how_many] if how_many and ago > 100 else points[10:10 + how_many]
        ops.log_activity({"kind": "training", "title": title, "held_on": day(ago), "audience": audience,
                          "head_count": head_count, "point_ids": [p.id for p in chosen],
                          **(home if place_kind == "home" else {"place_kind": "online"})},
                         user=coordinator)
        n += 1
    for ago, key, contacts, volunteers, materials, problems in PATROLS:
        station = _station(key)
        if station is None:
            continue
        visit = ops.log_activity({"kind": "patrol", "title": f"巡查{station.name}", "held_on": day(ago),
                                  "place_kind": "station", "station_id": station.id,
                                  "audience": "volunteers", "head_count": 4 + ago % 5,
                                  "contacts_verified": contacts, "volunteers_active": volunteers,
                                  "materials_on_hand": materials, "problems": problems},
                                 user=coordinator)
        if problems:
            follow_up = ops.add_follow_up(visit, {"action": problems.split("，")[0] + "：跟进落实",
                                                  "owner": station.name, "due_on": day(max(ago - 30, 0))},
                                          user=coordinator)
            if ago > 60:
                ops.complete_follow_up(follow_up, user=coordinator)
        n += 1
    exercise = next(iter(alerts().issued(1, exercise=True)), None)
    prato = _station("prato")
    drill_place = {"place_kind": "station", "station_id": prato.id} if prato else {"place_kind": "online"}
    ops.log_activity({"kind": "drill", "title": "普拉托地震涉外突发事件应急预案演练",
                      "held_on": (exercise.sent_at.date() if exercise and exercise.sent_at else today)
                      .isoformat() if exercise else day(3), "audience": "volunteers", "head_count": 35,
                      "alert_id": exercise.id if exercise else None, **drill_place,
                      "notes": "检验了平安确认短信、未回复人员的电话回访和志愿者上门探访流程。"},
                     user=coordinator)
    ops.log_activity({"kind": "drill", "title": "境外群体性事件应急处置桌面推演", "held_on": day(180),
                      "audience": "centre_staff", "head_count": 20, **home}, user=coordinator)
    n += 2
    for ago, title, head_count in MEETINGS:
        ops.log_activity({"kind": "joint_meeting", "title": title, "held_on": day(ago),
                          "audience": "officials", "head_count": head_count, **home}, user=coordinator)
        n += 1
    _demo_risks(coordinator, today)
    return n


def _in_this_year(today: date, ago: int) -> date:
    """The day ``ago`` days before today on a 340-day year, fitted into this year so far: the demo
    shows a whole year's work in this year's report whatever the day it is loaded."""
    first = date(today.year, 1, 1)
    span = (today - first).days
    return min(today, first + timedelta(days=round(span * max(0, SPAN - ago) / SPAN)))


SPAN = 340


def _demo_risks(coordinator: User, today: date) -> None:
    for spec in RISKS:
        found = _in_this_year(today, spec["days"])
        stations = [s for s in (_station(k) for k in spec["stations"]) if s is not None]
        risk = risks.report_risk({"title": spec["title"], "kind": spec["kind"], "level": spec["level"],
                                  "found_on": found.isoformat(), "country_codes": spec["countries"],
                                  "station_ids": [s.id for s in stations]}, user=coordinator)
        for action, owner, due_in, state in spec["measures"]:
            risks.add_measure(risk, {"action": action, "owner": owner,
                                     "due_on": (found + timedelta(days=due_in)).isoformat(), "state": state},
                              user=coordinator)
    volunteer = _user("station-prato")
    if volunteer is not None:
        risks.report_risk({"title": "普拉托火车站附近夜间抢劫华人商户", "kind": "place", "level": "medium",
                           "found_on": _in_this_year(today, 4).isoformat(),
                           "description": "近两周有三名华人店主夜间在火车站附近被抢，当地警方已立案。"},
                          user=volunteer)
    other = _user("station-roma")
    if other is not None:
        declined = risks.report_risk({"title": "罗马地铁罢工", "kind": "other", "level": "low",
                                      "found_on": _in_this_year(today, 40).isoformat()}, user=other)
        risks.decline_risk(declined, user=coordinator, note="一日性罢工，已在安全提醒中告知，不另立风险点。")
