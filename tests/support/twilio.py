"""The test Twilio account the gateway and fake-server tests share, and the fake Twilio for it with
no callback delays set: the ``quiet_fake`` fixture; and ``twilio_client``, the official client over
HTTP to a test's ``fake`` (both registered in ``tests/conftest.py``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from twilio.rest import Client

from alerts.gateways.fake.server import FakeTwilio
from alerts.gateways.twilio import RedirectingHttpClient

SID = "AC" + "c3" * 16
TOKEN = "gateway-test-token"
SENDER = "+15005550006"
SERVICE = "MG" + "d4" * 16
TO = "+393331234567"


@pytest.fixture(name="quiet_fake")
def quiet_fake_fixture() -> Iterator[FakeTwilio]:
    with FakeTwilio(SID, TOKEN) as server:
        yield server


@pytest.fixture(name="twilio_client")
def twilio_client_fixture(fake: FakeTwilio) -> Iterator[Client]:
    http = RedirectingHttpClient(fake.base_url, timeout=5)
    yield Client(fake.account_sid, fake.auth_token, http_client=http)
    http.close()
