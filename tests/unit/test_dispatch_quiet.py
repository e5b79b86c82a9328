"""Quiet hours in each recipient's own time zone, under a frozen clock: Rome at 23:00 waits for
07:00 Rome, New York at 17:00 gets the alert, and Immediate or Extreme alerts go at once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine
from flask import Flask

from alerts.dispatch.quiet import QuietHours, is_urgent
from alerts.models import CapSeverity, CapUrgency, DeliveryState
from tests.support.dispatch import (
    TwilioSetup,
    deliveries,
    make_alert,
    make_registrant,
    send_alert,
)

ROME = ZoneInfo("Europe/Rome")
NEW_YORK = ZoneInfo("America/New_York")
EVENING = datetime(2026, 1, 15, 22, 0, tzinfo=UTC)  # 23:00 in Rome, 17:00 in New York


def test_quiet_hours_span_midnight_and_end_in_the_recipients_zone() -> None:
    quiet = QuietHours.from_setting("22:00-07:00")
    assert quiet is not None
    assert quiet.ends_at(EVENING, ROME) == datetime(2026, 1, 16, 6, 0, tzinfo=UTC)  # 07:00 Rome
    assert quiet.ends_at(EVENING, NEW_YORK) is None
    early = datetime(2026, 1, 16, 5, 30, tzinfo=UTC)  # 06:30 Rome: still quiet, ends the same day
    assert quiet.ends_at(early, ROME) == datetime(2026, 1, 16, 6, 0, tzinfo=UTC)
    assert quiet.ends_at(datetime(2026, 1, 16, 6, 0, tzinfo=UTC), ROME) is None  # 07:00 sharp: awake
    # Summer time: 07:00 in Rome is 05:00 UTC.
    summer = datetime(2026, 7, 1, 1, 0, tzinfo=UTC)
    assert quiet.ends_at(summer, ROME) == datetime(2026, 7, 1, 5, 0, tzinfo=UTC)
    daytime = QuietHours.from_setting("13:00-15:00")
    assert daytime is not None
    assert daytime.ends_at(datetime(2026, 1, 15, 12, 30, tzinfo=UTC), ROME) == datetime(
        2026, 1, 15, 14, 0, tzinfo=UTC)
    assert QuietHours.from_setting("") is None
    assert is_urgent(CapUrgency.Immediate, CapSeverity.Minor)
    assert is_urgent(CapUrgency.Future, CapSeverity.Extreme)
    assert not is_urgent(CapUrgency.Expected, CapSeverity.Severe)


@pytest.mark.parametrize("value", ["22-07", "25:00-07:00", "22:00-22:00", "22:00", "22:00-07:00-08:00",
                                   "ab:cd-07:00"])
def test_bad_quiet_hours_are_refused_at_start_up(value: str, tmp_path: Path) -> None:
    from config import ConfigError, load_settings

    with pytest.raises(ConfigError, match="QUIET_HOURS"):
        load_settings({"CONSULAR_ENV": "test", "INSTANCE_PATH": str(tmp_path), "QUIET_HOURS": value})


def test_non_urgent_alerts_wait_for_the_morning_where_the_recipient_is(
        app: Flask, make_twilio: object) -> None:
    setup: TwilioSetup = make_twilio(QUIET_HOURS="22:00-07:00")  # type: ignore[operator]
    with time_machine.travel(EVENING, tick=True) as clock:
        rome = make_registrant(language="it", country="IT", timezone="Europe/Rome")
        new_york = make_registrant(language="en", country="US", city="New York",
                                   timezone="America/New_York")
        routine = make_alert(languages=("en", "it"), country=("IT", "US"), expires_in=timedelta(hours=24))
        urgent = make_alert(languages=("en", "it"), country=("IT", "US"), urgency=CapUrgency.Immediate)
        extreme = make_alert(languages=("en", "it"), country=("IT", "US"), severity=CapSeverity.Extreme)
        for alert in (routine, urgent, extreme):
            send_alert(alert)
        setup.run_until_idle()

        sent = [m["to"] for m in setup.fake.messages()]
        rows = {(d.alert_id, d.registrant_id): d for d in deliveries()}
        waiting = rows[(routine.id, rome.id)]
        assert waiting.state == DeliveryState.deferred
        assert waiting.due_at == datetime(2026, 1, 16, 6, 0, tzinfo=UTC)  # 07:00 in Rome
        assert rows[(routine.id, new_york.id)].state != DeliveryState.deferred
        for alert in (urgent, extreme):
            assert rows[(alert.id, rome.id)].state not in (DeliveryState.deferred, DeliveryState.pending)
        assert sorted(sent) == sorted([rome.phone] * 2 + [new_york.phone] * 3)

        clock.move_to(datetime(2026, 1, 16, 5, 59, tzinfo=UTC))  # 06:59 in Rome
        setup.run_until_idle()
        assert len(setup.fake.messages(rome.phone)) == 2

        clock.move_to(datetime(2026, 1, 16, 6, 0, 5, tzinfo=UTC))
        setup.run_until_idle()
        assert len(setup.fake.messages(rome.phone)) == 3
        assert deliveries(routine.id)[0].state != DeliveryState.deferred
        assert len(setup.fake.messages(new_york.phone)) == 3  # nobody got anything twice
