"""Members one at a time and badges enrolled by tapping (hub.people.members,
hub.doors.enrolment), on both databases: the members file's rules, audited changes, the sites
whose lists must go out."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, date, datetime, timedelta
from typing import Literal

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hub.doors.enrolment import assign_badge, door_access, revoke_badge, unknown_taps
from hub.intake.ingest import ingest_lines
from hub.people.imports import InvalidSite, import_members, import_sites, save_site, site_entry
from hub.people.members import deactivate_member, get, names, save_member, search
from hub.people.users import Invalid
from hub.store.models import AccessListVersion, AuditEntry, Badge, Device, Site
from telecentre import wire

SITES = """\
sites:
  - id: murat
    name: La Cocotte Numérique
    spaces: [{id: plateau, kind: open_space, positions: 6}]
  - id: ydes
    name: Maison des Services
"""
MEMBERS = (
    "member_id,last_name,first_name,email,category,pass_since,pass_until,badges\n"
    "M001,Durand,Anne,anne@example.fr,independent,2026-01-01,,04A2B3C4\n"
    "M002,Martin,Paul,,employee,,,\n"
    "M003,Roux,Élodie,elodie.roux@example.fr,mobile,,,0A0B0C0D\n"
)
_SEQ = itertools.count(1)
NOW = datetime(2026, 11, 17, 10, 0, tzinfo=UTC)


@pytest.fixture
def store(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    with sessions.begin() as session:
        import_sites(session, SITES)
        import_members(session, MEMBERS)
    return sessions


def test_search_by_name_email_id_or_badge_paginated(store: sessionmaker[Session]) -> None:
    with store() as session:
        assert [m.id for m in search(session).rows] == ["M001", "M002", "M003"]
        assert [m.id for m in search(session, "durand").rows] == ["M001"]
        assert [m.id for m in search(session, "anne dur").rows] == ["M001"]
        assert [m.id for m in search(session, "Roux Élodie").rows] == ["M003"]
        assert [m.id for m in search(session, "elodie").rows] == ["M003"]
        assert [m.id for m in search(session, "ROUX@X").rows] == []
        assert [m.id for m in search(session, "elodie.roux@").rows] == ["M003"]
        assert [m.id for m in search(session, "m002").rows] == ["M002"]
        assert [m.id for m in search(session, "0a:0b").rows] == ["M003"]
        assert search(session, "100%").total == 0
        page = search(session, per_page=2, page=2)
        assert (page.total, page.pages, [m.id for m in page.rows]) == (3, 2, ["M003"])
        assert names(session, ["M001", None, "M404"]) == {"M001": "Anne Durand"}


def test_create_and_edit_follow_the_members_file_rules(store: sessionmaker[Session]) -> None:
    form = {
        "member_id": "M004",
        "last_name": "Bos",
        "first_name": "Léa",
        "email": "lea@example.fr",
        "category": "mobile",
        "pass_since": "2026-11-01",
        "pass_until": "",
    }
    with store.begin() as session:
        member, changed = save_member(session, form, actor="user:amelie")
        assert (member.name, member.pass_since, changed) == ("Léa Bos", date(2026, 11, 1), set())
    for field, value in [
        ("member_id", "M 4"),
        ("last_name", ""),
        ("email", "lea@"),
        ("category", "boss"),
        ("pass_since", "01/11/2026"),
        ("pass_until", "2026-10-01"),
    ]:
        with store.begin() as session, pytest.raises(Invalid) as error:
            save_member(session, {**form, "member_id": "M005", field: value}, actor="user:a")
        assert error.value.field == field
    with store.begin() as session, pytest.raises(Invalid) as error:
        save_member(session, form, actor="user:amelie")
    assert (error.value.field, error.value.params) == ("member_id", {"member_id": "M004"})
    # A Pass date of a member with a badge changes every site's list; one without, none.
    with store.begin() as session:
        _, changed = save_member(
            session, {**form, "pass_until": "2026-12-31"}, member_id="M004", actor="user:a"
        )
        assert changed == set()
        one = get(session, "M001")
        assert one is not None
        values = {
            "last_name": one.last_name,
            "first_name": one.first_name,
            "email": one.email or "",
            "category": one.category,
            "pass_since": "2026-02-01",
        }
        _, changed = save_member(session, values, member_id="M001", actor="user:amelie")
        assert changed == {"murat", "ydes"}
        _, changed = save_member(session, values, member_id="M001", actor="user:amelie")
        assert changed == set()
    with store() as session:
        entries = session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
        assert [e.action for e in entries] == ["member_created", "member_updated", "member_updated"]
        assert entries[-1].actor == "user:amelie"
        assert entries[-1].detail["before"]["pass_since"] == "2026-01-01"
        assert entries[-1].detail["after"]["pass_since"] == "2026-02-01"


def test_deactivate_revokes_every_badge_and_keeps_the_member(store: sessionmaker[Session]) -> None:
    with store.begin() as session:
        assert deactivate_member(session, "M001", actor="user:amelie") == {"murat", "ydes"}
    with store.begin() as session:
        member = get(session, "M001")
        assert member is not None and not member.active
        assert [(b.uid, b.active) for b in member.badges] == [("04A2B3C4", False)]
        assert deactivate_member(session, "M001", actor="user:amelie") == set()
        with pytest.raises(Invalid):
            deactivate_member(session, "M404", actor="user:amelie")


def _tap(
    site: str, badge: str, ts: datetime, access: Literal["granted", "denied"] = "denied"
) -> bytes:
    event = wire.badge_event(
        site=site,
        device=f"{site}-door",
        reader="entree",
        badge=badge,
        access=access,
        direction="in",
        reason="unknown" if access == "denied" else None,
        clock_synced=True,
    )
    event["ts"] = ts.isoformat()
    event["seq"] = next(_SEQ)
    return json.dumps(event).encode()


def test_unknown_taps_newest_first_until_enrolled(store: sessionmaker[Session]) -> None:
    with store.begin() as session:
        ingest_lines(
            session,
            [
                _tap("murat", "DEADBEEF", NOW - timedelta(minutes=30)),  # too old
                _tap("murat", "CAFEF00D", NOW - timedelta(minutes=3)),
                _tap("murat", "CAFEF00D", NOW - timedelta(minutes=2)),
                _tap("murat", "12345678", NOW - timedelta(minutes=1)),
                _tap("ydes", "ABCDEF01", NOW - timedelta(minutes=1)),  # another site
            ],
        )
    since = NOW - timedelta(minutes=15)
    with store() as session:
        taps = unknown_taps(session, {"murat"}, since=since)
    assert [(t.badge, t.taps) for t in taps] == [("12345678", 1), ("CAFEF00D", 2)]
    assert taps[1].at == NOW - timedelta(minutes=2)
    with store.begin() as session:
        assert assign_badge(session, uid="cafe:f0:0d", member_id="M002", actor="user:a") == {
            "murat",
            "ydes",
        }
    with store() as session:
        assert [t.badge for t in unknown_taps(session, {"murat"}, since=since)] == ["12345678"]
        assert session.get(Badge, "CAFEF00D") is not None


def test_assign_refuses_a_held_badge_and_takes_back_a_revoked_one(
    store: sessionmaker[Session],
) -> None:
    with store.begin() as session, pytest.raises(Invalid) as error:
        assign_badge(session, uid="04A2B3C4", member_id="M002", actor="user:a")
    assert (error.value.field, error.value.params) == ("badge", {"name": "Anne Durand"})
    with store.begin() as session, pytest.raises(Invalid) as error:
        assign_badge(session, uid="04A2", member_id="M002", actor="user:a")
    assert error.value.field == "badge"
    with store.begin() as session:
        assert assign_badge(session, uid="04A2B3C4", member_id="M001", actor="user:a") == set()
        assert revoke_badge(session, uid="04A2B3C4", actor="user:a") == {"murat", "ydes"}
        assert revoke_badge(session, uid="04A2B3C4", actor="user:a") == set()
        assert assign_badge(session, uid="04A2B3C4", member_id="M002", actor="user:a")
    with store() as session:
        badge = session.get(Badge, "04A2B3C4")
        assert badge is not None and (badge.member_id, badge.active) == ("M002", True)
        actions = session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
        assert actions == ["badge_revoked", "badge_assigned"]


def test_door_access_compares_each_device_with_its_sites_latest_list(
    store: sessionmaker[Session],
) -> None:
    with store.begin() as session:
        session.add_all(
            [
                AccessListVersion(site_id="murat", version=1),
                AccessListVersion(site_id="murat", version=2),
                Device(id="murat-door", site="murat", state="online", access_version=1),
                Device(id="murat-back", site="murat", state="online", access_version=2),
                Device(id="ydes-door", site="ydes", state="offline", access_version=None),
            ]
        )
    with store() as session:
        doors = door_access(session, {"murat"})
    assert [(d.device, d.latest, d.applied) for d in doors] == [
        ("murat-back", 2, True),
        ("murat-door", 2, False),
    ]


def test_a_site_entered_by_hand_follows_the_sites_file(store: sessionmaker[Session]) -> None:
    with store() as session:
        site = session.get(Site, "murat")
        assert site is not None
        entry = site_entry(site)
    assert entry["spaces"] == [{"id": "plateau", "kind": "open_space", "positions": 6}]
    bad = {
        **entry,
        "annual_cost_eur": -1,
        "opening": {"mon": ["08:30-12:00", "11:00-17:00"], "tue": ["9h-12h"]},
        "spaces": [*entry["spaces"], {"id": "plateau", "kind": "office", "positions": 1}],
    }
    with store.begin() as session, pytest.raises(InvalidSite) as error:
        save_site(session, bad, creating=False, actor="user:a")
    assert {(p.field, p.kind) for p in error.value.problems} == {
        ("annual_cost_eur", "greater_than_equal"),
        ("opening.mon", "value_error"),
        ("opening.tue.0", "value_error"),
    }
    with store.begin() as session, pytest.raises(InvalidSite) as error:
        save_site(session, {**entry, "spaces": bad["spaces"]}, creating=False, actor="user:a")
    assert [(p.field, p.kind) for p in error.value.problems] == [("spaces.1.id", "repeated")]
    with store.begin() as session, pytest.raises(InvalidSite) as error:
        save_site(session, entry, creating=True, actor="user:a")
    assert [(p.field, p.kind) for p in error.value.problems] == [("id", "exists")]
    changed = {**entry, "annual_cost_eur": 9000, "opening": {"mon": ["08:30-12:00"]}}
    with store.begin() as session:
        _, result = save_site(session, changed, creating=False, actor="user:a")
        assert (result.updated, result.access_changed) == (1, {"murat"})
        _, result = save_site(session, {**changed, "zrr": True}, creating=False, actor="user:a")
        assert (result.updated, result.access_changed) == (1, set())
        _, result = save_site(
            session, {"id": "riom", "name": "Riom"}, creating=True, actor="user:a"
        )
        assert (result.created, result.access_changed) == (1, {"riom"})
    with store() as session:
        site = session.get(Site, "murat")
        assert site is not None and (site.annual_cost_eur, site.zrr) == (9000, True)
        entries = session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
        assert [(e.action, e.site_id) for e in entries] == [
            ("site_updated", "murat"),
            ("site_updated", "murat"),
            ("site_created", "riom"),
        ]
        assert entries[0].detail["before"]["annual_cost_eur"] is None
        assert entries[0].detail["after"]["annual_cost_eur"] == 9000
