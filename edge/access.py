"""Who may open the door: decided on the Pi from the last access list the hub sent.

The rural link goes down; the door must keep working. The hub publishes a site's list
retained on `telecentre/{site}/access`; the agent applies a list only if it is signed by a
hub key it trusts, for its own site, and its `version` is higher than the one it holds yet
not far ahead of its own clock (`check_version`); it keeps the list on disk, and answers
every tap from it in constant time (a dict lookup, whatever the size of the list).

>>> rules = AccessRules(Path("/var/lib/telecentre-edge/access.json"), config.access.trusted)
>>> rules.apply(payload_bytes, "murat", now=datetime.now(UTC), clock_synced=True)
'applied'                               # or "stale"; raises ProtocolError if refused
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
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from telecentre import wire
from telecentre.signing import TrustedKeys
from telecentre.wire import DenyReason

log = logging.getLogger(__name__)

#: How far ahead of the edge's clock a list's version (the hub's issue time in ms) may be:
#: clocks differ by seconds, not days. A version further ahead, once applied, would make the
#: door ignore every later list (a revocation included) until its time came.
MAX_VERSION_AHEAD = timedelta(days=1)


def check_version(
    version: int, in_force: int | None, *, now: datetime, clock_synced: bool
) -> Literal["newer", "stale"]:
    """Whether a list's `version` may replace the one in force (None: none, or forgotten by
    `reset-access-list`); `wire.ProtocolError` for a version too far ahead.

    "Ahead" is counted from the edge's clock; while the kernel says it is not synchronised,
    from the later of that clock and the version in force (itself an issue time), so that a
    Pi whose clock went back (no RTC, booted at 1970) still takes the hub's next lists. Such a
    Pi with no list at all has nothing to count from: it takes the first signed list whatever
    its version (within `wire.MAX_ACCESS_VERSION`), rather than deny every badge until NTP.
    """
    if not clock_synced and in_force is None:
        return "newer"
    now_ms = int(now.timestamp() * 1000)
    floor_ms = now_ms if clock_synced else max(now_ms, in_force or 0)
    ceiling = floor_ms + int(MAX_VERSION_AHEAD.total_seconds() * 1000)
    if version > ceiling:
        clock = f"this edge's clock ({now.astimezone(UTC):%Y-%m-%d %H:%M} UTC)"
        if not clock_synced:
            clock = clock[:-1] + ", not synchronised: check NTP) and of the list in force"
        raise wire.ProtocolError(
            f"field 'version': {version} is more than {MAX_VERSION_AHEAD.days} day ahead of {clock}"
        )
    if in_force is not None and version <= in_force:
        return "stale"
    return "newer"


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

    def __init__(self, path: Path, trusted: TrustedKeys) -> None:
        self.path = path
        self.trusted = trusted
        self._snapshot: _Snapshot | None = None
        #: After `forget_version`, the list stays in force but any newer-signed one replaces it.
        self._version_forgotten = False
        self._apply_lock = threading.Lock()
        if not trusted.keys:
            log.error(
                "no hub public key in the config (access.hub_public_keys): "
                "every access list will be refused"
            )
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
            self._version_forgotten = saved.get("version_forgotten", False) is True
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
            "access list version %d loaded from disk: %d badges%s",
            snapshot.version,
            len(snapshot.grants),
            " (version forgotten: the next signed list replaces it)"
            if self._version_forgotten
            else "",
        )

    def apply(
        self,
        payload: bytes,
        site: str,
        *,
        now: datetime | None = None,
        clock_synced: bool = True,
    ) -> Literal["applied", "stale"]:
        """Apply a list from the hub if its signature holds for a trusted key, it is for this
        site, and its version is newer than the one in force and not too far ahead of `now`
        (by default the system clock; `clock_synced` only says so in the error).

        Raises `wire.ProtocolError` for a list refused (malformed, unsigned, forged, another
        site's, a version too far ahead), and `OSError` if it cannot be saved: either way, the
        old list stays in force.
        """
        data = wire.access_list_data(payload)
        self.trusted.check(data)
        access = wire.parse_access_list(data)
        if access.site != site:
            raise wire.ProtocolError(f"field 'site': list for {access.site!r}, this is {site!r}")
        with self._apply_lock:
            current = self._snapshot
            in_force = None if current is None or self._version_forgotten else current.version
            outcome = check_version(
                access.version,
                in_force,
                now=now or datetime.now(UTC),
                clock_synced=clock_synced,
            )
            if outcome == "stale":
                return "stale"
            snapshot = _snapshot(access, current)
            self._save(payload, snapshot.revoked)
            self._snapshot = snapshot  # one reference swap: taps see the old list or the new
            self._version_forgotten = False
        log.info(
            "access list version %d applied: %d badges (signed by hub key %s)",
            access.version,
            len(snapshot.grants),
            access.key_id,
        )
        return "applied"

    def forget_version(self) -> bool:
        """The reset procedure (docs/operations.md): keep deciding from the list in force,
        but let the next list signed by a trusted key replace it whatever its version (after
        the hub's clock ran ahead, or a list issued by a key no longer used). Saved at once,
        so it holds across a restart; False if there is no list to forget."""
        with self._apply_lock:
            if self._snapshot is None:
                return False
            saved = json.loads(self.path.read_bytes())
            self._save(
                wire.encode(saved["list"]), frozenset(saved.get("revoked", [])), forgotten=True
            )
            self._version_forgotten = True
        return True

    def _save(self, payload: bytes, revoked: frozenset[str], forgotten: bool = False) -> None:
        """Write-then-rename, fsync'ed: after a power cut the file is the old list or the new."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        try:
            with open(tmp, "wb") as file:
                file.write(b'{"list":')
                file.write(payload)
                file.write(b',"revoked":')
                file.write(json.dumps(sorted(revoked)).encode())
                if forgotten:
                    file.write(b',"version_forgotten":true')
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
