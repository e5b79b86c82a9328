"""`make run` (`consular serve --demo`) shows an office's messages as they would leave: each alert SMS
opens with the demo office's signature, unless whoever runs the demo sets their own (or none)."""

from __future__ import annotations

from pathlib import Path

import pytest

from alerts.channels.sms.texts import render_alert_sms, signature_for
from config import current_settings
from consular.app import create_app
from consular.cli import demo_settings
from tests.conftest import base_overrides


def _signature(tmp_path: Path, locale: str) -> str:
    app = create_app(base_overrides(tmp_path, f"sqlite:///{tmp_path}/d.db") | demo_settings())
    return signature_for(current_settings(app).sms_signatures, locale)


def test_the_demo_signs_every_language(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SMS_SIGNATURES", raising=False)
    monkeypatch.delenv("CONSULAR_CONFIG", raising=False)
    assert _signature(tmp_path, "zh_Hans") == "【温州外事】"
    assert _signature(tmp_path, "en") == "[Wenzhou FAO] "
    italian = _signature(tmp_path, "it")
    assert italian == "[Wenzhou FAO] "
    text = render_alert_sms(headline="Terremoto a Prato", body="Sei al sicuro?", locale="it",
                            status="Actual", safety_check=True, expires_at=None,
                            tz_name="Europe/Rome", signature=italian)
    assert text.startswith("[Wenzhou FAO] Terremoto a Prato\n")


@pytest.mark.parametrize(("own", "zh"), [("", ""), ("zh_Hans=【测试】", "【测试】")])
def test_the_one_running_the_demo_may_set_another_signature_or_none(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, own: str, zh: str) -> None:
    monkeypatch.setenv("SMS_SIGNATURES", own)
    assert _signature(tmp_path, "zh_Hans") == zh
