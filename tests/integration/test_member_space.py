"""The members' own space through Flask's test client, on SQLite and PostgreSQL: signing in by
a one-time link (queued as an e-mail) or a code an animator made, the same answer for an
unknown address, the limits; my page's figures; a lost badge; my data; and who may open what:
every member route as another member, as staff and signed out, every staff route as a
member."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hub.config import HubConfig
from hub.console.i18n import hours as hours_text
from hub.console.member_space.access import MEMBER_BLUEPRINTS, MEMBER_COOKIE
from hub.console.member_space.links import link_requests
from hub.console.member_space.pages import month_label
from hub.people import member_access
from hub.people.imports import import_members, import_sites
from hub.people.member_access import LINK_VALID, SESSION_LIFETIME
from hub.presence.retention import erase_member
from hub.reports import invoicing
from hub.reports.queries import sessions as session_report
from hub.store.models import (
    AuditEntry,
    Badge,
    Device,
    Invoice,
    MailMessage,
    MemberPass,
    MemberSession,
    PresenceSession,
)
from hub.web.app import create_app
from tests.console import add_user, client_sign_in, csrf_token, english_left
from tests.integration.test_console_french import visible
from tests.servers import REPO

DEMO = REPO / "deploy" / "demo"
PARIS = ZoneInfo("Europe/Paris")
ELODIE, PIERRE, SANDRINE = "M0001", "M0002", "M0003"
ELODIE_MAIL, PIERRE_MAIL = "elodie.vigier@example.org", "pierre.delmas@example.org"
ELODIE_BADGE, PIERRE_BADGE = "04A2B3C4D5E6F7", "0A1B2C3D"
DEPARTMENT = "tiers-lieux@cantal.example.fr"
LINK_RE = re.compile(r"https?://\S+/espace-membre/lien/(\S+)")


@dataclass(frozen=True)
class World:
    app: Flask
    sessions: sessionmaker[Session]
    #: Pierre's invoice, which Élodie must never get.
    pierre_invoice: int


@pytest.fixture
def world(sessions: sessionmaker[Session]) -> Iterator[World]:
    config = HubConfig.model_validate({"alerts": {"department_email": DEPARTMENT}})
    app = create_app(config, sessionmaker=sessions)
    today = datetime.now(PARIS).replace(hour=8, minute=0, second=0, microsecond=0)
    with sessions.begin() as session:
        import_sites(session, (DEMO / "sites.yaml").read_text(encoding="utf-8"))
        import_members(session, (DEMO / "members.csv").read_text(encoding="utf-8"))
        for member, site, start, length in [
            (ELODIE, "murat", today, timedelta(hours=2, minutes=30)),
            (ELODIE, "mauriac", today + timedelta(hours=3), timedelta(hours=1)),
            (PIERRE, "murat", today, timedelta(hours=7)),
        ]:
            session.add(
                PresenceSession(
                    member_id=member, site_id=site, start=start.astimezone(UTC),
                    end=(start + length).astimezone(UTC), end_reason="tap",
                )
            )  # fmt: skip
        last_month = today.replace(day=1) - timedelta(days=20)
        session.add(
            PresenceSession(
                member_id=PIERRE, site_id="murat", start=last_month.astimezone(UTC),
                end=(last_month + timedelta(hours=3)).astimezone(UTC), end_reason="tap",
            )
        )  # fmt: skip
        session.flush()
        invoicing.close_month(
            session, last_month.strftime("%Y-%m"), now=datetime.now(UTC), actor="test"
        )
        invoice_id = session.scalars(select(Invoice.id).where(Invoice.member_id == PIERRE)).one()
    add_user(sessions, "lea", "animator", ["murat"], email="lea@cantal.example.fr")
    add_user(sessions, "marc", "animator", ["aurillac-a2ex"], email="marc@example.fr")
    add_user(sessions, "ada", "admin")
    yield World(app, sessions, invoice_id)


def stayed(world: World, member: str, site: str) -> None:
    """An hour's stay of `member` at `site` a week ago."""
    start = datetime.now(UTC) - timedelta(days=7)
    with world.sessions.begin() as session:
        session.add(
            PresenceSession(
                member_id=member, site_id=site, start=start,
                end=start + timedelta(hours=1), end_reason="tap",
            )
        )  # fmt: skip


def mails(world: World, to: str) -> list[MailMessage]:
    with world.sessions() as session:
        return list(
            session.scalars(
                select(MailMessage).where(MailMessage.to_address == to).order_by(MailMessage.id)
            )
        )


def ask_link(client: FlaskClient, email: str) -> tuple[int, str]:
    """Ask, then wait for the request to be worked (after the answer: its mail, if any)."""
    token = csrf_token(client.get("/espace-membre/").text)
    answer = client.post("/espace-membre/", data={"email": email, "csrf_token": token})
    assert link_requests(client.application).drain(timeout=30)
    return answer.status_code, answer.text


def without_tokens(page: str, email: str) -> str:
    """A page but for its CSRF tokens (each client has its own) and the address typed."""
    return re.sub(r'"X-CSRFToken": "[^"]+"|value="[^"]{40,}"', "", page).replace(email, "X")


def link_in(message: MailMessage) -> str:
    found = LINK_RE.search(message.body)
    assert found is not None, message.body
    return found.group(1)


def follow(client: FlaskClient, token: str) -> int:
    page = client.get(f"/espace-membre/lien/{token}")
    assert page.status_code == 200
    answer = client.post(f"/espace-membre/lien/{token}", data={"csrf_token": csrf_token(page.text)})
    return answer.status_code


def member_client(world: World, email: str) -> FlaskClient:
    client = world.app.test_client()
    assert ask_link(client, email)[0] == 200
    assert follow(client, link_in(mails(world, email)[-1])) == 302
    return client


def test_a_link_by_e_mail_signs_in_once_and_an_unknown_address_gets_the_same_page(
    world: World,
) -> None:
    client = world.app.test_client()
    status, known = ask_link(client, "Elodie.Vigier@Example.org")  # any case
    assert status == 200
    (message,) = mails(world, ELODIE_MAIL)
    assert message.subject == "Votre lien de connexion à l'espace membre"
    assert "Bonjour Élodie Vigier" in message.body and "valable 15 minutes" in message.body
    status, unknown = ask_link(world.app.test_client(), "nobody.here@example.org")
    assert status == 200
    assert without_tokens(unknown, "nobody.here@example.org") == without_tokens(
        known, "Elodie.Vigier@Example.org"
    )
    assert mails(world, "nobody.here@example.org") == []
    token = link_in(message)
    with world.sessions() as session:  # only its hash is stored
        assert session.scalars(select(MemberPass.secret_hash)).all() != [token]
        assert token not in str(session.scalars(select(MemberPass.secret_hash)).all())
    assert follow(client, token) == 302
    page = client.get("/espace-membre/moi")
    assert page.status_code == 200 and "Bonjour Élodie" in page.text
    again = world.app.test_client()
    assert follow(again, token) == 410  # once
    assert again.get("/espace-membre/moi").status_code == 302


def test_a_link_expires_after_a_quarter_of_an_hour(world: World) -> None:
    client = world.app.test_client()
    ask_link(client, ELODIE_MAIL)
    token = link_in(mails(world, ELODIE_MAIL)[-1])
    with world.sessions.begin() as session:
        for row in session.scalars(select(MemberPass)):
            assert row.expires_at - row.created_at == LINK_VALID
            row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    assert follow(client, token) == 410


def test_a_member_session_ends_by_time_and_on_signing_out(world: World) -> None:
    client = member_client(world, ELODIE_MAIL)
    cookie = client.get_cookie(MEMBER_COOKIE)
    assert cookie is not None and cookie.http_only
    page = client.get("/espace-membre/moi")
    assert page.status_code == 200
    client.post("/espace-membre/deconnexion", data={"csrf_token": csrf_token(page.text)})
    copy = world.app.test_client()  # the old cookie, kept by someone: it opens nothing now
    copy.set_cookie(MEMBER_COOKIE, cookie.value)
    assert copy.get("/espace-membre/moi").status_code == 302

    later = member_client(world, ELODIE_MAIL)
    with world.sessions.begin() as session:
        for row in session.scalars(select(MemberSession).where(MemberSession.ended_at.is_(None))):
            assert row.expires_at - row.created_at == SESSION_LIFETIME
            row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    assert later.get("/espace-membre/moi").status_code == 302


def test_spent_passes_and_sessions_are_forgotten_a_day_later(world: World) -> None:
    member_client(world, ELODIE_MAIL)
    member_client(world, ELODIE_MAIL)  # a phone and a computer
    with world.sessions.begin() as session:
        assert member_access.forget_spent(session) == 0
        tomorrow = datetime.now(UTC) + timedelta(days=1, minutes=31)
        assert member_access.forget_spent(session, tomorrow) == 4  # two links, two sessions
        assert session.scalars(select(MemberPass)).all() == []


def test_an_erasure_takes_the_members_sign_ins_and_their_audit_trail_with_it(
    world: World,
) -> None:
    client = member_client(world, ELODIE_MAIL)
    client.get("/espace-membre/mes-donnees")  # audited, naming her
    with world.sessions.begin() as session:
        erase_member(session, ELODIE)
    assert client.get("/espace-membre/moi").status_code == 302
    with world.sessions() as session:
        assert session.scalars(select(MemberSession)).all() == []
        details = [str(entry.detail) for entry in session.scalars(select(AuditEntry))]
    assert not [detail for detail in details if ELODIE in detail or ELODIE_MAIL in detail]


def test_requests_are_limited_per_address_typed(world: World) -> None:
    client = world.app.test_client()
    assert [ask_link(client, ELODIE_MAIL)[0] for _ in range(4)] == [200, 200, 200, 429]
    assert len(mails(world, ELODIE_MAIL)) == 3
    assert [ask_link(client, "stranger@example.org")[0] for _ in range(4)] == [200] * 3 + [429]


def test_an_animator_makes_a_one_time_code_for_a_member_without_e_mail(world: World) -> None:
    stayed(world, SANDRINE, "murat")  # lea's site
    staff = world.app.test_client()
    assert client_sign_in(staff, "lea") == 302
    member_page = staff.get(f"/members/{SANDRINE}")
    assert "Créer un code à usage unique" in member_page.text
    made = staff.post(
        f"/members/{SANDRINE}/one-time-code", data={"csrf_token": csrf_token(member_page.text)}
    )
    assert made.status_code == 200
    code = re.search(r"<strong>([A-Z0-9]{5}-[A-Z0-9]{5})</strong>", made.text)
    assert code is not None
    member = world.app.test_client()
    form = member.get("/espace-membre/").text
    typed = code.group(1).lower().replace("-", " ")  # as a person may type it
    answer = member.post(
        "/espace-membre/code", data={"code": typed, "csrf_token": csrf_token(form)}
    )
    assert answer.status_code == 302
    assert "Bonjour Sandrine" in member.get("/espace-membre/moi").text
    other = world.app.test_client()
    again = other.post(
        "/espace-membre/code",
        data={"code": code.group(1), "csrf_token": csrf_token(other.get("/espace-membre/").text)},
    )
    assert again.status_code == 400 and "Ce code est erroné, déjà utilisé ou expiré" in again.text
    with world.sessions() as session:
        actions = session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert "member_code_issued" in actions and "member_signed_in" in actions


def test_a_code_opens_nothing_through_the_links_page_which_has_no_wrong_code_limit(
    world: World,
) -> None:
    """The link's page counts no wrong tries (a link is 256 bits): a code must not be tried
    there, else the wrong codes' limit per address is no limit at all."""
    with world.sessions.begin() as session:
        issued = member_access.issue_code(session, SANDRINE, actor="test", sites=None)
    assert issued is not None
    client = world.app.test_client()
    for typed in (issued.code, issued.code.replace("-", "")):
        assert follow(client, typed) == 410
    assert client.get("/espace-membre/moi").status_code == 302
    form = client.get("/espace-membre/").text
    answer = client.post(
        "/espace-membre/code", data={"code": issued.code, "csrf_token": csrf_token(form)}
    )
    assert answer.status_code == 302  # still good where codes are typed (and counted)


def test_my_page_shows_my_hours_by_site_and_nothing_of_anyone_else(world: World) -> None:
    client = member_client(world, ELODIE_MAIL)
    page = client.get("/espace-membre/moi").text
    first = datetime.now(PARIS).date().replace(day=1)
    with world.sessions() as session:
        rows = session_report(session, first, datetime.now(PARIS).date(), member=ELODIE).rows
    expected = sum((row.hours or Decimal(0) for row in rows), Decimal(0))
    with world.app.test_request_context(headers={"Accept-Language": "fr"}):
        assert f'<strong id="month-hours">{hours_text(float(expected))}</strong>' in page
    assert "La Cocotte Numérique (Murat)" in page
    assert "Télécentre de la médiathèque (Mauriac)" in page
    assert "Badge se terminant par E6F7" in page
    assert "31 mai 2027" in page  # the Pass's end, in French
    for other in ("Delmas", "Pierre", PIERRE_BADGE, "Facture"):
        assert other not in page
    assert "Vous n'êtes dans aucun télécentre en ce moment." in page
    with world.sessions.begin() as session:
        session.add(
            PresenceSession(
                member_id=ELODIE, site_id="mauriac", start=datetime.now(UTC) - timedelta(hours=1)
            )
        )
    page = client.get("/espace-membre/moi").text
    assert "Vous êtes à Télécentre de la médiathèque (Mauriac) depuis" in page


def test_my_invoices_and_past_months(world: World) -> None:
    page = member_client(world, PIERRE_MAIL).get("/espace-membre/moi").text
    last_month = datetime.now(PARIS).date().replace(day=1) - timedelta(days=1)
    with world.app.test_request_context(headers={"Accept-Language": "fr"}):
        label = month_label(last_month.strftime("%Y-%m"))
    assert label in page  # past months, and the invoice's
    invoice = re.search(r'href="(/espace-membre/factures/\d+\.pdf)"', page)
    assert invoice is not None and "Facture" in page and "(PDF Factur-X)" in page


def test_i_lost_my_badge_stops_it_audits_and_tells_the_sites_animators(world: World) -> None:
    client = member_client(world, ELODIE_MAIL)
    confirm = client.get(f"/espace-membre/badges/{ELODIE_BADGE}/perdu")
    answer = client.post(
        f"/espace-membre/badges/{ELODIE_BADGE}/perdu",
        data={"csrf_token": csrf_token(confirm.text)},
    )
    assert answer.status_code == 302
    with world.sessions() as session:
        assert session.get(Badge, ELODIE_BADGE).active is False  # type: ignore[union-attr]
        actions = session.scalars(select(AuditEntry.action)).all()
    assert {"badge_revoked", "badge_reported_lost"} <= set(actions)
    (told,) = mails(world, "lea@cantal.example.fr")  # Murat's animator
    assert told.subject == "Badge perdu : Élodie Vigier" and "E6F7" in told.body
    assert (
        "Sites fréquentés ces trois derniers mois : La Cocotte Numérique (Murat), "
        "Télécentre de la médiathèque (Mauriac)." in told.body
    )
    assert mails(world, "marc@example.fr") == []  # another site's
    assert len(mails(world, DEPARTMENT)) == 1
    status = client.get(answer.headers["Location"])
    assert status.status_code == 200 and "Arrêté le" in status.text


def test_a_stopped_badges_doors_are_named_as_the_staff_see_them(world: World) -> None:
    """The member's list of doors and the staff's are one partial: site and box by name,
    never the box's id."""
    with world.sessions.begin() as session:
        session.add(Device(id="murat-door", site="murat", state="online", access_version=1))
        session.add(Device(id="mauriac-door", site="mauriac", state="offline"))
    client = member_client(world, ELODIE_MAIL)
    confirm = client.get(f"/espace-membre/badges/{ELODIE_BADGE}/perdu")
    client.post(
        f"/espace-membre/badges/{ELODIE_BADGE}/perdu",
        data={"csrf_token": csrf_token(confirm.text)},
    )
    doors = visible(client.get(f"/espace-membre/badges/{ELODIE_BADGE}/portes").text)
    assert (
        "La Cocotte Numérique (Murat) · Boîtier de l'entrée : ◷ applique la nouvelle liste" in doors
    )
    assert "Télécentre de la médiathèque (Mauriac) : ○ hors ligne" in doors
    assert "murat-door" not in doors and "mauriac-door" not in doors
    staff = world.app.test_client()
    assert client_sign_in(staff, "lea") == 302
    lea_sees = visible(staff.get("/members/doors").text)
    assert "La Cocotte Numérique (Murat) · Boîtier de l'entrée : ✔ à jour" in lea_sees
    assert "murat-door" not in lea_sees


def test_my_data_as_json_and_as_a_page_and_an_erasure_request(world: World) -> None:
    client = member_client(world, ELODIE_MAIL)
    download = client.get("/espace-membre/mes-donnees.json")
    assert download.status_code == 200
    assert "attachment" in download.headers["Content-Disposition"]
    data = download.get_json(force=True)
    assert data["member"]["id"] == ELODIE and len(data["sessions"]) == 2
    assert {badge["uid"] for badge in data["badges"]} == {ELODIE_BADGE}
    page = client.get("/espace-membre/mes-donnees")
    assert page.status_code == 200 and ELODIE_MAIL in page.text and "Séjours" in page.text
    answer = client.post(
        "/espace-membre/mes-donnees/effacement", data={"csrf_token": csrf_token(page.text)}
    )
    assert answer.status_code == 302
    client.post("/espace-membre/mes-donnees/effacement", data={"csrf_token": csrf_token(page.text)})
    (request,) = mails(world, DEPARTMENT)  # asked twice, told once
    assert "Élodie Vigier" in request.subject and "erase-member M0001" in request.body
    with world.sessions() as session:
        assert session.get(Badge, ELODIE_BADGE) is not None  # told, not done
        assert "member_erasure_requested" in session.scalars(select(AuditEntry.action)).all()


# --- who may open what ------------------------------------------------------------------------


def member_routes(world: World) -> list[tuple[str, str]]:
    """Every member route, about Élodie's things where a route names one."""
    return [
        ("GET", "/espace-membre/moi"),
        ("GET", "/espace-membre/mes-donnees"),
        ("GET", "/espace-membre/mes-donnees.json"),
        ("POST", "/espace-membre/mes-donnees/effacement"),
        ("GET", f"/espace-membre/badges/{ELODIE_BADGE}"),
        ("GET", f"/espace-membre/badges/{ELODIE_BADGE}/portes"),
        ("GET", f"/espace-membre/badges/{ELODIE_BADGE}/perdu"),
        ("POST", f"/espace-membre/badges/{ELODIE_BADGE}/perdu"),
        ("GET", f"/espace-membre/factures/{world.pierre_invoice}.pdf"),
    ]


def call(client: FlaskClient, method: str, path: str, token: str) -> tuple[int, str]:
    post = {"data": {"csrf_token": token}}
    answer = client.get(path) if method == "GET" else client.post(path, **post)
    return answer.status_code, answer.get_data().decode("utf-8", "replace")


def test_every_member_route_covered(world: World) -> None:
    urls = world.app.url_map.bind("hub.test")
    listed = {urls.match(path, method)[0] for method, path in member_routes(world)}
    endpoints = {
        rule.endpoint
        for rule in world.app.url_map.iter_rules()
        if rule.endpoint.startswith("member_space.")
    }
    assert listed == endpoints


def test_another_member_gets_404_on_my_things_and_sees_only_their_own(world: World) -> None:
    pierre = member_client(world, PIERRE_MAIL)
    token = csrf_token(pierre.get("/espace-membre/mes-donnees").text)
    for method, path in member_routes(world):
        status, body = call(pierre, method, path, token)
        if "badges/" in path:
            assert status == 404, (method, path)
        elif "factures/" in path:  # his own invoice: his
            assert status == 200 and body.startswith("%PDF"), path
            continue
        body = body.replace(path, "")  # the page's own address, in its language switch
        assert "Vigier" not in body and ELODIE_BADGE not in body, path
    elodie = member_client(world, ELODIE_MAIL)
    status, _ = call(elodie, "GET", f"/espace-membre/factures/{world.pierre_invoice}.pdf", "")
    assert status == 404
    with world.sessions() as session:
        assert session.get(Badge, ELODIE_BADGE).active is True  # type: ignore[union-attr]


@pytest.mark.parametrize("who", ["staff", "signed out"])
def test_staff_and_strangers_open_no_member_page(world: World, who: str) -> None:
    client = world.app.test_client()
    if who == "staff":
        assert client_sign_in(client, "ada") == 302
    token = csrf_token(client.get("/espace-membre/").text)
    for method, path in member_routes(world):
        status, body = call(client, method, path, token)
        assert status == (403 if who == "staff" else 302), (who, method, path)
        assert "Vigier" not in body and "Delmas" not in body
    with world.sessions() as session:
        assert session.get(Badge, ELODIE_BADGE).active is True  # type: ignore[union-attr]


def test_a_member_gets_403_on_every_staff_page(world: World) -> None:
    elodie = member_client(world, ELODIE_MAIL)
    token = csrf_token(elodie.get("/espace-membre/mes-donnees").text)
    open_to_all = {"static", "auth.login", "auth.logout", "auth.language"}
    checked = 0
    for rule in world.app.url_map.iter_rules():
        blueprint = rule.endpoint.partition(".")[0]
        if blueprint in (*MEMBER_BLUEPRINTS, "api") or rule.endpoint in open_to_all:
            continue
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", lambda m: "1" if "id" in m[1] else "x", rule.rule)
        for method in sorted((rule.methods or set()) & {"GET", "POST"}):
            status, _ = call(elodie, method, path, token)
            assert status == 403, (method, path, status)
            checked += 1
    assert checked > 40


def test_the_member_pages_in_french_show_no_english(world: World) -> None:
    client = member_client(world, ELODIE_MAIL)
    paths = [
        "/espace-membre/moi",
        "/espace-membre/mes-donnees",
        f"/espace-membre/badges/{ELODIE_BADGE}",
        f"/espace-membre/badges/{ELODIE_BADGE}/perdu",
    ]
    texts = {path: visible(client.get(path).text) for path in paths}
    texts["signin"] = visible(world.app.test_client().get("/espace-membre/").text)
    assert english_left(texts) == []
