"""Events stamped while the clock was not synchronised: held in the outbox with their boot's
monotonic stamp, rebased once NTP has synchronised (edge/outbox.py, edge/clock_hold.py)."""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from edge.clock import Clock, Reading
from edge.clock_hold import ClockHold
from edge.outbox import Outbox
from telecentre import wire

SITE, DEVICE = "murat", "murat-door"
BOOT, NEXT_BOOT = "boot-one", "boot-two"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
TRUE_BOOT = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)  # when the Pi really booted
S = 10**9


class PiClock:
    """A Pi that booted at TRUE_BOOT with its wall clock at 1970, until NTP steps it."""

    def __init__(self, boot: str = BOOT) -> None:
        self.boot = boot
        self.since_boot_ns = 5 * S
        self.is_synced = False

    def wall(self) -> datetime:
        start = TRUE_BOOT if self.is_synced else EPOCH
        return start + timedelta(microseconds=self.since_boot_ns // 1000)

    def truly(self) -> datetime:
        return TRUE_BOOT + timedelta(microseconds=self.since_boot_ns // 1000)

    def clock(self) -> Clock:
        return Clock(self.wall, lambda: self.since_boot_ns, lambda: self.is_synced, self.boot)

    def later(self, seconds: float) -> None:
        self.since_boot_ns += int(seconds * S)


class Seconds:
    """The uplink's monotonic clock, as a test moves it."""

    def __init__(self) -> None:
        self.value = 1000.0

    def __call__(self) -> float:
        return self.value


def door(reading: Reading, state: str = "open") -> dict[str, Any]:
    built = wire.door_event(
        site=SITE,
        device=DEVICE,
        door="main",
        state=state,  # type: ignore[arg-type]
        clock_synced=reading.synced,
    )
    return built | {"ts": reading.ts}


def record(box: Outbox, clock: Clock, state: str = "open") -> dict[str, Any]:
    """What the agent does with an event: stamp it, and keep the stamp if unsynchronised."""
    reading = clock.read()
    return box.append(door(reading, state), unsynced=None if reading.synced else reading)


def stored(box: Outbox) -> list[wire.DoorEvent]:
    events = [wire.parse_event(payload) for _, payload in box.pending(0, 1000)]
    return [e for e in events if isinstance(e, wire.DoorEvent)]


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "outbox.db"


@pytest.fixture
def box(path: Path) -> Iterator[Outbox]:
    outbox = Outbox(path)
    yield outbox
    outbox.close()


# --- the outbox ---------------------------------------------------------------------------


def test_events_stamped_unsynchronised_are_held_with_the_unsynchronised_wall_time(
    box: Outbox,
) -> None:
    pi = PiClock()
    record(box, pi.clock())
    pi.later(2)
    record(box, pi.clock())
    assert box.first_held(BOOT) == 1 and box.held(BOOT) == 2
    assert [e.ts.year for e in stored(box)] == [1970, 1970]
    assert [(e.clock_synced, e.rebased) for e in stored(box)] == [(False, False)] * 2


def test_events_stamped_synchronised_are_not_held(box: Outbox) -> None:
    pi = PiClock()
    pi.is_synced = True
    record(box, pi.clock())
    assert box.first_held(BOOT) is None and box.held(BOOT) == 0


def test_rebase_rewrites_each_held_events_ts_from_its_monotonic_stamp(box: Outbox) -> None:
    pi = PiClock()
    moments = []
    for seconds in (0, 2.5, 60):
        pi.later(seconds)
        moments.append(pi.truly())
        record(box, pi.clock())
    ids = [e.id for e in stored(box)]
    pi.later(3600)  # an hour later, NTP steps the wall clock
    pi.is_synced = True
    assert box.rebase(pi.clock().read()) == 3
    events = stored(box)
    assert [e.ts for e in events] == [m.replace(microsecond=m.microsecond // 1000 * 1000)
                                      for m in moments]  # fmt: skip
    assert [(e.clock_synced, e.rebased) for e in events] == [(True, True)] * 3
    assert [e.id for e in events] == ids and [e.seq for e in events] == [1, 2, 3]
    assert [e.state for e in events] == ["open"] * 3
    assert box.first_held(BOOT) is None
    assert box.rebase(pi.clock().read()) == 0  # nothing left: never rebased twice


def test_rebased_payload_keeps_every_other_field(box: Outbox) -> None:
    pi = PiClock()
    reading = pi.clock().read()
    built = wire.badge_event(
        site=SITE,
        device=DEVICE,
        badge="04A2B3C4",
        reader="entrance",
        direction="toggle",
        access="denied",
        reason="outside_hours",
        clock_synced=False,
    ) | {"ts": reading.ts}
    box.append(built, unsynced=reading)
    pi.later(10)
    pi.is_synced = True
    box.rebase(pi.clock().read())
    ((_, payload),) = box.pending(0, 10)
    assert json.loads(payload) == built | {
        "seq": 1,
        "ts": json.loads(payload)["ts"],
        "clock_synced": True,
        "rebased": True,
    }
    assert datetime.fromisoformat(json.loads(payload)["ts"]) == TRUE_BOOT + timedelta(seconds=5)


def test_after_a_crash_the_same_boot_rebases_what_it_stored(path: Path) -> None:
    """The agent is killed between stamping and synchronisation; the Pi did not reboot."""
    pi = PiClock()
    first = Outbox(path)
    record(first, pi.clock())
    pi.later(1)
    moment = pi.truly()
    record(first, pi.clock())
    del first  # no close: as after kill -9 (each append was committed)
    pi.later(30)
    pi.is_synced = True
    again = Outbox(path)
    assert again.first_held(BOOT) == 1
    assert again.rebase(pi.clock().read()) == 2
    events = stored(again)
    assert events[1].ts == moment and all(e.rebased for e in events)
    again.close()


def test_after_a_reboot_an_earlier_boots_events_are_not_held_nor_rebased(path: Path) -> None:
    """The Pi rebooted before NTP came: its old monotonic stamps mean nothing any more."""
    before = PiClock(BOOT)
    first = Outbox(path)
    record(first, before.clock())
    first.close()
    after = PiClock(NEXT_BOOT)
    again = Outbox(path)
    assert again.first_held(NEXT_BOOT) is None  # not held: it goes out as it is
    record(again, after.clock())
    after.is_synced = True
    assert again.rebase(after.clock().read()) == 1  # only the new boot's own event
    old, new = stored(again)
    assert (old.ts.year, old.clock_synced, old.rebased) == (1970, False, False)
    assert (new.ts.year, new.clock_synced, new.rebased) == (2026, True, True)
    again.close()


def test_a_rebase_that_fails_rewrites_nothing(box: Outbox, path: Path) -> None:
    pi = PiClock()
    for _ in range(3):
        record(box, pi.clock())
    before = box.pending(0, 10)
    other = sqlite3.connect(path)
    other.execute(
        "CREATE TRIGGER fail BEFORE UPDATE ON events WHEN NEW.seq = 3"
        " BEGIN SELECT RAISE(ABORT, 'disk I/O'); END"
    )
    other.commit()
    pi.is_synced = True
    with pytest.raises(sqlite3.DatabaseError, match="disk I/O"):
        box.rebase(pi.clock().read())
    assert box.pending(0, 10) == before and box.held(BOOT) == 3
    other.execute("DROP TRIGGER fail")
    other.commit()
    other.close()
    assert box.rebase(pi.clock().read()) == 3


def test_a_damaged_held_payload_stays_as_it_is_and_the_others_are_rebased(
    box: Outbox, path: Path
) -> None:
    pi = PiClock()
    for _ in range(3):
        record(box, pi.clock())
    other = sqlite3.connect(path)
    other.execute("UPDATE events SET payload = ? WHERE seq = 2", (b"\x00not json",))
    other.commit()
    other.close()
    pi.is_synced = True
    assert box.rebase(pi.clock().read()) == 3
    assert box.first_held(BOOT) is None  # nothing left to hold the uplink up
    payloads = [payload for _, payload in box.pending(0, 10)]
    assert payloads[1] == b"\x00not json"
    assert [json.loads(payloads[i])["rebased"] for i in (0, 2)] == [True, True]


def test_release_lets_held_events_go_as_they_are_for_good(box: Outbox) -> None:
    pi = PiClock()
    record(box, pi.clock())
    before = box.pending(0, 10)
    assert box.release(BOOT) == 1
    assert box.first_held(BOOT) is None and box.pending(0, 10) == before
    pi.is_synced = True
    assert box.rebase(pi.clock().read()) == 0  # maybe sent already: never rewritten


def test_an_outbox_from_before_monotonic_stamps_is_upgraded_in_place(path: Path) -> None:
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE events (seq INTEGER PRIMARY KEY, payload BLOB NOT NULL);"
        "CREATE TABLE counter (name TEXT PRIMARY KEY, value INTEGER NOT NULL);"
        "INSERT INTO counter VALUES ('seq', 1);"
    )
    old = door(PiClock().clock().read()) | {"seq": 1}
    db.execute("INSERT INTO events VALUES (1, ?)", (wire.encode(old),))
    db.commit()
    db.close()
    box = Outbox(path)
    assert box.first_held(BOOT) is None and box.depth() == 1
    record(box, PiClock().clock())
    assert box.first_held(BOOT) == 2
    box.close()


# --- the hold -----------------------------------------------------------------------------


def test_the_uplink_stops_before_the_first_held_event(box: Outbox) -> None:
    pi = PiClock(NEXT_BOOT)
    record(box, PiClock(BOOT).clock())  # an earlier boot's: goes as it is
    pi.is_synced = True
    record(box, pi.clock())  # synchronised: goes
    pi.is_synced = False  # NTP lost (the kernel says so after a while)
    record(box, pi.clock())
    record(box, pi.clock())
    hold = ClockHold(pi.clock(), box, hold_unsynced_s=900, now=Seconds())
    assert hold.sendable_below(connected_for_s=5) == 3
    assert hold.held() == 2


def test_once_synchronised_the_held_events_are_rebased_then_all_may_go(
    box: Outbox, caplog: pytest.LogCaptureFixture
) -> None:
    pi = PiClock()
    record(box, pi.clock())
    hold = ClockHold(pi.clock(), box, hold_unsynced_s=900, now=Seconds())
    assert hold.sendable_below(5) == 1
    pi.later(20)
    pi.is_synced = True
    with caplog.at_level(logging.WARNING):
        assert hold.sendable_below(25) == 2
    assert "clock synchronised: 1 events" in caplog.text
    (event,) = stored(box)
    assert event.rebased and event.ts == TRUE_BOOT + timedelta(seconds=5)
    assert hold.held() == 0


def test_with_nothing_held_everything_stored_may_go(box: Outbox) -> None:
    pi = PiClock()
    pi.is_synced = True
    hold = ClockHold(pi.clock(), box, hold_unsynced_s=900, now=Seconds())
    assert hold.sendable_below(0) == 1
    record(box, pi.clock())
    record(box, pi.clock())
    assert hold.sendable_below(0) == 3


def test_held_events_go_as_they_are_after_waiting_hold_unsynced_s_with_the_broker_there(
    box: Outbox, caplog: pytest.LogCaptureFixture
) -> None:
    pi = PiClock()
    now = Seconds()
    hold = ClockHold(pi.clock(), box, hold_unsynced_s=900, now=now)
    record(box, pi.clock())
    assert hold.sendable_below(connected_for_s=3) == 1
    now.value += 899
    assert hold.sendable_below(connected_for_s=902) == 1  # 899 s of waiting: still held
    now.value += 1
    with caplog.at_level(logging.WARNING):
        assert hold.sendable_below(connected_for_s=903) == 2
    assert "clock still not synchronised after 900 s" in caplog.text
    (event,) = stored(box)
    assert (event.ts.year, event.clock_synced, event.rebased) == (1970, False, False)
    # NTP still out of reach: the next events go at once (no second error).
    caplog.clear()
    record(box, pi.clock())
    with caplog.at_level(logging.WARNING):
        assert hold.sendable_below(connected_for_s=904) == 3
    assert caplog.text == ""
    # Then NTP comes: events are held, and rebased, again.
    pi.is_synced = True
    assert hold.sendable_below(connected_for_s=905) == 3
    pi.is_synced = False
    record(box, pi.clock())
    assert hold.sendable_below(connected_for_s=906) == 3


def test_the_hold_counts_only_time_with_the_broker_reachable(box: Outbox) -> None:
    """A site cut off for days: when the link comes back, NTP gets its chance first."""
    pi = PiClock()
    now = Seconds()
    hold = ClockHold(pi.clock(), box, hold_unsynced_s=900, now=now)
    record(box, pi.clock())
    assert hold.sendable_below(connected_for_s=1) == 1
    now.value += 3 * 86_400  # the link went down for three days, then came back
    assert hold.sendable_below(connected_for_s=2) == 1
    pi.later(3 * 86_400)
    pi.is_synced = True
    assert hold.sendable_below(connected_for_s=30) == 2
    assert stored(box)[0].rebased


def test_events_stored_while_it_decides_wait_for_the_next_round(box: Outbox) -> None:
    """What the uplink may send is decided from the seq stored before it looked: an event
    stamped meanwhile, held or not, is never sent past its decision."""
    pi = PiClock()
    record(box, pi.clock())
    pi.is_synced = True
    rebase = box.rebase

    def rebase_while_a_tap_comes(sync: Reading) -> int:
        pi.is_synced = False  # the tap is stamped unsynchronised, after the decision began
        record(box, pi.clock())
        pi.is_synced = True
        return rebase(sync)

    box.rebase = rebase_while_a_tap_comes  # type: ignore[method-assign]
    hold = ClockHold(pi.clock(), box, hold_unsynced_s=900, now=Seconds())
    assert hold.sendable_below(5) == 2  # only the event stored before it looked
