"""The durable outbox: every event is on disk before anything tries to send it.

A Pi loses power, its SD card stays. Events are written to SQLite (WAL, `synchronous=FULL`:
each append is fsync'ed) with the next value of the device's `seq` counter, which lives in the
same database so it survives restarts. They leave the outbox only once the hub has said it
holds them (`acknowledge`, from the hub's `wire.Ack`), or, with the end-to-end acknowledgement
turned off, once the broker has (`remove`); after a crash, everything still there is sent
again, in `seq` order (the hub de-duplicates by event id).

An event stamped while the wall clock was not synchronised also keeps its boot's monotonic
stamp (columns `boot_id`, `mono_ns`): it is *held* (`first_held`) until `rebase` rewrites its
`ts` from that stamp once NTP has synchronised, or `release` lets it go as it is.

>>> box = Outbox(Path("/tmp/outbox.db"))
>>> event = box.append({"v": 1, "type": "door", ...})   # event["seq"] is now set
>>> box.pending(after_seq=0, limit=100)                  # [(seq, payload bytes), ...]
>>> box.acknowledge(event["seq"])                        # the hub holds it and all before it
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from edge.clock import Reading, rebased, timestamp
from telecentre import wire
from telecentre.private_files import tighten_private

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY, payload BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS counter (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO counter VALUES ('seq', 0);
"""
#: Added to outboxes made before events kept their monotonic stamp; NULL: nothing to rebase.
CLOCK_COLUMNS = {"boot_id": "TEXT", "mono_ns": "INTEGER"}
#: Only held events are in the index: finding the first one costs nothing in a large outbox.
HELD_INDEX = "CREATE INDEX IF NOT EXISTS held ON events (boot_id, seq) WHERE mono_ns IS NOT NULL"


class Outbox:
    """A bounded, crash-safe FIFO of encoded events, numbered by the device's `seq` counter.

    `on_overflow(dropped)` is called (outside the lock) when the bound forced the oldest
    events out; the agent turns it into an `outbox_overflow` alarm.
    """

    def __init__(
        self,
        path: Path,
        max_events: int = 1_000_000,
        on_overflow: Callable[[int], None] | None = None,
    ) -> None:
        # Badge UIDs: the owner's only (SQLite gives its -wal and -shm the database's mode).
        tighten_private(path)
        self.path = path
        self.max_events = max_events
        self.on_overflow = on_overflow
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)
        self._add_clock_columns()
        self._depth: int = self._db.execute("SELECT count(*) FROM events").fetchone()[0]
        self.dropped = 0

    def _add_clock_columns(self) -> None:
        present = {row[1] for row in self._db.execute("PRAGMA table_info(events)")}
        for name, kind in CLOCK_COLUMNS.items():
            if name not in present:
                self._db.execute(f"ALTER TABLE events ADD COLUMN {name} {kind}")
        self._db.execute(HELD_INDEX)

    def append(self, event: dict[str, Any], unsynced: Reading | None = None) -> dict[str, Any]:
        """Number the event, store it durably, and return it with its `seq`.

        `unsynced`: the clocks' reading the event was stamped with, while the wall clock was
        not synchronised; the event is held until `rebase` or `release`."""
        held = (None, None) if unsynced is None else (unsynced.boot_id, unsynced.monotonic_ns)
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                dropped = self._make_room()
                seq = self._db.execute(
                    "UPDATE counter SET value = value + 1 WHERE name = 'seq' RETURNING value"
                ).fetchone()[0]
                event = {**event, "seq": seq}
                self._db.execute(
                    "INSERT INTO events (seq, payload, boot_id, mono_ns) VALUES (?, ?, ?, ?)",
                    (seq, wire.encode(event), *held),
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise
            self._depth += 1 - dropped
            self.dropped += dropped
        if dropped and self.on_overflow is not None:
            self.on_overflow(dropped)
        return event

    def _rollback(self) -> None:
        """End a failed transaction, so that the next BEGIN works (SQLite may have rolled it
        back already, e.g. after a failed COMMIT)."""
        if self._db.in_transaction:
            self._db.execute("ROLLBACK")

    def _make_room(self) -> int:
        """Drop the oldest events if the bound is reached (only then: losing events is a last
        resort for a site cut off for months). One percent more goes at once, so that the
        alarm saying so has room too, and the next appends do not each drop one."""
        excess = self._depth - self.max_events + 1
        if excess <= 0:
            return 0
        excess += max(1, self.max_events // 100)
        cursor = self._db.execute(
            "DELETE FROM events WHERE seq IN (SELECT seq FROM events ORDER BY seq LIMIT ?)",
            (excess,),
        )
        return cursor.rowcount  # what was there to drop: `excess` may be more (max_events=1)

    def pending(self, after_seq: int, limit: int) -> list[tuple[int, bytes]]:
        """The oldest stored events with a `seq` above `after_seq`, in order."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, payload FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
                (after_seq, limit),
            ).fetchall()
        return [(int(seq), bytes(payload)) for seq, payload in rows]

    def acknowledge(self, up_to_seq: int) -> int:
        """Forget every event up to `up_to_seq`, which the hub holds; how many there were.
        A removal lost in a power cut costs only duplicates, which the hub drops."""
        with self._lock:
            removed = self._db.execute("DELETE FROM events WHERE seq <= ?", (up_to_seq,)).rowcount
            self._depth -= removed
        return int(removed)

    def floor(self) -> int:
        """The status's `outbox_floor`: every event with a lower seq has left for good (the
        hub acknowledged it, or an overflow dropped it), the others are all still here."""
        with self._lock:
            oldest, last = self._db.execute(
                "SELECT min(seq), (SELECT value FROM counter WHERE name = 'seq') FROM events"
            ).fetchone()
        return int(oldest if oldest is not None else last + 1)

    def remove(self, seqs: Iterable[int]) -> None:
        """Forget events the broker acknowledged (end-to-end acknowledgement turned off). Not
        fsync'ed on its own, as `acknowledge`."""
        batch = [(seq,) for seq in seqs]
        if not batch:
            return
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                before = self._db.total_changes
                self._db.executemany("DELETE FROM events WHERE seq = ?", batch)
                removed = self._db.total_changes - before
                self._db.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise
            self._depth -= removed

    # --- events stamped while the clock was not synchronised ---------------------------------

    def first_held(self, boot_id: str) -> int | None:
        """The lowest `seq` of this boot's events that wait for the clock (None: none wait).
        Events held by an earlier boot are not: their stamps cannot be rebased any more."""
        with self._lock:
            row = self._db.execute(
                "SELECT min(seq) FROM events WHERE mono_ns IS NOT NULL AND boot_id = ?",
                (boot_id,),
            ).fetchone()
        return None if row[0] is None else int(row[0])

    def held(self, boot_id: str) -> int:
        """How many of this boot's events wait for the clock."""
        with self._lock:
            row = self._db.execute(
                "SELECT count(*) FROM events WHERE mono_ns IS NOT NULL AND boot_id = ?",
                (boot_id,),
            ).fetchone()
        return int(row[0])

    def rebase(self, sync: Reading) -> int:
        """Rewrite the `ts` of every event of `sync`'s boot still held, from its monotonic
        stamp and `sync` (a reading of the synchronised clock), with `clock_synced` and
        `rebased` true: all of them in one transaction, before any is sent. Returns how many."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                rows = self._db.execute(
                    "SELECT seq, payload, mono_ns FROM events"
                    " WHERE mono_ns IS NOT NULL AND boot_id = ?",
                    (sync.boot_id,),
                ).fetchall()
                rewritten = [
                    (_rebased_payload(payload, stamp_ns, sync), seq)
                    for seq, payload, stamp_ns in rows
                ]
                self._db.executemany(
                    "UPDATE events SET payload = ?, mono_ns = NULL WHERE seq = ?", rewritten
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise
        return len(rewritten)

    def release(self, boot_id: str) -> int:
        """Stop holding this boot's events: they go out as they were stamped (`clock_synced`
        false), and will never be rebased. Returns how many."""
        with self._lock:
            cursor = self._db.execute(
                "UPDATE events SET mono_ns = NULL WHERE mono_ns IS NOT NULL AND boot_id = ?",
                (boot_id,),
            )
        return cursor.rowcount

    def depth(self) -> int:
        """Events stored and not yet acknowledged (by the hub; by the broker if end-to-end
        acknowledgement is off)."""
        return self._depth

    def last_seq(self) -> int:
        with self._lock:
            return int(
                self._db.execute("SELECT value FROM counter WHERE name = 'seq'").fetchone()[0]
            )

    def continue_after(self, seq: int) -> None:
        """Number the next event after `seq` (never lower than now): a door whose earlier
        events reached the hub by another path (the demo's imported past) goes on from them."""
        with self._lock:
            self._db.execute("UPDATE counter SET value = max(value, ?) WHERE name = 'seq'", (seq,))

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _rebased_payload(payload: bytes, stamp_ns: int, sync: Reading) -> bytes:
    """The payload with its rebased `ts`; one that is not an event object (a damaged SD card)
    stays as it is, for the hub to reject with its reason, rather than stop every rebase."""
    try:
        event = json.loads(payload)
    except ValueError:
        return bytes(payload)
    if not isinstance(event, dict):
        return bytes(payload)
    ts = timestamp(rebased(stamp_ns, sync))
    return wire.encode(event | {"ts": ts, "clock_synced": True, "rebased": True})
