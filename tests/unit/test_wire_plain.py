"""`wire.parse_event`'s quick reading of plain payloads (pydantic straight from the JSON
text) against the careful one (`strict_json`, then pydantic on the value), as a property:
for valid events and for every way of spoiling them tried here (a field's value swapped for
any JSON, one dropped, added or given twice, NaN and 1e400 and 40-digit integers, escapes,
a BOM, text after the object, bytes that are not UTF-8, a payload over the limit), both
accept the same payloads as the same event, and refuse the same ones with the same
sentence."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from telecentre import wire

_IDS = st.from_regex(r"\A[a-z0-9][a-z0-9-]{0,12}\Z")
_TIMES = st.sampled_from(
    [
        "2026-02-02T09:00:00+01:00",
        "2026-02-02T09:00:00.123Z",
        "2026-07-14T23:59:59.999999-10:00",
        "1970-01-01T00:00:00+00:00",
        "2999-12-31T23:59:59+14:00",
        "2026-02-02 09:00:00+01:00",
    ]
)


@st.composite
def valid_events(draw: st.DrawFn) -> dict[str, Any]:
    """Events of every type that the protocol accepts."""
    kind = draw(st.sampled_from(wire.EVENT_TYPES))
    event: dict[str, Any] = {
        "v": 1,
        "id": draw(st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._:-]{0,20}\Z")),
        "type": kind,
        "site": draw(_IDS),
        "device": draw(_IDS),
        "seq": draw(st.integers(0, wire.MAX_COUNTER)),
        "ts": draw(_TIMES),
        "clock_synced": draw(st.booleans()),
    }
    if draw(st.booleans()):
        event["rebased"] = draw(st.booleans())
    if kind == "badge":
        access = draw(st.sampled_from(["granted", "denied"]))
        event |= {
            "badge": draw(st.from_regex(r"\A[0-9a-fA-F]{8,20}\Z")),
            "reader": draw(_IDS),
            "direction": draw(st.sampled_from(["in", "out", "toggle"])),
            "access": access,
        }
        if access == "denied":
            event["reason"] = draw(st.sampled_from(["unknown", "revoked", "expired"]))
    elif kind == "door":
        event |= {"door": draw(_IDS), "state": draw(st.sampled_from(["open", "closed"]))}
    elif kind == "alarm":
        event["kind"] = draw(st.sampled_from(["door_forced", "door_held_open", "outbox_overflow"]))
        if event["kind"] != "outbox_overflow" or draw(st.booleans()):
            event["door"] = draw(_IDS)
    else:
        event["door"] = draw(_IDS)
    return event


_ODD_NUMBERS = st.sampled_from(
    ["NaN", "-Infinity", "1e400", "1.0", "1e0", "-0", "0.0", "1" * 40, "2147483648", "-1", "true"]
)
_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=6,
)


def _value(draw: st.DrawFn) -> str:
    """Any JSON value as text, odd numbers included (NaN and friends as `json` writes them)."""
    if draw(st.booleans()):
        return draw(_ODD_NUMBERS)
    return json.dumps(draw(_JSON), ensure_ascii=draw(st.booleans()))


@st.composite
def payloads(draw: st.DrawFn) -> bytes | str:
    """A valid event's JSON, spoiled in zero, one or two ways."""
    event = draw(valid_events())
    keys = sorted(event)
    extra: list[tuple[str, str]] = []  # written after the object's own keys: maybe twice
    for _ in range(draw(st.integers(0, 2))):
        how = draw(st.sampled_from(["swap", "drop", "add", "again", "case"]))
        key = draw(st.sampled_from(keys))
        if how == "swap" and key in event:
            event[key] = json.loads(_value(draw))
        elif how == "drop":
            event.pop(key, None)
        elif how == "add":
            extra.append((draw(st.text(min_size=1, max_size=8)), _value(draw)))
        elif how == "again":
            same = key in event and draw(st.booleans())
            extra.append((key, json.dumps(event[key]) if same else _value(draw)))
        elif how == "case" and isinstance(event.get(key), str):
            event[key] = event[key].upper()
    text = json.dumps(event, ensure_ascii=draw(st.booleans()))
    if extra:
        more = ", ".join(f"{json.dumps(key)}: {value}" for key, value in extra)
        text = text[:-1] + (", " if event else "") + more + "}"
    text = draw(st.sampled_from(["", "\ufeff", " ", "[", "\n"])) + text
    text += draw(st.sampled_from(["", " ", "\n", "x", "]", "}", " " * wire.MAX_PAYLOAD_BYTES]))
    form = draw(st.sampled_from(["str", "bytes", "latin-1"]))
    if form == "str":
        return text
    if form == "latin-1":
        return text.encode("latin-1", "replace")
    return text.encode("utf-8", "surrogatepass")


def _outcome(parse: Any, payload: bytes | str) -> tuple[str, str]:
    try:
        event = parse(payload)
    except wire.ProtocolError as refused:
        return type(refused).__name__, str(refused)
    return type(event).__name__, repr(event)


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payload=payloads())
def test_a_plain_reading_accepts_and_refuses_as_the_careful_one(payload: bytes | str) -> None:
    careful = _outcome(wire._careful_event, payload)
    assert _outcome(wire.parse_event, payload) == careful
    quick = wire._plain_event(payload)
    if quick is not None:
        assert (type(quick).__name__, repr(quick)) == careful


@settings(max_examples=500, deadline=None)
@given(event=valid_events(), ascii_only=st.booleans())
def test_valid_events_are_read_the_quick_way(event: dict[str, Any], ascii_only: bool) -> None:
    text = json.dumps(event, ensure_ascii=ascii_only)
    assume("\\" not in text)
    quick = wire._plain_event(text.encode())
    assert quick is not None
    assert repr(quick) == repr(wire._careful_event(text))


@pytest.mark.parametrize(
    ("extra", "sentence"),
    [
        ('"x": NaN', "payload refused: NaN is not a number JSON allows"),
        ('"x": 1e400', "payload refused: 1e400 is too large a number"),
        ('"x": ' + "1" * 40, "payload refused: an integer of 40 digits is longer than 30"),
    ],
)
def test_what_the_quick_reader_would_take_in_an_extra_field_is_refused(
    extra: str, sentence: str
) -> None:
    valid = json.dumps(
        wire.badge_event(
            site="murat", device="murat-door", badge="04A2B3C4", reader="entrance",
            direction="in", access="granted", clock_synced=True,
        ) | {"seq": 1}
    )  # fmt: skip
    payload = valid[:-1] + ", " + extra + "}"
    assert wire._plain_event(payload) is None
    with pytest.raises(wire.ProtocolError, match=re.escape(sentence)):
        wire.parse_event(payload)
