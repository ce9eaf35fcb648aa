"""The evaluation says what it evaluates and offers only years it can speak of: an animator
read 'the chosen sites' above its one site's figures, year buttons went back to years without
a stay, and a comparison with such a year read 0 and -100 % — on the page, and in the Excel
workbook and the French CSV, which a funder read as a collapse or an infinite growth. The
year after a year with stays is compared as before."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from openpyxl import load_workbook
from openpyxl.worksheet.worksheet import Worksheet
from sqlalchemy.orm import Session, sessionmaker

from hub.people import api_tokens
from hub.people.imports import import_members, import_sites
from hub.reports.years import years_with_stays
from hub.store.models import PresenceSession
from tests.console import add_user, client_sign_in
from tests.integration.test_evaluation_files import MEMBERS, SITES, _stays

#: The stays begin on Monday 1 January 2024: 2023 was not recorded, which is not "nobody came".
NOTHING_IN_2023 = "Données disponibles depuis le 1er janvier 2024 : pas de comparaison avec 2023."


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
    assert _title(chosen) == "Évaluation — Maison des Services, du 1er mars 2025 au 30 juin 2025"


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
    assert f"{NOTHING_IN_2023} Chiffres du " in page
    assert f'<p class="no-comparison">{NOTHING_IN_2023}</p>' in page
    assert "-100" not in page and "−100" not in page
    assert "avant :" not in page
    assert 'id="table-comparison"' not in page
    printed = dora.get("/reports/evaluation/print?year=2024").text
    assert f"au 31 décembre 2024. {NOTHING_IN_2023} Chiffres du " in printed
    # A year after one with stays is compared as before.
    compared = dora.get("/reports/?year=2025").text
    assert "Comparé à 2024." in compared and "avant :" in compared
    assert "Rien à comparer" not in compared


#: The comparison's columns of the period before and of the changes: empty, never 0.
BEFORE_AND_CHANGES = (
    "Utilisateurs avant",
    "Évolution des utilisateurs",
    "Heures avant",
    "Évolution des heures",
    "Taux d'occupation avant",
    "Écart du taux d'occupation (points)",
    "Membres du Pass avant",
    "Évolution des membres du Pass",
)


@pytest.fixture
def department(console_app: Flask, store: sessionmaker[Session]) -> FlaskClient:
    return _signed_in(console_app, "dora")


@pytest.fixture
def api(console_app: Flask, store: sessionmaker[Session]) -> Any:
    """GET on the API with a department token."""
    with store.begin() as session:
        secret = api_tokens.add_token(session, "evaluation", "department", actor="t").secret
    client = console_app.test_client()
    return lambda path: client.get(f"/api/v1{path}", headers={"Authorization": f"Bearer {secret}"})


def _sheet_rows(sheet: Worksheet, header_row: int) -> list[dict[str, Any]]:
    rows = list(sheet.iter_rows(min_row=header_row, values_only=True))
    header = [str(title) for title in rows[0]]
    return [dict(zip(header, row, strict=True)) for row in rows[1:]]


def _french_rows(client: FlaskClient, path: str) -> list[dict[str, str]]:
    answer = client.get(path)
    assert answer.status_code == 200, path
    text = answer.data.decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text), delimiter=";"))


def test_the_workbook_compares_nothing_with_a_year_without_stays(
    department: FlaskClient, api: Any
) -> None:
    body = api("/evaluation?from=2024-01-01&to=2024-12-31").get_json()
    book = load_workbook(io.BytesIO(department.get("/reports/evaluation.xlsx?year=2024").data))
    sheet = book["Comparaison"]
    assert sheet.cell(1, 1).value == NOTHING_IN_2023
    assert sheet.cell(1, 1).font.bold
    assert sheet.freeze_panes == "B3"
    rows = _sheet_rows(sheet, header_row=2)
    assert [row["Périmètre"] for row in rows][-1] == "Réseau"
    for row in rows:
        for title in BEFORE_AND_CHANGES:
            assert row[title] is None, (row["Périmètre"], title)
    network = rows[-1]
    assert network["Utilisateurs"] == body["users"] > 0
    assert float(network["Heures d'utilisation"]) == pytest.approx(body["hours"], abs=1e-4)
    assert network["Membres du Pass"] == body["pass_members"]
    # The header row keeps its number formats' columns: a figure is still a number.
    assert sheet.cell(3, 3).number_format == "#,##0"
    categories = book["Utilisateurs par catégorie"]
    assert categories.cell(1, 1).value == NOTHING_IN_2023
    assert all(row["Utilisateurs avant"] is None for row in _sheet_rows(categories, 2))
    about = {row[0]: row[1] for row in book["À propos"].iter_rows(values_only=True)}
    assert about["Période précédente"] == f"01/01/2023 – 31/12/2023. {NOTHING_IN_2023}"


def test_the_workbook_compares_a_year_with_the_year_of_stays_before(
    department: FlaskClient, api: Any
) -> None:
    before = api("/evaluation?from=2024-01-01&to=2024-12-31").get_json()
    now = api("/evaluation?from=2025-01-01&to=2025-12-31").get_json()
    book = load_workbook(io.BytesIO(department.get("/reports/evaluation.xlsx?year=2025").data))
    sheet = book["Comparaison"]
    assert sheet.cell(1, 1).value == "Périmètre" and sheet.freeze_panes == "B2"
    network = _sheet_rows(sheet, header_row=1)[-1]
    assert network["Utilisateurs avant"] == before["users"] > 0
    assert float(network["Heures avant"]) == pytest.approx(before["hours"], abs=1e-4)
    hours_change = (now["hours"] - before["hours"]) / before["hours"]
    assert float(network["Évolution des heures"]) == pytest.approx(hours_change, abs=1e-4)
    points = (now["occupancy_rate"] - before["occupancy_rate"]) * 100
    assert float(network["Écart du taux d'occupation (points)"]) == pytest.approx(points, abs=1e-6)
    assert float(network["Taux d'occupation avant"]) == pytest.approx(before["occupancy_rate"])
    assert network["Membres du Pass avant"] == before["pass_members"]
    about = {row[0]: row[1] for row in book["À propos"].iter_rows(values_only=True)}
    assert about["Période précédente"] == "01/01/2024 – 31/12/2024"


def test_the_french_csv_keeps_its_columns_and_says_why_they_are_empty(
    department: FlaskClient,
) -> None:
    compared = _french_rows(department, "/reports/evaluation/comparison.csv?year=2025")
    empty = _french_rows(department, "/reports/evaluation/comparison.csv?year=2024")
    assert list(empty[0]) == [*compared[0], "Remarque"]
    assert all(row["Remarque"] == NOTHING_IN_2023 for row in empty)
    # Headers carry their unit in a French CSV: "Heures avant", "Taux d'occupation avant (%)".
    blank = [header for header in empty[0] if header.removesuffix(" (%)") in BEFORE_AND_CHANGES]
    assert len(blank) == len(BEFORE_AND_CHANGES)
    for row in empty:
        assert [row[header] for header in blank] == [""] * len(blank), row["Périmètre"]
        assert row["Utilisateurs"] not in ("", "0")
    assert all(row["Utilisateurs avant"] not in ("", "0") for row in compared)
    categories = _french_rows(department, "/reports/evaluation/categories.csv?year=2024")
    assert [row["Utilisateurs avant"] for row in categories] == [""] * len(categories)
    assert {row["Remarque"] for row in categories} == {NOTHING_IN_2023}


def test_a_period_of_days_names_its_days(department: FlaskClient) -> None:
    """Half of 2024 is compared with the half year before, which had no stay."""
    period = "from=2024-01-01&to=2024-06-30"
    rows = _french_rows(department, f"/reports/evaluation/comparison.csv?{period}")
    assert {row["Remarque"] for row in rows} == {
        "Données disponibles depuis le 1er janvier 2024 : pas de comparaison avec la période "
        "du 01/07/2023 au 31/12/2023."
    }
    page = department.get(f"/reports/?{period}").text
    assert "pas de comparaison avec" in page and 'id="table-comparison"' not in page


def test_the_page_and_the_printout_say_it_beside_the_users_before(
    department: FlaskClient,
) -> None:
    page = department.get("/reports/?year=2024").text
    assert f'<p class="table-note">{NOTHING_IN_2023}</p>' in page
    printed = department.get("/reports/evaluation/print?year=2024").text
    assert f'<p class="table-note">{NOTHING_IN_2023}</p>' in printed
    assert "table-note" not in department.get("/reports/?year=2025").text


def test_the_api_says_whether_the_previous_period_is_empty(api: Any) -> None:
    empty = api("/evaluation/details?from=2024-01-01&to=2024-12-31").get_json()
    assert empty["previous_empty"] is True
    assert empty["previous"]["users"] == 0 and empty["previous"]["hours"] == 0
    compared = api("/evaluation/details?from=2025-01-01&to=2025-12-31").get_json()
    assert compared["previous_empty"] is False
    english = load_workbook(
        io.BytesIO(api("/evaluation/details?from=2024-01-01&to=2024-12-31&format=xlsx").data)
    )
    assert (
        english["Comparison"].cell(1, 1).value
        == "Data available since 01/01/2024: no comparison with 2023."
    )
    assert english["Comparison"].cell(3, 2).value is None


def test_an_animators_site_in_its_first_year(
    console_app: Flask, store: sessionmaker[Session]
) -> None:
    client = _signed_in(console_app, "lea")
    book = load_workbook(io.BytesIO(client.get("/reports/evaluation.xlsx?year=2024").data))
    rows = _sheet_rows(book["Comparaison"], header_row=2)
    assert [row["Périmètre"] for row in rows] == ["La Cocotte Numérique", "Total"]
    assert all(row["Heures avant"] is None and row["Heures d'utilisation"] for row in rows)


def test_an_empty_period_after_the_records_began_has_nothing_to_compare(
    department: FlaskClient,
) -> None:
    """2026 had no stay, though the records began in 2024: only then is it "nothing"."""
    period = "from=2027-01-01&to=2027-12-31"
    nothing = "Rien à comparer : aucune donnée pour 2026."
    page = department.get(f"/reports/?{period}").text
    assert f'<p class="no-comparison">{nothing}</p>' in page
    assert "Données disponibles" not in page
    rows = _french_rows(department, f"/reports/evaluation/categories.csv?{period}")
    assert {row["Remarque"] for row in rows} == {nothing}
    printed = department.get(f"/reports/evaluation/print?{period}").text
    assert f"{nothing} Chiffres du " in printed
