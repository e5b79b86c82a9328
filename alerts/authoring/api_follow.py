"""Following an alert through the API (``/api/v1/alerts/<id>/…``): its progress (the progress
page's own figures), the call round of its safety check, its deliveries (paged, the phone numbers
masked) and the link to its CAP document. Coordinators only, as the pages; reading the call round
or the deliveries names people, so each read leaves an entry in the audit trail. The routes join
the alerts API's blueprint (``alerts.authoring.api``)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from flask import Response, abort, jsonify

from alerts.authoring import api_schemas as s
from alerts.authoring.api import alert_or_404, coordinator, on_alert
from alerts.authoring.call_round import call_round_rows
from alerts.authoring.cap import to_cap_xml
from alerts.authoring.feeds import cap_url, is_public
from alerts.authoring.progress import progress_data
from alerts.authoring.views import CALL_ROUND_LIMIT
from alerts.models import Delivery, DeliveryState, ReplyKind
from consular.api import QueryArgs, page_json
from consular.audit.operations import record
from consular.db import db, utcnow
from consular.network.queries import paginate
from consular.registry.models import Registrant

FAILED = (DeliveryState.failed, DeliveryState.undelivered)


def masked(phone: str | None) -> str | None:
    """A number shown without the digits that identify it: its country prefix and last two digits
    (``+39•••••••67``)."""
    if not phone:
        return None
    keep = 3 if phone.startswith("+") else 0
    hidden = max(len(phone) - keep - 2, 1)
    return phone[:keep] + "\u2022" * hidden + phone[keep + hidden:]


def _why(delivery: Delivery) -> str:
    if delivery.reply_kind == ReplyKind.need_help:
        return "need_help"
    return "not_reached" if delivery.state in FAILED else "no_answer"


def _reply(delivery: Delivery) -> str | None:
    return str(delivery.reply_kind) if delivery.reply_kind is not None else None


@on_alert("progress", "Follow an alert's send", method="GET", responses={200: s.AlertProgressOut},
          description="The progress page's figures: messages by state, language and country, why "
                      "some were skipped, the safety check's answers and the time left.")
def progress(alert_id: int) -> Response:
    coordinator()
    alert = alert_or_404(alert_id)
    return jsonify(s.dump(s.AlertProgressOut, progress_data(alert)))


@on_alert("call-round", "The call round of a safety check", method="GET",
          responses={200: s.AlertCallRoundOut},
          status_descriptions={404: "Not found, or the alert asks no safety check."},
          description="Whom to phone: those who asked for help first, then those the message did "
                      f"not reach, then those who have not answered in the set time (at most "
                      f"{CALL_ROUND_LIMIT}). Recorded in the audit trail.")
def call_round(alert_id: int) -> Response:
    user = coordinator()
    alert = alert_or_404(alert_id)
    if not alert.safety_check:
        abort(404)
    cutoff = utcnow() - timedelta(minutes=alert.call_round_minutes)
    rows = call_round_rows(alert, cutoff, CALL_ROUND_LIMIT)
    record("alert.call_round.view", "alert", alert.id, {"rows": len(rows), "via": "api"}, user=user)
    items = [{"delivery_id": d.id, "registrant_id": r.id, "name": r.name, "phone": r.phone,
              "language": d.language, "country_code": d.country_code, "city": r.city or "",
              "why": _why(d), "state": str(d.state), "reply": _reply(d), "replied_at": d.replied_at}
             for d, r, _answer in rows]
    return jsonify(s.dump(s.AlertCallRoundOut, {"items": items, "cutoff": cutoff,
                                           "limit": CALL_ROUND_LIMIT}))


def _delivery_json(delivery: Delivery, phone: str | None) -> dict[str, Any]:
    return s.dump(s.AlertDeliveryOut, {
        **{name: getattr(delivery, name) for name in (
            "id", "registrant_id", "language", "country_code", "attempts", "segments", "due_at",
            "submitted_at", "final_at", "skip_reason", "error_code", "replied_at")},
        "state": str(delivery.state), "reply": _reply(delivery), "phone": masked(phone)})


@on_alert("deliveries", "An alert's messages, one per recipient", method="GET",
          query=s.AlertDeliveryListQuery, responses={200: s.AlertDeliveryPage},
          description="Paged, in the order they were planned; the numbers masked. Recorded in the "
                      "audit trail.")
def deliveries(alert_id: int) -> Response:
    user = coordinator()
    alert = alert_or_404(alert_id)
    query = QueryArgs()
    state = query.choice("state", [d.value for d in DeliveryState])
    limit, offset = query.paging()
    query.check()
    select = sa.select(Delivery).where(Delivery.alert_id == alert.id).order_by(Delivery.id)
    if state:
        select = select.where(Delivery.state == DeliveryState(state))
    page = paginate(select, limit, offset)
    wanted = {d.registrant_id for d in page.items}
    phones: dict[int, str | None] = dict(db.session.execute(
        sa.select(Registrant.id, Registrant.phone).where(Registrant.id.in_(wanted))).all()) if wanted else {}
    record("alert.deliveries.view", "alert", alert.id,
           {"shown": len(page.items), "total": page.total, "via": "api"}, user=user)
    return page_json(page, lambda d: _delivery_json(d, phones.get(d.registrant_id)))


@on_alert("cap", "The link to an alert's CAP 1.2 document", method="GET",
          responses={200: s.AlertCapLinkOut},
          description="The document is in `document`; at `url` it is served to anyone once the "
                      "alert is public and issued, and to coordinators logged in to the pages.")
def cap_link(alert_id: int) -> Response:
    coordinator()
    alert = alert_or_404(alert_id)
    return jsonify(s.dump(s.AlertCapLinkOut, {"identifier": alert.identifier, "url": cap_url(alert),
                                         "public": is_public(alert),
                                         "document": to_cap_xml(alert).decode("utf-8")}))
