"""The wire protocol (PROTOCOL.md v1): building, parsing and rejecting payloads."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from telecentre import broker, wire

SITE, DEVICE = "murat", "murat-door"
TOPIC = wire.events_topic(SITE, DEVICE)


def badge(**overrides: Any) -> dict[str, Any]:
    event = wire.badge_event(
        site=SITE,
        device=DEVICE,
        badge="04a2b3c4d5e6f7",
        reader="entrance",
        direction="toggle",
        access="granted",
        clock_synced=True,
    )
    return event | {"seq": 1842} | overrides


def door_alarm(**overrides: Any) -> dict[str, Any]:
    event = wire.alarm_event(
        site=SITE, device=DEVICE, kind="door_forced", door="main", clock_synced=False
    )
    return event | {"seq": 7} | overrides


def rejected(payload: bytes | str | dict[str, Any], topic: str | None = TOPIC) -> str:
    """The ProtocolError message for a payload that must be rejected."""
    if isinstance(payload, dict):
        payload = json.dumps(payload)
    with pytest.raises(wire.ProtocolError) as caught:
        wire.parse_event(payload, topic=topic)
    return str(caught.value)


# --- events: round trips ------------------------------------------------------------------


def test_badge_event_round_trip_keeps_every_field() -> None:
    built = badge()
    event = wire.parse_event(wire.encode(built), topic=TOPIC)
    assert isinstance(event, wire.BadgeEvent)
    assert event.v == 1
    assert event.id == built["id"]
    assert event.type == "badge"
    assert (event.site, event.device, event.seq) == ("murat", "murat-door", 1842)
    assert event.badge == "04A2B3C4D5E6F7"
    assert (event.reader, event.direction, event.access, event.reason) == (
        "entrance",
        "toggle",
        "granted",
        None,
    )
    assert event.clock_synced is True
    assert event.ts == datetime.fromisoformat(built["ts"])
    assert event.ts.utcoffset() is not None


def test_built_events_have_unique_ids_and_no_seq_until_the_outbox_numbers_them() -> None:
    one = wire.door_event(site=SITE, device=DEVICE, door="main", state="open", clock_synced=True)
    two = wire.door_event(site=SITE, device=DEVICE, door="main", state="open", clock_synced=True)
    assert one["id"] != two["id"]
    assert "seq" not in one
    # `now()` is RFC 3339 with an offset and milliseconds.
    stamp = datetime.fromisoformat(one["ts"])
    assert stamp.utcoffset() is not None
    assert len(one["ts"].split("T")[1].split(".")[1]) == len("120+01:00")


def test_denied_badge_event_carries_its_reason() -> None:
    built = wire.badge_event(
        site=SITE,
        device=DEVICE,
        badge="0a1b2c3d",
        reader="entrance",
        direction="in",
        access="denied",
        reason="expired",
        clock_synced=False,
    )
    event = wire.parse_event(wire.encode(built | {"seq": 3}), topic=TOPIC)
    assert isinstance(event, wire.BadgeEvent)
    assert (event.access, event.reason, event.direction) == ("denied", "expired", "in")
    assert event.clock_synced is False


def test_door_event_round_trip() -> None:
    built = wire.door_event(
        site=SITE, device=DEVICE, door="main", state="closed", clock_synced=True
    )
    event = wire.parse_event(wire.encode(built | {"seq": 5}), topic=TOPIC)
    assert isinstance(event, wire.DoorEvent)
    assert (event.type, event.door, event.state, event.seq) == ("door", "main", "closed", 5)


@pytest.mark.parametrize("kind", ["door_forced", "door_held_open"])
def test_door_alarm_round_trip(kind: str) -> None:
    event = wire.parse_event(wire.encode(door_alarm(kind=kind)), topic=TOPIC)
    assert isinstance(event, wire.AlarmEvent)
    assert (event.type, event.kind, event.door, event.dropped) == ("alarm", kind, "main", None)


def test_outbox_overflow_alarm_needs_no_door_and_says_how_many_were_dropped() -> None:
    built = wire.alarm_event(
        site=SITE, device=DEVICE, kind="outbox_overflow", dropped=12, clock_synced=True
    )
    assert "door" not in built  # None fields are left out, not sent as null
    event = wire.parse_event(wire.encode(built | {"seq": 9}), topic=TOPIC)
    assert isinstance(event, wire.AlarmEvent)
    assert (event.kind, event.door, event.dropped) == ("outbox_overflow", None, 12)


def test_exit_request_round_trip() -> None:
    built = wire.exit_request_event(site=SITE, device=DEVICE, door="back", clock_synced=True)
    event = wire.parse_event(wire.encode(built | {"seq": 11}), topic=TOPIC)
    assert isinstance(event, wire.ExitRequestEvent)
    assert (event.type, event.door) == ("exit_request", "back")


def test_parse_event_accepts_bytes_str_and_dict_alike() -> None:
    built = badge()
    from_bytes = wire.parse_event(wire.encode(built))
    from_str = wire.parse_event(json.dumps(built))
    from_dict = wire.parse_event(built)
    assert from_bytes == from_str == from_dict


def test_parsed_event_encodes_back_to_the_same_event() -> None:
    event = wire.parse_event(wire.encode(badge()))
    again = wire.parse_event(wire.encode(event))
    assert again == event


def test_protocol_example_parses() -> None:
    example = (
        '{"v": 1, "id": "5b2f8c1e-2d7a-4a51-9a0e-7c3f1d2e9b10", "type": "badge", "site": "murat",'
        ' "device": "murat-door", "seq": 1842, "ts": "2026-11-22T08:59:03.120+01:00",'
        ' "clock_synced": true, "badge": "04A2B3C4D5E6F7", "reader": "entrance",'
        ' "direction": "toggle", "access": "granted"}'
    )
    event = wire.parse_event(example.encode(), topic="telecentre/murat/events/murat-door")
    assert isinstance(event, wire.BadgeEvent)
    assert event.ts.utcoffset() == timedelta(hours=1)
    assert event.ts.microsecond == 120_000


def test_unknown_extra_fields_are_kept_for_forward_compatibility() -> None:
    event = wire.parse_event(badge(firmware="1.2"))
    assert event.model_extra == {"firmware": "1.2"}


# --- events: rejections name the field ----------------------------------------------------


@pytest.mark.parametrize("bad", ["04A2B3ZZ", "04A2B3", "04A2B3C4D5E6F7A8B9C0D1", ""])
def test_bad_badge_hex_is_rejected_naming_the_field(bad: str) -> None:
    message = rejected(badge(badge=bad))
    assert message.startswith("field 'badge':")


@pytest.mark.parametrize("ts", ["2026-11-22T08:59:03", "2026-11-22T08:59:03.120"])
def test_timestamp_without_offset_is_rejected(ts: str) -> None:
    assert rejected(badge(ts=ts)) == "field 'ts': timestamp must carry a UTC offset (RFC 3339)"


def test_timestamp_with_z_is_accepted() -> None:
    event = wire.parse_event(badge(ts="2026-11-22T07:59:03Z"))
    assert event.ts.utcoffset() == timedelta(0)


def test_unknown_event_type_is_rejected() -> None:
    assert rejected(badge(type="visit")) == "field 'type': unknown event type 'visit'"


def test_missing_type_is_rejected() -> None:
    event = badge()
    del event["type"]
    assert "'type'" in rejected(event)


def test_denied_without_reason_is_rejected() -> None:
    message = rejected(badge(access="denied"))
    assert "field 'reason'" in message
    assert "denied" in message


def test_granted_with_a_reason_is_rejected() -> None:
    assert "field 'reason'" in rejected(badge(reason="unknown"))


def test_unknown_deny_reason_is_rejected() -> None:
    message = rejected(badge(access="denied", reason="lost"))
    assert message.startswith("field 'reason':")
    assert "outside_hours" in message


@pytest.mark.parametrize("kind", ["door_forced", "door_held_open"])
def test_door_alarm_without_door_is_rejected(kind: str) -> None:
    event = door_alarm(kind=kind)
    del event["door"]
    assert rejected(event) == f"field 'door' is required for a {kind} alarm"


def test_unknown_alarm_kind_is_rejected() -> None:
    assert rejected(door_alarm(kind="fire")).startswith("field 'kind':")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("site", "Murat"),
        ("device", "murat door"),
        ("seq", -1),
        ("v", 2),
        ("direction", "sideways"),
        ("access", "maybe"),
        ("reader", ""),
        ("clock_synced", "perhaps"),
        ("id", ""),
    ],
)
def test_bad_field_values_are_rejected_naming_the_field(field: str, value: object) -> None:
    assert rejected(badge(**{field: value}), topic=None).startswith(f"field '{field}':")


@pytest.mark.parametrize("field", ["id", "site", "device", "seq", "ts", "clock_synced", "badge"])
def test_missing_required_field_is_rejected(field: str) -> None:
    event = badge()
    del event[field]
    assert rejected(event, topic=None) == f"field '{field}': Field required"


def test_event_for_another_site_than_the_topic_is_a_spoofing_error() -> None:
    message = rejected(badge(), topic=wire.events_topic("aurillac", DEVICE))
    assert message == (
        "field 'site': event for site 'murat' arrived on topic"
        " 'telecentre/aurillac/events/murat-door'"
    )


def test_event_of_another_device_than_the_topic_is_a_spoofing_error() -> None:
    message = rejected(badge(), topic=wire.events_topic(SITE, "murat-back-door"))
    assert message == (
        "field 'device': event of device 'murat-door' arrived on topic"
        " 'telecentre/murat/events/murat-back-door'"
    )


def test_event_on_a_site_wide_topic_names_no_device_and_is_rejected() -> None:
    assert rejected(badge(), topic="telecentre/murat/events").startswith("field 'device':")


def test_event_on_a_foreign_topic_is_rejected() -> None:
    assert rejected(badge(), topic="elsewhere/murat/events/murat-door").startswith("field 'site':")


def test_without_topic_the_site_is_not_checked() -> None:
    assert wire.parse_event(wire.encode(badge())).site == "murat"


@pytest.mark.parametrize("payload", [b"{not json", b"", b"\xff\xfe\xfa", "{'v': 1}"])
def test_non_json_is_rejected(payload: bytes | str) -> None:
    assert rejected(payload).startswith("payload is not UTF-8 JSON")


@pytest.mark.parametrize("payload", [b"[1, 2]", b'"badge"', b"42", b"null"])
def test_json_that_is_not_an_object_is_rejected(payload: bytes) -> None:
    assert rejected(payload) == "payload is not a JSON object"


def test_oversize_event_is_rejected() -> None:
    payload = wire.encode(badge(padding="x" * wire.MAX_PAYLOAD_BYTES))
    assert len(payload) > 16 * 1024
    message = rejected(payload)
    assert message == f"payload of {len(payload)} bytes is over the 16384-byte limit"


def test_event_of_exactly_the_limit_is_accepted() -> None:
    base = wire.encode(badge(padding=""))
    payload = wire.encode(badge(padding="x" * (wire.MAX_PAYLOAD_BYTES - len(base))))
    assert len(payload) == wire.MAX_PAYLOAD_BYTES
    assert wire.parse_event(payload).model_extra == {"padding": "x" * (16384 - len(base))}


def test_oversize_is_counted_in_bytes_for_text_payloads_too() -> None:
    # 'é' is two bytes in UTF-8: 9,000 characters, 18,000 bytes.
    payload = wire.encode(badge(padding="é" * 9000)).decode()
    assert len(payload) < wire.MAX_PAYLOAD_BYTES < len(payload.encode())
    assert "over the 16384-byte limit" in rejected(payload)


# --- badges -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("04a2b3c4", "04A2B3C4"),
        ("04:a2:b3:c4", "04A2B3C4"),
        ("04-A2-B3-C4", "04A2B3C4"),
        (" 04 a2 b3 c4\n", "04A2B3C4"),
        ("04A2B3C4D5E6F7", "04A2B3C4D5E6F7"),
    ],
)
def test_badges_are_normalised_to_upper_case_hex(raw: str, normal: str) -> None:
    assert wire.normalise_badge(raw) == normal
    event = wire.parse_event(badge(badge=raw))
    assert isinstance(event, wire.BadgeEvent)
    assert event.badge == normal


def test_badge_event_builder_normalises_the_uid() -> None:
    built = wire.badge_event(
        site=SITE,
        device=DEVICE,
        badge="04:a2:b3:c4",
        reader="entrance",
        direction="out",
        access="granted",
        clock_synced=True,
    )
    assert built["badge"] == "04A2B3C4"
    assert "reason" not in built


@given(st.binary(min_size=4, max_size=10))
def test_any_4_to_10_byte_uid_survives_a_round_trip_in_any_spelling(uid: bytes) -> None:
    spelled = ":".join(f"{byte:02x}" for byte in uid)
    event = wire.parse_event(badge(badge=spelled))
    assert isinstance(event, wire.BadgeEvent)
    assert event.badge == uid.hex().upper()


# --- access lists -------------------------------------------------------------------------


def access_list(**overrides: Any) -> dict[str, Any]:
    return {
        "v": 1,
        "site": "murat",
        "version": 42,
        "issued": "2026-11-22T08:00:00+01:00",
        "opening": {"mon": ["08:30-17:00"], "tue": ["08:30-12:00", "13:30-17:00"]},
        "badges": [
            {"badge": "04A2B3C4D5E6F7", "until": "2027-05-31", "hours": "always"},
            {"badge": "0a:1b:2c:3d", "until": None, "hours": "opening"},
        ],
    } | overrides


def access_error(payload: dict[str, Any]) -> str:
    with pytest.raises(wire.ProtocolError) as caught:
        wire.parse_access_list(json.dumps(payload))
    return str(caught.value)


def test_access_list_example_parses() -> None:
    parsed = wire.parse_access_list(json.dumps(access_list()).encode())
    assert (parsed.site, parsed.version) == ("murat", 42)
    assert parsed.opening == {"mon": ["08:30-17:00"], "tue": ["08:30-12:00", "13:30-17:00"]}
    assert [(e.badge, e.until, e.hours) for e in parsed.badges] == [
        ("04A2B3C4D5E6F7", date(2027, 5, 31), "always"),
        ("0A1B2C3D", None, "opening"),
    ]
    assert parsed.timezone == "Europe/Paris"
    assert parsed.closed == []


def test_access_entry_hours_default_to_opening() -> None:
    parsed = wire.parse_access_list(json.dumps(access_list(badges=[{"badge": "0A1B2C3D"}])))
    assert (parsed.badges[0].hours, parsed.badges[0].until) == ("opening", None)


def test_access_list_range_up_to_midnight_is_accepted() -> None:
    parsed = wire.parse_access_list(json.dumps(access_list(opening={"sat": ["00:00-24:00"]})))
    assert parsed.opening == {"sat": ["00:00-24:00"]}


@pytest.mark.parametrize("bad", ["18:00-17:00", "08:00-08:00", "8:30-17:00", "08:30-24:30", "x"])
def test_access_list_bad_time_range_is_rejected(bad: str) -> None:
    message = access_error(access_list(opening={"mon": ["08:30-12:00", bad]}))
    assert message == f"field 'opening.mon.1': {bad!r} is not a time range like '08:30-17:00'"


def test_access_list_bad_weekday_is_rejected() -> None:
    message = access_error(access_list(opening={"monday": ["08:30-17:00"]}))
    assert message.startswith("field 'opening.monday.[key]':")
    assert "'mon'" in message


def test_access_list_negative_version_is_rejected() -> None:
    message = access_error(access_list(version=-1))
    assert message == "field 'version': Input should be greater than or equal to 0"


def test_access_list_bad_badge_is_rejected_naming_its_position() -> None:
    message = access_error(access_list(badges=[{"badge": "0A1B2C3D"}, {"badge": "nothex!!"}]))
    assert message.startswith("field 'badges.1.badge':")


def test_access_list_bad_until_and_hours_are_rejected() -> None:
    assert access_error(access_list(badges=[{"badge": "0A1B2C3D", "until": "soon"}])).startswith(
        "field 'badges.0.until':"
    )
    assert access_error(access_list(badges=[{"badge": "0A1B2C3D", "hours": "night"}])).startswith(
        "field 'badges.0.hours':"
    )


def test_access_list_may_exceed_the_event_limit() -> None:
    entries = [{"badge": f"{i:08X}", "hours": "always"} for i in range(2000)]
    payload = json.dumps(access_list(badges=entries)).encode()
    assert len(payload) > wire.MAX_PAYLOAD_BYTES
    assert len(wire.parse_access_list(payload).badges) == 2000


def test_access_list_not_an_object_is_rejected() -> None:
    with pytest.raises(wire.ProtocolError):
        wire.parse_access_list(b"[]")
    with pytest.raises(wire.ProtocolError, match="not UTF-8 JSON"):
        wire.parse_access_list(b"{")


# --- commands -----------------------------------------------------------------------------


def test_unlock_command_parses() -> None:
    command = wire.parse_command(b'{"v":1,"id":"c1","cmd":"unlock","door":"main","seconds":2.5}')
    assert (command.id, command.cmd, command.door, command.seconds) == ("c1", "unlock", "main", 2.5)


def test_unlock_command_seconds_default_to_five() -> None:
    assert wire.parse_command('{"v":1,"id":"c1","cmd":"unlock","door":"main"}').seconds == 5


@pytest.mark.parametrize("cmd", ["reboot", None, 1])
def test_unknown_command_is_a_protocol_error(cmd: object) -> None:
    payload = json.dumps({"v": 1, "id": "c1", "cmd": cmd, "door": "main"})
    with pytest.raises(wire.ProtocolError) as caught:
        wire.parse_command(payload)
    assert str(caught.value) == f"field 'cmd': unknown command {cmd!r}"


@pytest.mark.parametrize(("seconds", "ok"), [(0, False), (-1, False), (601, False), (600, True)])
def test_unlock_seconds_are_bounded(seconds: float, ok: bool) -> None:
    payload = json.dumps({"v": 1, "id": "c1", "cmd": "unlock", "door": "main", "seconds": seconds})
    if ok:
        assert wire.parse_command(payload).seconds == seconds
    else:
        with pytest.raises(wire.ProtocolError, match="field 'seconds'"):
            wire.parse_command(payload)


def test_command_without_door_or_not_an_object_is_rejected() -> None:
    with pytest.raises(wire.ProtocolError, match="field 'door': Field required"):
        wire.parse_command(b'{"v":1,"id":"c1","cmd":"unlock"}')
    with pytest.raises(wire.ProtocolError):
        wire.parse_command(b'["unlock"]')
    with pytest.raises(wire.ProtocolError, match="not UTF-8 JSON"):
        wire.parse_command(b"unlock")


# --- statuses -----------------------------------------------------------------------------


def test_status_round_trip() -> None:
    status = wire.Status(
        v=1,
        device=DEVICE,
        site=SITE,
        state="online",
        ts=datetime.fromisoformat("2026-11-22T08:59:03+01:00"),
        version="0.1.0",
        queue=3,
        clock_synced=True,
        readers={"entrance": "ok", "exit": "error"},
        doors={"main": "closed"},
    )
    parsed = wire.parse_status(wire.encode(status))
    assert parsed == status
    assert parsed.readers == {"entrance": "ok", "exit": "error"}
    assert (parsed.state, parsed.queue) == ("online", 3)


def test_minimal_offline_status_parses() -> None:
    parsed = wire.parse_status(
        b'{"v":1,"device":"murat-door","site":"murat","state":"offline",'
        b'"ts":"2026-11-22T08:59:03+01:00"}'
    )
    assert (parsed.state, parsed.queue, parsed.readers, parsed.doors) == ("offline", None, {}, {})


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"state": "sleeping"}, "state"),
        ({"ts": "2026-11-22T08:59:03"}, "ts"),
        ({"readers": {"entrance": "broken"}}, "readers.entrance"),
        ({"doors": {"main": "ajar"}}, "doors.main"),
    ],
)
def test_bad_status_is_rejected_naming_the_field(change: dict[str, Any], field: str) -> None:
    payload = {
        "v": 1,
        "device": DEVICE,
        "site": SITE,
        "state": "online",
        "ts": "2026-11-22T08:59:03+01:00",
    } | change
    with pytest.raises(wire.ProtocolError) as caught:
        wire.parse_status(json.dumps(payload))
    assert str(caught.value).startswith(f"field '{field}':")


def test_status_not_an_object_or_oversize_is_rejected() -> None:
    with pytest.raises(wire.ProtocolError):
        wire.parse_status(b"[]")
    with pytest.raises(wire.ProtocolError, match="over the 16384-byte limit"):
        wire.parse_status(b" " * (wire.MAX_PAYLOAD_BYTES + 1))


# --- topics -------------------------------------------------------------------------------


def test_topic_helpers() -> None:
    assert wire.events_topic("murat", "murat-door") == "telecentre/murat/events/murat-door"
    assert wire.status_topic("murat", "murat-door") == "telecentre/murat/status/murat-door"
    assert wire.access_topic("murat") == "telecentre/murat/access"
    assert wire.command_topic("murat", "murat-door") == "telecentre/murat/cmd/murat-door"
    assert wire.occupancy_topic("murat") == "telecentre/murat/occupancy"
    assert wire.HUB_EVENTS_SUBSCRIPTION == "$share/hub/telecentre/+/events/+"
    assert wire.ALL_EVENTS == "telecentre/+/events/+"
    assert wire.ack_topic("murat", "murat-door") == "telecentre/murat/ack/murat-door"
    assert wire.ALL_STATUSES == "telecentre/+/status/+"


@pytest.mark.parametrize(
    ("topic", "site"),
    [
        (wire.events_topic("murat", "murat-door"), "murat"),
        (wire.status_topic("saint-flour", "sf-door"), "saint-flour"),
        (wire.access_topic("a1"), "a1"),
        (wire.command_topic("murat", "murat-door"), "murat"),
        (wire.occupancy_topic("murat"), "murat"),
        ("telecentre/murat", None),
        ("telecentre//events", None),
        ("telecentre/Murat/events", None),
        ("telecentre/murat\n/events", None),
        ("telecentre/-murat/events", None),
        ("telecentre/+/events", None),
        ("other/murat/events", None),
        ("$share/hub/telecentre/murat/events", None),
        ("", None),
    ],
)
def test_site_of_topic(topic: str, site: str | None) -> None:
    assert wire.site_of_topic(topic) == site


@pytest.mark.parametrize(
    ("topic", "device"),
    [
        (wire.events_topic("murat", "murat-door"), "murat-door"),
        (wire.status_topic("murat", "murat-door"), "murat-door"),
        ("telecentre/murat/events", None),
        ("telecentre/murat/events/murat-door\n", None),
        ("telecentre/murat/events/+", None),
        ("telecentre/murat/events/a/b", None),
    ],
)
def test_device_of_topic(topic: str, device: str | None) -> None:
    assert wire.device_of_topic(topic) == device


def test_qos_levels_follow_the_protocol_table() -> None:
    assert (wire.QOS_EVENTS, wire.QOS_STATUS, wire.QOS_ACCESS, wire.QOS_COMMAND) == (1, 1, 1, 1)
    assert wire.QOS_OCCUPANCY == 0


# --- Payloads that must be refused with a reason, never crash a consumer ------------------


def _event_with(**changes: object) -> dict[str, object]:
    event = wire.door_event(
        site="murat", device="murat-door", door="main", state="open", clock_synced=True
    )
    return {**event, "seq": 1, **changes}


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"ts": 1700000000}, "field 'ts': Value error, timestamp must be an RFC 3339 string"),
        ({"ts": "0001-01-01T00:30:00+01:00"}, "field 'ts': timestamp year 1 is outside"),
        ({"clock_synced": "yes"}, "field 'clock_synced': Input should be a valid boolean"),
        ({"seq": "5"}, "field 'seq': Input should be a valid integer"),
        ({"seq": 2**63}, "field 'seq': Input should be less than or equal to 2147483647"),
    ],
)
def test_loosely_typed_or_out_of_range_fields_are_refused(
    changes: dict[str, object], expected: str
) -> None:
    with pytest.raises(wire.ProtocolError) as error:
        wire.parse_event(json.dumps(_event_with(**changes)))
    assert (
        str(error.value)
        .replace("Value error, ", "")
        .startswith(expected.replace("Value error, ", ""))
    )


def test_a_pi_booted_at_the_epoch_still_sends_valid_events() -> None:
    event = wire.parse_event(
        json.dumps(_event_with(ts="1970-01-01T00:00:05+00:00", clock_synced=False))
    )
    assert event.ts.year == 1970 and event.clock_synced is False


def test_a_deeply_nested_payload_is_a_protocol_error_not_a_recursion_error() -> None:
    with pytest.raises(wire.ProtocolError, match="nested too deeply"):
        wire.parse_event(b"[" * 8000)


def test_overlapping_opening_ranges_are_refused() -> None:
    payload = json.dumps(
        {
            "v": 1,
            "site": "murat",
            "version": 1,
            "issued": "2026-11-22T08:00:00+01:00",
            "opening": {"mon": ["08:00-12:00", "11:00-17:00"]},
        }
    )
    with pytest.raises(
        wire.ProtocolError, match=r"field 'opening.mon': .*'08:00-12:00' and '11:00-17:00' overlap"
    ):
        wire.parse_access_list(payload)


@pytest.mark.parametrize("bad", ["+", "murat/#", "murat\ntopic readwrite #"])
def test_the_broker_acl_refuses_ids_that_would_widen_it(bad: str) -> None:
    accounts = broker.dynsec_config()
    with pytest.raises(ValueError, match="is not a site or device id"):
        broker.with_device(accounts, bad, "murat-door", "secret")
    with pytest.raises(ValueError, match="is not a site or device id"):
        broker.with_device(accounts, "murat", bad, "secret")
    with pytest.raises(ValueError, match="is not a site or device id"):
        broker.with_watcher(accounts, bad, "secret")
    with pytest.raises(ValueError, match="is not a site or device id"):
        broker.acl([bad])


@pytest.mark.parametrize(
    "encode",
    [lambda text: b"\xef\xbb\xbf" + text.encode(), lambda text: text.encode("utf-16")],
)
def test_a_payload_is_utf8_json_only_not_a_bom_nor_utf16(encode: Callable[[str], bytes]) -> None:
    """json.loads would take both: a signed list re-encoded so would verify, then not load
    back from the edge's disk."""
    with pytest.raises(wire.ProtocolError, match="not UTF-8 JSON"):
        wire.parse_event(encode(json.dumps(badge())))
