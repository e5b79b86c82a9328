"""The compose screen's SMS counter counts in the browser exactly as the server does, and as
Twilio's segment calculator does on the whole corpus (tests/data/sms_segments_corpus.json)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).parents[2]
STATIC = ROOT / "consular" / "web" / "static"
# The scripts the compose page loads, in its order: the pinned grapheme splitter, then the counter.
SCRIPTS = [(STATIC / path).read_text(encoding="utf-8")
           for path in ("vendor/grapheme-splitter-1.0.4/grapheme-splitter.js", "js/sms-counter.js")]
VECTORS: list[dict[str, Any]] = json.loads(
    (ROOT / "tests" / "unit" / "sms_vectors.json").read_text(encoding="utf-8")
)["vectors"]
CORPUS: list[dict[str, Any]] = json.loads(
    (ROOT / "tests" / "data" / "sms_segments_corpus.json").read_text(encoding="utf-8")
)["bodies"]

PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"></head><body>
<textarea id="body-it" data-sms-counter="counter-it"></textarea>
<div id="counter-it" data-label-encoding="Codifica" data-label-characters="Caratteri"
     data-label-segments="Segmenti" data-label-remaining="Restanti"
     data-label-forcing="Caratteri UCS-2" data-label-replace="Sostituisci"></div>
%s</body></html>"""


@pytest.fixture
def blank_page(chromium: Any) -> Iterator[Any]:
    context = chromium.new_context()
    pg = context.new_page()
    pg.set_default_timeout(15_000)
    inline = ["<script>" + script.replace("</script>", "<\\/script>") + "</script>" for script in SCRIPTS]
    pg.set_content(PAGE % "".join(inline))
    yield pg
    context.close()


def test_browser_agrees_with_the_server_on_every_vector(blank_page: Any) -> None:
    results = blank_page.evaluate(
        "vectors => vectors.map(v => [SmsCounter.analyse(v.text), SmsCounter.replaceLookalikes(v.text)])",
        VECTORS,
    )
    mismatches = [
        f"{vector['name']}: {got!r} / {replaced!r}"
        for vector, (got, replaced) in zip(VECTORS, results, strict=True)
        if got != vector["expected"] or replaced != vector["replaced"]
    ]
    assert not mismatches, "\n".join(mismatches)


def test_browser_agrees_with_twilios_calculator_on_the_corpus(blank_page: Any) -> None:
    results = blank_page.evaluate("texts => texts.map(t => SmsCounter.analyse(t))",
                                  [body["text"] for body in CORPUS])
    mismatches = []
    for body, got in zip(CORPUS, results, strict=True):
        expected = body["expected"]
        bits = 7 if got["encoding"] == "GSM-7" else 16
        seen = {"encoding": got["encoding"], "segments": got["segments"],
                "characters": got["characters"], "message_bits": got["units"] * bits,
                "segment_bits": [units * bits for units in got["segment_units"]]}
        if seen != {key: expected[key] for key in seen}:
            mismatches.append(f"{body['name']}: {seen} != {expected}")
    assert len(CORPUS) >= 200
    assert not mismatches, "\n".join(mismatches)


def test_textarea_gets_a_live_counter_with_translated_labels(blank_page: Any) -> None:
    counter = blank_page.locator("#counter-it")
    assert counter.get_attribute("aria-live") == "polite"
    blank_page.fill("#body-it", "Piove forte a Milano")
    assert "Codifica: GSM-7" in counter.inner_text()
    assert "Caratteri: 20" in counter.inner_text()
    assert "Segmenti: 1" in counter.inner_text()
    assert counter.locator("button").count() == 0

    blank_page.fill("#body-it", "Restate a casa… “non uscite” – grazie")
    text = counter.inner_text()
    assert "Codifica: UCS-2" in text and "Caratteri UCS-2" in text
    for char in "…“”–":
        assert char in text
    blank_page.click("#counter-it button:has-text('Sostituisci')")
    assert blank_page.input_value("#body-it") == 'Restate a casa... "non uscite" - grazie'
    assert "Codifica: GSM-7" in counter.inner_text()
    assert counter.locator("button").count() == 0


def test_chinese_text_shows_its_characters_and_no_replace_button(blank_page: Any) -> None:
    blank_page.fill("#body-it", "【演练】请注意安全")
    counter = blank_page.locator("#counter-it")
    assert "UCS-2" in counter.inner_text() and "Caratteri: 9" in counter.inner_text()
    assert counter.locator("button").count() == 0
    assert counter.get_attribute("data-segments") == "1"
