"""Updates and cancel notices start from the ``sms`` catalog in each language of the original: a
cancel notice names the original and says it is withdrawn (it can go out as written), an update
says it is one; and a notice whose message is the original's word for word is refused."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import sqlalchemy as sa

from alerts import targeting
from alerts.authoring import compose
from alerts.authoring import operations as ops
from alerts.channels.sms import texts as catalog
from alerts.models import Alert, AlertState, CapMsgType
from consular.auth.models import Role, User
from consular.db import db
from tests.conftest import Browser, csrf_from
from tests.support.alerts import approved_alert, make_registrant


@pytest.fixture
def coordinators(make_user: Callable[..., User]) -> tuple[User, User]:
    return make_user(Role.coordinator, locale="en"), make_user(Role.coordinator, locale="en")


def gone_out(author: User, approver: User) -> Alert:
    make_registrant(language="it")
    make_registrant("FR", "en", city="Paris", timezone="Europe/Paris")
    alert = approved_alert(author, approver, areas=[{"country_code": "IT"}, {"country_code": "FR"}])
    targeting.fan_out(alert)
    db.session.commit()
    return alert


def follow_up_of_one_gone_out(author, approver, write) -> tuple[Alert, Alert]:
    """An alert gone out, and the notice or update ``write`` starts of it for ``author`` (committed)."""
    original = gone_out(author, approver)
    follow_up = write(original, user=author)
    db.session.commit()
    return original, follow_up


def by_language(alert: Alert) -> dict[str, tuple[str, str]]:
    return {t.language: (t.headline, t.body) for t in alert.texts}


def test_a_cancel_notice_is_written_from_the_catalog_and_can_go_out_unchanged(coordinators):
    author, approver = coordinators
    original, notice = follow_up_of_one_gone_out(author, approver, ops.create_cancel_notice)
    written = by_language(notice)
    day_en = catalog.format_day(original.fanned_out_at, "en", "Europe/Paris")
    day_it = catalog.format_day(original.fanned_out_at, "it", "Europe/Rome")
    # The headline is the original's: every message of the notice opens with its marker.
    assert written["en"] == ("Protest in central Prato",
                             f"Our alert of {day_en} is withdrawn. Please disregard it.")
    assert written["it"] == ("Manifestazione a Prato",
                             f"La nostra allerta del {day_it} è annullata: non ne tenga più conto.")
    assert written["zh_Hans"][0] == "普拉托市中心游行" and "已撤销" in written["zh_Hans"][1]
    sms = compose.analyse_alert(notice)
    assert sms["en"].sms.startswith("[CANCELLED] Protest in central Prato\n")
    assert sms["zh_Hans"].sms.startswith("【已取消】普拉托市中心游行\n")
    # Nothing of the original alarm is repeated as the notice's message.
    assert all(written[t.language][1] != t.body for t in original.texts)
    ops.submit_for_approval(notice, user=author)
    ops.approve(notice, user=approver)
    db.session.commit()
    assert notice.state == AlertState.scheduled and original.state == AlertState.cancelled


def test_an_update_starts_from_the_catalog_and_an_unchanged_message_is_refused(coordinators):
    author, approver = coordinators
    original, update = follow_up_of_one_gone_out(author, approver, ops.create_update)
    written = by_language(update)
    assert written["en"][0] == "Protest in central Prato"
    assert compose.analyse_alert(update)["it"].sms.startswith("[AGGIORNAMENTO] Manifestazione a Prato\n")
    with pytest.raises(ops.AlertInputError) as refused:
        ops.submit_for_approval(update, user=author)
    assert set(refused.value.errors) == {"texts.zh_Hans.body", "texts.en.body", "texts.it.body"}
    assert refused.value.errors["texts.en.body"].startswith("英语正文与原预警一字不差")  # no request: default
    db.session.rollback()

    rewritten = {t.language: ops.text_fields(t) for t in update.texts}
    rewritten["it"]["body"] = "La manifestazione è finita; la stazione è di nuovo aperta."
    rewritten["en"]["body"] = "The protest is over; the station is open again."
    data = {"status": "Actual", "category": update.category.value, "event": update.event,
            "urgency": update.urgency.value, "severity": update.severity.value,
            "certainty": update.certainty.value, "base_language": update.base_language,
            "expires_at": update.expires_at}
    ops.update_alert(update, data, rewritten, [{"country_code": "IT"}], user=author)
    with pytest.raises(ops.AlertInputError) as still:  # the Chinese text is still the original's
        ops.submit_for_approval(update, user=author)
    assert set(still.value.errors) == {"texts.zh_Hans.body"}
    db.session.rollback()
    rewritten["zh_Hans"]["body"] = "游行已结束，火车站已恢复开放。"
    ops.update_alert(update, data, rewritten, [{"country_code": "IT"}], user=author)
    ops.submit_for_approval(update, user=author)
    db.session.commit()
    assert update.state == AlertState.pending_approval


def test_the_pages_refuse_an_unchanged_update_with_a_clear_message(coordinators, logged_in):
    author, approver = coordinators
    original = gone_out(author, approver)
    page: Browser = logged_in(approver)
    token = csrf_from(page.get("/").get_data(as_text=True))
    response = page.client.post(f"/alerts/{original.id}/cancel-notice", data={"csrf_token": token})
    assert response.status_code == 303
    notice = db.session.scalars(sa.select(Alert).where(Alert.msg_type == CapMsgType.Cancel)).one()
    edit = page.get(f"/alerts/{notice.id}/edit").get_data(as_text=True)
    assert "Protest in central Prato" in edit and "is withdrawn. Please disregard it." in edit

    page.client.post(f"/alerts/{original.id}/update", data={"csrf_token": token})
    update = db.session.scalars(sa.select(Alert).where(Alert.msg_type == CapMsgType.Update)).one()
    refused = page.client.post(f"/alerts/{update.id}/submit", data={"csrf_token": token})
    assert refused.status_code == 400
    assert "this is the original alert&#39;s message, word for word" in refused.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Alert, update.id).state == AlertState.draft  # type: ignore[union-attr]


@pytest.mark.parametrize("locale", catalog.SMS_LOCALES)
def test_notice_texts_read_in_every_language(locale: str) -> None:
    from datetime import UTC, datetime

    sent = datetime(2026, 3, 1, 16, 30, tzinfo=UTC)
    headline, body = catalog.cancel_notice(locale, "H" * 200, sent, "Europe/Rome")
    assert len(headline) <= 160 and "HHH" in headline
    assert catalog.format_day(sent, locale, "Europe/Rome") in body
    assert catalog.update_headline(locale, "Typhoon") != "Typhoon" and "Typhoon" in catalog.update_headline(
        locale, "Typhoon")
