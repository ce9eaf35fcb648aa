"""What the console's sessions and reports pages ask of hub.reports.queries beyond the API: manual
sessions only, newest first, and the evaluation of a selection of sites."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy.orm import Session, sessionmaker

from hub.people.imports import import_members, import_sites
from hub.presence.corrections import manual_check_in
from hub.reports import queries
from hub.store.models import PresenceSession

SITES = """\
sites:
  - id: murat
    name: Murat
    zrr: true
    spaces: [{id: plateau, kind: open_space, positions: 2}]
    opening: {tue: ["08:00-18:00"]}
  - id: ydes
    name: Ydes
    spaces: [{id: bureau, kind: office, positions: 1}]
    opening: {tue: ["08:00-18:00"]}
  - id: mauriac
    name: Mauriac
    spaces: [{id: bureau, kind: office, positions: 1}]
    opening: {tue: ["08:00-18:00"]}
"""
MEMBERS = (
    "member_id,last_name,first_name,email,category,pass_since,pass_until,badges\n"
    "M001,Durand,Anne,,independent,2026-01-01,,\n"
    "M002,Martin,Paul,,employee,2026-01-01,,\n"
    "M003,Roux,Léa,,mobile,2026-01-01,,\n"
)
DAY = date(2026, 11, 17)


def at(hour: str) -> datetime:
    return datetime.fromisoformat(f"2026-11-17T{hour}+01:00")


def test_manual_only_newest_first_and_a_selections_evaluation(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        import_sites(session, SITES)
        import_members(session, MEMBERS)
        for member, site in [("M001", "murat"), ("M002", "ydes"), ("M003", "mauriac")]:
            session.add(
                PresenceSession(member_id=member, site_id=site, start=at("09:00"), end=at("11:00"))
            )
        manual_check_in(
            session,
            member_id="M001",
            site_id="ydes",
            at=at("14:00"),
            reason="badge oublié",
            actor="user:amelie",
            now=at("15:00"),
        )
    with sessions() as session:
        page = queries.sessions(session, DAY, DAY, newest_first=True)
        assert [(r.member_id, r.site, r.manual) for r in page.rows][:2] == [
            ("M001", "ydes", True),
            ("M003", "mauriac", False),
        ]
        manual = queries.sessions(session, DAY, DAY, manual_only=True)
        assert [(r.member_id, r.manual_reason) for r in manual.rows] == [("M001", "badge oublié")]
        assert manual.rows[0].id > 0

        network = queries.evaluation(session, DAY, DAY)
        chosen = queries.evaluation(session, DAY, DAY, sites={"murat", "ydes"})
        one = queries.evaluation(session, DAY, DAY, site="murat")
    assert (network.total.pass_members, network.total.positions.total) == (3, 4)
    # A selection counts its own users and Pass members, and keeps the ZRR split.
    assert (chosen.total.users, chosen.total.pass_members, chosen.total.hours) == (2, 2, Decimal(4))
    assert list(chosen.by_site) == ["murat", "ydes"]
    assert chosen.zrr is not None and chosen.zrr.users == 1
    assert (one.total.users, one.total.pass_members, one.zrr) == (1, 1, None)
