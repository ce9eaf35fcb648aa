"""Who may open the door: decided on the Pi from the last access list the hub sent.

The rural link goes down; the door must keep working. The hub publishes a site's list
retained on `telecentre/{site}/access`; the agent applies a list only if it is signed by a
hub key it trusts, for its own site, and its `version` is not below the door's anti-rollback
floor yet not far ahead of its own clock (`check_version`); it keeps the list on disk
(re-verified at start), and answers every tap from it in constant time (a dict lookup,
whatever the size of the list).

The **floor** is kept apart from the list (`access-floor.json`): the lowest version a list
may have. Applying a list raises it to that list's version, nothing a list says lowers it,
and only `telecentre-edge reset-access-list` sets it (to the reset's time or to a version the
operator gives): a captured older list, genuine and signed, never takes the door back to
a badge revoked since. A fresh Pi (no floor) whose clock is not synchronised holds the
first list it gets (`held`) until the clock is, or until the operator gives a floor.

>>> rules = AccessRules(Path("/var/lib/telecentre-edge/access.json"), config.access.trusted)
>>> rules.apply(payload_bytes, "murat", now=datetime.now(UTC), clock_synced=True)
'applied'                               # or "stale", "held"; raises ProtocolError if refused
>>> rules.decide("04A2B3C4", datetime.now(UTC))
Decision(granted=True, reason=None)
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from telecentre import wire
from telecentre.private_files import replace_private
from telecentre.signing import TrustedKeys
from telecentre.wire import DenyReason

log = logging.getLogger(__name__)

#: How far ahead of the edge's clock a list's version (the hub's issue time in ms) may be:
#: clocks differ by seconds, not days. A version further ahead, once applied, would make the
#: door ignore every later list (a revocation included) until its time came.
MAX_VERSION_AHEAD = timedelta(days=1)
FLOOR_FILE = "access-floor.json"


def check_version(
    version: int,
    floor: int | None,
    *,
    now: datetime,
    clock_synced: bool,
    in_force: int | None = None,
) -> Literal["newer", "stale", "held"]:
    """Whether a list's `version` may replace the list in force (`in_force`), given the
    door's anti-rollback `floor` (None: a fresh Pi, never given one); `wire.ProtocolError`
    for a version too far ahead.

    Below the floor, or the very list in force: "stale". With no floor and a clock that is not
    synchronised: "held", as nothing tells a current list from an old one. "Ahead" is counted
    from the edge's clock; while the kernel says it is not synchronised, from the later of
    that clock and the floor (itself an issue time), so that a Pi whose clock went back (no
    RTC, booted at 1970) still takes the hub's next lists.
    """
    if not clock_synced and floor is None:
        return "held"
    now_ms = int(now.timestamp() * 1000)
    base_ms = now_ms if clock_synced else max(now_ms, floor or 0)
    ceiling = base_ms + int(MAX_VERSION_AHEAD.total_seconds() * 1000)
    if version > ceiling:
        clock = f"this edge's clock ({now.astimezone(UTC):%Y-%m-%d %H:%M} UTC)"
        if not clock_synced:
            clock = clock[:-1] + ", not synchronised: check NTP) and of its floor"
        raise wire.ProtocolError(
            f"field 'version': {version} is more than {MAX_VERSION_AHEAD.days} day ahead of {clock}"
        )
    if version == in_force or (floor is not None and version < floor):
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
    """The site's access list in force, kept in `path` across restarts and power cuts, and
    the door's anti-rollback floor beside it (`FLOOR_FILE`)."""

    def __init__(self, path: Path, trusted: TrustedKeys) -> None:
        self.path = path
        self.floor_path = path.with_name(FLOOR_FILE)
        self.trusted = trusted
        self._snapshot: _Snapshot | None = None
        self.floor: int | None = None
        #: A list that came while there was nothing to judge it by (see `check_version`).
        self.held: bytes | None = None
        self._apply_lock = threading.Lock()
        if not trusted.keys:
            log.error(
                "no hub public key in the config (access.hub_public_keys): "
                "every access list will be refused"
            )
        self._load()
        self.floor = self._load_floor()

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
            # Checked again: a file changed on the SD card, or signed by a key taken out of
            # the config since, is not obeyed.
            self.trusted.check(saved["list"])
            access = wire.parse_access_list(saved["list"])
            snapshot = _snapshot(access, None)
            revoked = frozenset(saved.get("revoked", []))
        except (OSError, KeyError, TypeError, ValueError) as exc:
            log.error(
                "access list on disk %s is refused (%s): every badge is denied "
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
            "access list version %d loaded from disk: %d badges (signed by hub key %s)",
            snapshot.version,
            len(snapshot.grants),
            access.key_id,
        )

    def _load_floor(self) -> int | None:
        """The floor on disk; without one, the list in force's version (a door from before
        the floor had its own file); an unreadable one: that too, and said."""
        try:
            floor = json.loads(self.floor_path.read_bytes())["floor"]
            if isinstance(floor, int) and not isinstance(floor, bool) and floor >= 0:
                return floor
            raise ValueError(f"floor {floor!r} is not a version")
        except FileNotFoundError:
            return self.version
        except (OSError, KeyError, TypeError, ValueError) as exc:
            log.error("anti-rollback floor %s unreadable (%s)", self.floor_path, exc)
            return self.version

    def apply(
        self,
        payload: bytes,
        site: str,
        *,
        now: datetime | None = None,
        clock_synced: bool = True,
    ) -> Literal["applied", "stale", "held"]:
        """Apply a list from the hub if its signature holds for a trusted key, it is for this
        site, and its version is not below the floor nor too far ahead of `now` (by default
        the system clock). "held": kept aside (`held`) until the clock is synchronised.

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
            outcome = check_version(
                access.version,
                self.floor,
                now=now or datetime.now(UTC),
                clock_synced=clock_synced,
                in_force=None if current is None else current.version,
            )
            if outcome == "held":
                self.held = payload
                return "held"
            if outcome == "stale":
                return "stale"
            snapshot = _snapshot(access, current)
            # The floor first: a power cut between the two leaves the floor at this list's
            # version and the old list in force, and this list (its version equal to the
            # floor, not the one in force) is still taken when it comes again.
            if self.floor is None or access.version > self.floor:
                self._save_floor(access.version, "list")
            self._save(payload, snapshot.revoked)
            self._snapshot = snapshot  # one reference swap: taps see the old list or the new
            self.held = None
        log.info(
            "access list version %d applied: %d badges (signed by hub key %s)",
            access.version,
            len(snapshot.grants),
            access.key_id,
        )
        return "applied"

    def reset_floor(self, floor: int) -> None:
        """The reset procedure (docs/operations.md): the next list must have a version of at
        least `floor` (the reset's time, or a version the operator gives), whatever the list
        in force says; that list keeps deciding until then."""
        with self._apply_lock:
            self._save_floor(floor, "reset")

    def _save_floor(self, floor: int, why: Literal["list", "reset"]) -> None:
        record = {"floor": floor, "set_by": why, "at": datetime.now(UTC).isoformat()}
        replace_private(self.floor_path, json.dumps(record).encode())
        self.floor = floor

    def _save(self, payload: bytes, revoked: frozenset[str]) -> None:
        """One file, replaced whole: after a power cut it is the old list or the new."""
        replace_private(
            self.path,
            b'{"list":' + payload + b',"revoked":' + json.dumps(sorted(revoked)).encode() + b"}",
        )

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
