"""The test Twilio account the gateway and fake-server tests share, and the fake Twilio for it with
no callback delays set: the ``quiet_fake`` fixture (registered in ``tests/conftest.py``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from alerts.gateways.fake.server import FakeTwilio

SID = "AC" + "c3" * 16
TOKEN = "gateway-test-token"
SENDER = "+15005550006"
SERVICE = "MG" + "d4" * 16
TO = "+393331234567"


@pytest.fixture(name="quiet_fake")
def quiet_fake_fixture() -> Iterator[FakeTwilio]:
    with FakeTwilio(SID, TOKEN) as server:
        yield server
