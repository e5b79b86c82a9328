"""The one SMS segment counter counts every text as Twilio's segment calculator does.

``tests/data/sms_segments_corpus.json`` holds a few hundred texts built to hit every boundary
(GSM-7 160/161 and 306/307, escape pairs straddling 153, UCS-2 70/71 and 134/135 with surrogate
pairs and graphemes straddling 67, scripts, line breaks, special spaces) with what the npm package
``sms-segments-calculator`` reports for each; ``scripts/segments-corpus`` regenerates it with node.
The browser's counter is held to the same file in ``tests/e2e/test_sms_counter.py``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from alerts.channels.sms.encoding import analyse, count_segments
from alerts.channels.sms.graphemes import split_graphemes

ROOT = Path(__file__).parents[2]
CORPUS: dict[str, Any] = json.loads((ROOT / "tests" / "data" / "sms_segments_corpus.json")
                                    .read_text(encoding="utf-8"))
BODIES: list[dict[str, Any]] = CORPUS["bodies"]
VECTORS: list[dict[str, Any]] = json.loads((ROOT / "tests" / "unit" / "sms_vectors.json")
                                           .read_text(encoding="utf-8"))["vectors"]
SEGMENT_BITS, HEADER_BITS = 1120, 48  # 140 octets; 6 octets of concatenation header when split


def _bits(encoding: str) -> int:
    return 7 if encoding == "GSM-7" else 16


@pytest.mark.parametrize("body", BODIES, ids=[b["name"] for b in BODIES])
def test_counter_agrees_with_twilios_calculator(body: dict[str, Any]) -> None:
    text, expected = body["text"], body["expected"]
    assert len(text) == expected["unicode_scalars"]  # the text is the one the calculator saw
    result = analyse(text)
    bits = _bits(result.encoding)
    assert result.encoding == expected["encoding"]
    assert result.segments == count_segments(text) == expected["segments"]
    assert result.characters == expected["characters"]
    assert [units * bits for units in result.segment_units] == expected["segment_bits"]
    assert result.units * bits == expected["message_bits"]
    header = HEADER_BITS if expected["segments"] > 1 else 0
    assert result.per_segment == (SEGMENT_BITS - header) // bits
    free = SEGMENT_BITS - header - expected["segment_bits"][-1]
    assert result.remaining_in_segment == max(0, free // bits)


def test_corpus_hits_every_boundary_in_both_encodings() -> None:
    assert len(BODIES) >= 200
    assert CORPUS["reference"]["sms-segments-calculator"] == "1.3.0"
    by_name = {b["name"]: b["expected"] for b in BODIES}
    assert len(by_name) == len(BODIES)
    assert {e["encoding"] for e in by_name.values()} == {"GSM-7", "UCS-2"}
    # GSM-7 and UCS-2 lengths on both sides of each boundary
    for n, segments in {160: 1, 161: 2, 306: 2, 307: 3, 1530: 10}.items():
        assert by_name[f"gsm {n} septets"]["segments"] == segments
    for n, segments in {70: 1, 71: 2, 134: 2, 135: 3, 670: 10}.items():
        assert by_name[f"cjk {n} characters"]["segments"] == segments
    # an escape pair straddling 153 moves whole: 306 septets then take three parts, not two
    assert by_name["escape U+20ac straddles 153, 306 septets"]["segments"] == 3
    names = " ".join(by_name)
    for kind in ("empty", "CRLF", "NBSP", "tab", "flag", "skin tone", "family", "keycap", "VS16",
                 "combining", "Devanagari", "Arabic", "Hebrew", "Thai", "Chinese", "Japanese",
                 "Korean", "smart quote", "ZWJ", "straddles 67", "cut after unit"):
        assert kind in names, kind
    assert max(e["segments"] for e in by_name.values()) >= 10


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_shared_vectors_expect_what_the_calculator_says(vector: dict[str, Any]) -> None:
    calculator = {b["name"]: b["expected"] for b in BODIES}[f"vector: {vector['name']}"]
    ours = vector["expected"]
    bits = _bits(ours["encoding"])
    assert (ours["encoding"], ours["segments"], ours["characters"], ours["units"] * bits) == (
        calculator["encoding"], calculator["segments"], calculator["characters"],
        calculator["message_bits"])


def test_graphemes_are_the_calculators_not_todays_unicode() -> None:
    # grapheme-splitter 1.0.4 (Unicode 10.0) parts a Devanagari conjunct and a ZWJ sequence whose
    # second emoji came later; it keeps flags, skin tones, families and keycaps whole.
    assert split_graphemes("क्ष") == ["क्", "ष"]
    assert split_graphemes("🧑‍🤝‍🧑") == ["🧑‍", "🤝‍", "🧑"]
    assert split_graphemes("🇮🇹👍🏽👨‍👩‍👧‍👦1️⃣e\u0301") == ["🇮🇹", "👍🏽", "👨‍👩‍👧‍👦", "1️⃣", "e\u0301"]
    assert split_graphemes("a\r\nb") == ["a", "\r", "\n", "b"]  # a CR LF pair counts as two
