"""Each device's mark: up to which `seq` the hub holds all its events (`device_marks`).

Worked out from `event_ids` after the events are committed, in a transaction of its own that
locks the devices' rows (in id order): several hub processes sharing the subscription each
see the others' committed events there, and one at a time moves a device's mark, so a mark
only ever goes up.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.rules.delivery import committed_mark
from hub.store.db import insert_ignoring_conflicts
from hub.store.models import DeviceMark, EventId

#: Seqs read at a time while looking for the end of a device's run without a gap.
CHUNK = 5000


def _advance(session: Session, mark: DeviceMark) -> int:
    seq = mark.committed_seq
    while True:
        held = list(
            session.scalars(
                select(EventId.seq)
                .where(EventId.device == mark.id, EventId.seq > max(seq, mark.floor - 1))
                .order_by(EventId.seq)
                .limit(CHUNK)
            )
        )
        advanced = committed_mark(seq, mark.floor, held)
        # A whole chunk without a gap: the run may go on past it.
        if len(held) < CHUNK or advanced < held[-1]:
            return advanced
        seq = advanced


def advance_marks(
    session: Session,
    devices: Mapping[str, str] | None,
    floors: Mapping[str, int] | None = None,
) -> Sequence[DeviceMark]:
    """Lock the marks of `devices` (device → site; None: every device), raise their floors to
    `floors` (device → a status's `outbox_floor`), move them up to what `event_ids` holds, and
    return them, still locked until the caller's transaction ends."""
    floors = floors or {}
    if devices:
        session.execute(
            insert_ignoring_conflicts(session, DeviceMark),
            [{"id": device, "site": site} for device, site in sorted(devices.items())],
        )
    query = select(DeviceMark).order_by(DeviceMark.id).with_for_update()
    if devices is not None:
        query = query.where(DeviceMark.id.in_(sorted(devices)))
    marks = session.scalars(query.execution_options(populate_existing=True)).all()
    for mark in marks:
        mark.floor = max(mark.floor, floors.get(mark.id, 0))
        mark.committed_seq = _advance(session, mark)
    session.flush()
    return marks
