"""Device marks on both databases (hub/store/marks.py): from `event_ids`, past floors, in
chunks, only ever up; and the ids' table as the judge of duplicates after retention."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session, sessionmaker

import hub.store.marks
from hub.intake.ingest import ingest_lines
from hub.store.marks import advance_marks, record_published
from hub.store.models import DeviceMark, Event, EventId
from telecentre import wire

DEVICE, SITE = "murat-door", "murat"


def hold(sessions: sessionmaker[Session], *seqs: int, device: str = DEVICE) -> None:
    now = datetime.now(UTC)
    with sessions.begin() as session:
        session.execute(
            insert(EventId),
            [
                {"id": str(uuid.uuid4()), "device": device, "seq": s, "received_at": now}
                for s in seqs
            ],
        )


def advance(
    sessions: sessionmaker[Session], floors: dict[str, int] | None = None
) -> dict[str, tuple[int, int]]:
    with sessions.begin() as session:
        marks = advance_marks(session, {DEVICE: SITE}, floors)
    return {mark.device: (mark.seq, mark.published) for mark in marks}


def test_a_mark_climbs_the_run_without_a_gap_and_jumps_to_the_floor(
    sessions: sessionmaker[Session],
) -> None:
    assert advance(sessions) == {DEVICE: (0, 0)}
    hold(sessions, 2, 3)
    assert advance(sessions)[DEVICE][0] == 0  # seq 1 missing
    hold(sessions, 1, 5)
    assert advance(sessions)[DEVICE][0] == 3
    assert advance(sessions, {DEVICE: 5})[DEVICE][0] == 5  # 4 left the outbox for good
    assert advance(sessions, {DEVICE: 2})[DEVICE][0] == 5  # an older status: no going back
    hold(sessions, 6, 6, 7)  # two ids with one seq (a device id reused)
    assert advance(sessions)[DEVICE][0] == 7
    with sessions() as session:
        row = session.get_one(DeviceMark, DEVICE)
        assert (row.site, row.committed_seq, row.floor, row.published_seq) == (SITE, 7, 5, 0)


def test_a_long_run_is_read_in_chunks(
    sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hub.store.marks, "CHUNK", 3)
    hold(sessions, *range(1, 11), 12)
    assert advance(sessions)[DEVICE][0] == 10
    hold(sessions, 11)
    assert advance(sessions)[DEVICE][0] == 12


def test_published_marks_are_remembered_and_every_device_is_found(
    sessions: sessionmaker[Session],
) -> None:
    hold(sessions, 1, 2)
    hold(sessions, 1, device="ydes-door")
    with sessions.begin() as session:
        marks = advance_marks(session, {DEVICE: SITE, "ydes-door": "ydes"})
        record_published(session, [m for m in marks if m.device == DEVICE])
    with sessions.begin() as session:
        every = {m.device: (m.seq, m.published) for m in advance_marks(session, None)}
    assert every == {DEVICE: (2, 2), "ydes-door": (1, 0)}


def test_an_import_after_retention_finds_its_events_already_known(
    sessions: sessionmaker[Session],
) -> None:
    events = [
        wire.encode(
            wire.door_event(site=SITE, device=DEVICE, door="main", state="open", clock_synced=True)
            | {"seq": seq}
        ).decode()
        for seq in (1, 2, 3)
    ]
    with sessions.begin() as session:
        first = ingest_lines(session, events)
    with sessions.begin() as session:
        session.query(Event).delete()  # what retention does to raw events
    with sessions.begin() as session:
        again = ingest_lines(session, events)
    assert (first.accepted, again.accepted, again.duplicates) == (3, 0, 3)
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Event)) == 0
        assert session.scalar(select(func.count()).select_from(EventId)) == 3
        assert session.get_one(DeviceMark, DEVICE).site == SITE  # the import made its mark
