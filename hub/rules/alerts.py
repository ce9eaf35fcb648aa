"""Alerts that reach people: which incidents stand, when one is told, when a message may
leave (quiet hours) and when a refused one is tried again. Plain time arithmetic, no I/O.

An incident is one thing going wrong at one place (`Key`: a site, a kind, a door or a
device). It is told once when it starts, however many alarms it holds (ten forced-door
alarms in a minute make one e-mail), then reminded at most every `remind_every` while it
stands; it ends when its condition does (alarms acknowledged, the door back online).

>>> plan({k: now}, {}, now=now, remind_every=timedelta(hours=1)).opened == [k]  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

#: Every kind of alert, in the order the console lists them.
KINDS = (
    "door_forced",
    "door_held_open",
    "door_offline",
    "outbox_overflow",
    "access_list_behind",
)
#: Kinds that come from an alarm event, standing until someone acknowledges it.
ALARM_KINDS = frozenset({"door_forced", "door_held_open", "outbox_overflow"})


@dataclass(frozen=True, order=True)
class Key:
    site: str
    kind: str
    #: The door (door alarms) or the device (the others).
    subject: str

    def text(self) -> str:
        """One string per standing incident, unique in the store (`alert_incidents.open_key`)."""
        return f"{self.site}|{self.kind}|{self.subject}"


@dataclass(frozen=True)
class Standing:
    """An incident already told: when it was told last."""

    id: int
    notified_at: datetime


@dataclass
class Plan:
    opened: list[Key] = field(default_factory=list)
    reminded: list[int] = field(default_factory=list)
    resolved: list[int] = field(default_factory=list)


def plan(
    conditions: Mapping[Key, datetime],
    standing: Mapping[Key, Standing],
    *,
    now: datetime,
    remind_every: timedelta,
) -> Plan:
    """`conditions`: what is wrong now, each with when it began; `standing`: the incidents
    open in the store. New conditions open incidents, gone ones resolve theirs, and those
    told `remind_every` ago or more are reminded."""
    result = Plan()
    for key in sorted(conditions.keys() - standing.keys()):
        result.opened.append(key)
    for key, incident in sorted(standing.items()):
        if key not in conditions:
            result.resolved.append(incident.id)
        elif now - incident.notified_at >= remind_every:
            result.reminded.append(incident.id)
    return result


def in_quiet_hours(local: time, start: time, end: time) -> bool:
    """Whether `local` falls in [start, end); a window across midnight (22:00–07:00) too.
    `start == end` is no quiet hours at all."""
    if start == end:
        return False
    if start < end:
        return start <= local < end
    return local >= start or local < end


def release_at(now: datetime, zone: ZoneInfo, start: time | None, end: time | None) -> datetime:
    """When a message made at `now` may leave for someone with these quiet hours (local time
    in `zone`): `now`, or the end of the quiet hours it falls in. Held, never dropped."""
    if start is None or end is None:
        return now
    local = now.astimezone(zone)
    if not in_quiet_hours(local.time().replace(tzinfo=None), start, end):
        return now
    day = local.date()
    if local.time().replace(tzinfo=None) >= end:
        day += timedelta(days=1)
    return datetime.combine(day, end, tzinfo=zone).astimezone(UTC)


def retry_delay(attempts: int, *, first_s: float, max_s: float) -> timedelta:
    """How long after its `attempts`-th failure a message is tried again: `first_s`, then
    twice as long each time, never more than `max_s`."""
    exponent = min(max(attempts - 1, 0), 32)
    return timedelta(seconds=min(first_s * 2**exponent, max_s))


def offline_since(
    state: str, last_seen: datetime | None, now: datetime, limit: timedelta
) -> datetime | None:
    """When a device counts as a door offline: `offline` and not seen for `limit` (a device
    never seen online has no time to go by and is not an incident)."""
    if state != "offline" or last_seen is None or now - last_seen < limit:
        return None
    return last_seen
