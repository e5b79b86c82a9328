"""The send plan before approval: when the last message goes out at the configured rate, who waits
for quiet hours and until when, who would expire unsent, and whether the provider's queue would
overflow."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from alerts import targeting
from alerts.authoring.sendplan import send_plan
from consular.auth.models import Role
from consular.db import db
from tests.conftest import csrf_from
from tests.support.alerts import approved_alert, make_registrant

ROME = ZoneInfo("Europe/Rome")
ITALY = targeting.Target(areas=(targeting.TargetArea("IT"),), languages=("zh_Hans", "it"),
                         base_language="zh_Hans")


def rome(hour: int, minute: int = 0, day: int = 10) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=ROME).astimezone(UTC)


@pytest.fixture
def plan_with(same_db_app):
    def make(**settings: str):
        other = same_db_app(**settings)

        def plan(**kw):
            with other.app_context():
                return send_plan(ITALY, {"zh_Hans": 2, "it": 1}, **kw)
        return plan
    return make


def test_the_last_message_goes_out_at_the_configured_rate(app, plan_with):
    for _ in range(3):
        make_registrant("IT", "zh_Hans")
    make_registrant("IT", "it")
    plan = plan_with(SMS_SEGMENTS_PER_SECOND="0.5", QUIET_HOURS="")(
        send_at=None, expires_at=rome(23), urgent=False, safety_check=False, now=rome(10))
    assert (plan.recipients, plan.segments) == (4, 7)
    assert plan.first_at == rome(10)
    assert plan.last_at == rome(10) + timedelta(seconds=14)
    assert plan.waiting == plan.expire_unsent == 0 and not plan.overflow


def test_quiet_hours_hold_until_morning_and_past_the_expiry_nothing_is_sent(app, plan_with):
    for _ in range(2):
        make_registrant("IT", "it")
    plan = plan_with(SMS_SEGMENTS_PER_SECOND="1", QUIET_HOURS="22:00-07:00")
    waits = plan(send_at=None, expires_at=rome(12, day=11), urgent=False, safety_check=False,
                 now=rome(23))
    assert waits.waiting == 2 and waits.waiting_until == rome(7, day=11)
    assert waits.last_at == rome(7, day=11) + timedelta(seconds=2)
    assert waits.expire_unsent == 0
    lost = plan(send_at=None, expires_at=rome(6, day=11), urgent=False, safety_check=False,
                now=rome(23))
    assert lost.expire_unsent == 2 and lost.last_at is None
    urgent = plan(send_at=None, expires_at=rome(6, day=11), urgent=True, safety_check=False,
                  now=rome(23))
    assert urgent.waiting == 0 and urgent.expire_unsent == 0
    # Quiet hours that begin while the alert is being sent hold the rest until morning.
    slow = plan_with(SMS_SEGMENTS_PER_SECOND="0.0002", QUIET_HOURS="22:00-07:00")(
        send_at=None, expires_at=rome(12, day=11), urgent=False, safety_check=False, now=rome(20))
    assert slow.waiting >= 1 and slow.waiting_until == rome(7, day=11)


def test_too_slow_a_rate_leaves_some_unsent_at_the_expiry(app, plan_with):
    for _ in range(10):
        make_registrant("IT", "it")
    plan = plan_with(SMS_SEGMENTS_PER_SECOND="0.001", QUIET_HOURS="")(
        send_at=None, expires_at=rome(12, 30), urgent=True, safety_check=False, now=rome(10))
    # 1,000 s per message: 9 go out in 2.5 hours, the 10th would be too late.
    assert plan.expire_unsent == 1
    assert plan.last_at is not None and plan.last_at <= rome(12, 30)


def test_submitting_faster_than_the_provider_sends_overflows_its_queue(app, plan_with):
    for _ in range(5):
        make_registrant("IT", "zh_Hans")
    fast = plan_with(SMS_SEGMENTS_PER_SECOND="10", SMS_PROVIDER_SEGMENTS_PER_SECOND="0.0002",
                     QUIET_HOURS="")(send_at=None, expires_at=rome(10, day=20), urgent=True,
                                     safety_check=False, now=rome(10))
    assert fast.overflow and fast.provider_queue_hours > 10
    # The provider's pace decides when the last message really goes.
    assert fast.last_at == rome(10) + timedelta(seconds=10 / 0.0002)
    paced = plan_with(SMS_SEGMENTS_PER_SECOND="10")(
        send_at=None, expires_at=rome(23), urgent=True, safety_check=False, now=rome(10))
    assert not paced.overflow and paced.provider_queue_hours == 0


def test_messages_already_queued_go_first(app, plan_with, make_user):
    author, approver = make_user(Role.coordinator), make_user(Role.coordinator)
    for _ in range(4):
        make_registrant("IT", "it")
    earlier = approved_alert(author, approver)
    targeting.fan_out(earlier)
    db.session.commit()
    plan = plan_with(SMS_SEGMENTS_PER_SECOND="1", QUIET_HOURS="")(
        send_at=None, expires_at=datetime.now(UTC) + timedelta(hours=5), urgent=True,
        safety_check=False)
    assert plan.queued_ahead == 4
    check = plan_with(SMS_SEGMENTS_PER_SECOND="1", QUIET_HOURS="")(
        send_at=None, expires_at=datetime.now(UTC) + timedelta(hours=5), urgent=True,
        safety_check=True)
    assert check.queued_ahead == 0  # a safety check does not wait behind routine alerts


def test_the_approval_page_shows_the_send_plan(make_user, logged_in):
    author = make_user(Role.coordinator, locale="en")
    approver = make_user(Role.coordinator, locale="zh_Hans")
    make_registrant("IT", "it")
    from alerts.authoring import operations as ops
    from tests.support.alerts import alert_input, texts

    alert = ops.create_alert(alert_input(), texts("zh_Hans", "it"), [{"country_code": "IT", "city": ""}],
                             user=author)
    ops.submit_for_approval(alert, user=author)
    db.session.commit()
    for user, words in ((author, "the last message goes out at"), (approver, "最后一条")):
        browser = logged_in(user)
        browser._token = csrf_from(browser.get("/").get_data(as_text=True))
        page = browser.get(f"/alerts/{alert.id}").get_data(as_text=True)
        assert 'data-testid="send-plan"' in page and words in page
