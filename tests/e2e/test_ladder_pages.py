"""The ladder for the silent as the coordinator sees it, in real Chromium, in Chinese and in English,
on a phone and on a desktop: the alert's progress page counts each rung (climbed, skipped), and the
call round shows who is on which rung beside what each call found.

The state is made the way a night makes it: the demo install sending through the fake Twilio over
HTTP (its status reports, the keys pressed on the calls and the SMS answers come back to the served
app as webhooks), the follow-up and ladder jobs run on a clock driven forward,
and a coordinator recording a call of the call round (the times are then moved back, as if read the
morning after). Nine people in Lucca answer on different
rungs, or not at all. Screenshots go to test-artifacts/ (``ladder-progress-*``, ``call-round-*``)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import closing
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from alerts.authoring.call_round import record_call
from alerts.dispatch.lanes import Dispatcher
from alerts.enrolment.models import SelfEnrolment
from alerts.gateways.factory import gateway_from_settings
from alerts.gateways.fake.server import FakeTwilio
from alerts.gateways.protocol import SmsGateway
from alerts.jobs import climb_ladders, safety_check_followups
from alerts.ladder import rung_counts
from alerts.models import Alert, CallOutcome, CapUrgency, Delivery, LadderStep
from alerts.scheduler import Worker
from alerts.targeting import fan_out
from consular.app import create_app
from consular.auth.models import User
from consular.db import db, utcnow
from consular.registry.models import Registrant
from tests.conftest import base_overrides
from tests.e2e.conftest import PHONE, browser_page, log_in, screenshot, served
from tests.support.demo_file import demo_database
from tests.support.dispatch import ACCOUNT_SID, AUTH_TOKEN, TWILIO, make_alert, make_registrant, new_phone
from tests.support.processes import free_port

pytestmark = pytest.mark.browser

CALLER = "+15005550006"
LUCCA = (43.8429, 10.5027)
SCREENS = {"desktop": {"viewport": {"width": 1280, "height": 900}}, "phone": PHONE}
# What the pages must show for the nine people below, rung by rung: (climbed, skipped).
RUNGS = {"reminder": (7, 0), "call": (5, 1), "kin": (2, 1), "visit": (3, 0)}
LABELS = {
    "zh": {"ladder": "未回复者的逐级联络", "call": "语音电话", "visit": "服务站上门探访"},
    "en": {"ladder": "The ladder for those who do not answer", "call": "Voice call",
           "visit": "Welfare visit by a station"},
}


def person(name: str, language: str, *, voice: bool = False, kin: str | None = None) -> Registrant:
    someone = make_registrant(language=language, name=name, city="Lucca")
    someone.latitude, someone.longitude = LUCCA
    if voice:
        someone.channels, someone.voice_consent_at = "sms,voice", utcnow()
    if kin:
        db.session.add(SelfEnrolment(registrant_id=someone.id, next_of_kin_name=kin,
                                     next_of_kin_phone=new_phone("+86138"), channels=someone.channel_list,
                                     consent_version="1", consent_locale=language, consent_text="…",
                                     consent_at=utcnow()))
    db.session.commit()
    return someone


def move_back(alert_id: int, by: timedelta) -> None:
    """Every time of the alert, its deliveries and its ladder moved ``by`` into the past."""
    rows: list[Any] = [db.session.get(Alert, alert_id)]
    rows += db.session.scalars(sa.select(Delivery).where(Delivery.alert_id == alert_id)).all()
    rows += db.session.scalars(sa.select(LadderStep).where(LadderStep.alert_id == alert_id)).all()
    for row in rows:
        for column in sa.inspect(type(row)).columns:
            value = getattr(row, column.key)
            if isinstance(value, datetime):
                setattr(row, column.key, value - by)
    db.session.commit()


def build_the_night(app: Flask, fake: FakeTwilio, base_url: str, gateway: SmsGateway) -> int:
    """A safety check for Lucca, ten hours ago, and its ladder climbed to the end; its id."""
    dispatcher = Dispatcher(app, gateway, "e2e-ladder")

    def dispatch(now: datetime) -> None:
        for _ in range(20):
            if not dispatcher.run_once(now):
                break
        assert fake.wait_idle(60)

    def answer(people: list[Registrant], body: str) -> None:
        for p in people:
            sent = fake.send_inbound(p.phone, CALLER, body, f"{base_url}/webhooks/twilio/inbound")
            assert sent["status"] == 200

    first = [person("陈静", "zh_Hans"), person("Marco Rossi", "it")]  # answer the message: no rung
    after_reminder = [person("林小红", "zh_Hans")]  # answers the reminder
    press_1 = [person("王伟", "zh_Hans", voice=True), person("Giulia Bianchi", "it", voice=True)]
    press_2 = [person("刘洋", "zh_Hans", voice=True)]  # needs help: a case, and the ladder stops
    not_picking_up = person("周杰", "zh_Hans", voice=True, kin="周大明")
    no_consent = person("吴芳", "zh_Hans", kin="吴建国")
    alone = person("Luca Ferri", "it", voice=True)  # no next of kin
    fake.configure(numbers={**{p.phone: {"digits": "1"} for p in press_1},
                            **{p.phone: {"digits": "2"} for p in press_2},
                            **{p.phone: {"call": "no-answer"} for p in (not_picking_up, alone)}})
    start = utcnow()
    alert = make_alert(languages=("zh_Hans", "it"), urgency=CapUrgency.Immediate, safety_check=True,
                       resend_unanswered=True, event="Terremoto", expires_in=timedelta(days=2), now=start)
    alert.areas[0].city, alert.place = "Lucca", "Lucca"
    texts = {t.language: t for t in alert.texts}
    texts["zh_Hans"].headline, texts["zh_Hans"].body = ("卢卡发生强烈地震，请报平安",
                                                        "卢卡附近发生强烈地震。平安请回复1，需要帮助请回复2。")
    texts["it"].headline, texts["it"].body = ("Forte terremoto a Lucca: state bene?",
                                              "Rispondete 1 se state bene, 2 se avete bisogno di aiuto.")
    db.session.commit()
    fan_out(alert, start)
    db.session.commit()
    dispatch(start)
    answer(first, "1")
    clock = start + timedelta(minutes=alert.call_round_minutes + 1)
    safety_check_followups(clock)  # the reminder
    dispatch(clock)
    answer(after_reminder, "1")
    clock += timedelta(minutes=61)
    climb_ladders(clock)  # the calls (not for 吴芳: no consent to calls)
    dispatch(clock)
    clock += timedelta(minutes=121)
    climb_ladders(clock)  # the next of kin (Luca Ferri has none)
    dispatch(clock)
    clock += timedelta(minutes=241)
    climb_ladders(clock)  # the welfare visits
    # The night was driven forward from now; the pages are read the morning after.
    move_back(alert.id, clock - utcnow() + timedelta(minutes=20))
    # The coordinator on duty phoned 吴芳 (no calls by the system): a message left.
    coordinator = db.session.scalar(sa.select(User).where(User.username == "coordinator"))
    row = db.session.scalar(sa.select(Delivery).where(Delivery.registrant_id == no_consent.id))
    assert coordinator is not None and row is not None
    record_call(row, CallOutcome.message_left, "语音信箱，已留言", user=coordinator, now=utcnow())
    db.session.commit()
    counts = rung_counts(alert.id)
    assert {rung: (c["taken"], c["skipped"]) for rung, c in counts.items()} == RUNGS
    return alert.id


@pytest.fixture(scope="module")
def ladder_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Flask, str, int]]:
    """The demo install sending through the fake Twilio, served on a free loopback port (the fake's
    webhooks come back to it), with the night above in its database."""
    instance: Path = tmp_path_factory.mktemp("ladder")
    demo_database(tmp_path_factory, instance / "ladder.db")
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    with FakeTwilio(ACCOUNT_SID, AUTH_TOKEN, callbacks={"sent_delay_ms": 5, "final_delay_ms": 20}) as fake:
        app = create_app({**base_overrides(instance, f"sqlite:///{instance}/ladder.db"), "DEMO_MODE": True,
                          **TWILIO, "TWILIO_API_BASE": fake.base_url, "PUBLIC_BASE_URL": base_url,
                          "TWILIO_VOICE_FROM": CALLER, "CALLS_PER_SECOND": 500,
                          "SMS_SEGMENTS_PER_SECOND": 1000, "QUIET_HOURS": ""})
        with served(app, port):
            made: list[int] = []

            def build() -> None:
                # In a thread of its own: Playwright keeps an event loop running in this one, and the
                # dispatcher runs its own.
                with app.app_context():
                    with closing(gateway_from_settings(app.extensions["consular.settings"])) as gateway:
                        made.append(build_the_night(app, fake, base_url, gateway))
                    db.session.remove()

            builder = threading.Thread(target=build)
            builder.start()
            builder.join()
            assert made, "the night was not built (see the log above)"
            # A worker runs, as it would that morning (the pages warn when none does).
            worker = Worker(app, embedded=True)
            scheduler = worker.build_scheduler(blocking=False)
            scheduler.start()
            try:
                yield app, base_url, made[0]
            finally:
                scheduler.shutdown(wait=True)
                worker.mark_stopped()


# The element reaching furthest right, to say what overflows.
WIDEST = ("() => { let far = null, right = 0; for (const e of document.querySelectorAll('body *')) {"
          " if (e.closest('.leaflet-container')) continue;"
          " const r = e.getBoundingClientRect().right; if (r > right) { right = r; far = e; } }"
          " return far ? `${far.tagName}.${far.className} ${right}px > ${window.innerWidth}px` : ''; }")


def overflows(page: Any) -> bool:
    """Whether the page is wider than the screen (something a phone would have to scroll sideways)."""
    return bool(page.evaluate("() => document.documentElement.scrollWidth > window.innerWidth + 1"))


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("screen", ["desktop", "phone"])
def test_the_ladder_counts_and_each_persons_rung(chromium: Any, ladder_app: tuple[Flask, str, int],
                                                 screen: str, lang: str) -> None:
    app, base_url, alert_id = ladder_app
    labels = LABELS[lang]
    with browser_page(chromium, base_url, locale="zh-CN" if lang == "zh" else "en-GB",
                      **SCREENS[screen]) as page:
        log_in(page, "coordinator")
        page.goto(f"/alerts/{alert_id}/progress")
        ladder = page.get_by_test_id("ladder")
        ladder.scroll_into_view_if_needed()
        assert labels["ladder"] in page.inner_text("main")
        shown = {rung: (ladder.locator(f"tr[data-rung={rung}] [data-count=taken]").inner_text(),
                        ladder.locator(f"tr[data-rung={rung}] [data-count=skipped]").inner_text())
                 for rung in RUNGS}
        assert shown == {rung: (str(t), str(s)) for rung, (t, s) in RUNGS.items()}
        assert ladder.locator("tr[data-rung=call] td").first.inner_text() == labels["call"]
        screenshot(page, f"ladder-progress-{screen}-{lang}")
        assert "None" not in page.inner_text("main")
        assert not overflows(page), page.evaluate(WIDEST)

        page.goto(f"/alerts/{alert_id}/call-round")
        table = page.get_by_test_id("call-round")
        rows = {row.locator("td").first.inner_text().strip().splitlines()[0]: row
                for row in table.locator("tbody tr").all()}
        rung_of = {name: row.get_by_test_id("rung") for name, row in rows.items()}
        # On the list: the one who pressed 2, then those no rung reached; not those who answered
        # safe (by SMS, or a key on the ladder's call).
        assert {name: cell.get_attribute("data-rung") for name, cell in rung_of.items()} == {
            "刘洋": "call", "周杰": "visit", "吴芳": "visit", "Luca Ferri": "visit"}
        assert rung_of["周杰"].inner_text() == labels["visit"]
        # On a phone the table scrolls sideways: the answer and the rung are also under the name.
        under_name = rows["周杰"].get_by_test_id("rung-phone")
        assert under_name.is_visible() == (screen == "phone")
        if screen == "phone":
            assert labels["visit"] in under_name.inner_text()
        screenshot(page, f"call-round-{screen}-{lang}")
        assert "None" not in page.inner_text("main")
        page.wait_for_load_state("networkidle")  # nothing left half-sent when the browser closes
