"""Who may make a member's one-time code (secfindings 3): a code opens the member's whole
space (invoices, stays at every site), so an animator makes one only for a member met at
their sites (a stay there, or a card of theirs presented there); department and admin for
anyone. Through Flask's test client, on SQLite and PostgreSQL."""

from __future__ import annotations

import re

from flask.testing import FlaskClient
from sqlalchemy import select, update

from hub.intake.ingest import ingest_lines
from hub.store.models import AuditEntry, Event, MemberPass
from telecentre import wire
from tests.console import add_user, client_sign_in, csrf_token
from tests.integration import test_member_space
from tests.integration.test_member_space import PIERRE, SANDRINE, World, stayed

world = test_member_space.world  # the fixture, used here by name

CODE_RE = re.compile(r"<strong>([A-Z0-9]{5}-[A-Z0-9]{5})</strong>")
SANDRINE_BADGE = "1F2E3D4C"
REFUSED = "Seul le département, ou un animateur d'un site que"


def staff(world: World, login: str) -> FlaskClient:
    client = world.app.test_client()
    assert client_sign_in(client, login) == 302
    return client


def make_code(client: FlaskClient, member: str) -> tuple[int, str]:
    page = client.get(f"/members/{member}")
    assert page.status_code == 200
    answer = client.post(
        f"/members/{member}/one-time-code", data={"csrf_token": csrf_token(page.text)}
    )
    return answer.status_code, answer.text


def codes_made(world: World) -> tuple[int, int]:
    """(code passes stored, `member_code_issued` audit entries)."""
    with world.sessions() as session:
        passes = session.scalars(select(MemberPass).where(MemberPass.kind == "code")).all()
        issued = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "member_code_issued")
        ).all()
    return len(passes), len(issued)


def sign_in_with(world: World, code: str) -> FlaskClient:
    member = world.app.test_client()
    form = member.get("/espace-membre/").text
    answer = member.post("/espace-membre/code", data={"code": code, "csrf_token": csrf_token(form)})
    assert answer.status_code == 302
    return member


def test_an_animator_of_another_site_gets_no_code_so_no_invoice_of_that_site(world: World) -> None:
    """The attack of secfindings 3: marc (aurillac-a2ex only) may not open Pierre's murat
    invoice as staff, nor make Pierre a code that would open it as Pierre."""
    marc = staff(world, "marc")
    assert marc.get(f"/reports/billing/invoices/{world.pierre_invoice}.pdf").status_code == 404
    status, page = make_code(marc, PIERRE)
    assert status == 403
    assert CODE_RE.search(page) is None
    assert "Pas de code pour ce membre depuis votre compte" in page
    assert codes_made(world) == (0, 0)


def test_the_button_shows_only_to_staff_who_may_make_the_code(world: World) -> None:
    marc_page = staff(world, "marc").get(f"/members/{PIERRE}").text
    assert "Créer un code à usage unique" not in marc_page
    assert REFUSED in marc_page
    lea_page = staff(world, "lea").get(f"/members/{PIERRE}").text  # Pierre stays at murat
    assert "Créer un code à usage unique" in lea_page
    assert REFUSED not in lea_page


def test_an_animator_makes_a_code_for_a_member_who_stayed_at_their_site(world: World) -> None:
    status, page = make_code(staff(world, "lea"), PIERRE)
    assert status == 200
    assert "Remettez ce code au membre en personne" in page
    found = CODE_RE.search(page)
    assert found is not None
    assert codes_made(world) == (1, 1)
    member = sign_in_with(world, found.group(1))
    assert member.get(f"/espace-membre/factures/{world.pierre_invoice}.pdf").status_code == 200


def test_a_card_presented_at_the_site_lets_its_animator_make_the_code(world: World) -> None:
    """A newcomer's card, tapped at the door then given at the desk: no stay yet."""
    marc = staff(world, "marc")
    assert make_code(marc, SANDRINE)[0] == 403
    tap = wire.badge_event(
        site="aurillac-a2ex", device="aurillac-a2ex-door", badge=SANDRINE_BADGE,
        reader="entrance", direction="toggle", access="granted", clock_synced=True,
    )  # fmt: skip
    with world.sessions.begin() as session:
        assert ingest_lines(session, [wire.encode(tap | {"seq": 1})]).accepted == 1
    assert make_code(marc, SANDRINE)[0] == 200
    assert make_code(staff(world, "lea"), SANDRINE)[0] == 403  # not at murat


def test_a_cards_taps_by_its_previous_holder_are_not_its_new_holders(world: World) -> None:
    """A tap is its holder's at its time (`badge_holdings`): the card Sandrine holds now,
    tapped at Aurillac while Pierre held it, met Pierre there, not her."""
    tap = wire.badge_event(
        site="aurillac-a2ex", device="aurillac-a2ex-door", badge=SANDRINE_BADGE,
        reader="entrance", direction="toggle", access="granted", clock_synced=True,
    )  # fmt: skip
    with world.sessions.begin() as session:
        assert ingest_lines(session, [wire.encode(tap | {"seq": 1})]).accepted == 1
        session.execute(update(Event).where(Event.id == tap["id"]).values(member_id=PIERRE))
    assert make_code(staff(world, "marc"), SANDRINE)[0] == 403


def test_a_stay_elsewhere_is_not_enough_but_one_at_the_site_is(world: World) -> None:
    stayed(world, SANDRINE, "murat")
    assert make_code(staff(world, "marc"), SANDRINE)[0] == 403
    stayed(world, SANDRINE, "aurillac-a2ex")
    assert make_code(staff(world, "marc"), SANDRINE)[0] == 200


def test_department_and_admin_make_codes_for_anyone(world: World) -> None:
    add_user(world.sessions, "dora", "department")
    for login in ("dora", "ada"):
        client = staff(world, login)
        assert "Créer un code à usage unique" in client.get(f"/members/{SANDRINE}").text
        assert make_code(client, SANDRINE)[0] == 200
    assert codes_made(world) == (2, 2)
