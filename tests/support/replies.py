"""Our Twilio number and reading the TwiML answer to an inbound SMS."""

from __future__ import annotations

import xml.etree.ElementTree as ET

OUR_NUMBER = "+15005550006"


def answer_of(twiml: str) -> str | None:
    root = ET.fromstring(twiml)  # noqa: S314 (our own answer, in a test)
    assert root.tag == "Response"
    message = root.find("Message")
    return message.text if message is not None else None
