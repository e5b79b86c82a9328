"""Our Twilio number, an SMS texted in to it through the fake Twilio, and reading the TwiML answer."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from consular.registry.models import Registrant
    from tests.support.dispatch import TwilioSetup

OUR_NUMBER = "+15005550006"


def answer_of(twiml: str) -> str | None:
    root = ET.fromstring(twiml)  # noqa: S314 (our own answer, in a test)
    assert root.tag == "Response"
    message = root.find("Message")
    return message.text if message is not None else None


def text_in(setup: TwilioSetup, person: Registrant | str, body: str) -> str | None:
    """``body`` texted from ``person`` (a registrant or a number) to our number, through the fake
    Twilio's signed webhook; the text of our SMS answer, if any."""
    number = person if isinstance(person, str) else person.phone
    result = setup.fake.send_inbound(number, OUR_NUMBER, body, f"{setup.base_url}/webhooks/twilio/inbound")
    assert result["status"] == 200, result
    return answer_of(result["body"])
