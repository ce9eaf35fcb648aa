"""Importing the sites and members files into both databases, as the CLI and the API do."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from hub.config import HubConfig
from hub.people.imports import InvalidFile, import_members, import_sites
from hub.people.names import place_names, site_labels
from hub.store.models import AuditEntry, AuditSite, Badge, Member, Site, Space
from hub.web.app import create_app
from tests.servers import REPO

SITES = """\
sites:
  - id: murat
    name: "La Cocotte Numérique"
    commune: Murat
    zrr: true
    annual_cost_eur: 5400
    spaces:
      - {id: bureaux, kind: office, positions: 3}
      - {id: plateau, kind: open_space, positions: 6}
      - {id: reunion, kind: meeting, positions: 0}
    opening:
      mon: ["08:30-12:00", "13:30-17:00"]
      tue: ["08:30-17:00"]
    closed: ["2026-12-24"]
    tariffs:
      public: {hourly: 3.0, daily_cap: 15.0, monthly_cap: 150.0}
      pass:   {hourly: 2.0, daily_cap: 10.0, monthly_cap: 100.0}
  - id: ydes
    name: Maison des Services
    spaces: [{id: bureau, kind: office, positions: 1}]
"""

HEADER = "member_id,last_name,first_name,email,category,pass_since,pass_until,badges\n"
MEMBERS = HEADER + (
    "M001,Durand,Anne,anne@example.org,independent,2026-01-15,2026-12-31,04A2B3C4D5E6F7\n"
    "M002,Martin,Paul,,employee,,,0A1B2C3D;0a:1b:2c:3e\n"
    "M003,Roux,Léa,lea@example.org,mobile,,,\n"
)


DEMO = REPO / "deploy" / "demo"
TOKEN = "department-token-0001"
ELODIE_CARD = "04A2B3C4D5E6F7"


def count(sessions: sessionmaker[Session], model: type[object]) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def holders(sessions: sessionmaker[Session]) -> dict[str, tuple[str, bool]]:
    with sessions() as session:
        return {b.uid: (b.member_id, b.active) for b in session.scalars(select(Badge))}


def test_sites_are_created_then_left_alone_then_updated(sessions: sessionmaker[Session]) -> None:
    progress: list[tuple[int, int]] = []
    with sessions.begin() as session:
        first = import_sites(
            session, SITES, progress=lambda done, total: progress.append((done, total))
        )
    assert (first.created, first.updated, first.access_changed) == (2, 0, {"murat", "ydes"})
    assert progress[-1] == (2, 2)

    with sessions.begin() as session:
        again = import_sites(session, SITES)
    assert (again.created, again.updated, again.access_changed) == (0, 0, set())

    changed = SITES.replace('tue: ["08:30-17:00"]', 'tue: ["09:00-17:00"]').replace(
        "positions: 6", "positions: 8"
    )
    with sessions.begin() as session:
        update = import_sites(session, changed)
    assert (update.created, update.updated, update.access_changed) == (0, 1, {"murat"})
    with sessions() as session:
        murat = session.get_one(Site, "murat")
        assert murat.opening["tue"] == ["09:00-17:00"]
        assert murat.tariffs["pass"] == {"hourly": 2.0, "daily_cap": 10.0, "monthly_cap": 100.0}
        assert {(s.id, s.kind, s.positions) for s in murat.spaces} == {
            ("bureaux", "office", 3),
            ("plateau", "open_space", 8),
            ("reunion", "meeting", 0),
        }
    assert count(sessions, Space) == 4


def murat_with(*lines: str) -> str:
    """The sites file with more keys for Murat."""
    return SITES.replace(
        "  - id: ydes\n", "".join(f"    {line}\n" for line in lines) + "  - id: ydes\n"
    )


def test_doors_and_devices_get_names_people_read_and_keep_them_when_left_out(
    sessions: sessionmaker[Session],
) -> None:
    named = murat_with(
        'doors: [{id: main, name: "Porte d\'entrée"}]',
        'devices: [{id: murat-door, label: "Boîtier de l\'entrée"}]',
    )
    with sessions.begin() as session:
        import_sites(session, named)
    with sessions() as session:
        names = place_names(session, ["murat", "ydes"])
        assert names.door("murat", "main") == "Porte d'entrée"
        assert names.device("murat", "murat-door") == "Boîtier de l'entrée"
        assert names.door("ydes", "main") is None
        assert site_labels(session)["murat"] == "La Cocotte Numérique (Murat)"
    # A file of before (no `doors`, no `devices`): the names stay, nothing else changes.
    with sessions.begin() as session:
        again = import_sites(session, SITES)
    assert (again.updated, again.access_changed) == (0, set())
    with sessions() as session:
        assert place_names(session, ["murat"]).door("murat", "main") == "Porte d'entrée"
    # Listed empty: removed. A door listed twice: refused with its line, nothing written.
    with sessions.begin() as session:
        import_sites(session, murat_with("doors: []"))
    with sessions() as session:
        assert place_names(session, ["murat"]).door("murat", "main") is None
    twice = murat_with("doors: [{id: main, name: A}, {id: main, name: B}]")
    with sessions() as session, pytest.raises(InvalidFile) as raised:
        import_sites(session, twice)
    assert [str(problem) for problem in raised.value.problems] == [
        "line 18, field 'doors': door 'main' is listed twice"
    ]


def test_a_bad_sites_file_names_line_and_field_and_writes_nothing(
    sessions: sessionmaker[Session],
) -> None:
    bad = SITES.replace("kind: open_space", "kind: openspace").replace(
        "name: Maison des Services", "name: Maison des Services\n    timezone: Europe/Nowhere"
    )
    with sessions() as session, pytest.raises(InvalidFile) as raised:
        import_sites(session, bad)
    messages = [str(problem) for problem in raised.value.problems]
    assert messages[0].startswith("line 9, field 'spaces.1.kind': Input should be 'office'")
    assert (
        messages[1]
        == "line 20, field 'timezone': 'Europe/Nowhere' is not a time zone (like Europe/Paris)"
    )
    assert count(sessions, Site) == 0


def test_an_infinite_yearly_cost_is_refused(sessions: sessionmaker[Session]) -> None:
    """`.inf` is valid YAML and a float: every evaluation including the site would fail."""
    bad = SITES.replace(
        "name: Maison des Services", "name: Maison des Services\n    annual_cost_eur: .inf"
    )
    with sessions() as session, pytest.raises(InvalidFile) as raised:
        import_sites(session, bad)
    assert "annual_cost_eur" in str(raised.value.problems[0])
    assert count(sessions, Site) == 0


def test_members_import_is_idempotent(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        import_sites(session, SITES)
    with sessions.begin() as session:
        first = import_members(session, MEMBERS)
    assert (first.created, first.updated, first.access_changed) == (3, 0, {"murat", "ydes"})
    assert holders(sessions) == {
        "04A2B3C4D5E6F7": ("M001", True),
        "0A1B2C3D": ("M002", True),
        "0A1B2C3E": ("M002", True),
    }
    with sessions() as session:
        anne = session.get_one(Member, "M001")
        assert (anne.first_name, anne.category, str(anne.pass_since)) == (
            "Anne",
            "independent",
            "2026-01-15",
        )

    with sessions.begin() as session:
        again = import_members(session, MEMBERS)
    assert (again.created, again.updated, again.access_changed) == (0, 0, set())

    renamed = MEMBERS.replace("Roux,Léa", "Roux-Vidal,Léa")
    with sessions.begin() as session:
        update = import_members(session, renamed)
    assert (update.created, update.updated, update.access_changed) == (0, 1, set())


def test_badges_move_between_members_and_unlisted_ones_are_deactivated(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        import_sites(session, SITES)
        import_members(session, MEMBERS)
    # Paul's second card goes to Léa; Anne's card is no longer listed (lost).
    moved = HEADER + (
        "M001,Durand,Anne,anne@example.org,independent,2026-01-15,2026-12-31,\n"
        "M002,Martin,Paul,,employee,,,0A1B2C3D\n"
        "M003,Roux,Léa,lea@example.org,mobile,,,0A1B2C3E\n"
    )
    with sessions.begin() as session:
        result = import_members(session, moved)
    assert (result.created, result.updated, result.access_changed) == (0, 3, {"murat", "ydes"})
    assert holders(sessions) == {
        "04A2B3C4D5E6F7": ("M001", False),
        "0A1B2C3D": ("M002", True),
        "0A1B2C3E": ("M003", True),
    }
    assert [(c.action, c.uid, c.before, c.after) for c in result.badge_changes] == [
        ("badge_revoked", "04A2B3C4D5E6F7", held("M001"), held("M001", False)),
        ("badge_revoked", "0A1B2C3E", held("M002"), held("M002", False)),
        ("badge_assigned", "0A1B2C3E", held("M002", False), held("M003")),
    ]
    # A card listed again comes back to life; one moves from Léa, who still holds it, to Paul.
    with sessions.begin() as session:
        again = import_members(session, MEMBERS)
    assert holders(sessions)["04A2B3C4D5E6F7"] == ("M001", True)
    assert holders(sessions)["0A1B2C3E"] == ("M002", True)
    assert [(c.action, c.uid, c.before, c.after) for c in again.badge_changes] == [
        ("badge_assigned", "04A2B3C4D5E6F7", held("M001", False), held("M001")),
        ("badge_assigned", "0A1B2C3E", held("M003"), held("M002")),
    ]


def held(member_id: str, active: bool = True) -> dict[str, object]:
    return {"member_id": member_id, "active": active}


def test_a_card_moved_by_the_api_import_is_audited_as_the_console_gives_a_card(
    sessions: sessionmaker[Session],
) -> None:
    """secfindings 5: a department token's import moves Élodie's card onto Pierre's line;
    the audit names the card, both members and the sites whose lists change, in the
    console's own entries (the members file moves held cards: docs/formats.md)."""
    app = create_app(HubConfig(api_tokens={TOKEN: "department"}), sessionmaker=sessions)
    text = (DEMO / "members.csv").read_text(encoding="utf-8")
    with sessions.begin() as session:
        import_sites(session, (DEMO / "sites.yaml").read_text(encoding="utf-8"))
        import_members(session, text)
        sites = set(session.scalars(select(Site.id)))
    moved = []
    for line in text.splitlines():
        if line.startswith("M0001,"):
            line = line.rsplit(",", 1)[0] + ","
        elif line.startswith("M0002,"):
            line = line.rsplit(",", 1)[0] + ",0A1B2C3D;" + ELODIE_CARD
        moved.append(line)
    answer = app.test_client().post(
        "/api/v1/members/import",
        data="\n".join(moved) + "\n",
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "text/csv"},
    )
    assert answer.status_code == 200, answer.text
    assert holders(sessions)[ELODIE_CARD] == ("M0002", True)
    with sessions() as session:
        entries = session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
        seen_by = set(session.scalars(select(AuditSite.site_id)))
    about_card = [(e.actor, e.action, e.detail) for e in entries if ELODIE_CARD in str(e.detail)]
    importer = entries[-1].actor  # the token's name
    assert about_card == [
        (
            importer,
            "badge_revoked",
            {"badge": ELODIE_CARD, "member_id": "M0001", "sites": sorted(sites),
             "before": held("M0001"), "after": held("M0001", False)},
        ),
        (
            importer,
            "badge_assigned",
            {"badge": ELODIE_CARD, "member_id": "M0002", "sites": sorted(sites),
             "before": held("M0001", False), "after": held("M0002")},
        ),
    ]  # fmt: skip
    assert seen_by == sites  # each site's animators see the change on their audit page
    assert entries[-1].action == "import" and entries[-1].detail["updated"] == 2


def test_one_bad_row_writes_nothing_and_every_bad_line_is_named(
    sessions: sessionmaker[Session],
) -> None:
    bad = MEMBERS + (
        "M004,Blanc,Jean,,employee,2026-13-01,,\n"
        "M005,Noir,Zoé,zoe@example.org,student,,,\n"
        "M001,Durand,Anne,,other,,,\n"
        "M006,Vert,Luc,,other,,,0A1B2C3D\n"
        "M007,Gris,Eva,,other,,,nothex!!\n"
        "M008,Bleu\n"
    )
    with sessions() as session, pytest.raises(InvalidFile) as raised:
        import_members(session, bad)
    assert [str(problem) for problem in raised.value.problems] == [
        "line 5, field 'pass_since': '2026-13-01' is not a date (YYYY-MM-DD)",
        "line 6, field 'category': 'student' is not one of independent, employee, mobile, other",
        "line 7, field 'member_id': 'M001' is already on line 2",
        "line 8, field 'badges': badge 0A1B2C3D is already given to 'M002' on line 3",
        "line 9, field 'badges': 'nothex!!' is not a badge UID (8 to 20 hex digits)",
        "line 10: 2 fields where the header has 8",
    ]
    assert count(sessions, Member) == 0
    assert count(sessions, Badge) == 0


def test_a_members_file_with_a_wrong_header_is_refused(sessions: sessionmaker[Session]) -> None:
    with sessions() as session, pytest.raises(InvalidFile) as raised:
        import_members(session, MEMBERS.replace("category", "categorie"))
    assert [str(problem) for problem in raised.value.problems] == [
        "line 1, field 'category': column is missing",
        "line 1, field 'categorie': is not a column of the members file",
    ]


def test_a_semicolon_separated_members_file_says_so(sessions: sessionmaker[Session]) -> None:
    with sessions() as session, pytest.raises(InvalidFile) as raised:
        import_members(session, MEMBERS.replace(",", ";"))
    assert [str(problem) for problem in raised.value.problems] == [
        "line 1: columns are separated by ';': save the file as CSV with commas (UTF-8)"
    ]


def test_a_file_the_csv_reader_cannot_read_is_refused_with_its_line(
    sessions: sessionmaker[Session],
) -> None:
    huge = "x" * 200_000  # past the csv module's field limit
    with sessions() as session, pytest.raises(InvalidFile) as raised:
        import_members(session, MEMBERS + f'M9,"{huge}",A,a@b.c,other,,,0A0B0C0D\n')
    (problem,) = raised.value.problems
    assert str(problem).startswith("line ") and "not readable as CSV" in str(problem)
