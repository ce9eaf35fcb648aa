"""Who may grant access (docs/console.md), on SQLite and PostgreSQL: an animator of Murat
gives badges (opening hours, at every site) but never a Pass (any hour, every site), so it
cannot give a badge out-of-hours access at Aurillac; every access change is audited with
the sites it affects, and each of their animators sees it; the audit page's action filter
lists only what its reader may see."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker

from hub.doors.access_lists import next_access_lists
from hub.people.audit import record
from hub.people.imports import import_sites
from hub.store.models import Member
from tests.console import add_user, client_sign_in, csrf_token
from tests.servers import REPO

SITES = (REPO / "deploy" / "demo" / "sites.yaml").read_text(encoding="utf-8")
MURAT, AURILLAC, MAURIAC = "murat", "aurillac-a2ex", "mauriac"
BADGE = "04A2B3C4"
TODAY = date.today()


@pytest.fixture
def clients(console_app: Flask, sessions: sessionmaker[Session]) -> dict[str, FlaskClient]:
    with sessions.begin() as session:
        import_sites(session, SITES)
        record(session, "user:test", "door_opened", site=MURAT)
    add_user(sessions, "lea", "animator", [MURAT])
    add_user(sessions, "anne", "animator", [AURILLAC])
    add_user(sessions, "marc", "animator", [MAURIAC])
    add_user(sessions, "dora", "department")
    signed = {}
    for login in ("lea", "anne", "marc", "dora"):
        client = console_app.test_client()
        assert client_sign_in(client, login) == 302
        signed[login] = client
    return signed


def member_form(client: FlaskClient, path: str, **values: str) -> dict[str, str]:
    fields = dict.fromkeys(("email", "pass_since", "pass_until"), "") | {
        "member_id": "M0100",
        "last_name": "Roux",
        "first_name": "Léa",
        "category": "independent",
    }
    return {"csrf_token": csrf_token(client.get(path).text), **fields, **values}


def access_at(sessions: sessionmaker[Session], site: str) -> dict[str, str]:
    with sessions.begin() as session:
        [(access, _)] = next_access_lists(session, [site], now=datetime.now(UTC))
    return {entry.badge: entry.hours for entry in access.badges}


def test_an_animator_cannot_give_out_of_hours_access_elsewhere(
    clients: dict[str, FlaskClient], sessions: sessionmaker[Session]
) -> None:
    lea = clients["lea"]
    a_year = {
        "pass_since": TODAY.isoformat(),
        "pass_until": (TODAY + timedelta(days=365)).isoformat(),
    }
    answer = lea.post("/members/new", data=member_form(lea, "/members/new", **a_year))
    assert answer.status_code == 200  # the form again, with the refusal beside the field
    assert "Seuls le Département et les administrateurs peuvent fixer un Pass" in answer.text
    with sessions() as session:
        assert session.get(Member, "M0100") is None  # nothing written
    # Without a Pass the member is made, and the badge opens at opening hours only.
    assert lea.post("/members/new", data=member_form(lea, "/members/new")).status_code == 302
    form = lea.get("/members/M0100").text
    assert form.count("Fixé par le Département ou un administrateur.") == 2  # both dates
    answer = lea.post(
        "/members/M0100/badges", data={"csrf_token": csrf_token(form), "badge": BADGE}
    )
    assert answer.status_code == 302
    assert access_at(sessions, AURILLAC) == {BADGE: "opening"}
    # Nor by editing the member afterwards.
    answer = lea.post("/members/M0100", data=member_form(lea, "/members/M0100", **a_year))
    assert "Seuls le Département" in answer.text
    assert access_at(sessions, AURILLAC) == {BADGE: "opening"}
    # The department may: the badge then opens at any hour, everywhere.
    dora = clients["dora"]
    answer = dora.post("/members/M0100", data=member_form(dora, "/members/M0100", **a_year))
    assert answer.status_code == 302
    assert access_at(sessions, AURILLAC) == {BADGE: "always"}
    # An animator's own change of other fields keeps the Pass the department set.
    answer = lea.post(
        "/members/M0100", data=member_form(lea, "/members/M0100", last_name="Roux-Vidal", **a_year)
    )
    assert answer.status_code == 302
    assert access_at(sessions, AURILLAC) == {BADGE: "always"}


def test_access_changes_are_seen_by_every_affected_sites_animator(
    clients: dict[str, FlaskClient],
) -> None:
    lea, anne = clients["lea"], clients["anne"]
    assert lea.post("/members/new", data=member_form(lea, "/members/new")).status_code == 302
    form = lea.get("/members/M0100").text
    lea.post("/members/M0100/badges", data={"csrf_token": csrf_token(form), "badge": BADGE})
    page = anne.get("/audit/?action=badge_assigned").text
    assert '<td data-label="Qui">Lea</td>' in page and BADGE in page  # who, by name
    assert "Télécentre A2EX" in page  # the affected site, by its name
    page = anne.get(f"/audit/?site={AURILLAC}&action=badge_assigned").text
    assert '<td data-label="Qui">Lea</td>' in page


def test_the_action_filter_lists_only_what_its_reader_may_see(
    clients: dict[str, FlaskClient],
) -> None:
    # door_opened happened at Murat only: Murat's animator and the department see it in the
    # filter, Mauriac's does not.
    assert 'value="door_opened"' in clients["lea"].get("/audit/").text
    assert 'value="door_opened"' in clients["dora"].get("/audit/").text
    assert 'value="door_opened"' not in clients["marc"].get("/audit/").text
