"""What an alert will cost before anyone approves it: the exact SMS per language (drill marker,
safety-check prompt and footer included), its encoding and segments, the recipients by language
and country, the estimated price (``SMS_PRICE_PER_SEGMENT`` by destination country) and how long
the send takes at the configured rate (``SMS_SEGMENTS_PER_SECOND``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from alerts.authoring import placeholders
from alerts.channels.sms.encoding import SmsEncoding, analyse
from alerts.gateways.senders import total_rate
from alerts.models import Alert, CapStatus
from alerts.targeting import Preview, Target, language_case, preview, recipients_where
from config import current_settings
from consular.db import db, utcnow
from consular.registry.models import Registrant


def render_sms(*, headline: str, body: str, locale: str, status: CapStatus | str, safety_check: bool,
               expires_at: datetime, tz_name: str, instruction: str = "", with_footer: bool = True,
               msg_type: str = "Alert", reminder: bool = False) -> str:
    """The SMS exactly as a recipient in ``locale`` and zone ``tz_name`` gets it (the configured
    signature included)."""
    from alerts.channels.sms.texts import render_alert_sms, signature_for

    return render_alert_sms(headline=headline, body=body, locale=locale, status=str(status),
                            safety_check=safety_check, expires_at=expires_at, tz_name=tz_name,
                            with_footer=with_footer, instruction=instruction,
                            signature=signature_for(current_settings().sms_signatures, locale),
                            msg_type=str(msg_type), reminder=reminder)


@dataclass(frozen=True)
class LanguageText:
    """One language's SMS and what it costs."""

    language: str
    sms: str
    encoding: SmsEncoding
    body_encoding: SmsEncoding  # of the headline and message alone (what the coordinator typed)


def sample_values(texts: Mapping[str, Mapping[str, str]], *, place: str, event_time: datetime | None,
                  areas: Sequence[tuple[str, str]], tz_names: Mapping[str, str] | None = None,
                  ) -> dict[str, placeholders.Values]:
    """For each language, what fills the placeholders for someone in the first target area (the
    figures and the SMS shown before sending; each recipient's own are filled when it is sent)."""
    wanted = placeholders.used_anywhere(texts)
    if not wanted:
        return {}
    country, city = areas[0] if areas else (None, "")
    zone = current_settings().office_timezone
    return {lang: placeholders.values_for(locale=lang, tz_name=(tz_names or {}).get(lang, zone),
                                          place=place, event_time=event_time, country_code=country,
                                          city=city, wanted=wanted)
            for lang in texts}


def analyse_texts(texts: Mapping[str, Mapping[str, str]], *, status: CapStatus | str,
                  safety_check: bool, expires_at: datetime | None,
                  tz_name: str | None = None, msg_type: str = "Alert",
                  values: Mapping[str, placeholders.Values] | None = None) -> dict[str, LanguageText]:
    """Each language's full SMS, analysed as it will be billed (placeholders filled by ``values``)."""
    zone = tz_name or current_settings().office_timezone
    expiry = expires_at or utcnow()
    out: dict[str, LanguageText] = {}
    for language, fields in texts.items():
        if values and language in values:
            fields = placeholders.fill_fields(fields, values[language])
        headline, body = fields.get("headline", ""), fields.get("body", "")
        sms = render_sms(headline=headline, body=body, locale=language, status=status,
                         safety_check=safety_check, expires_at=expiry, tz_name=zone,
                         instruction=fields.get("instruction", ""), msg_type=msg_type)
        out[language] = LanguageText(language=language, sms=sms, encoding=analyse(sms),
                                     body_encoding=analyse(f"{headline}\n{body}"))
    return out


def analyse_alert(alert: Alert, tz_names: Mapping[str, str] | None = None,
                  expires_at: datetime | None = None) -> dict[str, LanguageText]:
    """Each language of a stored alert; ``tz_names`` gives a zone per language for the expiry time
    (default: the office's); ``expires_at`` overrides the alert's (a recurring alert's run)."""
    out: dict[str, LanguageText] = {}
    all_texts = {t.language: {"headline": t.headline, "body": t.body, "instruction": t.instruction}
                 for t in alert.texts}
    values = sample_values(all_texts, place=alert.place, event_time=alert.event_time,
                           areas=[(a.country_code, a.city) for a in alert.areas], tz_names=tz_names)
    for language, fields in all_texts.items():
        zone = (tz_names or {}).get(language)
        out.update(analyse_texts({language: fields},
                                 status=alert.status, safety_check=alert.safety_check,
                                 expires_at=expires_at or alert.expires_at, tz_name=zone,
                                 msg_type=str(alert.msg_type), values=values))
    return out


def prices() -> dict[str, Decimal]:
    """Price of one segment by destination country (ISO code), with a "default"."""
    return current_settings().sms_price_per_segment.value


def price_for(country_code: str) -> Decimal:
    table = prices()
    return table.get(country_code.upper(), table["default"])


def segments_per_second() -> float:
    """The send rate of all senders together (what the ETA divides by)."""
    return total_rate(current_settings())


@dataclass
class Estimate:
    """Recipients, segments, cost and duration of a send."""

    recipients: Preview
    segments: int = 0
    cost: Decimal = Decimal(0)
    currency: str = "CNY"
    seconds: float = 0.0
    segments_by_language: dict[str, int] = field(default_factory=dict)
    cost_by_country: dict[str, Decimal] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "total": self.recipients.total,
            "by_language": self.recipients.by_language,
            "by_country": self.recipients.by_country,
            "segments": self.segments,
            "cost": str(self.cost),
            "currency": self.currency,
            "seconds": round(self.seconds, 1),
            "segments_by_language": self.segments_by_language,
        }


def estimate(target: Target, texts: Mapping[str, LanguageText], now: datetime | None = None) -> Estimate:
    """What sending to ``target`` with these texts costs and how long it takes."""
    counted = preview(target, now)
    result = Estimate(recipients=counted, currency=current_settings().sms_currency)
    per_language = {lang: text.encoding.segments for lang, text in texts.items()}
    result.segments_by_language = per_language
    for (language, country), count in counted.by_language_country.items():
        segments = count * per_language.get(language, 1)
        cost = price_for(country) * segments
        result.segments += segments
        result.cost += cost
        result.cost_by_country[country] = result.cost_by_country.get(country, Decimal(0)) + cost
    result.cost = result.cost.quantize(Decimal("0.01"))
    result.seconds = result.segments / segments_per_second() if result.segments else 0.0
    return result


def typical_zones(target: Target) -> dict[str, str]:
    """For each language, the time zone most of its recipients live in (to show the SMS as they
    see it); languages nobody gets are left out."""
    language = language_case(target).label("language")
    rows = db.session.execute(
        sa.select(language, Registrant.timezone, sa.func.count().label("n"))
        .where(*recipients_where(target, utcnow().date()))
        .group_by(language, Registrant.timezone)
        .order_by(sa.desc("n"))
    ).all()
    zones: dict[str, str] = {}
    for lang, zone, _count in rows:
        zones.setdefault(lang, zone)
    return zones
