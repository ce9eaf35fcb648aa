"""Who may open the door: decided on the Pi from the last access list the hub sent.

The rural link goes down; the door must keep working. The hub publishes a site's list
retained on `telecentre/{site}/access`; the agent applies a list only if its `version` is
higher than the one it holds, keeps it on disk, and answers every tap from it in constant
time (a dict lookup, whatever the size of the list).

>>> rules = AccessRules(Path("/var/lib/telecentre-edge/access.json"))
>>> rules.apply(payload_bytes)          # -> "applied" | "stale" (raises ProtocolError if bad)
>>> rules.decide("04A2B3C4", datetime.now(UTC))
Decision(granted=True, reason=None)
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from telecentre import wire
from telecentre.wire import DenyReason

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Decision:
    granted: bool
    reason: DenyReason | None = None


@dataclass(frozen=True, slots=True)
class _Grant:
    until: date | None
    always: bool


@dataclass(frozen=True, slots=True)
class _Snapshot:
    """One applied list, prepared for O(1) decisions; replaced whole, never mutated."""

    version: int
    zone: ZoneInfo
    opening: dict[int, tuple[tuple[time, time], ...]]
    closed: frozenset[date]
    grants: dict[str, _Grant]
    revoked: frozenset[str]


def _snapshot(access: wire.AccessList, previous: _Snapshot | None) -> _Snapshot:
    zone = ZoneInfo(access.timezone)  # wire.AccessList checked it is one
    grants = {
        entry.badge: _Grant(until=entry.until, always=entry.hours == "always")
        for entry in access.badges
    }
    revoked: frozenset[str] = frozenset()
    if previous is not None:
        # A badge the hub took off the list was revoked: say so rather than "unknown".
        revoked = (previous.revoked | previous.grants.keys()) - grants.keys()
    return _Snapshot(
        version=access.version,
        zone=zone,
        opening={
            wire.WEEKDAYS.index(day): tuple(wire.parse_time_range(r) for r in ranges)
            for day, ranges in access.opening.items()
        },
        closed=frozenset(access.closed),
        grants=grants,
        revoked=revoked,
    )


class AccessRules:
    """The site's access list in force, kept in `path` across restarts and power cuts."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._snapshot: _Snapshot | None = None
        self._apply_lock = threading.Lock()
        self._load()

    @property
    def version(self) -> int | None:
        snapshot = self._snapshot
        return None if snapshot is None else snapshot.version

    def _load(self) -> None:
        if not self.path.exists():
            log.warning(
                "no access list yet at %s: every badge is denied until one arrives", self.path
            )
            return
        try:
            saved = json.loads(self.path.read_bytes())
            access = wire.parse_access_list(json.dumps(saved["list"]))
            snapshot = _snapshot(access, None)
            revoked = frozenset(saved.get("revoked", []))
        except (OSError, KeyError, TypeError, ValueError) as exc:
            log.error(
                "access list on disk %s is unreadable (%s): every badge is denied "
                "until the hub sends one",
                self.path,
                exc,
            )
            return
        self._snapshot = _Snapshot(
            snapshot.version,
            snapshot.zone,
            snapshot.opening,
            snapshot.closed,
            snapshot.grants,
            revoked,
        )
        log.info(
            "access list version %d loaded from disk: %d badges",
            snapshot.version,
            len(snapshot.grants),
        )

    def apply(self, payload: bytes, site: str) -> Literal["applied", "stale"]:
        """Apply a list from the hub if it is for this site and newer than the one in force.

        Raises `wire.ProtocolError` for a malformed list, and `OSError` if it cannot be saved:
        either way, the old list stays in force.
        """
        access = wire.parse_access_list(payload)
        if access.site != site:
            raise wire.ProtocolError(f"field 'site': list for {access.site!r}, this is {site!r}")
        with self._apply_lock:
            current = self._snapshot
            if current is not None and access.version <= current.version:
                return "stale"
            snapshot = _snapshot(access, current)
            self._save(payload, snapshot.revoked)
            self._snapshot = snapshot  # one reference swap: taps see the old list or the new
        log.info("access list version %d applied: %d badges", access.version, len(snapshot.grants))
        return "applied"

    def _save(self, payload: bytes, revoked: frozenset[str]) -> None:
        """Write-then-rename, fsync'ed: after a power cut the file is the old list or the new."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        try:
            with open(tmp, "wb") as file:
                file.write(b'{"list":')
                file.write(payload)
                file.write(b',"revoked":')
                file.write(json.dumps(sorted(revoked)).encode())
                file.write(b"}")
                file.flush()
                os.fsync(file.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            # On a full SD card, a half-written list must not hold on to the outbox's space.
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
            raise
        directory = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    def decide(self, badge: str, when: datetime) -> Decision:
        """Grant or deny a tap; `when` is an aware datetime (the tap's time)."""
        snapshot = self._snapshot
        uid = wire.normalise_badge(badge)
        grant = None if snapshot is None else snapshot.grants.get(uid)
        if snapshot is None or grant is None:
            revoked = snapshot is not None and uid in snapshot.revoked
            return Decision(False, "revoked" if revoked else "unknown")
        local = when.astimezone(snapshot.zone)
        if grant.until is not None and local.date() > grant.until:
            return Decision(False, "expired")
        if not grant.always and not _is_open(snapshot, local):
            return Decision(False, "outside_hours")
        return Decision(True)


def _is_open(snapshot: _Snapshot, local: datetime) -> bool:
    if local.date() in snapshot.closed:
        return False
    now = local.time()
    return any(start <= now < end for start, end in snapshot.opening.get(local.weekday(), ()))
