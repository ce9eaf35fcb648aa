"""The Pi's clocks, and how an event stamped by a wrong one gets its true time back.

A Pi has no battery-backed clock: it may boot with no network at 1970 (or, with Raspberry Pi
OS's `fake-hwclock`, at its last shutdown). Its wall clock is then wrong until NTP has
synchronised it, but its monotonic clock (CLOCK_BOOTTIME: nanoseconds since this boot) runs
true all along. An event that happens while the wall clock is not synchronised is stamped with
both, and the boot's id; once NTP has synchronised, its true time is worked out from the
monotonic stamp (`rebased`). A monotonic stamp only means something within its own boot.

>>> clock = Clock()
>>> reading = clock.read()           # wall, monotonic, boot id and synced flag, together
>>> rebased(reading.monotonic_ns, clock.read())   # later, once synchronised: a true time
"""

from __future__ import annotations

import ctypes
import ctypes.util
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

TIME_ERROR = 5  # adjtimex(2): the kernel says the clock is not synchronised
_TIMEX_SIZE = 256  # larger than struct timex on every Linux ABI; modes=0 only reads
BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


def ntp_synchronised() -> bool:
    """The kernel's view, the one `timedatectl` shows as "System clock synchronized"."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        buffer = ctypes.create_string_buffer(_TIMEX_SIZE)
        state = int(libc.adjtimex(buffer))
    except (OSError, AttributeError):
        return False
    return 0 <= state < TIME_ERROR


def boot_id(path: Path = BOOT_ID) -> str:
    """This boot's id (a fresh random UUID at each boot of Linux). Where the kernel does not
    say, a random one per process: monotonic stamps then never outlive the process, which is
    safe (an event that cannot be rebased is sent as it is)."""
    try:
        return path.read_text().strip() or str(uuid.uuid4())
    except OSError:
        return str(uuid.uuid4())


def since_boot_ns() -> int:
    """CLOCK_BOOTTIME: like CLOCK_MONOTONIC (never stepped by NTP), and counting suspend too."""
    return time.clock_gettime_ns(time.CLOCK_BOOTTIME)


def wall_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Reading:
    """The clocks read together, at the moment something happened."""

    wall: datetime  # aware
    monotonic_ns: int
    boot_id: str
    synced: bool

    @property
    def ts(self) -> str:
        return timestamp(self.wall)


class Clock:
    """The agent's clocks, injectable: tests give a 1970 wall clock that synchronises later.

    `wall` returns an aware datetime, `monotonic_ns` nanoseconds since this boot, `synced`
    whether the wall clock is NTP-synchronised; `boot_id` names the boot `monotonic_ns`
    counts from.
    """

    def __init__(
        self,
        wall: Callable[[], datetime] = wall_now,
        monotonic_ns: Callable[[], int] = since_boot_ns,
        synced: Callable[[], bool] = ntp_synchronised,
        boot: str | None = None,
    ) -> None:
        self.wall = wall
        self.monotonic_ns = monotonic_ns
        self.synced = synced
        self.boot_id = boot if boot is not None else boot_id()

    def read(self) -> Reading:
        synced = self.synced()
        return Reading(self.wall(), self.monotonic_ns(), self.boot_id, synced)


def timestamp(moment: datetime) -> str:
    """RFC 3339 in the local UTC offset with milliseconds, as `wire.now()` stamps events."""
    return moment.astimezone().isoformat(timespec="milliseconds")


def rebased(stamp_ns: int, sync: Reading) -> datetime:
    """The true time of an event stamped `stamp_ns` on the monotonic clock of `sync`'s boot,
    from a reading taken once the wall clock was synchronised: the same interval before it."""
    if not sync.synced:
        raise ValueError("rebasing needs a reading of a synchronised clock")
    return sync.wall - timedelta(microseconds=(sync.monotonic_ns - stamp_ns) // 1000)
