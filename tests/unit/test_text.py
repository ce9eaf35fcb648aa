"""`telecentre.text`: which characters text from outside may hold, and JSON read with bounds."""

from __future__ import annotations

import contextlib
import json
import re
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from telecentre.text import MAX_INT_DIGITS, MAX_JSON_DEPTH, strict_json, unprintable, unprintable_in


@pytest.mark.parametrize(
    ("text", "lines", "problem"),
    [
        ("M0001", False, None),
        ("Élodie Vigier-Roux", False, None),
        ("x\x00", False, "U+0000 (a control character) at position 2"),
        ("a\tb", False, "U+0009 (a control character) at position 2"),
        ("a\tb\r\nc", True, None),
        ("\x1b[31m", True, "U+001B (a control character) at position 1"),
        ("\x85", True, "U+0085 (a control character) at position 1"),
        ("\u202eevil<script>", False, "U+202E (a bidirectional override) at position 1"),
        ("ok\ud800", True, "U+D800 (a lone surrogate) at position 3"),
        ("\uffff", False, "U+FFFF (a non-character) at position 1"),
        ("\U0010fffe", False, "U+10FFFE (a non-character) at position 1"),
        ("a\ufdd0", False, "U+FDD0 (a non-character) at position 2"),
        ("🙂 café", False, None),
    ],
)
def test_what_text_may_hold(text: str, lines: bool, problem: str | None) -> None:
    assert unprintable(text, lines=lines) == problem


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        ('{"n": NaN}', "NaN is not a number JSON allows"),
        ('{"n": -Infinity}', "-Infinity is not a number JSON allows"),
        ('{"n": 1e999}', "1e999 is too large a number"),
        ('{"n": %s}' % ("9" * (MAX_INT_DIGITS + 1)), "digits is longer than 30"),
        ('{"n": %s}' % ("9" * 5000), "an integer of 5000 digits"),
        ('{"id": "evil\\u0000id"}', "U+0000 (a control character) at position 5 of 'evil\\x00id'"),
        ('{"a\\u0001": 1}', "U+0001 (a control character)"),
        ('{"s": "\\udc00"}', "a lone surrogate"),
        ("[" * 40 + "]" * 40, "nested more than 32 levels deep"),
        ("[" * 100_000, "nested too deeply"),
    ],
)
def test_strict_json_refuses_with_a_sentence(payload: str, error: str) -> None:
    with pytest.raises(ValueError) as refused:
        strict_json(payload)
    assert error in str(refused.value)


def test_strict_json_reads_what_the_protocol_sends() -> None:
    data = {"v": 1, "id": "5b2f8c1e", "seq": 2**31 - 1, "note": "ligne 1\nligne 2", "x": 0.5}
    assert strict_json(json.dumps(data, ensure_ascii=False).encode()) == data


@given(st.text())
def test_strict_json_only_ever_raises_value_errors(text: str) -> None:
    with contextlib.suppress(ValueError):
        strict_json(text)


def test_the_rule_is_the_unicode_categories_over_every_code_point() -> None:
    """The regular expression refuses exactly: controls (Cc), surrogates (Cs), the bidi
    embeddings/overrides/isolates and the non-characters (U+FDD0–U+FDEF, U+xFFFE/U+xFFFF of
    every plane)."""
    bidi = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
    wrong = []
    for point in range(0x110000):
        character = chr(point)
        category = unicodedata.category(character)
        noncharacter = (point & 0xFFFE) == 0xFFFE or 0xFDD0 <= point <= 0xFDEF
        bad = category in ("Cc", "Cs") or character in bidi or noncharacter
        if (unprintable(character) is not None) != bad:
            wrong.append(point)
        if (unprintable(character, lines=True) is not None) != (bad and character not in "\t\n\r"):
            wrong.append(point)
    assert wrong == []


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**18), 10**18) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=40,
)


def _nested(value: object, depth: int) -> object:
    for _ in range(depth):
        value = [value]
    return value


@given(
    value=_JSON,
    depth=st.integers(0, MAX_JSON_DEPTH + 2),
    ascii_only=st.booleans(),
    lines=st.booleans(),
)
def test_strict_json_refuses_exactly_what_the_walk_over_its_strings_refuses(
    value: object, depth: int, ascii_only: bool, lines: bool
) -> None:
    """The text alone decides for JSON without escapes (`plainly_fine`): the same answer
    as walking every string of the parsed value, escaped or not, nested or not."""
    text = json.dumps(_nested(value, depth), ensure_ascii=ascii_only)
    expected = unprintable_in(json.loads(text), lines=lines)
    if expected is None:
        assert strict_json(text, lines=lines) == json.loads(text)
    else:
        with pytest.raises(ValueError, match=re.escape(expected)):
            strict_json(text, lines=lines)
