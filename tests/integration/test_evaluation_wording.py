"""The evaluation page says what it evaluates and offers only years it can speak of: an
animator read 'the chosen sites' above its one site's figures, year buttons went back to
years without a stay, and a comparison with such a year read 0 and -100 %."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker

from hub.people.imports import import_members, import_sites
from hub.reports.years import years_with_stays
from hub.store.models import PresenceSession
from tests.console import add_user, client_sign_in
from tests.integration.test_evaluation_files import MEMBERS, SITES, _stays


@pytest.fixture
def store(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    """Stays in 2024 and 2025 only, at the three sites."""
    with sessions.begin() as session:
        import_sites(session, SITES)
        import_members(session, MEMBERS)
        _stays(session)
    add_user(sessions, "dora", "department")
    add_user(sessions, "lea", "animator", ["murat"])
    add_user(sessions, "theo", "animator", ["murat", "ydes"])
    return sessions


def _signed_in(app: Flask, login: str) -> FlaskClient:
    client = app.test_client()
    assert client_sign_in(client, login) == 302
    return client


def _title(page: str) -> str:
    found = re.search(r'<h2 class="evaluation-title">([^<]*)</h2>', page)
    assert found, page[:500]
    return found.group(1)


def _years(page: str) -> list[int]:
    nav = page.split('class="year-links"', 1)[1].split("</nav>", 1)[0]
    return [int(year) for year in re.findall(r">(\d{4})</a>", nav)]


def test_an_animator_reads_its_sites_name_and_the_department_the_network(
    console_app: Flask, store: sessionmaker[Session]
) -> None:
    lea = _signed_in(console_app, "lea")
    assert _title(lea.get("/reports/?year=2025").text) == "Évaluation 2025 — La Cocotte Numérique"
    book = lea.get("/reports/evaluation/print?year=2025").text
    assert "<h1>Évaluation 2025 — La Cocotte Numérique</h1>" in book
    theo = _signed_in(console_app, "theo")
    assert (
        _title(theo.get("/reports/?year=2025").text)
        == "Évaluation 2025 — La Cocotte Numérique et Maison des Services"
    )
    dora = _signed_in(console_app, "dora")
    assert _title(dora.get("/reports/?year=2025").text) == "Évaluation 2025 du réseau"
    chosen = dora.get("/reports/?from=2025-03-01&to=2025-06-30&site=ydes").text
    assert _title(chosen) == "Évaluation — Maison des Services, du 1 mars 2025 au 30 juin 2025"


def test_the_years_offered_are_those_with_stays_and_the_current_one(
    console_app: Flask, store: sessionmaker[Session]
) -> None:
    this_year = date.today().year
    assert this_year > 2025  # the stays are of 2024 and 2025 only
    page = _signed_in(console_app, "dora").get("/reports/").text
    assert _years(page) == [this_year, 2025, 2024]
    with store() as session:
        assert years_with_stays(session, None) == [2025, 2024]
        assert years_with_stays(session, ["ydes"]) == [2025, 2024]
        assert years_with_stays(session, []) == []


def test_a_year_is_the_local_year_of_the_stays_start(
    sessions: sessionmaker[Session],
) -> None:
    """A stay begun at 00:30 on 1 January in Murat is of the new year, though it is still
    31 December in UTC."""
    with sessions.begin() as session:
        import_sites(session, SITES)
        import_members(session, MEMBERS)
        start = datetime(2022, 12, 31, 23, 30, tzinfo=UTC)
        session.add(PresenceSession(member_id="M001", site_id="murat", start=start, end=None))
        start = datetime(2020, 6, 2, 8, 0, tzinfo=UTC)
        session.add(PresenceSession(member_id="M002", site_id="murat", start=start, end=None))
    with sessions() as session:
        assert years_with_stays(session, ["murat"]) == [2023, 2020]
        assert years_with_stays(session, ["aurillac"]) == []


def test_a_comparison_with_a_year_without_stays_says_so(
    console_app: Flask, store: sessionmaker[Session]
) -> None:
    dora = _signed_in(console_app, "dora")
    page = dora.get("/reports/?year=2024").text
    assert "Rien à comparer : aucune présence enregistrée dans ces sites pour 2023." in page
    assert "Aucune présence enregistrée dans ces sites pour 2023" in page
    assert "-100" not in page and "−100" not in page
    assert "avant :" not in page
    assert 'id="table-comparison"' not in page
    printed = dora.get("/reports/evaluation/print?year=2024").text
    assert "Rien à comparer : aucune présence enregistrée pour 2023." in printed
    # A year after one with stays is compared as before.
    compared = dora.get("/reports/?year=2025").text
    assert "Comparé à 2024." in compared and "avant :" in compared
    assert "Rien à comparer" not in compared
