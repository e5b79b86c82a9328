"""PostgreSQL restarted in the middle of a send: the dispatch loops ride it out and every number gets its
message once. Runs on a private throwaway cluster (``soak.pgcluster``), never on a shared server; the
long version is ``python -m soak crash``."""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa

from alerts.dispatch.lanes import DispatchLanes
from alerts.gateways.fake.server import FakeTwilio
from alerts.gateways.fake.state import FakeMessage
from alerts.gateways.twilio import TwilioGateway
from alerts.models import Alert, AlertState, Delivery
from consular.app import create_app
from consular.db import db
from soak.common import build_alert, insert_registrants, phone_numbers
from soak.pgcluster import PgCluster, find_bindir
from tests.conftest import STRICT, base_overrides
from tests.support.dispatch import ACCOUNT_SID, AUTH_TOKEN, SERVICE_SID, TWILIO
from tests.support.processes import GONE, wait_for

PEOPLE = 150
RATE = 30


class Accepted:
    def __init__(self) -> None:
        self.count = 0
        self.lock = threading.Lock()

    def __call__(self, message: FakeMessage) -> None:
        with self.lock:
            self.count += 1


@pytest.mark.postgres
def test_a_postgresql_restart_mid_send_loses_nothing_and_sends_nothing_twice(tmp_path: Path) -> None:
    if find_bindir() is None:
        if STRICT:
            pytest.fail("CONSULAR_TEST_STRICT=1 but PostgreSQL's initdb/pg_ctl are not installed")
        pytest.skip("PostgreSQL's initdb/pg_ctl are not installed: no private cluster to restart")
    accepted = Accepted()
    with PgCluster() as pg, FakeTwilio(ACCOUNT_SID, AUTH_TOKEN, latency_ms=20,
                                       callbacks={"enabled": False}) as fake:
        fake.set_on_accept(accepted)
        url = pg.create_database("reliability_restart")
        app = create_app({
            **base_overrides(tmp_path, url), **TWILIO, "TWILIO_API_BASE": fake.base_url,
            "SMS_SEGMENTS_PER_SECOND": RATE, "QUIET_HOURS": "",
            "DISPATCH_LEASE_SECONDS": 10})
        with app.app_context():
            db.create_all()
        phones = insert_registrants(app, phone_numbers(PEOPLE))
        alert_id, planned = build_alert(app)
        assert planned == PEOPLE

        def sent() -> bool:
            with app.app_context():
                try:
                    state = db.session.scalar(sa.select(Alert.state).where(Alert.id == alert_id))
                except sa.exc.OperationalError:  # our own connection was cut by the restart
                    return False
                finally:
                    db.session.remove()
            return state == AlertState.sent

        gateway = TwilioGateway(ACCOUNT_SID, AUTH_TOKEN, messaging_service_sid=SERVICE_SID,
                                api_base=fake.base_url)
        lanes = DispatchLanes(app, "restart-test", lanes=2, idle_seconds=0.1, gateway=gateway)
        lanes.start()
        try:
            wait_for(lambda: accepted.count >= PEOPLE // 4, 60, "sending to start")
            pg.restart()
            at_restart = accepted.count
            assert at_restart < PEOPLE, "the send was over before the restart: nothing was tested"
            wait_for(sent, 90, lambda: f"the alert to be sent after the restart ({accepted.count} accepted)")
        finally:
            lanes.stop()
            gateway.close()

        by_to = Counter(m["to"] for m in fake.messages())
        assert by_to == Counter(dict.fromkeys(phones.values(), 1))  # 0 lost, 0 twice
        sid_of = {m["to"]: m["sid"] for m in fake.messages()}
        with app.app_context():
            rows = db.session.execute(sa.select(Delivery.registrant_id, Delivery.state, Delivery.provider_id)
                                      .where(Delivery.alert_id == alert_id)).all()
            db.session.remove()
            db.engine.dispose()
        assert len(rows) == PEOPLE
        assert all(state in GONE and pid == sid_of[phones[rid]] for rid, state, pid in rows)
