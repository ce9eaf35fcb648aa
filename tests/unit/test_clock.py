"""The edge's clocks (edge/clock.py): readings, boot ids, and rebasing a monotonic stamp."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from edge.clock import Clock, Reading, boot_id, rebased, since_boot_ns, timestamp
from telecentre import wire

BOOT = "6f1c0a5e-3d2b-4c1a-9e8f-7a6b5c4d3e2f"
SYNC_WALL = datetime(2026, 11, 23, 8, 0, 0, tzinfo=UTC)


def synced_at(monotonic_ns: int, wall: datetime = SYNC_WALL) -> Reading:
    return Reading(wall=wall, monotonic_ns=monotonic_ns, boot_id=BOOT, synced=True)


@pytest.mark.parametrize(
    ("stamp_ns", "sync_ns", "expected"),
    [
        # Stamped 90 s of boot time before the synchronised reading: 90 s before its wall time.
        (10_000_000_000, 100_000_000_000, SYNC_WALL - timedelta(seconds=90)),
        # Stamped at the very moment of the reading.
        (100_000_000_000, 100_000_000_000, SYNC_WALL),
        # Milliseconds survive (the wire carries them).
        (99_998_766_000, 100_000_000_000, SYNC_WALL - timedelta(milliseconds=1, microseconds=234)),
        # Held three days with no network: still exact, however long the wait.
        (5_000_000_000, 5_000_000_000 + 3 * 86_400 * 10**9, SYNC_WALL - timedelta(days=3)),
    ],
)
def test_rebased_is_the_same_interval_before_the_synchronised_reading(
    stamp_ns: int, sync_ns: int, expected: datetime
) -> None:
    assert rebased(stamp_ns, synced_at(sync_ns)) == expected


def test_rebased_ignores_what_the_wall_clock_said_at_the_stamp() -> None:
    """Two events one second apart on the monotonic clock stay one second apart, whatever the
    unsynchronised wall clock said (1970) or when NTP stepped it."""
    sync = synced_at(3_600_000_000_000)
    first = rebased(1_000_000_000, sync)
    second = rebased(2_000_000_000, sync)
    assert second - first == timedelta(seconds=1)
    assert first == SYNC_WALL - timedelta(seconds=3599)


def test_rebasing_refuses_a_reading_of_an_unsynchronised_clock() -> None:
    unsynced = Reading(wall=SYNC_WALL, monotonic_ns=5, boot_id=BOOT, synced=False)
    with pytest.raises(ValueError, match="synchronised"):
        rebased(1, unsynced)


def test_timestamp_is_what_the_wire_expects_in_the_local_offset_with_milliseconds() -> None:
    moment = datetime(2026, 11, 23, 7, 59, 3, 120_456, tzinfo=UTC)
    text = timestamp(moment)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d", text), text
    parsed = datetime.fromisoformat(text)
    assert parsed == moment.replace(microsecond=120_000)
    assert parsed.utcoffset() == moment.astimezone().utcoffset()
    event = wire.door_event(site="murat", device="murat-door", door="main", state="open",
                            clock_synced=True) | {"seq": 1, "ts": text}  # fmt: skip
    assert wire.parse_event(event).ts == parsed


def test_a_reading_takes_every_clock_the_clock_was_given() -> None:
    wall = datetime(1970, 1, 1, 0, 0, 42, tzinfo=UTC)
    clock = Clock(wall=lambda: wall, monotonic_ns=lambda: 42_000, synced=lambda: False, boot=BOOT)
    reading = clock.read()
    assert reading == Reading(wall=wall, monotonic_ns=42_000, boot_id=BOOT, synced=False)
    assert reading.ts.startswith("1970-01-01T")


def test_the_system_clocks() -> None:
    clock = Clock()
    first, second = clock.read(), clock.read()
    assert second.monotonic_ns >= first.monotonic_ns > 0
    assert first.boot_id == second.boot_id == boot_id()
    assert first.wall.tzinfo is not None
    assert abs(since_boot_ns() - second.monotonic_ns) < 60 * 10**9


def test_boot_id_is_the_kernels_or_a_fresh_one_per_process(tmp_path: Path) -> None:
    known = tmp_path / "boot_id"
    known.write_text(f"{BOOT}\n")
    assert boot_id(known) == BOOT
    missing = tmp_path / "absent"
    assert boot_id(missing) != boot_id(missing)  # never one a later process could share
