"""Twilio's errors as the fake answers them (``TwilioError``: Twilio's JSON error shape and codes)
and the date filters of its list requests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from alerts.gateways.fake.state import ERROR_TEXT

HTTP_CODE = {429: 20429, 500: 20500, 503: 20503}


class TwilioError(Exception):
    def __init__(self, status: int, code: int, **values: Any) -> None:
        super().__init__(code)
        self.status = status
        self.code = code
        self.values = values
        self.headers: dict[str, str] = {}

    def response(self) -> web.Response:
        template = ERROR_TEXT.get(self.code, "Error")
        try:
            message = template.format(**self.values)
        except KeyError:
            message = template
        body = {"code": self.code, "message": message,
                "more_info": f"https://www.twilio.com/docs/errors/{self.code}", "status": self.status}
        return web.json_response(body, status=self.status, headers=self.headers)


def date_bounds(value: str | None) -> tuple[datetime, datetime] | None:
    """A DateSent filter value as [start, end): a day (YYYY-MM-DD) or one instant (ISO 8601)."""
    if not value:
        return None
    value = value.strip()
    if len(value) == 10:
        day = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
        return day, day + timedelta(days=1)
    instant = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    return instant, instant + timedelta(seconds=1)
