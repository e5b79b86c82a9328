"""Helpers shared by the alert authoring tests (registrants, alert input, a fanned-out alert)."""

from __future__ import annotations

import itertools
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from alerts.authoring import operations as ops
from alerts.models import Alert
from consular.auth.models import User
from consular.db import db, keyring, utcnow
from consular.registry.models import ConsentMethod, Registrant, RegistrantKind, RegistrantStatus

_numbers = itertools.count(1)


def make_registrant(country: str = "IT", language: str = "zh_Hans", city: str = "Prato", *,
                    kind: RegistrantKind = RegistrantKind.citizen_abroad,
                    status: RegistrantStatus = RegistrantStatus.active,
                    stay_from: date | None = None, stay_until: date | None = None,
                    ended: bool = False, timezone: str = "Europe/Rome",
                    name: str = "王小明", commit: bool = True) -> Registrant:
    n = next(_numbers)
    phone = f"+39333{n:07d}"
    digest = keyring().search_hash(phone, "phone")
    person = Registrant(
        kind=kind, name=name, phone=phone, phone_hash=digest,
        current_phone_hash=None if ended else digest, language=language, country_code=country,
        city=city, timezone=timezone, stay_from=stay_from, stay_until=stay_until,
        consent_at=utcnow(), consent_method=ConsentMethod.written, status=status,
        ended_at=utcnow() if ended else None)
    db.session.add(person)
    if commit:
        db.session.commit()
    return person


def alert_input(now: datetime | None = None, **overrides: Any) -> dict[str, Any]:
    moment = now or utcnow()
    data: dict[str, Any] = {
        "status": "Actual", "category": "Security", "event": "Street protests",
        "urgency": "Immediate", "severity": "Severe", "certainty": "Likely",
        "base_language": "zh_Hans", "expires_at": moment + timedelta(hours=24),
    }
    data.update(overrides)
    return data


TEXTS = {
    "zh_Hans": {"headline": "普拉托市中心游行", "body": "今天下午普拉托市中心有游行，请避开火车站一带。"},
    "en": {"headline": "Protest in central Prato", "body": "Avoid the station area this afternoon."},
    "it": {"headline": "Manifestazione a Prato", "body": "Evitate la zona della stazione oggi."},
}


def texts(*languages: str) -> dict[str, dict[str, str]]:
    chosen = languages or tuple(TEXTS)
    return {lang: dict(TEXTS[lang]) for lang in chosen}


def compose_page_form(*, event: str, category: str, urgency: str, severity: str, certainty: str,
                      area_country: str, send_mode: str, **fields: Any) -> dict[str, Any]:
    """The compose page's fields for an alert in Chinese and English (the texts above), expiring in
    24 hours office time, saved as a draft; ``fields`` add the page's other fields or replace these."""
    form: dict[str, Any] = {
        "status": "Actual", "event": event, "category": category, "urgency": urgency,
        "severity": severity, "certainty": certainty, "base_language": "zh_Hans",
        "languages": ["zh_Hans", "en"], "area_country": [area_country], "area_city": [""],
        "send_mode": send_mode, "safety_check_minutes": "60", "action": "save",
        "expires_at": (utcnow() + timedelta(hours=24)).astimezone(ZoneInfo("Asia/Shanghai"))
        .strftime("%Y-%m-%dT%H:%M"),
    }
    for lang, written in texts("zh_Hans", "en").items():
        form[f"headline-{lang}"] = written["headline"]
        form[f"body-{lang}"] = written["body"]
    form.update(fields)
    return form


def approved_alert(author: User, approver: User, *, areas: list[dict[str, str]] | None = None,
                   languages: tuple[str, ...] = ("zh_Hans", "en", "it"), **data: Any) -> Alert:
    """An alert written by ``author`` and approved by ``approver`` (committed)."""
    alert = ops.create_alert(alert_input(**data), texts(*languages),
                             areas or [{"country_code": "IT", "city": ""}], user=author)
    ops.submit_for_approval(alert, user=author)
    ops.approve(alert, user=approver)
    db.session.commit()
    return alert
