"""The demo cases' story: who is in each case, where and when, and what happens to it (the table
load_demo_cases plays), the names and made-up numbers of the people, and the words they write.
See consular.cases.demo for how the story is told through the case operations.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

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
O = Outcome  # noqa: E741 — short names keep the table readable
P = Priority

SPECS: list[Spec] = [
    # --- closed, over the last eighteen months -------------------------------------------------
    Spec(530, D.lost_documents, "IT", "Prato", "officer04", "closed", P.P3,
         "护照在普拉托被盗，需补办旅行证回国",
         "当事人在普拉托市场附近被扒窃，护照和居留卡一并丢失，下月需回国。",
         O.documents_reissued, mission=True, centre_only=True),
    Spec(515, D.labour_business_dispute, "IT", "Prato", "officer16", "closed", P.P3,
         "在普拉托服装厂被拖欠三个月工资", "当事人在一家华人服装厂做车工，老板以订单减少为由拖欠工资。",
         O.assisted, pace=2.5),
    Spec(500, D.fraud_theft, "FR", "Paris", "officer01", "closed", P.P2,
         "在巴黎被冒充警察的人骗走两万欧元", "对方自称中国警方，称其涉嫌洗钱，要求转账“保证金”。",
         O.referred, female=True),
    Spec(488, D.ill, "IT", "Milano", "officer20", "closed", P.P1,
         "在米兰突发脑溢血住院，家属无法赴意", "当事人在店里晕倒，送米兰尼瓜尔达医院抢救，目前昏迷。",
         O.assisted, mission=True, pace=1.5),
    Spec(470, D.detained, "ES", "Madrid", "officer06", "closed", P.P1,
         "因无证经营被马德里警方拘留", "当事人经营的百元店被查，警方以无证经营和逃税为由将其带走。",
         O.released, mission=True),
    Spec(455, D.lost_documents, "FR", "Paris", "officer05", "closed", P.P4,
         "在巴黎地铁丢失护照和居留卡", "在13号线换乘时发现背包被划开。", O.documents_reissued,
         mission=True, centre_only=True, female=True),
    Spec(440, D.missing, "IT", "Roma", "officer17", "closed", P.P1,
         "父亲在罗马失联一周，电话关机", "父亲在罗马一家餐馆打工，上周起电话一直关机，老板说他没来上班。",
         O.located, declined_by="roma", waits="罗马警方查询住院和拘留记录"),
    Spec(425, D.labour_business_dispute, "NL", "Amsterdam", "officer16", "closed", P.P3,
         "在阿姆斯特丹中餐馆打工被克扣工资并扣押护照", "老板以“保管”为名收走护照，每月只发一半工资。",
         O.assisted, female=True),
    Spec(410, D.dead, "IT", "Prato", "officer04", "closed", P.P1,
         "在普拉托因工伤去世，家属申请遗体运送回国", "当事人在仓库搬运时被叉车撞伤，抢救无效去世。",
         O.repatriated, mission=True, waits="意大利检察院出具遗体放行许可", pace=2),
    Spec(398, D.fraud_theft, "ES", "Madrid", "officer07", "closed", P.P3,
         "在马德里被网络投资平台诈骗", "通过社交软件认识的“投资顾问”诱导其在虚假平台投入三万欧元。",
         O.assisted),
    Spec(385, D.injured, "DE", "Frankfurt am Main", "officer09", "closed", P.P2,
         "留学生在法兰克福遭遇车祸受伤", "骑自行车时被汽车撞倒，腿部骨折，在法兰克福大学医院治疗。",
         O.assisted, female=True),
    Spec(370, D.lost_documents, "IT", "Milano", "officer10", "closed", P.P3,
         "钱包和护照在米兰中央火车站被偷", "", O.documents_reissued, mission=True, centre_only=True),
    Spec(355, D.labour_business_dispute, "FR", "Paris", "officer02", "closed", P.P4,
         "与巴黎餐馆合伙人发生股权纠纷", "合伙人私自变更公司登记，当事人要求退还投资款。",
         O.withdrawn),
    Spec(340, D.ill, "NG", "Lagos", "officer09", "closed", P.P2,
         "在拉各斯感染疟疾病情严重，需回国治疗", "当事人在工业园区工作，高烧多日，当地医疗条件有限。",
         O.repatriated, waits="航空公司确认担架座位"),
    Spec(330, D.detained, "AE", "Dubai", "officer10", "closed", P.P2,
         "在迪拜因签证逾期被拘留", "当事人工作签证到期未续，在机场出境时被扣留。", O.released,
         mission=True),
    Spec(318, D.fraud_theft, "IT", "Prato", "officer20", "closed", P.P3,
         "普拉托仓库被盗，损失货物约五万欧元", "夜间仓库门锁被撬，丢失布料和成衣。", O.assisted),
    Spec(305, D.lost_documents, "ES", "Madrid", "officer06", "closed", P.P2,
         "在马德里丢失护照，三天后需回国奔丧", "家中老人去世，当事人急需回国。", O.documents_reissued,
         mission=True, centre_only=True, female=True),
    Spec(290, D.labour_business_dispute, "IT", "Prato", "officer04", "closed", P.P3,
         "与意大利房东发生租赁纠纷被起诉", "房东以违规改变用途为由要求解约并索赔。", O.referred,
         pace=3),
    Spec(276, D.missing, "US", "New York", "officer01", "closed", P.P2,
         "女儿在纽约留学，一周未与家人联系", "女儿在纽约读研究生，微信和电话都没有回复。", O.located,
         female=True),
    Spec(262, D.stranded, "FR", "Paris", C1, "closed", P.P2,
         "老人在巴黎走失后滞留医院，无钱回国", "七十岁老人探亲期间走失，被送往医院，身上没有证件。",
         O.repatriated, channel=Channel.hotline),
    Spec(250, D.ill, "IT", "Roma", "officer17", "closed", P.P2,
         "在罗马怀孕期间突发并发症住院", "丈夫在国内，当事人不会意大利语。", O.assisted, female=True),
    Spec(236, D.fraud_theft, "NL", "Amsterdam", "officer16", "closed", P.P3,
         "在阿姆斯特丹遭遇电信诈骗", "接到冒充快递公司的电话，被骗取银行卡信息。", O.referred),
    Spec(222, D.labour_business_dispute, "ES", "Madrid", "officer07", "closed", P.P3,
         "在马德里超市工作受伤后被解雇", "搬货时扭伤腰部，老板拒绝支付病假工资并将其解雇。",
         O.assisted),
    Spec(210, D.lost_documents, "DE", "Frankfurt am Main", "station-frankfurt", "closed", P.P4,
         "留学生在法兰克福丢失护照", "", O.documents_reissued, centre_only=True, female=True),
    Spec(190, D.injured, "IT", "Milano", "officer09", "closed", P.P2,
         "在米兰建筑工地摔伤", "从脚手架上摔下，肋骨骨折，雇主未给买保险。", O.assisted),
    Spec(175, D.detained, "FR", "Paris", "officer02", "closed", P.P1,
         "在巴黎因打架被警方拘留", "与邻居发生冲突后被带走，家属不知道关押地点。", O.released,
         mission=True),
    Spec(160, D.dead, "ES", "Madrid", "officer07", "closed", P.P1,
         "在马德里突发心脏病去世", "当事人在家中突发心脏病，家属希望在当地火化后将骨灰带回。",
         O.repatriated, mission=True),
    # The Prato flood: five cases under one incident.
    Spec(150, D.disaster_unrest, "IT", "Prato", "station-prato", "closed", P.P1,
         "普拉托洪水淹没住所，一家四口暂住安置点", "夜间暴雨，住所一楼被淹，两个孩子年幼。",
         O.assisted, incident=True, female=True),
    Spec(149.9, D.disaster_unrest, "IT", "Prato", "officer04", "closed", P.P1,
         "家属联系不上在普拉托洪灾区的儿子", "儿子住在普拉托受灾最重的街区，手机一直没有信号。",
         O.located, incident=True),
    Spec(149.7, D.disaster_unrest, "IT", "Prato", "officer20", "closed", P.P2,
         "洪水中车辆被冲走，本人轻伤", "当事人在驾车回家途中遇到洪水，弃车逃生时受轻伤。",
         O.assisted, incident=True),
    Spec(149.5, D.disaster_unrest, "IT", "Prato", C2, "closed", P.P2,
         "工厂被淹，二十名工人需要临时住所", "服装厂老板求助，工人宿舍在厂房楼上。", O.assisted,
         incident=True, channel=Channel.hotline),
    Spec(149, D.disaster_unrest, "IT", "Prato", "officer16", "waiting", P.P3,
         "洪灾后店铺损毁，申请当地灾后补助", "店铺货物全部损毁，需要翻译协助申请市政府补助。",
         incident=True, waits="普拉托市政府灾后补助审批", female=True),
    Spec(130, D.fraud_theft, "IT", "Milano", "officer10", "closed", P.P3,
         "在米兰被中介骗取居留办理费用", "中介收取三千欧元后失联，居留申请根本没有递交。",
         O.assisted, female=True),
    Spec(110, D.labour_business_dispute, "AE", "Dubai", "officer09", "closed", P.P3,
         "在迪拜项目上被拖欠工资", "分包商拖欠四个月工资，工人无法回国。", O.assisted,
         waits="迪拜人力资源部调解"),
    Spec(95, D.unaccompanied_minor, "IT", "Prato", "officer04", "closed", P.P1,
         "十五岁孩子独自在普拉托，父母在国内", "孩子投靠的亲戚回国，孩子一人留在出租屋。", O.assisted,
         female=True),
    Spec(80, D.lost_documents, "US", "New York", "officer01", "closed", P.P4,
         "在纽约丢失护照", "在法拉盛购物时遗失。", O.documents_reissued, mission=True,
         centre_only=True),
    Spec(70, D.ill, "FR", "Paris", "officer05", "closed", P.P2,
         "在巴黎突发急性阑尾炎，语言不通", "当事人刚到法国一个月，不会法语。", O.assisted),
    Spec(60, D.rights_infringed, "IT", "Milano", "officer10", "closed", P.P3,
         "在米兰被房东非法驱逐", "房东换锁并扔出个人物品，合同尚未到期。", O.referred, female=True),
    Spec(50, D.fraud_theft, "NG", "Lagos", "officer09", "closed", P.P1,
         "在拉各斯被持枪抢劫", "下班途中被抢走手机和现金，本人未受伤但受到惊吓。", O.assisted),
    Spec(40, D.labour_business_dispute, "ES", "Madrid", "officer07", "closed", P.P4,
         "与马德里供货商发生合同纠纷", "对方交付的货物与合同不符，拒绝退款。", O.withdrawn),
    Spec(30, D.lost_documents, "IT", "Prato", "officer20", "closed", P.P3,
         "护照过期且遗失，需要办理旅行证回国", "", O.documents_reissued, mission=True,
         centre_only=True),
    # --- closed, then reopened ------------------------------------------------------------------
    Spec(120, D.missing, "IT", "Roma", "officer17", "reopened", P.P2,
         "弟弟在罗马失联，曾找到后再次失去联系", "弟弟在罗马做装修工，两次失联。", O.located),
    # --- resolved, waiting for the centre to close ----------------------------------------------
    Spec(44, D.ill, "DE", "Frankfurt am Main", "officer11", "resolved", P.P2,
         "留学生在法兰克福抑郁症发作，家属请求探望", "室友发现当事人多日不出门，已送医。", O.assisted,
         female=True),
    Spec(29, D.labour_business_dispute, "IT", "Prato", "officer04", "resolved", P.P3,
         "在普拉托工厂被拖欠工资两个月", "同厂还有五名温州老乡被欠薪。", O.assisted),
    Spec(23, D.detained, "FR", "Paris", "officer02", "resolved", P.P1,
         "因涉嫌非法打工在巴黎被拘留", "在建筑工地检查中被带走，家属担心被遣返。", O.released,
         mission=True),
    # --- waiting for others ---------------------------------------------------------------------
    Spec(37, D.dead, "IT", "Milano", "officer10", "waiting", P.P1,
         "在米兰遭遇交通事故身亡", "当事人骑电动车被货车撞倒，当场死亡。家属希望遗体运回国内安葬。",
         mission=True, waits="意大利检察院出具死亡证明和遗体放行许可"),
    Spec(27, D.fraud_theft, "ES", "Madrid", "officer07", "waiting", P.P2,
         "在马德里被冒充中国使馆的电话诈骗", "对方称其护照涉案，要求把存款转入“安全账户”。",
         waits="西班牙国家警察调查结果", female=True),
    # --- being worked ---------------------------------------------------------------------------
    Spec(19, D.injured, "IT", "Prato", "officer16", "in_progress", P.P2,
         "在普拉托遭抢劫受伤住院", "晚上收工回家途中被两人抢劫，头部受伤。"),
    Spec(15, D.labour_business_dispute, "NL", "Amsterdam", "officer20", "in_progress", P.P3,
         "在阿姆斯特丹餐馆工作被扣押护照", "老板拒绝归还护照，当事人想辞职回国。", female=True),
    Spec(10, D.ill, "AE", "Dubai", "officer09", "in_progress", P.P1,
         "在迪拜工地中暑昏迷", "午间高温作业后昏倒，送拉希德医院。"),
    Spec(6, D.missing, "US", "New York", "officer01", "in_progress", P.P2,
         "在纽约的哥哥三天联系不上", "哥哥在纽约一家中餐馆工作，室友说他三天没有回住处。",
         mission=True),
    # --- offered to a station, not answered yet -------------------------------------------------
    Spec(4, D.lost_documents, "IT", "Milano", "station-milano", "assigned", P.P3,
         "护照被盗，需要志愿者陪同报警", "当事人不会意大利语，需要陪同去警察局开报案证明。",
         female=True),
    Spec(2.5, D.fraud_theft, "FR", "Paris", "officer05", "assigned", P.P3,
         "在巴黎被盗刷银行卡", "银行卡被复制，三天内被刷走四千欧元。"),
    Spec(1.5, D.labour_business_dispute, "IT", "Roma", "officer17", "assigned", P.P2,
         "在罗马的店铺被房东强行收回", "房东带人换锁，店里还有大量库存。"),
    # --- triaged, waiting for a hand-off ---------------------------------------------------------
    Spec(3, D.stranded, "NG", "Lagos", "officer09", "triaged", P.P3,
         "在拉各斯机场滞留，签证出现问题", "出境时被告知签证记录有误，航班已错过。"),
    Spec(2, D.lost_documents, "ES", "Madrid", "officer06", "triaged", P.P4,
         "在马德里丢失护照和机票", "", mission=True, female=True),
    Spec(1.2, D.other, None, "温州", C1, "triaged", P.P3,
         "意大利游客在温州丢失护照，需协助联系其领馆", "游客在五马街购物时丢失护照，酒店前台来电求助。",
         kind=CaseKind.domestic, channel=Channel.phone),
    Spec(0.85, D.detained, "IT", "Prato", "officer04", "triaged", P.P1,
         "在普拉托因涉嫌走私被拘押", "家属称当事人帮朋友代收货物，货物中查出假冒品牌。"),
    # --- new: waiting for the centre (two of them overdue) ---------------------------------------
    Spec(0.6, D.injured, "IT", "Milano", "officer10", "new", P.P2,
         "在米兰被电动车撞伤，需要翻译陪同就医", "腿部受伤，医院要求手术，当事人听不懂医生的解释。"),
    Spec(1.3, D.fraud_theft, "FR", "Paris", "station-paris", "new", P.P3,
         "华人商户在巴黎美丽城遭遇连环盗窃", "同一条街三家华人商店一周内被盗。",
         channel=Channel.station),
    Spec(0.12, D.labour_business_dispute, "ES", "Madrid", "officer07", "new", P.P3,
         "在马德里工作被拖欠工资", "在一家批发店工作半年，老板一直拖欠工资。", female=True),
    Spec(0.05, D.lost_documents, "DE", "Frankfurt am Main", "officer11", "new", P.P4,
         "在法兰克福丢失学生证和护照", ""),
    Spec(0.02, D.ill, "IT", "Prato", "officer16", "new", P.P2,
         "在普拉托突发心脏病住院", "家属刚接到医院电话，还不清楚病情。"),
]

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
