"""How far the hub may acknowledge a device's events (the end-to-end `wire.Ack`).

A device numbers its events 1, 2, 3… (`seq`) and keeps each one in its outbox until the hub
says it holds it; the hub says so with one number, its *mark*: "I hold every event of yours up
to this seq". Events arrive in any order (a backlog resent, two hub processes, a broker that
redelivers), so the mark is the top of the run of seqs held without a gap. The device's
`outbox_floor` says every lower seq has left its outbox for good (acknowledged earlier, or
dropped when the outbox overflowed): the hub need not hold those to go past them.

>>> committed_mark(0, floor=0, held=[1, 2, 4])
2
>>> committed_mark(2, floor=0, held=[4, 3])
4
>>> committed_mark(0, floor=101, held=[101, 103])
101
"""

from __future__ import annotations

from collections.abc import Iterable


def committed_mark(mark: int, floor: int, held: Iterable[int]) -> int:
    """The new mark, from the current one (`mark`), the device's `floor` and seqs the hub
    holds above `mark` (any order, repeats allowed, seqs at or under `mark` ignored).

    It never goes down: a mark already published stays true, since held events are never
    forgotten (`event_ids` outlives retention) and a floor only says more has left the outbox.
    """
    mark = max(mark, floor - 1)
    for seq in sorted(held):
        if seq > mark + 1:
            break
        mark = max(mark, seq)
    return mark
