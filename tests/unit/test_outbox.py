"""The durable outbox (edge/outbox.py): seq numbering, order, removal, the bound."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edge.config import MIN_OUTBOX_EVENTS
from edge.outbox import Outbox
from telecentre import wire

SITE, DEVICE = "murat", "murat-door"


def door(state: str = "open") -> dict[str, Any]:
    return wire.door_event(
        site=SITE,
        device=DEVICE,
        door="main",
        state=state,  # type: ignore[arg-type]
        clock_synced=True,
    )


def seqs(box: Outbox) -> list[int]:
    return [seq for seq, _ in box.pending(0, 1_000_000)]


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "outbox.db"


@pytest.fixture
def box(path: Path) -> Iterator[Outbox]:
    outbox = Outbox(path)
    yield outbox
    outbox.close()


def test_append_numbers_events_from_one(box: Outbox) -> None:
    stored = [box.append(door()) for _ in range(3)]
    assert [event["seq"] for event in stored] == [1, 2, 3]
    assert box.last_seq() == 3
    assert seqs(box) == [1, 2, 3]
    assert box.depth() == 3


def test_append_does_not_change_the_callers_event(box: Outbox) -> None:
    event = door()
    stored = box.append(event)
    assert "seq" not in event
    assert stored == event | {"seq": 1}


def test_stored_payload_is_a_valid_event_with_its_seq(box: Outbox) -> None:
    built = wire.badge_event(
        site=SITE,
        device=DEVICE,
        badge="04:a2:b3:c4",
        reader="entrance",
        direction="toggle",
        access="denied",
        reason="unknown",
        clock_synced=False,
    )
    box.append(door())
    box.append(built)
    (seq, payload), *_ = box.pending(1, 10)
    event = wire.parse_event(payload, topic=wire.events_topic(SITE, DEVICE))
    assert isinstance(event, wire.BadgeEvent)
    assert (seq, event.seq, event.id) == (2, 2, built["id"])
    assert (event.badge, event.access, event.reason) == ("04A2B3C4", "denied", "unknown")
    assert json.loads(payload) == built | {"seq": 2}


def test_seq_is_kept_across_close_and_reopen(path: Path) -> None:
    first = Outbox(path)
    first.append(door())
    first.append(door())
    first.close()
    second = Outbox(path)
    assert second.depth() == 2
    assert second.last_seq() == 2
    assert second.append(door())["seq"] == 3
    assert seqs(second) == [1, 2, 3]
    second.close()


def test_seq_is_kept_even_after_every_event_was_removed(path: Path) -> None:
    first = Outbox(path)
    for _ in range(3):
        first.append(door())
    first.remove([1, 2, 3])
    assert first.depth() == 0
    assert first.append(door())["seq"] == 4
    first.remove([4])
    first.close()
    second = Outbox(path)
    assert second.depth() == 0
    assert second.pending(0, 10) == []
    assert second.append(door())["seq"] == 5
    second.close()


def test_pending_returns_events_after_a_seq_in_order_up_to_a_limit(box: Outbox) -> None:
    events = [box.append(door()) for _ in range(6)]
    assert seqs(box) == [1, 2, 3, 4, 5, 6]
    assert [seq for seq, _ in box.pending(2, 3)] == [3, 4, 5]
    assert [seq for seq, _ in box.pending(5, 100)] == [6]
    assert box.pending(6, 100) == []
    assert box.pending(0, 0) == []
    ids = [json.loads(payload)["id"] for _, payload in box.pending(0, 100)]
    assert ids == [event["id"] for event in events]


def test_remove_forgets_acknowledged_events_in_any_order(box: Outbox) -> None:
    for _ in range(5):
        box.append(door())
    box.remove([4, 2])
    assert seqs(box) == [1, 3, 5]
    assert box.depth() == 3
    box.remove([])
    box.remove([2, 99])  # already gone, never existed: no change
    assert box.depth() == 3
    box.remove(iter([1, 3, 5]))
    assert box.depth() == 0
    assert seqs(box) == []


def test_depth_survives_reopen_after_partial_removal(path: Path) -> None:
    first = Outbox(path)
    for _ in range(4):
        first.append(door())
    first.remove([1, 3])
    first.close()
    second = Outbox(path)
    assert second.depth() == 2
    assert seqs(second) == [2, 4]
    second.close()


def test_bound_drops_the_oldest_and_reports_how_many(path: Path) -> None:
    dropped: list[int] = []
    box = Outbox(path, max_events=10, on_overflow=dropped.append)
    depths = []
    for _ in range(15):
        box.append(door())
        depths.append(box.depth())
    assert max(depths) <= 10
    assert depths[:10] == list(range(1, 11))
    # Past the bound, the oldest go one percent (at least one) more at a time.
    assert dropped == [2, 2, 2]
    assert box.dropped == 6
    assert seqs(box) == list(range(7, 16))  # the newest are kept, in order
    assert box.depth() == 9 == len(seqs(box))
    assert box.last_seq() == 15
    box.close()


def test_no_overflow_below_the_bound(path: Path) -> None:
    dropped: list[int] = []
    box = Outbox(path, max_events=10, on_overflow=dropped.append)
    for _ in range(10):
        box.append(door())
    box.remove([1, 2, 3])
    for _ in range(3):
        box.append(door())
    assert dropped == []
    assert box.dropped == 0
    assert box.depth() == 10
    box.close()


def test_bound_of_one_keeps_exactly_the_newest_event(path: Path) -> None:
    dropped: list[int] = []
    box = Outbox(path, max_events=1, on_overflow=dropped.append)
    for _ in range(4):
        box.append(door())
        assert box.depth() == len(seqs(box)) == 1
    assert seqs(box) == [4]
    assert dropped == [1, 1, 1]
    box.close()


def test_overflow_callback_may_append_the_alarm_itself(path: Path) -> None:
    """The agent appends an `outbox_overflow` alarm from the callback: no deadlock, and the
    alarm is kept among the newest events."""
    holder: list[Outbox] = []

    def overflowed(count: int) -> None:
        holder[0].append(
            wire.alarm_event(
                site=SITE, device=DEVICE, kind="outbox_overflow", dropped=count, clock_synced=True
            )
        )

    box = Outbox(path, max_events=10, on_overflow=overflowed)
    holder.append(box)
    for _ in range(11):
        box.append(door())
    assert box.depth() <= 10
    events = [wire.parse_event(payload) for _, payload in box.pending(0, 100)]
    alarms = [e for e in events if isinstance(e, wire.AlarmEvent)]
    assert [(a.kind, a.dropped, a.seq) for a in alarms] == [("outbox_overflow", 2, 12)]
    assert [e.seq for e in events] == list(range(3, 13))
    box.close()


def test_reopening_with_a_smaller_bound_enforces_it_at_the_next_append(path: Path) -> None:
    first = Outbox(path)
    for _ in range(10):
        first.append(door())
    first.close()
    dropped: list[int] = []
    second = Outbox(path, max_events=5, on_overflow=dropped.append)
    second.append(door())
    assert second.depth() == len(seqs(second)) <= 5
    assert seqs(second)[-1] == 11
    assert sum(dropped) == 11 - second.depth()
    second.close()


def test_concurrent_appends_get_distinct_consecutive_seqs(box: Outbox) -> None:
    got: list[int] = []
    lock = threading.Lock()

    def append_many() -> None:
        for _ in range(50):
            seq = box.append(door())["seq"]
            with lock:
                got.append(seq)

    threads = [threading.Thread(target=append_many) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(got) == list(range(1, 201))
    assert seqs(box) == list(range(1, 201))
    assert box.depth() == 200


def test_append_that_fails_stores_nothing_and_uses_no_seq(box: Outbox) -> None:
    box.append(door())
    with pytest.raises(TypeError):
        box.append(door() | {"bad": object()})  # not JSON-encodable
    assert box.depth() == 1
    assert box.append(door())["seq"] == 2
    assert seqs(box) == [1, 2]


def test_remove_that_fails_rolls_back_and_the_outbox_keeps_working(box: Outbox, path: Path) -> None:
    for _ in range(3):
        box.append(door())
    # Another connection makes every DELETE fail inside remove()'s transaction.
    other = sqlite3.connect(path)
    other.execute(
        "CREATE TRIGGER fail BEFORE DELETE ON events BEGIN SELECT RAISE(ABORT, 'disk I/O'); END"
    )
    other.commit()
    with pytest.raises(sqlite3.DatabaseError, match="disk I/O"):
        box.remove([1, 2])
    assert box.depth() == 3
    other.execute("DROP TRIGGER fail")
    other.commit()
    other.close()
    # No transaction was left open: appends and removals go on.
    assert box.append(door())["seq"] == 4
    box.remove([1, 2])
    assert seqs(box) == [3, 4]
    assert box.depth() == 2


def test_at_the_smallest_configurable_bound_the_overflow_alarm_has_room(path: Path) -> None:
    """From MIN_OUTBOX_EVENTS on, the events dropped at once leave room for the alarm: storing
    it drops nothing more (no alarm about the alarm)."""
    holder: list[Outbox] = []
    dropped: list[int] = []

    def overflowed(count: int) -> None:
        dropped.append(count)
        holder[0].append(
            wire.alarm_event(
                site=SITE, device=DEVICE, kind="outbox_overflow", dropped=count, clock_synced=True
            )
        )

    box = Outbox(path, max_events=MIN_OUTBOX_EVENTS, on_overflow=overflowed)
    holder.append(box)
    for _ in range(MIN_OUTBOX_EVENTS + 1):
        box.append(door())
    assert dropped == [2]
    assert box.depth() == MIN_OUTBOX_EVENTS == len(seqs(box))
    assert seqs(box)[-1] == MIN_OUTBOX_EVENTS + 2  # the alarm, after the event that overflowed
    box.close()


def test_acknowledge_forgets_every_event_up_to_the_hubs_mark(box: Outbox) -> None:
    for _ in range(6):
        box.append(door())
    assert box.acknowledge(3) == 3
    assert seqs(box) == [4, 5, 6]
    assert box.depth() == 3
    assert box.acknowledge(3) == 0  # the same retained Ack again
    assert box.acknowledge(2) == 0  # an older one
    assert box.depth() == 3
    assert box.acknowledge(6) == 3
    assert (box.depth(), seqs(box)) == (0, [])


def test_the_floor_is_the_oldest_event_kept_or_the_next_seq(path: Path) -> None:
    box = Outbox(path)
    assert box.floor() == 1  # nothing ever stored: every seq from 1 on is still to come
    for _ in range(5):
        box.append(door())
    assert box.floor() == 1
    box.acknowledge(2)
    assert box.floor() == 3
    box.remove([3])  # end-to-end acknowledgement off: the broker's PUBACK removed it
    assert box.floor() == 4
    box.acknowledge(5)
    assert box.floor() == 6
    box.close()
    reopened = Outbox(path)
    assert reopened.floor() == 6  # kept across restarts, from the seq counter
    reopened.close()


def test_the_floor_passes_over_events_an_overflow_dropped(path: Path) -> None:
    box = Outbox(path, max_events=MIN_OUTBOX_EVENTS)
    for _ in range(MIN_OUTBOX_EVENTS + 1):
        box.append(door())
    kept = seqs(box)
    assert kept[0] > 1 and box.floor() == kept[0]
    assert box.depth() == len(kept)
    box.close()


def test_the_outbox_is_its_owners_only_even_one_made_readable_before(tmp_path: Path) -> None:
    """Badge UIDs: 0600, in a 0700 state folder, whatever the umask; an outbox an older
    version left readable is tightened, its write-ahead log too."""
    state = tmp_path / "state"
    box = Outbox(state / "outbox.db")
    box.append(door())
    box.close()
    for file in (state, state / "outbox.db"):
        assert file.stat().st_mode & 0o077 == 0, file
    (state / "outbox.db").chmod(0o644)
    (state / "outbox.db-wal").write_bytes(b"")
    (state / "outbox.db-wal").chmod(0o644)
    again = Outbox(state / "outbox.db")
    again.append(door())
    for file in state.iterdir():
        assert file.stat().st_mode & 0o077 == 0, file
    again.close()
