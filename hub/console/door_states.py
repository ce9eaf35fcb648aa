"""Each door box applying a new access list, as one partial shows it to the staff (a badge
given: does the door open for it yet?) and to a member (a badge stopped: does the door
refuse it yet?): the same line, site and box by name, either way."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from hub.doors.enrolment import DoorAccess
from hub.people.names import PlaceNames
from hub.reports.my_page import DoorRefusal

State = Literal["offline", "done", "late", "applying"]


@dataclass(frozen=True)
class DoorState:
    site: str
    #: The box's label from the sites file; None without one.
    label: str | None
    state: State
    #: When the first list it has not applied was issued (`late` only).
    behind_since: datetime | None = None


def staff_states(
    doors: Iterable[DoorAccess], sites: Mapping[str, str], late: datetime
) -> list[DoorState]:
    """`late`: a box behind since before it is shown as such, with the time."""
    states = []
    for door in doors:
        state: State = "applying"
        if door.state != "online":
            state = "offline"
        elif door.applied:
            state = "done"
        elif door.behind_since is not None and door.behind_since < late:
            state = "late"
        states.append(
            DoorState(sites.get(door.site, door.site), door.label, state, door.behind_since)
        )
    return states


def member_states(
    doors: Iterable[DoorRefusal], sites: Mapping[str, str], places: PlaceNames
) -> list[DoorState]:
    states = []
    for door in doors:
        state: State = "applying"
        if not door.online:
            state = "offline"
        elif door.refuses:
            state = "done"
        label = places.device(door.site, door.device)
        states.append(DoorState(sites.get(door.site, door.site), label, state))
    return states
