"""Each device's mark: up to which `seq` the hub holds all its events (`device_marks`).

Worked out from `event_ids` after the events are committed, in a transaction of its own that
locks the devices' rows (in id order): several hub processes sharing the subscription each
see the others' committed events there, and one at a time moves a device's mark, so a mark
only ever goes up. Core statements, not the ORM: this runs after every batch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import bindparam, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from hub.rules.delivery import committed_mark
from hub.store.db import insert_ignoring_conflicts
from hub.store.models import DeviceMark, EventId, utcnow

#: Seqs read at a time while looking for the end of a device's run without a gap.
CHUNK = 5000


@dataclass(frozen=True)
class Mark:
    device: str
    site: str
    #: `device_marks.committed_seq`, as this transaction leaves it.
    seq: int
    #: The mark last published (`device_marks.published_seq`).
    published: int


#: Built once: it runs for every device of every batch.
_HELD_ABOVE = (
    select(EventId.seq)
    .where(EventId.device == bindparam("device"), EventId.seq > bindparam("above"))
    .order_by(EventId.seq)
    .limit(CHUNK)
)


def _advance(connection: Connection, device: str, seq: int, floor: int) -> int:
    while True:
        above = max(seq, floor - 1)
        held = list(connection.scalars(_HELD_ABOVE, {"device": device, "above": above}))
        advanced = committed_mark(seq, floor, held)
        # A whole chunk without a gap: the run may go on past it.
        if len(held) < CHUNK or advanced < held[-1]:
            return advanced
        seq = advanced


def advance_marks(
    session: Session,
    devices: Mapping[str, str] | None,
    floors: Mapping[str, int] | None = None,
) -> list[Mark]:
    """Lock the marks of `devices` (device → site; None: every device), raise their floors to
    `floors` (device → a status's `outbox_floor`), move them up to what `event_ids` holds, and
    return them, still locked until the caller's transaction ends."""
    floors = floors or {}
    connection = session.connection()
    if devices:
        connection.execute(
            insert_ignoring_conflicts(session, DeviceMark),
            [{"id": device, "site": site} for device, site in sorted(devices.items())],
        )
    query = (
        select(
            DeviceMark.id,
            DeviceMark.site,
            DeviceMark.committed_seq,
            DeviceMark.floor,
            DeviceMark.published_seq,
        )
        .order_by(DeviceMark.id)
        .with_for_update()
    )
    if devices is not None:
        query = query.where(DeviceMark.id.in_(sorted(devices)))
    marks, changes = [], []
    for device, site, seq, floor, published in connection.execute(query):
        new_floor = max(floor, floors.get(device, 0))
        new_seq = _advance(connection, device, seq, new_floor)
        marks.append(Mark(device, site, new_seq, published))
        if (new_seq, new_floor) != (seq, floor):
            changes.append({"mark_id": device, "new_seq": new_seq, "new_floor": new_floor})
    if changes:
        connection.execute(
            update(DeviceMark)
            .where(DeviceMark.id == bindparam("mark_id"))
            .values(
                committed_seq=bindparam("new_seq"),
                floor=bindparam("new_floor"),
                updated_at=utcnow(),
            ),
            changes,
        )
    return marks


def record_published(session: Session, marks: Sequence[Mark]) -> None:
    """The broker has these marks (their `seq`): the minute job need not send them again."""
    if marks:
        session.connection().execute(
            update(DeviceMark)
            .where(DeviceMark.id == bindparam("mark_id"))
            .values(published_seq=bindparam("new_seq")),
            [{"mark_id": mark.device, "new_seq": mark.seq} for mark in marks],
        )
