"""Demo alerts that match the demo registrants: a safety-check drill sent to Prato three days ago
(with its deliveries and answers), a yearly Spring Festival reminder for Italy, France and Spain
(approved, recurring), and a heavy-rain warning for Milan waiting for a second coordinator's
approval. Loading is idempotent: it does nothing when any alert exists."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from alerts import targeting
from alerts.authoring import operations as ops
from alerts.authoring.recurrence import office_zone
from alerts.dispatch.outgoing import render_alert
from alerts.models import Alert, AlertState, Delivery, DeliveryState, ReplyKind
from consular.auth.models import User
from consular.db import db, unit_of_work, utcnow
from consular.registry.models import Registrant

DRILL = {
    "zh_Hans": {"headline": "普拉托领事保护应急演练",
                "body": "这是一次平安确认演练，用于检验联络渠道，无需采取其他行动。",
                "instruction": ""},
    "it": {"headline": "Esercitazione di protezione consolare a Prato",
           "body": "Questa è un'esercitazione per verificare i contatti: nessuna azione necessaria.",
           "instruction": ""},
}
SPRING_FESTIVAL = {
    "zh_Hans": {"headline": "春节出行安全提醒",
                "body": "春节将至，出行请注意防盗防骗，保管好护照和贵重物品。"
                        "遇紧急情况请联系驻外使领馆或当地服务站。",
                "instruction": ""},
    "it": {"headline": "Capodanno cinese: consigli di sicurezza",
           "body": "In vista del Capodanno cinese fate attenzione a furti e truffe e custodite passaporto e "
                   "oggetti di valore.",
           "instruction": ""},
    "en": {"headline": "Chinese New Year: travel safety",
           "body": "Ahead of the Spring Festival, watch out for theft and scams and keep your passport "
                   "and valuables safe.",
           "instruction": ""},
}
HEAVY_RAIN = {
    "zh_Hans": {"headline": "米兰暴雨预警",
                "body": "气象部门预报米兰未来24小时有强降雨，请减少外出，远离地下通道和河道。",
                "instruction": ""},
    "it": {"headline": "Allerta pioggia a Milano",
           "body": "Forti piogge previste a Milano nelle prossime 24 ore: limitate gli spostamenti ed "
                   "evitate sottopassi e corsi d'acqua.",
           "instruction": ""},
}


def _coordinators() -> tuple[User, User] | None:
    first = db.session.scalar(sa.select(User).where(User.username == "coordinator"))
    second = db.session.scalar(sa.select(User).where(User.username == "coordinator2"))
    return (first, second) if first is not None and second is not None else None


def _sent_drill(author: User, approver: User, now: datetime) -> Alert:
    office = office_zone()
    sent_at = (now - timedelta(days=3)).astimezone(office).replace(hour=10, minute=0, second=0,
                                                                   microsecond=0)
    drill = ops.create_alert(
        {"status": "Exercise", "category": "Safety", "event": "平安确认演练",
         "urgency": "Expected", "severity": "Minor", "certainty": "Observed",
         "base_language": "zh_Hans", "safety_check": True, "safety_check_minutes": 60,
         "expires_at": now + timedelta(hours=2)},
        DRILL, [{"country_code": "IT", "city": "Prato"}], user=author)
    ops.submit_for_approval(drill, user=author)
    ops.approve(drill, user=approver)
    # The drill took place three days ago: its times are moved back before the fan-out.
    drill.created_at = sent_at - timedelta(hours=2)
    drill.submitted_at = sent_at - timedelta(hours=1)
    drill.approved_at = sent_at - timedelta(minutes=10)
    drill.send_at = sent_at
    drill.expires_at = sent_at + timedelta(hours=24)
    db.session.flush()
    targeting.fan_out(drill, sent_at)
    deliveries = list(db.session.scalars(
        sa.select(Delivery).where(Delivery.alert_id == drill.id).order_by(Delivery.id)))
    # Each delivery records the segments of the SMS its recipient got, counted as the dispatcher
    # counts them (the validity line is in the recipient's time zone, so the length can differ).
    zones = {row.id: row.timezone for row in db.session.execute(
        sa.select(Registrant.id, Registrant.timezone).where(
            Registrant.id.in_([d.registrant_id for d in deliveries])))}
    texts = {t.language: t for t in drill.texts}
    sent: dict[tuple[str, str], int] = {}
    for i, delivery in enumerate(deliveries):
        key = (delivery.language, zones[delivery.registrant_id])
        if key not in sent:
            rendered = render_alert(drill, texts, *key)
            sent[key] = rendered[1] if rendered is not None else 1
        delivery.attempts = 1
        delivery.segments = sent[key]
        delivery.submitted_at = sent_at + timedelta(seconds=i)
        delivery.final_at = sent_at + timedelta(seconds=i + 5)
        delivery.provider_id = f"CMdemo{drill.id:04d}{i:06d}"
        if i % 19 == 7:
            delivery.state, delivery.error_code = DeliveryState.undelivered, 30003
            continue
        delivery.state = DeliveryState.delivered
        if i % 10 < 7:
            delivery.reply_kind, delivery.replied_at = ReplyKind.safe, sent_at + timedelta(minutes=3 + i)
        elif i % 23 == 8:
            delivery.reply_kind = ReplyKind.need_help
            delivery.replied_at = sent_at + timedelta(minutes=12)
    drill.state = AlertState.sent
    drill.finished_at = sent_at + timedelta(minutes=20)
    return drill


@unit_of_work()
def load_demo_alerts() -> int:
    """Create the demo alerts and the template library (idempotent). Commits. Returns how many
    alerts were created."""
    from alerts.authoring.demo_templates import load_demo_templates

    load_demo_templates()
    if db.session.scalar(sa.select(Alert.id).limit(1)) is not None:
        return 0
    pair = _coordinators()
    if pair is None:
        return 0
    author, approver = pair
    now = utcnow()
    _sent_drill(author, approver, now)

    reminder = ops.create_alert(
        {"status": "Actual", "category": "Safety", "event": "春节出行安全",
         "urgency": "Future", "severity": "Minor", "certainty": "Likely",
         "base_language": "zh_Hans", "public": True,
         "recurrence": {"kind": "holiday", "holiday": "spring_festival", "days_before": 14,
                        "time": "10:00"}},
        SPRING_FESTIVAL, [{"country_code": "IT"}, {"country_code": "FR"}, {"country_code": "ES"}],
        user=approver)
    ops.submit_for_approval(reminder, user=approver)
    ops.approve(reminder, user=author)

    rain = ops.create_alert(
        {"status": "Actual", "category": "Met", "event": "暴雨",
         "urgency": "Expected", "severity": "Moderate", "certainty": "Likely",
         "base_language": "zh_Hans", "send_at": now + timedelta(hours=6),
         "expires_at": now + timedelta(hours=30)},
        HEAVY_RAIN, [{"country_code": "IT", "city": "Milano"}], user=author)
    ops.submit_for_approval(rain, user=author)
    return 3
