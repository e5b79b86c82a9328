"""What an alert's webhook events say about it (``consular.webhooks.events`` lists the events):
ids and the CAP figures, never texts or recipients."""

from __future__ import annotations

from typing import Any

from alerts.models import Alert
from consular.webhooks.events import emit


def announce_alert(event: str, alert: Alert, **extra: Any) -> str | None:
    """Emit ``event`` (``alert.submitted`` …) for ``alert`` in the caller's transaction."""
    data: dict[str, Any] = {
        "alert_id": alert.id, "identifier": alert.identifier, "event": alert.event,
        "severity": str(alert.severity), "urgency": str(alert.urgency),
        "msg_type": str(alert.msg_type), "safety_check": bool(alert.safety_check),
    }
    return emit(event, {**data, **extra})
