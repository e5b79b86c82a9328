"""Test doubles of outside services, spoken to over real HTTP on loopback: the fake Twilio server
(shipped with the application as ``consular fake-twilio``) and a webhook sink that records what is
posted to it."""

from alerts.gateways.fake.config import FakeConfig
from alerts.gateways.fake.server import FakeTwilio
from tests.fakes.webhook_sink import ReceivedRequest, WebhookSink

__all__ = ["FakeConfig", "FakeTwilio", "ReceivedRequest", "WebhookSink"]
