"""SMS encoding and segment counting: what an operator is billed for, before anything is sent."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path
from typing import Any

import pytest

from alerts.channels.sms.encoding import (
    GSM_BASIC,
    GSM_EXTENSION,
    LOOKALIKES,
    SmsEncoding,
    analyse,
    count_segments,
    replace_lookalikes,
)

VECTORS: list[dict[str, Any]] = json.loads(
    (Path(__file__).with_name("sms_vectors.json")).read_text(encoding="utf-8")
)["vectors"]


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_shared_vectors(vector: dict[str, Any]) -> None:
    result = analyse(vector["text"])
    assert result.as_dict() == vector["expected"]
    assert count_segments(vector["text"]) == vector["expected"]["segments"]
    assert replace_lookalikes(vector["text"]) == vector["replaced"]


def test_vectors_cover_both_encodings_and_the_packing_edge() -> None:
    names = " ".join(v["name"] for v in VECTORS)
    assert {v["expected"]["encoding"] for v in VECTORS} == {"GSM-7", "UCS-2"}
    assert "not split" in names and "emoji" in names and "smart quotes" in names


def test_gsm_tables_have_the_standard_sizes() -> None:
    assert len(GSM_BASIC) == 127  # 128 code points less the escape
    assert len(GSM_EXTENSION) == 10
    assert not GSM_BASIC & GSM_EXTENSION


def test_every_ascii_printable_but_a_few_is_basic_gsm() -> None:
    ascii_printable = {chr(c) for c in range(0x20, 0x7F)}
    assert ascii_printable - GSM_BASIC == {"`", "^", "{", "}", "\\", "[", "~", "]", "|"}
    assert analyse("`").encoding == "UCS-2"  # the backtick is the one with no GSM code


def test_result_is_frozen_and_reports_replacements_only_for_forcing_chars() -> None:
    result = analyse("Typhoon — stay in")
    assert isinstance(result, SmsEncoding)
    with pytest.raises(AttributeError):
        result.units = 3  # type: ignore[misc]
    assert result.encoding == "UCS-2" and result.ucs2_chars == ("—",)
    assert result.replaceable == {"—": "-"}
    fixed = analyse(replace_lookalikes("Typhoon — stay in"))
    assert fixed.encoding == "GSM-7" and fixed.units == 17 and fixed.ucs2_chars == ()


def test_one_smart_quote_doubles_the_cost_of_a_long_message() -> None:
    text = "Heavy rain expected tonight in Milan. Avoid underpasses and riverbanks, " * 2
    plain = analyse(text.strip())
    quoted = analyse(text.strip() + " Don’t drive.")
    assert plain.encoding == "GSM-7" and plain.segments == 1
    assert quoted.encoding == "UCS-2" and quoted.segments == 3
    assert analyse(replace_lookalikes(text.strip() + " Don’t drive.")).segments == 1


def test_replacements_are_gsm_and_never_touch_letters_or_cjk() -> None:
    for char, stand_in in LOOKALIKES.items():
        assert char not in GSM_BASIC and char not in GSM_EXTENSION
        assert all(c in GSM_BASIC or c in GSM_EXTENSION for c in stand_in), char
        # no letter of any script (the modifier apostrophe ʼ is Lm: an apostrophe in use)
        assert unicodedata.category(char) not in {"Lu", "Ll", "Lt", "Lo", "Nd"}, char
    text = "请注意安全。«Café» ça — ok"
    assert replace_lookalikes(text) == '请注意安全。"Café" ça - ok'
    assert analyse(text).replaceable == {"«": '"', "»": '"', "—": "-"}


def test_a_text_is_billed_as_sent_not_as_typed() -> None:
    assert analyse("€").units == 2 and analyse("e").units == 1
    assert analyse("😀").units == 2 and analyse("你").units == 1
    # An escape pair at the end of a 153-septet part is carried over whole.
    text = "x" * 152 + "[" + "y" * 7
    assert analyse(text).units == 161 and analyse(text).segments == 2
    assert analyse(text).remaining_in_segment == 153 - 9  # "[" went to part two with the y's
    assert analyse("x" * 151 + "[").segments == 1  # 153 septets: one segment of 160


def test_unpaired_surrogate_does_not_crash() -> None:
    result = analyse("a\ud83d")
    assert result.encoding == "UCS-2" and result.units == 2
