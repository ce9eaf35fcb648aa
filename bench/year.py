"""A network's year of taps imported from the shell: `.venv/bin/python -m bench.year
[--baseline 2dd2e1b] [--databases sqlite,postgresql]`.

Prints JSON, asserts nothing. A realistic year (10 sites, 230 members, about 26,500 events:
arrivals and departures on working days, lunch breaks, double taps a reader saw twice, lines
sent twice, forgotten check-outs, a few members going on to another site in the afternoon)
is imported with `telecentre-hub import-events` into a fresh store (sites and members
imported first, not timed), once shuffled as a network delivers it and once sorted by time
stamp, by this checkout and, in the same run, by the `--baseline` release (a `git worktree`
of it; by default the release before final sessions, one place at a time and quarantine),
each command timed from start to exit, on SQLite and PostgreSQL. Beside them, a bare
writer storing the same rows in transactions of 500 without any rule (`bench.dedup`'s
events-only path, in this process: no interpreter start), and the time this checkout's
command takes for an empty file (its fixed cost), and the floor under every import: the
rows this checkout's sorted import stored (events, their ids, sessions, device marks) written
again by `sqlite3` alone into a fresh store, in one transaction with the hub's settings, no
parsing and no rule (`write_floor_s`), and what that floor allows, with and without the
empty file's command (`*_ceiling_events_per_s`). Each import also per CPU second of the
command itself (`*_cpu_events_per_s`; a PostgreSQL server's work not counted): what a
machine busy with other jobs does not blur. Next to the whole command's rate, never
instead of it, the import proper (`*_this_import_proper_events_per_s`): the events over the
command's time less the empty file's, that is from reading the file to the commit, without
the interpreter's start and imports that every command pays once. `--before REF` also
measures another checkout in the same run (today's main before a change, say). The goals
of issue 13: at least 10,000 events/s shuffled and 20,000 in order on SQLite; on
PostgreSQL at least half the bare writer; faster than the baseline.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any

import yaml

from bench.dedup import events_only, rate
from bench.hub import PARIS, Databases, badge_of, members_csv, site_ids, sites_yaml
from tests.servers import REPO, Postgres

#: The release before final sessions (issue 7): `git log --first-parent`, the commit before
#: "Manual sessions: hub.corrections…".
BASELINE = "2dd2e1b"
SITES = 10
MEMBERS = 230
#: Chance that a member comes on a given working day: about 26,500 events in a year.
ATTENDANCE = 0.158


def _event(
    rng: random.Random, site: str, ts: datetime, member: int, direction: str
) -> dict[str, Any]:
    return {
        "v": 1,
        "id": f"{rng.getrandbits(128):032x}",
        "type": "badge",
        "site": site,
        "device": f"{site}-door",
        "seq": 0,
        "ts": ts.isoformat(timespec="milliseconds"),
        "clock_synced": True,
        "badge": badge_of(member),
        "reader": "entrance",
        "direction": direction,
        "access": "granted",
    }


def _at(day: date, earliest: str, minutes: int, rng: random.Random) -> datetime:
    start = datetime.combine(day, clock_time.fromisoformat(earliest), PARIS)
    return start + timedelta(seconds=rng.randrange(minutes * 60))


def year_of_taps(seed: int, sites: Sequence[str], members: int) -> list[dict[str, Any]]:
    """The year's events in time order. Sites of even rank have one toggle reader, the
    others an entrance and an exit reader (`in`, `out`)."""
    rng = random.Random(seed)
    last = datetime.now(UTC).astimezone(PARIS).date() - timedelta(days=1)
    days = [last - timedelta(days=n) for n in range(365)]
    events: list[dict[str, Any]] = []

    def tap(site: str, ts: datetime, member: int, leaving: bool) -> None:
        toggle = sites.index(site) % 2 == 0
        direction = "toggle" if toggle else ("out" if leaving else "in")
        events.append(_event(rng, site, ts, member, direction))
        if rng.random() < 0.05:  # the reader saw the card twice
            again = ts + timedelta(seconds=rng.randrange(2, 20))
            events.append(_event(rng, site, again, member, direction))

    for day in sorted(days):
        if day.weekday() >= 5:
            continue
        for member in range(members):
            if rng.random() >= ATTENDANCE:
                continue
            home = sites[member % len(sites)]
            tap(home, _at(day, "08:30", 120, rng), member, leaving=False)
            if rng.random() < 0.35:  # lunch out and back
                tap(home, _at(day, "12:00", 30, rng), member, leaving=True)
                tap(home, _at(day, "13:30", 30, rng), member, leaving=False)
            where = home
            if rng.random() < 0.05:  # on to another site, without badging out
                where = rng.choice([site for site in sites if site != home])
                tap(where, _at(day, "14:30", 60, rng), member, leaving=False)
            if rng.random() < 0.9:  # else a forgotten check-out
                tap(where, _at(day, "16:00", 150, rng), member, leaving=True)
    events.sort(key=lambda event: event["ts"])
    return events


def lines_of(events: list[dict[str, Any]], rng: random.Random) -> list[str]:
    """One line per event, 1 % of them sent twice (the same id), as an edge resends."""
    lines = [json.dumps(event) for event in events]
    return lines + [lines[rng.randrange(len(lines))] for _ in range(len(lines) // 100)]


def _hub(checkout: Path, config: Path, *args: str) -> tuple[float, float]:
    """Run one `telecentre-hub` command of `checkout` (its own code on the path, this
    virtualenv's packages); the seconds it took, and the CPU seconds it used (a database
    server's not counted): on a machine shared with other work, the second says what the
    command costs when the first is stretched by the others."""
    module = "hub.cli.main" if (checkout / "hub" / "cli" / "main.py").exists() else "hub"
    command = [sys.executable, "-m", module, "--config", str(config), *args]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(
        command,
        cwd=checkout,
        env=os.environ | {"PYTHONPATH": str(checkout)},
        check=True,
        timeout=3600,
        stdout=subprocess.DEVNULL,
    )
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return elapsed, cpu


def import_rate(
    checkout: Path, url: str, state: Path, files: dict[str, Path], events: int
) -> tuple[float, float]:
    """Events per second of `import-events` into a fresh store (sites and members first),
    and per CPU second of the command."""
    state.mkdir(parents=True)
    config = state / "hub.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "state_dir": str(state),
                "database": {"url": url},
                # The year's taps are older than the default 90 days of raw events.
                "retention": {"events_retention_days": 400},
            }
        )
    )
    _hub(checkout, config, "migrate")
    _hub(checkout, config, "import-sites", str(files["sites"]))
    _hub(checkout, config, "import-members", str(files["members"]))
    elapsed, cpu = _hub(checkout, config, "import-events", str(files["events"]))
    return events / elapsed, events / cpu


def baseline_checkout(ref: str, folder: Path, name: str = "release") -> Path:
    """A `git worktree` of `ref`, made once and kept beside the repository's own state."""
    path = folder / f"{name}-{ref}"
    if not path.exists():
        subprocess.run(
            ["git", "worktree", "add", "--detach", str(path), ref],
            cwd=REPO,
            check=True,
            timeout=300,
            capture_output=True,
        )
    return path


#: The tables an import writes, each with the columns SQLite gives values to (the
#: sessions' ids are the database's own).
_WRITTEN = {
    "event_ids": None,
    "events": None,
    "sessions": 'member_id, pseudonym, site_id, start, "end", auto_closed, start_event_id, '
    "end_event_id, final, manual, manual_reason, manual_by, manual_at, end_reason, natural_end",
    "device_marks": None,
}


def write_floor(done: Path, fresh: Path) -> float:
    """Seconds `sqlite3` alone takes to write again the rows an import stored in `done`
    into `fresh` (migrated, sites and members imported), as the hub writes them: one
    transaction, WAL with `synchronous=FULL`, the hub's cache, a thousand rows a statement
    (the events' ids and the sessions, as `hub.store.bulk` does), then commit and close
    (the checkpoint). The least any import of these events can cost, less its start."""
    with sqlite3.connect(done) as source:
        tables = {}
        for table, columns in _WRITTEN.items():
            names = columns or ", ".join(
                f'"{row[1]}"' for row in source.execute(f"PRAGMA table_info({table})")
            )
            rows = source.execute(f"SELECT {names} FROM {table} ORDER BY rowid").fetchall()
            tables[table] = (names, rows)
    target = sqlite3.connect(fresh, isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON", "cache_size=-32768"):
        target.execute(f"PRAGMA {pragma}")
    start = time.perf_counter()
    target.execute("BEGIN")
    for table, (names, rows) in tables.items():
        if not rows:
            continue
        marks = "(" + ", ".join("?" * len(rows[0])) + ")"
        if table == "events":
            target.executemany(f"INSERT INTO {table} ({names}) VALUES {marks}", rows)
            continue
        for first in range(0, len(rows), 1000):
            chunk = rows[first : first + 1000]
            sql = f"INSERT INTO {table} ({names}) VALUES " + ", ".join([marks] * len(chunk))
            flat = [value for row in chunk for value in row]
            target.execute(sql, flat).fetchall()
    target.execute("COMMIT")
    target.close()
    return time.perf_counter() - start


def empty_store(kind: str, databases: Databases, state: Path) -> str:
    """A database with no tables yet, which the checkout's own `migrate` builds (the
    baseline does not know today's migrations)."""
    if kind == "sqlite":
        return f"sqlite:///{state / 'hub.db'}"
    assert databases.postgres is not None
    return databases.postgres.create_database()


def figures(
    kind: str,
    root: Path,
    databases: Databases,
    baseline: Path,
    shuffled: list[str],
    ordered: list[str],
    rounds: int,
    before: Path | None = None,
) -> dict[str, float]:
    """Events per second of each import (this checkout, the baseline, `before` if given, the
    bare writer), the best of `rounds` runs taken in turn: a machine shared with other work
    favours none of them. Also the seconds this checkout's `import-events` takes for an
    empty file (the interpreter's start, the imports, the migration check): a fixed cost in
    every figure, which the import proper's rate leaves out."""
    best: dict[str, float] = {}
    checkouts = [("this", REPO), ("baseline", baseline)]
    if before is not None:
        checkouts.append(("before", before))
    sites, members = (root / "sites.yaml").read_text(), (root / "members.csv").read_text()
    for round_ in range(rounds):
        for order, lines in (("shuffled", shuffled), ("sorted", ordered)):
            files = {
                "sites": root / "sites.yaml",
                "members": root / "members.csv",
                "events": root / f"{order}.jsonl",
            }
            measured: dict[str, float] = {}
            for name, checkout in checkouts:
                state = root / f"{kind}-{order}-{name}-{round_}"
                measured[name], measured[f"{name}_cpu"] = import_rate(
                    checkout, empty_store(kind, databases, state), state, files, len(lines)
                )
            measured["bare_writer"] = rate(
                databases.fresh(kind, sites, members), lines, events_only
            )[0]
            for name, value in measured.items():
                key = f"{order}_{name}_events_per_s"
                best[key] = max(best.get(key, 0), round(value))
        if kind == "sqlite":
            fresh = Path(databases.fresh(kind, sites, members).removeprefix("sqlite:///"))
            done = root / f"{kind}-sorted-this-{round_}" / "hub.db"
            floor_s = write_floor(done, fresh)
            best["write_floor_s"] = round(min(best.get("write_floor_s", floor_s), floor_s), 3)
        empty = root / "empty.jsonl"
        empty.write_text("")
        state = root / f"{kind}-empty-{round_}"
        url = empty_store(kind, databases, state)
        start_s = 1 / import_rate(REPO, url, state, files | {"events": empty}, 1)[0]
        best["empty_import_s"] = round(min(best.get("empty_import_s", start_s), start_s), 2)
    if "write_floor_s" in best:
        # The same rows whatever the order: one ceiling for both.
        floor_s = best["write_floor_s"]
        best["ceiling_events_per_s"] = round(len(ordered) / (best["empty_import_s"] + floor_s))
        best["import_proper_ceiling_events_per_s"] = round(len(ordered) / floor_s)
    for order, lines in (("shuffled", shuffled), ("sorted", ordered)):
        whole_s = len(lines) / best[f"{order}_this_events_per_s"]
        proper_s = max(whole_s - best["empty_import_s"], 0.01)
        best[f"{order}_this_import_proper_events_per_s"] = round(len(lines) / proper_s)
        for other in ("baseline", "bare_writer", *(("before",) if before else ())):
            ratio = best[f"{order}_this_events_per_s"] / best[f"{order}_{other}_events_per_s"]
            best[f"{order}_ratio_to_{other}"] = round(ratio, 2)
        cpu = best[f"{order}_this_cpu_events_per_s"] / best[f"{order}_baseline_cpu_events_per_s"]
        best[f"{order}_cpu_ratio_to_baseline"] = round(cpu, 2)
    return best


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A year imported: JSON figures, no asserts.")
    parser.add_argument("--baseline", default=BASELINE, help="the release to measure beside")
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=2, help="runs of each import, best kept")
    parser.add_argument(
        "--before", help="also measure this commit (e.g. main before a change), same run"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    kinds = [kind for kind in args.databases.split(",") if kind]
    ids = site_ids(SITES)
    events = year_of_taps(args.seed, ids, MEMBERS)
    rng = random.Random(args.seed)
    ordered = lines_of(events, rng)
    shuffled = ordered[:]
    rng.shuffle(shuffled)
    ordered.sort(key=lambda line: json.loads(line)["ts"])
    baseline = baseline_checkout(args.baseline, REPO / ".bench")
    before = (
        None if args.before is None else baseline_checkout(args.before, REPO / ".bench", "before")
    )
    results: dict[str, Any] = {
        "events": len(ordered),
        "sites": SITES,
        "members": MEMBERS,
        "baseline": args.baseline,
        "before": args.before,
    }
    postgres = Postgres() if "postgresql" in kinds else None
    if postgres is not None:
        postgres.start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            databases = Databases(root, postgres)
            # No invoicing identity: the baseline release refuses the key, an import needs none.
            (root / "sites.yaml").write_text(sites_yaml(ids, issuers=False))
            (root / "members.csv").write_text(members_csv(MEMBERS))
            for order, lines in (("shuffled", shuffled), ("sorted", ordered)):
                (root / f"{order}.jsonl").write_text("\n".join(lines) + "\n")
            for kind in kinds:
                results[kind] = figures(
                    kind, root, databases, baseline, shuffled, ordered, args.rounds, before
                )
                print(json.dumps({kind: results[kind]}), file=sys.stderr, flush=True)
    finally:
        if postgres is not None:
            postgres.remove()
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
