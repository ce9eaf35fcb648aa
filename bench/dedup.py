"""What knowing duplicates for ever costs: `.venv/bin/python -m bench.dedup [--events 50000]`.

Prints JSON, asserts nothing. The hub's store path (`hub.store.events.store_events`: validate,
claim the ids in `event_ids`, insert the new events, make sure each device has a mark) next to
today's baseline measured in the same run on the same machine: the path before `event_ids`,
which inserts into `events` only and lets its primary key find the duplicates (so a duplicate
is no longer found once retention deleted the event). Both take the same JSON lines in
batches of 500, one transaction each (as the MQTT ingest commits them), on SQLite and
PostgreSQL; then the same lines again (a redelivery: all duplicates). No presence hooks: they
are the same on both paths. Each figure is the best of `--rounds` runs, the paths in turn.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from collections.abc import Callable, Sequence
from itertools import zip_longest
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from bench.hub import Databases, members_csv, site_ids, sites_yaml, traffic
from hub.store import make_engine, make_sessionmaker
from hub.store.db import insert_ignoring_conflicts
from hub.store.events import (
    Incoming,
    StoreResult,
    WireEvent,
    _fields,
    _holders,
    _row,
    _text,
    store_events,
)
from hub.store.models import Event
from telecentre import wire
from tests.servers import Postgres

BATCH = 500


def events_only(session: Session, batch: Sequence[Incoming]) -> StoreResult:
    """The store path before `event_ids` (the baseline): the same validation and rows, the
    duplicates found by `events`' primary key."""
    result = StoreResult()
    valid: dict[str, tuple[WireEvent, Incoming]] = {}
    for index, incoming in enumerate(batch):
        try:
            event = wire.parse_event(incoming.payload, incoming.topic)
        except wire.ProtocolError as exc:
            result.rejected.append((index, str(exc)))
            continue
        valid.setdefault(event.id, (event, incoming))
    badges = {e.badge for e, _ in valid.values() if isinstance(e, wire.BadgeEvent)}
    holders = _holders(session, badges)
    rows = []
    for event, incoming in sorted(valid.values(), key=lambda pair: pair[0].id):
        fields = _fields(event)
        member_id = holders.at(fields.get("badge"), event.ts)
        rows.append(_row(event, fields, member_id, _text(incoming.payload), incoming.received_at))
    inserted = session.connection().scalars(
        insert_ignoring_conflicts(session, Event).returning(Event.id), rows
    )
    result.duplicates = len(valid) - len(list(inserted))
    return result


Store = Callable[[Session, Sequence[Incoming]], StoreResult]


def rate(url: str, lines: list[str], store: Store) -> tuple[float, int]:
    """Events per second through `store`, and the duplicates it found."""
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    topics = [
        wire.events_topic(json.loads(line)["site"], json.loads(line)["device"]) for line in lines
    ]
    duplicates = 0
    start = time.perf_counter()
    for offset in range(0, len(lines), BATCH):
        batch = [
            Incoming(line.encode(), topic)
            for line, topic in zip(
                lines[offset : offset + BATCH], topics[offset : offset + BATCH], strict=True
            )
        ]
        with sessions.begin() as session:
            duplicates += store(session, batch).duplicates
    elapsed = time.perf_counter() - start
    engine.dispose()
    return len(lines) / elapsed, duplicates


def figures(
    databases: Databases, kind: str, lines: list[str], sites: str, members: str, rounds: int
) -> dict[str, Any]:
    """The best of `rounds` runs of each path, the paths taking turns (a machine shared with
    other work, a database warming up, favour neither)."""
    result: dict[str, Any] = {}
    for _ in range(rounds):
        for name, store in (("events_only_baseline", events_only), ("event_ids", store_events)):
            url = databases.fresh(kind, sites, members)
            first, _ = rate(url, lines, store)
            again, duplicates = rate(url, lines, store)
            best = result.setdefault(name, {"new_events_per_s": 0.0, "redelivered_per_s": 0.0})
            best["new_events_per_s"] = max(best["new_events_per_s"], first)
            best["redelivered_per_s"] = max(best["redelivered_per_s"], again)
            best["duplicates_found"] = duplicates
    base, new = result["events_only_baseline"], result["event_ids"]
    result["ratio_new_events"] = new["new_events_per_s"] / base["new_events_per_s"]
    result["ratio_redelivered"] = new["redelivered_per_s"] / base["redelivered_per_s"]
    return result


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="De-duplication cost: JSON figures, no asserts.")
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--sites", type=int, default=12)
    parser.add_argument("--members", type=int, default=2000)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--rounds", type=int, default=2, help="runs of each path, best kept")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    kinds = [kind for kind in args.databases.split(",") if kind]
    ids = site_ids(args.sites)
    by_site = traffic(args.events, ids, args.members, seed=1)
    # Interleaved as the broker hands them over, several edges at once.
    lines = [line for group in zip_longest(*by_site.values()) for line in group if line]
    postgres = Postgres() if "postgresql" in kinds else None
    if postgres is not None:
        postgres.start()
    results: dict[str, Any] = {"events": len(lines), "batch": BATCH}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            databases = Databases(Path(tmp), postgres)
            for kind in kinds:
                results[kind] = figures(
                    databases, kind, lines, sites_yaml(ids), members_csv(args.members), args.rounds
                )
    finally:
        if postgres is not None:
            postgres.remove()
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
