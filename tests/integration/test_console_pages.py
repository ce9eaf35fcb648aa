"""The members, sessions, sites and reports pages through Flask's test client on both
databases: who may open what, CSRF, errors beside their field in French, the API's CSV files,
and no English left on the pages in `fr`."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hub.people import api_tokens, users
from hub.people.imports import import_members, import_sites
from hub.store.models import AuditEntry, Badge, PresenceSession, Site
from tests.console import add_user, client_sign_in, csrf_token, english_left
from tests.integration.test_console_french import visible

SITES = """\
sites:
  - id: murat
    name: La Cocotte Numérique
    zrr: true
    annual_cost_eur: 9000
    spaces:
      - {id: plateau, kind: open_space, positions: 6}
      - {id: bureau, kind: office, positions: 2}
    opening: {mon: ["08:30-12:00", "13:30-17:00"], tue: ["08:30-17:00"]}
    tariffs: {public: {hourly: 3}, pass: {hourly: 2}}
  - id: ydes
    name: Maison des Services
    spaces: [{id: bureau, kind: office, positions: 1}]
    opening: {tue: ["09:00-12:00"]}
"""
MEMBERS = (
    "member_id,last_name,first_name,email,category,pass_since,pass_until,badges\n"
    "M001,Durand,Anne,anne@example.fr,independent,2026-01-01,,04A2B3C4\n"
    "M002,Martin,Paul,,employee,,,0A0B0C0D\n"
)
START = datetime(2026, 11, 17, 9, 0, tzinfo=UTC)


@pytest.fixture
def store(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    with sessions.begin() as session:
        import_sites(session, SITES)
        import_members(session, MEMBERS)
        for hours, site in ((0, "murat"), (5, "ydes")):
            start = START + timedelta(hours=hours)
            session.add(
                PresenceSession(
                    member_id="M001", site_id=site, start=start, end=start + timedelta(hours=2)
                )
            )
    add_user(sessions, "ada", "admin")
    add_user(sessions, "dora", "department")
    add_user(sessions, "lea", "animator", ["murat"])
    add_user(sessions, "max", "animator", ["murat"])
    return sessions


@pytest.fixture
def client(console_app: Flask, store: sessionmaker[Session]) -> Iterator[FlaskClient]:
    yield console_app.test_client()


def murat_session(store: sessionmaker[Session]) -> int:
    with store() as session:
        return session.scalars(
            select(PresenceSession.id).where(PresenceSession.site_id == "murat")
        ).one()


def ydes_session(store: sessionmaker[Session]) -> int:
    with store() as session:
        return session.scalars(
            select(PresenceSession.id).where(PresenceSession.site_id == "ydes")
        ).one()


PERIOD = "from=2026-11-01&to=2026-11-30"
#: (path, expected for: admin, department, animator of murat) — every GET route added here;
#: `{murat}` / `{ydes}` are the ids of a session at each site.
ROUTES = [
    ("/members/", 200, 200, 200),
    ("/members/?q=durand&page=1", 200, 200, 200),
    ("/members/new", 200, 200, 200),
    ("/members/M001", 200, 200, 200),
    ("/members/M404", 404, 404, 404),
    ("/members/unknown-badges", 200, 200, 200),
    ("/members/unknown-badges?member=M001", 200, 200, 200),
    ("/members/doors", 200, 200, 200),
    ("/members/enrol/CAFEF00D", 200, 200, 200),
    (f"/sessions/?{PERIOD}", 200, 200, 200),
    (f"/sessions/?{PERIOD}&site=murat&manual=1", 200, 200, 200),
    (f"/sessions/?{PERIOD}&site=ydes", 200, 200, 404),
    (f"/sessions/export.csv?{PERIOD}", 200, 200, 200),
    (f"/sessions/export.csv?{PERIOD}&site=ydes", 200, 200, 404),
    ("/sessions/new", 200, 200, 200),
    ("/sessions/new?site=ydes", 200, 200, 404),
    ("/sessions/{murat}/check-out", 200, 200, 200),
    ("/sessions/{murat}/correct", 200, 200, 200),
    ("/sessions/{ydes}/check-out", 200, 200, 404),
    ("/sessions/{ydes}/correct", 200, 200, 404),
    ("/sites/", 200, 200, 403),
    ("/sites/new", 200, 200, 403),
    ("/sites/murat", 200, 200, 403),
    ("/sites/ydes", 200, 200, 403),
    (f"/reports/?{PERIOD}", 200, 200, 200),
    (f"/reports/?{PERIOD}&site=murat", 200, 200, 200),
    (f"/reports/?{PERIOD}&site=ydes", 200, 200, 404),
    (f"/reports/evaluation.csv?{PERIOD}", 200, 200, 200),
    (f"/reports/evaluation.csv?{PERIOD}&site=ydes", 200, 200, 404),
    (f"/reports/usage?{PERIOD}&by=site", 200, 200, 200),
    (f"/reports/usage?{PERIOD}&site=ydes", 200, 200, 404),
    (f"/reports/usage.csv?{PERIOD}", 200, 200, 200),
    ("/reports/billing?month=2026-11", 200, 200, 200),
    ("/reports/billing?month=2026-11&site=ydes", 200, 200, 404),
    ("/reports/billing.csv?month=2026-11", 200, 200, 200),
    ("/reports/billing.csv?month=2026-11&site=ydes", 200, 200, 404),
    ("/reports/billing.fr.csv?month=2026-11", 200, 200, 200),
    ("/reports/billing.fr.csv?month=2026-11&site=ydes", 200, 200, 404),
    ("/admin/quarantine/", 200, 403, 403),
    ("/admin/quarantine/?page=2", 200, 403, 403),
]


def _path(template: str, store: sessionmaker[Session]) -> str:
    return template.format(murat=murat_session(store), ydes=ydes_session(store))


def test_who_may_open_each_page(console_app: Flask, store: sessionmaker[Session]) -> None:
    anonymous = console_app.test_client()
    disabled = console_app.test_client()
    assert client_sign_in(disabled, "max") == 302
    with store.begin() as session:  # disabled while signed in: its session ends at once
        users.set_active(session, "max", False, actor="test")
    assert client_sign_in(console_app.test_client(), "max") != 302
    signed = {}
    for login in ("ada", "dora", "lea"):
        signed[login] = console_app.test_client()
        assert client_sign_in(signed[login], login) == 302
    wrong = []
    for template, *expected in ROUTES:
        path = _path(template, store)
        for who in (anonymous, disabled):
            answer = who.get(path)
            if answer.status_code != 302 or "/login" not in answer.headers["Location"]:
                wrong.append((path, "anonymous", answer.status_code))
        for login, status in zip(("ada", "dora", "lea"), expected, strict=True):
            answer = signed[login].get(path)
            if answer.status_code != status:
                wrong.append((path, login, answer.status_code))
            if status == 404:
                assert "Maison des Services" not in answer.get_data(as_text=True)
    assert wrong == []


def test_an_animator_sees_nothing_of_another_site(client: FlaskClient) -> None:
    assert client_sign_in(client, "lea") == 302
    pages = [
        "/members/doors",
        f"/sessions/?{PERIOD}",
        f"/reports/?{PERIOD}",
        f"/reports/usage?{PERIOD}&by=site",
        "/reports/billing?month=2026-11",
        "/sessions/new",
    ]
    for path in pages:
        text = client.get(path).get_data(as_text=True)
        assert "Maison des Services" not in text and "ydes" not in text, path
    rows = list(csv.reader(io.StringIO(client.get(f"/sessions/export.csv?{PERIOD}").text)))
    assert {row[1] for row in rows[1:]} == {"murat"}
    evaluation = client.get(f"/reports/evaluation.csv?{PERIOD}").text
    assert [row.split(",")[0] for row in evaluation.splitlines()] == ["scope", "total", "murat"]


@pytest.mark.parametrize(
    "path",
    [
        "/sessions/?from=0001-01-01",
        "/sessions/?to=9999-12-31",
        "/sessions/export.csv?from=0001-01-01",
        "/sessions/?page=%C2%B2",  # ², which isdigit() takes and int() does not
        "/sessions/?page=" + "9" * 25,
        "/members/?page=%C2%B2",
        "/audit/?since=0001-01-01",
        "/audit/?until=9999-12-31&page=" + "9" * 25,
        "/reports/?from=0001-01-01",
        "/reports/usage?to=9999-12-31&page=%C2%B2",
        "/reports/billing?month=0001-01",
        "/reports/billing?month=9999-12",
        "/sessions/" + "9" * 25 + "/correct",
    ],
)
def test_odd_query_strings_are_an_error_beside_the_field_never_a_500(
    client: FlaskClient, path: str
) -> None:
    assert client_sign_in(client, "ada") == 302
    assert client.get(path).status_code in (200, 400, 404)


def test_forms_without_a_csrf_token_are_refused(
    client: FlaskClient, store: sessionmaker[Session]
) -> None:
    assert client_sign_in(client, "ada") == 302
    session_id = murat_session(store)
    posts = {
        "/members/new": {"member_id": "M009", "last_name": "Bos", "category": "other"},
        "/members/M001": {"last_name": "X", "category": "other"},
        "/members/M002/badges": {"badge": "CAFEF00D"},
        "/members/M001/badges/04A2B3C4/revoke": {},
        "/members/M001/deactivate": {},
        "/sessions/new": {"member": "M002", "site": "murat", "at": "2026-11-17T09:00"},
        f"/sessions/{session_id}/check-out": {"at": "2026-11-17T12:00", "reason": "oubli"},
        f"/sessions/{session_id}/correct": {"start": "2026-11-17T09:00", "reason": "x"},
        "/sites/new": {"id": "riom", "name": "Riom"},
        "/sites/murat": {"name": "Murat"},
    }
    for path, data in posts.items():
        assert client.post(path, data=data).status_code == 400, path
    with store() as session:
        assert session.scalars(select(AuditEntry).where(AuditEntry.actor != "test")).all() == []
        assert session.get(Site, "riom") is None


def _post(client: FlaskClient, path: str, data: dict[str, str]) -> tuple[int, str]:
    token = csrf_token(client.get(path).get_data(as_text=True))
    answer = client.post(path, data={**data, "csrf_token": token}, follow_redirects=True)
    return answer.status_code, visible(answer.get_data(as_text=True))


def test_members_errors_beside_their_field_in_french(
    client: FlaskClient, store: sessionmaker[Session]
) -> None:
    assert client_sign_in(client, "lea") == 302
    status, text = _post(
        client,
        "/members/new",
        {"member_id": "M 9", "last_name": "Bos", "first_name": "Léa", "category": "other"},
    )
    assert status == 200 and "Lettres, chiffres, « . », « _ » ou « - » seulement" in text
    status, text = _post(
        client,
        "/members/new",
        {"member_id": "M001", "last_name": "Bos", "category": "other"},
    )
    assert "Il y a déjà un membre M001." in text
    status, text = _post(
        client,
        "/members/new",
        {
            "member_id": "M009",
            "last_name": "Bos",
            "first_name": "Léa",
            "category": "mobile",
            "pass_since": "2026-11-01",
            "pass_until": "2026-10-01",
        },
    )
    assert "Le Pass doit avoir une date de début, et finir après." in text
    status, text = _post(
        client,
        "/members/new",
        {"member_id": "M009", "last_name": "Bos", "first_name": "Léa", "category": "mobile"},
    )
    assert "Léa Bos est membre. Donnez-lui maintenant un badge." in text
    html = client.get("/members/M009").get_data(as_text=True)
    # The page's own badge form (the first form is the member details': post to /badges).
    token = csrf_token(html)
    answer = client.post("/members/M009/badges", data={"badge": "04A2B3C4", "csrf_token": token})
    assert "Ce badge est celui d'Anne Durand : retirez-le-lui d'abord." in visible(answer.text)
    assert re.search(r'id="badge-error"', answer.text)
    answer = client.post(
        "/members/M009/badges",
        data={"badge": "ca:fe:f0:0d", "csrf_token": token},
        follow_redirects=True,
    )
    assert "Le badge CA:FE:F0:0D ouvre désormais les portes à Léa Bos" in visible(answer.text)
    with store() as session:
        badge = session.get(Badge, "CAFEF00D")
        assert badge is not None and (badge.member_id, badge.active) == ("M009", True)


def test_a_site_refused_field_by_field_then_saved(
    client: FlaskClient, store: sessionmaker[Session]
) -> None:
    assert client_sign_in(client, "dora") == 302
    page = client.get("/sites/murat").get_data(as_text=True)
    token = csrf_token(page)
    form = {
        "csrf_token": token,
        "name": "La Cocotte Numérique",
        "commune": "Murat",
        "timezone": "Europe/Paris",
        "zrr": "on",
        "annual_cost_eur": "-5",
        "spaces-0-id": "plateau",
        "spaces-0-kind": "open_space",
        "spaces-0-positions": "six",
        "spaces-1-id": "",
        "spaces-1-kind": "office",
        "spaces-1-positions": "",
        "opening-mon": "8h30-12h, 11h-17h",
        "closed": "24/12/2026\n31-12",
        "tariffs-public-hourly": "3,50",
        "rounding_min": "15",
    }
    answer = client.post("/sites/murat", data=form)
    text = visible(answer.text)
    assert "Rien n'a été enregistré" in text
    assert 'id="error-annual_cost_eur"' in answer.text
    assert 'id="error-spaces-0-positions"' in answer.text
    assert 'id="error-opening-mon"' in answer.text and 'id="error-closed"' in answer.text
    assert "La valeur doit être positive ou nulle." in text
    assert "Ce n'est pas un nombre." in text
    fixed = {
        **form,
        "annual_cost_eur": "9 500,50",
        "spaces-0-positions": "6",
        "opening-mon": "8h30-12h, 13h30-17h",
        "closed": "24/12/2026",
    }
    answer = client.post("/sites/murat", data=fixed, follow_redirects=True)
    assert "Site La Cocotte Numérique enregistré." in visible(answer.text)
    with store() as session:
        site = session.get(Site, "murat")
        assert site is not None
        assert site.annual_cost_eur == 9500.5
        assert site.opening["mon"] == ["08:30-12:00", "13:30-17:00"]
        assert site.closed == ["2026-12-24"]
        assert site.tariffs["public"]["hourly"] == 3.5
        assert [(s.id, s.positions) for s in site.spaces] == [("plateau", 6)]


def test_a_manual_check_out_needs_a_reason_and_is_marked_manual(
    client: FlaskClient, store: sessionmaker[Session]
) -> None:
    with store.begin() as session:
        open_one = PresenceSession(member_id="M002", site_id="murat", start=START)
        session.add(open_one)
        session.flush()
        open_id = open_one.id
    assert client_sign_in(client, "lea") == 302
    path = f"/sessions/{open_id}/check-out"
    _, text = _post(client, path, {"at": "2026-11-17T12:00", "reason": ""})
    assert "Indiquez la raison : elle est conservée avec la présence." in text
    _, text = _post(client, path, {"at": "2026-11-17T08:00", "reason": "oubli"})
    assert "la sortie est avant l'entrée" in text
    _, text = _post(client, path, {"at": "2026-11-17T12:00", "reason": "Sortie non badgée"})
    assert "Sortie de Paul Martin enregistrée." in text
    rows = list(csv.DictReader(io.StringIO(client.get(f"/sessions/export.csv?{PERIOD}").text)))
    mine = [row for row in rows if row["member_id"] == "M002"]
    assert [(r["end"], r["manual"]) for r in mine] == [("2026-11-17T12:00:00+01:00", "true")]
    page = visible(client.get(f"/sessions/?{PERIOD}&manual=1").text)
    assert "Paul Martin" in page and "Sortie non badgée" in page and "Anne Durand" not in page


def test_the_report_files_are_the_apis(
    client: FlaskClient, console_app: Flask, store: sessionmaker[Session]
) -> None:
    assert client_sign_in(client, "dora") == 302
    console_file = client.get(f"/reports/evaluation.csv?{PERIOD}").text
    api = console_app.test_client()
    with store.begin() as session:
        token = api_tokens.add_token(session, "compta", "department", actor="test")
    headers = {"Authorization": f"Bearer {token.secret}"}
    api_file = api.get(f"/api/v1/evaluation?{PERIOD}&format=csv", headers=headers).text
    assert console_file == api_file
    assert client.get("/reports/billing.csv?month=2026-11").text == (
        api.get("/api/v1/billing?month=2026-11&format=csv", headers=headers).text
    )
    page = visible(client.get("/reports/billing?month=2026-11").text)
    assert "Anne Durand" in page and "Total du mois" in page and "€" in page


PAGES = [
    "/members/",
    "/members/?q=zzz",
    "/members/new",
    "/members/M001",
    "/members/enrol/CAFEF00D",
    "/members/doors",
    f"/sessions/?{PERIOD}",
    "/sessions/?from=2020-01-01&to=2020-01-02",
    "/sessions/new",
    "/sessions/{murat}/check-out",
    "/sessions/{murat}/correct",
    "/sites/",
    "/sites/new",
    "/sites/murat",
    f"/reports/?{PERIOD}",
    f"/reports/usage?{PERIOD}",
    f"/reports/usage?{PERIOD}&by=month",
    "/reports/billing?month=2026-11",
    "/admin/quarantine/",
]


def test_the_pages_in_french_show_no_english(
    client: FlaskClient, store: sessionmaker[Session]
) -> None:
    assert client_sign_in(client, "ada") == 302
    texts = {path: visible(client.get(_path(path, store)).get_data(as_text=True)) for path in PAGES}
    assert english_left(texts) == []
    assert all(" the " not in text.lower() for text in texts.values())
    assert "9 000,00 €" in texts["/sites/"].replace("\u202f", " ").replace("\xa0", " ")
