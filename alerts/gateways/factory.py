"""The gateway the settings name: Twilio in production, the console outbox by default."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from alerts.gateways.protocol import SmsGateway

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine


def gateway_from_settings(settings: Any, engine: Engine | None = None) -> SmsGateway:
    """The gateway ``settings.sms_gateway`` names. The console gateway writes to ``engine`` (default:
    the Flask-SQLAlchemy engine of the current app)."""
    if settings.sms_gateway == "twilio":
        from alerts.gateways.senders import senders_from_settings
        from alerts.gateways.twilio import TwilioGateway

        return TwilioGateway(
            account_sid=settings.twilio_account_sid,
            auth_token=settings.twilio_auth_token,
            messaging_service_sid=settings.twilio_messaging_service_sid,
            from_number=settings.twilio_from_number,
            api_base=settings.twilio_api_base,
            senders=senders_from_settings(settings),
            whatsapp_from=settings.twilio_whatsapp_from,
            voice_from=settings.twilio_voice_from,
        )
    if settings.sms_gateway == "console":
        from alerts.gateways.console import ConsoleGateway

        if engine is None:
            from consular.db import db

            engine = db.engine
        return ConsoleGateway(engine)
    raise ValueError(f"unknown SMS gateway: {settings.sms_gateway!r}")
