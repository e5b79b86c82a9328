"""The compose screen's live figures, computed as the coordinator types: recipients by language and
country, cost and duration, each language's SMS frame and the characters that force UCS-2,
warnings when nobody (or not everybody) would receive the alert, and the runs of a schedule."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from babel.dates import format_timedelta
from babel.numbers import format_currency
from flask_babel import gettext as _
from flask_babel import ngettext

import i18n
from alerts import targeting
from alerts.authoring import compose, placeholders, schedule_input, validation
from alerts.authoring.forms import AlertForm, ComposeInput, parse_local
from alerts.authoring.geo_input import GEO_SHAPES
from alerts.authoring.maps import area_shapes, recipients_by_place
from alerts.authoring.operations import OCCURRENCE_VALIDITY
from alerts.authoring.recurrence import Schedule, next_run_after, office_zone_name
from alerts.channels.sms.texts import SMS_LOCALES
from alerts.dispatch.quiet import is_urgent
from alerts.models import CapStatus
from config import current_settings
from consular.db import utcnow
from consular.registry.models import RegistrantKind


def duration_text(seconds: float) -> str:
    if seconds <= 0:
        return "—"
    if seconds < 60:
        return _("under a minute")
    return str(format_timedelta(timedelta(seconds=seconds), threshold=1.0, add_direction=False,
                                locale=i18n.current_locale()))


def money(amount: Decimal, currency: str) -> str:
    return str(format_currency(amount, currency, locale=i18n.current_locale()))


def reach_warnings(target: targeting.Target, *, send_at: datetime | None, expires_at: datetime | None,
                   urgent: bool) -> list[str]:
    """What to tell the coordinator and the approver before approval: nobody would receive the
    alert (and why), or quiet hours where some or all recipients live last past its expiry (they
    would get nothing). Computed by ``targeting.reach``, the recipient preview's own query."""
    if not target.areas:
        return []
    settings = current_settings()
    found = targeting.reach(target, send_at=send_at or utcnow(), expires_at=expires_at, urgent=urgent,
                            quiet_hours=settings.quiet_hours, office_zone=settings.office_timezone)
    warnings: list[str] = []
    if not found.recipients:
        opted_out = found.unreachable.get("opted_out", 0)
        invalid = found.unreachable.get("invalid_number", 0)
        if opted_out or invalid:
            warnings.append(_(
                "Nobody can receive this alert: everyone registered for it has unsubscribed or has "
                "a number that cannot receive SMS (unsubscribed: %(opted_out)s; number unusable: "
                "%(invalid)s).",
                opted_out=i18n.format_number(opted_out), invalid=i18n.format_number(invalid)))
        else:
            warnings.append(_("Nobody is registered in these areas for this audience: the alert "
                              "would reach no one."))
        return warnings
    held = found.quiet_total
    if held:
        zones = ", ".join(sorted(found.quiet_past_expiry))
        if held >= found.recipients:
            warnings.append(_(
                "Quiet hours where every recipient lives (%(zones)s) last past the expiry: nobody "
                "would get this alert. Move the expiry or the send time, or choose the urgency \"Act now\".",
                zones=zones))
        else:
            warnings.append(ngettext(
                "%(num)s of %(total)s recipients is in quiet hours until after the expiry "
                "(%(zones)s) and would get nothing.",
                "%(num)s of %(total)s recipients are in quiet hours until after the expiry "
                "(%(zones)s) and would get nothing.",
                held, total=i18n.format_number(found.recipients), zones=zones))
    return warnings



def estimate_payload(target: targeting.Target, texts: Mapping[str, Mapping[str, str]], *,
                      status: str, safety_check: bool, expires_at: datetime | None,
                      send_at: datetime | None = None, urgent: bool = False, place: str = "",
                      event_time: datetime | None = None, msg_type: str = "Alert") -> dict[str, Any]:
    from alerts.channels.sms.encoding import analyse
    from alerts.channels.sms.texts import (
        drill_marker,
        kind_marker,
        render_alert_sms,
        signature_for,
        test_marker,
    )

    zone = office_zone_name()
    place = place or validation.centre_place(target.areas)
    values = compose.sample_values(texts, place=place, event_time=event_time,
                                   areas=[(a.country_code, a.city) for a in target.areas])
    analysed = compose.analyse_texts(texts, status=status, safety_check=safety_check,
                                     expires_at=expires_at, tz_name=zone, msg_type=msg_type,
                                     values=values)
    result = compose.estimate(target, analysed)
    languages: dict[str, Any] = {}
    for lang, text in analysed.items():
        marker = {"Exercise": drill_marker, "Test": test_marker}.get(status)
        # The automatic parts of the message: before the headline the signature and markers, after
        # the text the validity, the safety-check prompt and the unsubscribe line. What they cost
        # is shown beside the text the coordinator writes.
        prefix = signature_for(current_settings().sms_signatures, lang) \
            + (marker(lang) if marker else "") + kind_marker(lang, msg_type)
        tail = render_alert_sms(headline="", body="", locale=lang, status="Actual",
                                safety_check=safety_check, expires_at=expires_at or utcnow(),
                                tz_name=zone)
        automatic = prefix + "\n" + tail
        alone = analyse(automatic)
        # In the message's own encoding (a Chinese headline makes the Latin footer UCS-2 too).
        auto_units = alone.units if alone.encoding == text.encoding.encoding \
            else len(automatic.encode("utf-16-le")) // 2
        filled = values.get(lang)
        languages[lang] = {
            "marker": prefix,
            "tail": tail,
            "fill": {name: filled.get(name) for name in placeholders.PLACEHOLDERS} if filled else {},
            "automatic_units": auto_units,
            "automatic_share": round(100 * auto_units / text.encoding.units) if text.encoding.units else 0,
            "sms": text.sms,
            **text.encoding.as_dict(),
            **_forcing(text.encoding.ucs2_chars),
        }
    counted = result.recipients
    return {
        "total": counted.total,
        "total_text": i18n.format_number(counted.total),
        "by_language": [{"code": code, "name": i18n.language_name(code), "count": n}
                        for code, n in counted.by_language.items()],
        "by_country": [{"code": code, "name": i18n.country_name(code), "count": n}
                       for code, n in counted.by_country.items()],
        "segments": result.segments,
        "cost": str(result.cost),
        "cost_text": money(result.cost, result.currency),
        "seconds": round(result.seconds, 1),
        "duration_text": duration_text(result.seconds),
        "rate": compose.segments_per_second(),
        "languages": languages,
        "warnings": reach_warnings(target, send_at=send_at, expires_at=expires_at, urgent=urgent),
        "map": {"areas": area_shapes(target.areas), "places": recipients_by_place(target)},
    }


def _forcing(chars: tuple[str, ...]) -> dict[str, Any]:
    """Which characters to point out: a letter of a script outside GSM-7 (Chinese, Arabic…)
    makes UCS-2 unavoidable, so then nothing is worth replacing; otherwise the typographic marks
    that force it."""
    script = any(unicodedata.category(ch)[0] in "LM" for ch in chars)
    return {"script_ucs2": script, "forcing_marks": [] if script else list(chars)}


def form_estimate(form: AlertForm, languages: list[str], texts: Mapping[str, Mapping[str, str]],
                   areas: list[dict[str, str]], send_mode: str,
                   msg_type: str = "Alert", crontab: str | None = None) -> dict[str, Any] | None:
    """The estimate panel's first figures, computed with the page (the script refreshes them)."""
    status = form.status.data if form.status.data in {s.value for s in CapStatus} else CapStatus.Actual.value
    base = form.base_language.data if form.base_language.data in SMS_LOCALES else "zh_Hans"
    known = {k.value for k in RegistrantKind}
    kinds = tuple(k for k in (form.audience_kinds.data or []) if k in known)
    listed: list[targeting.TargetArea] = []
    for i, a in enumerate(areas):
        if a.get("shape") in GEO_SHAPES:
            found, _problems = validation.geo_area(a, i)
            if found is not None:
                listed.append(targeting.TargetArea(found.country_code, found.city, found.shape,
                                                   found.latitude, found.longitude,
                                                   found.radius_km, found.polygon))
        elif i18n.is_country_code(a["country_code"].strip().upper()):
            listed.append(targeting.TargetArea(a["country_code"].strip().upper(),
                                               a["city"].strip()[:validation.MAX_CITY]))
    target_areas = tuple(listed)
    target = targeting.Target(areas=target_areas, languages=tuple(languages), base_language=base,
                              audience_kinds=kinds if len(kinds) < len(known) else (),
                              present_only=bool(form.present_only.data))
    try:
        expires = parse_local(form.expires_at.data or "", office_zone_name())
    except ValueError:
        expires = None
    try:
        send_at = parse_local(form.send_at.data or "", office_zone_name()) if send_mode != "now" else None
    except ValueError:
        send_at = None
    runs: list[datetime] = []
    runs_error = ""
    if send_mode == "recurring":
        raw = schedule_input.raw_from_form(form, crontab)
        runs, runs_error, schedule, end = schedule_input.preview(raw, send_at or utcnow(), expires)
        if runs and schedule is not None and end is not None:
            send_at, expires = runs[0], run_expiry(schedule, runs[0], end)
    clipped = {lang: {k: v[:validation.MAX_BODY_CHARS] for k, v in texts.get(lang, {}).items()}
               for lang in languages}
    try:
        event_time = parse_local(form.event_time.data or "", office_zone_name())
    except ValueError:
        event_time = None
    payload = estimate_payload(target, clipped, status=status, safety_check=bool(form.safety_check.data),
                               expires_at=expires, send_at=send_at,
                               urgent=is_urgent(form.urgency.data or "", form.severity.data or ""),
                               place=(form.place.data or "")[:validation.MAX_PLACE], event_time=event_time,
                               msg_type=msg_type)
    payload["runs"], payload["runs_error"] = schedule_input.next_texts(runs), runs_error
    return payload


def run_expiry(schedule: Schedule, fire: datetime, series_end: datetime) -> datetime:
    """What ``operations.occurrence_expiry`` will give the run at ``fire`` (for an alert not saved yet)."""
    following = next_run_after(schedule, fire)
    return min([fire + OCCURRENCE_VALIDITY, series_end, *([following] if following else [])])


def runs_preview(mode: str, parsed: ComposeInput, expires: datetime | None,
                 ) -> tuple[list[str], str, datetime | None, datetime | None]:
    """The next three runs of a recurring schedule in plain words, or why there are none; the
    first run and until when it is valid (the estimate is of that run's messages)."""
    raw = parsed.data.get("recurrence")
    if mode != "recurring" or raw is None:
        return [], "", None, None
    start = parsed.data.get("send_at") if "send_at" not in parsed.errors else None
    runs, error, schedule, end = schedule_input.preview(raw, start or utcnow(), expires)
    if not runs or schedule is None or end is None:
        return [], error, None, None
    return schedule_input.next_texts(runs), "", runs[0], run_expiry(schedule, runs[0], end)
