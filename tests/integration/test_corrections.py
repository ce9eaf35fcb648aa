"""Manual sessions (hub.presence.corrections) on both databases: checked input, audited, final."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hub.people.imports import import_members, import_sites
from hub.presence.corrections import (
    CorrectionError,
    correct_session,
    manual_check_in,
    manual_check_out,
)
from hub.presence.retention import erase_member
from hub.store.models import AuditEntry, PresenceSession

SITES = """\
sites:
  - id: murat
    name: La Cocotte Numérique
    spaces: [{id: plateau, kind: open_space, positions: 6}]
    opening: {tue: ["08:30-17:00"]}
  - id: ydes
    name: Maison des Services
    spaces: [{id: bureau, kind: office, positions: 1}]
    opening: {tue: ["09:00-12:00"]}
"""
MEMBERS = (
    "member_id,last_name,first_name,email,category,pass_since,pass_until,badges\n"
    "M001,Durand,Anne,,independent,,,04A2B3C4\n"
)
NOW = datetime.fromisoformat("2026-11-17T18:00+01:00")


def at(hour: str) -> datetime:
    return datetime.fromisoformat(f"2026-11-17T{hour}+01:00")


@pytest.fixture
def store(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    with sessions.begin() as session:
        import_sites(session, SITES)
        import_members(session, MEMBERS)
    return sessions


def test_check_in_then_out_is_manual_final_and_audited(store: sessionmaker[Session]) -> None:
    with store.begin() as session:
        row = manual_check_in(
            session,
            member_id="M001",
            site_id="murat",
            at=at("09:00"),
            reason="badge oublié",
            actor="amelie",
            now=NOW,
        )
        session_id = row.id
    with store.begin() as session:
        manual_check_out(
            session, session_id=session_id, at=at("12:00"), reason="sortie", actor="amelie", now=NOW
        )
    with store() as session:
        row = session.get_one(PresenceSession, session_id)
        assert (row.start, row.end, row.manual, row.final) == (at("09:00"), at("12:00"), True, True)
        assert (row.manual_by, row.manual_reason, row.end_reason) == ("amelie", "sortie", "manual")
        audit = session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
        assert [a.action for a in audit][-2:] == ["session_check_in", "session_check_out"]
        assert audit[-1].detail["before"]["end"] is None
        assert audit[-1].detail["after"]["end"] == at("12:00").isoformat()
        assert audit[-1].actor == "amelie"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"reason": "  "}, "reason"),
        ({"member_id": "M999"}, "member_id"),
        ({"site_id": "nowhere"}, "site_id"),
        ({"at": datetime.fromisoformat("2026-11-18T09:00+01:00")}, "at"),
        ({"at": datetime(2026, 11, 17, 9)}, "at"),
        ({"at": at("10:00")}, "at"),  # inside the session already there
        ({"at": datetime.fromisoformat("0001-01-01T00:00+14:00")}, "at"),  # out of range
        ({"at": datetime.fromisoformat("1999-12-31T23:00+00:00")}, "at"),  # a typing slip
    ],
)
def test_bad_check_in_names_the_field_and_writes_nothing(
    store: sessionmaker[Session], changes: dict[str, object], field: str
) -> None:
    with store.begin() as session:
        first = manual_check_in(
            session,
            member_id="M001",
            site_id="ydes",
            at=at("09:00"),
            reason="r",
            actor="a",
            now=NOW,
        )
        manual_check_out(
            session, session_id=first.id, at=at("11:00"), reason="r", actor="a", now=NOW
        )
    arguments: dict[str, object] = {
        "member_id": "M001",
        "site_id": "murat",
        "at": at("14:00"),
        "reason": "oubli",
        "actor": "amelie",
    } | changes
    with store() as session, pytest.raises(CorrectionError) as error:
        manual_check_in(session, now=NOW, **arguments)  # type: ignore[arg-type]
    assert error.value.field == field
    with store() as session:
        assert len(session.scalars(select(PresenceSession)).all()) == 1


def test_correction_refuses_end_before_start_and_overlaps(store: sessionmaker[Session]) -> None:
    with store.begin() as session:
        one = manual_check_in(
            session,
            member_id="M001",
            site_id="murat",
            at=at("09:00"),
            reason="r",
            actor="a",
            now=NOW,
        )
        manual_check_out(session, session_id=one.id, at=at("10:00"), reason="r", actor="a", now=NOW)
        two = manual_check_in(
            session,
            member_id="M001",
            site_id="murat",
            at=at("14:00"),
            reason="r",
            actor="a",
            now=NOW,
        )
        one_id, two_id = one.id, two.id
    with store() as session:
        with pytest.raises(CorrectionError) as error:
            correct_session(
                session, session_id=one_id, start=at("10:00"), end=at("09:00"), reason="r",
                actor="a", now=NOW,
            )  # fmt: skip
        assert error.value.field == "end"
        with pytest.raises(CorrectionError) as error:
            correct_session(
                session, session_id=one_id, start=at("09:00"), end=at("15:00"), reason="r",
                actor="a", now=NOW,
            )  # fmt: skip
        assert error.value.field == "start"
        with pytest.raises(CorrectionError) as error:
            manual_check_out(
                session, session_id=999, at=at("15:00"), reason="r", actor="a", now=NOW
            )
        assert error.value.field == "session_id"
    with store.begin() as session:
        row = correct_session(
            session, session_id=two_id, start=at("13:30"), end=at("16:00"), reason="vu", actor="b",
            now=NOW,
        )  # fmt: skip
        assert (row.start, row.end, row.manual_by) == (at("13:30"), at("16:00"), "b")


def test_a_check_out_in_the_arrivals_own_minute_ends_the_stay_at_the_arrival(
    store: sessionmaker[Session],
) -> None:
    """The form gives the time to the minute; the arrival has its seconds."""
    arrival = datetime.fromisoformat("2026-11-17T09:00:42+01:00")
    with store.begin() as session:
        row_id = manual_check_in(
            session, member_id="M001", site_id="murat", at=arrival, reason="r", actor="a", now=NOW
        ).id
    with store() as session, pytest.raises(CorrectionError) as error:
        manual_check_out(session, session_id=row_id, at=at("08:59"), reason="r", actor="a", now=NOW)
    assert error.value.field == "at"
    with store.begin() as session:
        out = manual_check_out(
            session, session_id=row_id, at=at("09:00"), reason="r", actor="a", now=NOW
        )
        assert out.end == arrival


def test_an_overlap_at_another_site_does_not_say_where_nor_when(
    store: sessionmaker[Session],
) -> None:
    """An animator of Murat may not learn what happens at Ydes."""
    with store.begin() as session:
        manual_check_in(
            session,
            member_id="M001",
            site_id="ydes",
            at=at("09:00"),
            reason="r",
            actor="a",
            now=NOW,
        )
    with store() as session, pytest.raises(CorrectionError) as error:
        manual_check_in(
            session, member_id="M001", site_id="murat", at=at("10:00"), reason="r", actor="a",
            now=NOW,
        )  # fmt: skip
    assert error.value.text == "overlaps a session of this member at another télécentre"


def test_erasure_scrubs_the_reason_of_a_correction(store: sessionmaker[Session]) -> None:
    with store.begin() as session:
        row = manual_check_in(
            session, member_id="M001", site_id="murat", at=at("09:00"),
            reason="Anne Durand a oublié son badge", actor="amelie", now=NOW,
        )  # fmt: skip
        session_id = row.id
    with store.begin() as session:
        erase_member(session, "M001")
    with store() as session:
        row = session.get_one(PresenceSession, session_id)
        assert (row.member_id, row.manual_reason, row.manual) == (None, "[erased]", True)
