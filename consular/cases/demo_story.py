"""The demo cases' story: who is in each case, where and when, and what happens to it (the table
load_demo_cases plays), the names and made-up numbers of the people, and the words they write.
See consular.cases.demo for how the story is told through the case operations.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from enum import StrEnum
from importlib import resources
from typing import Any

import phonenumbers
from pypinyin import lazy_pinyin

from consular.cases.models import CaseCategory, CaseKind, Channel, Outcome, Priority

SEED = 2026
C1, C2 = "coordinator", "coordinator2"

# Station (demo key) for a place abroad.
STATION_FOR = {("IT", "Prato"): "prato", ("IT", "Milano"): "milano", ("IT", "Roma"): "roma",
               ("FR", "Paris"): "paris", ("ES", "Madrid"): "madrid", ("NL", "Amsterdam"): "amsterdam",
               ("DE", "Frankfurt am Main"): "frankfurt", ("NG", "Lagos"): "lagos",
               ("AE", "Dubai"): "dubai", ("US", "New York"): "newyork"}
ZONES = {"IT": "Europe/Rome", "FR": "Europe/Paris", "ES": "Europe/Madrid", "NL": "Europe/Amsterdam",
         "DE": "Europe/Berlin", "NG": "Africa/Lagos", "AE": "Asia/Dubai", "US": "America/New_York"}
# Where in the city the demo's foreign-related incident happened.
HOME_DIVISION = "五马街道"
# Where a station that declines sends the case instead.
FALLBACK_STATION = {"roma": "prato"}
# The mission a referral goes to, by city (else the country's embassy or consulate).
MISSION_CITY = {"Prato": "Roma", "Roma": "Roma", "Milano": "Milano"}


@dataclass(frozen=True)
class Spec:
    """One demo case: when and where, who logged it, and how far its story has gone."""

    days_ago: float
    category: CaseCategory
    country: str | None
    city: str
    by: str  # username of who logged it
    ends: str  # new, triaged, assigned, in_progress, waiting, resolved, closed, reopened
    priority: Priority
    summary: str
    narrative: str
    outcome: Outcome | None = None
    mission: bool = False  # referred to the mission
    centre_only: bool = False  # handled by a coordinator, no station
    declined_by: str | None = None  # a station that declined the hand-off first
    waits: str | None = None  # waiting for whom (a detour, or where the story stops)
    incident: bool = False  # the Prato flood
    kind: CaseKind = CaseKind.abroad
    channel: Channel | None = None
    female: bool = False
    pace: float = 1.0  # how slowly this one moved (a multiplier of the usual step times)


D = CaseCategory
O = Outcome  # noqa: E741 — short names keep the tables readable
P = Priority


def _spec(row: dict[str, Any]) -> Spec:
    """A case of ``demo_cases.json``: its fields, the enumerations' by value."""
    enums: dict[str, type[StrEnum]] = {"category": CaseCategory, "priority": Priority,
                                        "outcome": Outcome, "kind": CaseKind, "channel": Channel}
    fields: dict[str, Any] = {key: enums[key](value) if key in enums and value is not None else value
                              for key, value in row.items()}
    return Spec(**fields)


# The cases, stage by stage (closed, reopened, resolved, waiting, worked, offered, triaged, new), in
# ``demo_cases.json`` beside this module.
SPECS: list[Spec] = [
    _spec(row)
    for stage in json.loads(resources.files("consular.cases").joinpath("demo_cases.json")
                            .read_text("utf-8"))["stages"]
    for row in stage["cases"]]


# --- names, numbers -------------------------------------------------------------------------------

MEN = ["陈建国", "林海东", "王志强", "张国华", "李伟明", "黄晓东", "周立军", "吴建平", "郑国庆",
       "潘志勇", "叶成林", "胡海波", "金永福", "朱建军", "徐晓峰", "邱国栋", "谢建华", "杨文斌",
       "蔡明辉", "项春雷", "季永强", "戴海涛", "林志坚", "陈晓龙", "王海军", "张建新", "黄国平",
       "周建伟", "吴海明", "郑志华", "潘建中", "胡永胜", "叶建光", "金海洋", "朱晓斌"]
WOMEN = ["林海燕", "陈丽华", "王晓红", "张美玲", "李秀英", "黄丽娟", "周晓燕", "吴素芬", "郑雪梅",
         "潘丽萍", "叶晓静", "胡美娟", "金丽丽", "朱晓梅", "徐海霞", "邱慧敏", "谢丽芳", "杨晓琴",
         "蔡雅琴", "项丽君", "季晓丹", "戴美华", "陈佳怡", "王思琪", "张雨婷"]
FAMILY = [("父亲", False), ("母亲", True), ("妻子", True), ("丈夫", False), ("哥哥", False),
          ("姐姐", True), ("儿子", False), ("女儿", True)]
# When the summary names who is in trouble, the family contact and the ages fit it:
# word → (the family contact's relationship, is that contact a woman, birth years of the person).
RELATIVES = {"父亲": ("儿子", False, (1958, 1968)), "女儿": ("母亲", True, (1998, 2002)),
             "儿子": ("父亲", False, (1990, 2000)), "哥哥": ("弟弟", False, (1982, 1990)),
             "弟弟": ("哥哥", False, (1992, 2000)), "孩子": ("母亲", True, (2011, 2011)),
             "留学生": ("母亲", True, (1999, 2004)), "老人": ("女儿", True, (1953, 1956))}
SAME_SURNAME = ("父亲", "哥哥", "弟弟", "姐姐", "儿子", "女儿")

PHONE_PATTERNS = {  # national number shapes; the digits after the prefix are made up
    "IT": ("3", 9), "FR": ("6", 8), "ES": ("6", 8), "NL": ("6", 8), "DE": ("151", 8),
    "NG": ("803", 7), "AE": ("50", 7), "US": ("212555", 4), "CN": ("13", 9)}


def passport_spelling(name: str) -> str:
    syllables = lazy_pinyin(name)
    return f"{syllables[0]} {''.join(syllables[1:])}".upper()


class _Numbers:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used: set[str] = set()

    def phone(self, region: str) -> str:
        prefix, digits = PHONE_PATTERNS.get(region, PHONE_PATTERNS["CN"])
        if region not in PHONE_PATTERNS:
            region = "CN"
        for _attempt in range(200):
            tail = "".join(str(self.rng.randint(0, 9)) for _ in range(digits))
            if region == "US":
                tail = "01" + tail[2:]  # 555-01xx: reserved for fiction
            parsed = phonenumbers.parse(prefix + tail, region)
            e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
            if phonenumbers.is_valid_number(parsed) and e164 not in self.used:
                self.used.add(e164)
                return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
        raise RuntimeError(f"no demo phone number for {region}")  # pragma: no cover

    def passport(self) -> str:
        while True:
            number = "E" + "".join(str(self.rng.randint(0, 9)) for _ in range(8))
            if number not in self.used:
                self.used.add(number)
                return number


# --- texts of the story ---------------------------------------------------------------------------

INSTRUCTIONS = {
    D.detained: "请尽快了解拘留原因和关押地点，确认当事人身体状况，必要时协助联系律师。",
    D.lost_documents: "请陪同当事人报警并取得报案回执，协助预约领馆补办旅行证。",
    D.labour_business_dispute: "请了解欠薪或纠纷的经过，协助联系当地劳工部门或华人律师。",
    D.fraud_theft: "请协助当事人报警，收集转账记录和聊天记录。",
    D.ill: "请前往医院探望，了解病情，必要时协助翻译。",
    D.injured: "请到医院了解伤情，协助与医院和保险公司沟通。",
    D.missing: "请通过同乡会和侨团发布寻人信息，并联系当地警方。",
    D.dead: "请协助家属联系殡仪机构，办理死亡证明和遗体运送手续。",
    D.disaster_unrest: "请确认当事人安全，协助安排临时住所和生活物资。",
    D.stranded: "请协助安排临时住宿，联系领馆办理回国手续。",
    D.unaccompanied_minor: "请联系孩子的学校和亲属，确保孩子有人照看。",
    D.rights_infringed: "请了解事实经过，协助联系当地律师。",
    D.other: "请了解情况并反馈。",
}
PROGRESS = {
    D.detained: "已联系当事人的律师，下周开庭，当事人身体状况良好。",
    D.lost_documents: "已陪同报警，报案回执已取得。",
    D.labour_business_dispute: "已与老板面谈，对方同意分期支付欠薪。",
    D.fraud_theft: "已陪同报警，警方已立案。",
    D.ill: "已到医院探望，病情稳定，医生建议继续住院观察。",
    D.injured: "已到医院探望，手术顺利。",
    D.missing: "侨团已发布寻人启事，正在走访当事人常去的地方。",
    D.dead: "已联系殡仪公司，正在办理死亡证明。",
    D.disaster_unrest: "已把当事人一家安排到华人社团的临时安置点，生活物资已送到。",
    D.stranded: "已安排临时住宿，领馆正在核实身份。",
    D.unaccompanied_minor: "孩子暂住在同学家，学校老师每天跟进。",
    D.rights_infringed: "已联系华人律师，律师愿意免费咨询。",
    D.other: "已了解情况。",
}
RESOLUTION = {
    O.assisted: "当事人情况已稳定，后续由本人自行处理，服务站保持联系。",
    O.referred: "已移交律师团队和当地警方跟进，当事人同意。",
    O.released: "当事人已获释，已通知家属。",
    O.repatriated: "当事人已回国，家属已接到。",
    O.located: "已找到当事人，本人平安，已与家属通话。",
    O.documents_reissued: "领馆已签发旅行证，当事人已取证。",
    O.withdrawn: "家属表示双方已私下和解，撤回求助。",
}
MISSION_NOTE = "请领馆关注并协助，必要时开展领事探视。"
OFFICER_NOTE = "家属来联络点询问进展，已告知正在处理，请服务站有消息及时反馈。"
TRIAGE_NOTE = "已电话联系家属核实情况。"
DECLINE_REASON = "服务站志愿者本周都在外地，无法及时前往，请改派其他服务站。"
REOPEN_REASON = "家属反映当事人再次失联，请求继续协助。"
CLOSE_NOTE = "经核实，同意结案。"
FLOOD = {"title": "意大利托斯卡纳普拉托洪灾", "country_code": "IT", "city": "Prato",
         "description": "强降雨导致普拉托多个街区被淹，部分华人住所、仓库和工厂受灾。"}
