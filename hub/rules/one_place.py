"""One place at a time (docs/rules.md): a member seen at another site has left this one.

Each site's taps make its sessions on their own (rules 2 to 5); this rule then cuts them: a
session at site A ends at the member's first counted tap at another site B after it started
(counted: not debounced nor quarantined, whatever it did at B), with `end_reason`
`elsewhere`. The session keeps the end its own site's taps gave it (`natural_end` in the
store), so the cut is a pure function of the member's sessions and taps, worked out again
whenever either changes, whatever order the taps arrived in.

>>> from hub.rules.model import Session, Tap
>>> from datetime import datetime
>>> at = lambda h: datetime.fromisoformat(f"2026-02-02T{h}+01:00")
>>> left_elsewhere(
...     {1: Session("m1", "murat", at("09:00"))}, [Tap("b", "m1", "ydes", at("11:00"))]
... )[1].time()
datetime.time(11, 0)
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Hashable, Iterable, Mapping
from datetime import datetime
from typing import TypeVar

from hub.rules.model import Session, Tap, utc

Key = TypeVar("Key", bound=Hashable)


def left_elsewhere(
    sessions: Mapping[Key, Session],
    taps: Iterable[Tap],
    opened_by: Mapping[Key, str | None] | None = None,
) -> dict[Key, datetime | None]:
    """For each of one member's `sessions` (by its own end), when they were seen at another
    site while it was open: the first such tap after its start and strictly before its end
    (or after its start, while open). None: not seen elsewhere.

    "After its start" is in the replay's (ts, event id) order, `opened_by` giving the id of
    each session's opening tap: of two taps at the very same instant at two sites, the later
    one in that order is where the member is (a session a person opened comes first).
    `taps` are the member's counted taps at every site, at least all those after the
    earliest start among `sessions`.
    """
    ordered = sorted(taps, key=lambda t: (utc(t.ts), t.event_id))
    keys = [(utc(t.ts), t.event_id) for t in ordered]
    found: dict[Key, datetime | None] = {}
    for key, stay in sessions.items():
        opener = (opened_by or {}).get(key) or ""
        end = None if stay.end is None else utc(stay.end)
        found[key] = None
        for index in range(bisect_right(keys, (utc(stay.start), opener)), len(ordered)):
            tap = ordered[index]
            if end is not None and keys[index][0] >= end:
                break
            if tap.site != stay.site:
                found[key] = tap.ts
                break
    return found
