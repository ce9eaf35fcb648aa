"""The evaluation as the department hands it on: every figure of the French CSV, the Excel
workbook (read back with openpyxl, its number formats checked) and the PDF (its text
extracted with pdftotext) is the API's JSON for the same period, on both databases; the
API's `?format=xlsx`; an animator's files hold its sites only."""

from __future__ import annotations

import csv
import io
import re
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from openpyxl import load_workbook
from openpyxl.worksheet.worksheet import Worksheet
from sqlalchemy.orm import Session, sessionmaker

from hub.people import api_tokens
from hub.people.imports import import_members, import_sites
from hub.store.models import PresenceSession
from tests.console import add_user, client_sign_in

SITES = """\
sites:
  - id: murat
    name: La Cocotte Numérique
    zrr: true
    annual_cost_eur: 9000
    spaces:
      - {id: plateau, kind: open_space, positions: 3}
      - {id: bureau, kind: office, positions: 1}
    opening: {mon: ["08:30-12:00", "13:30-17:00"], tue: ["08:30-17:00"], wed: ["08:30-17:00"]}
  - id: ydes
    name: Maison des Services
    zrr: true
    spaces: [{id: bureau, kind: office, positions: 1}]
    opening: {tue: ["09:00-12:00"]}
  - id: aurillac
    name: Aurillac A2EX
    annual_cost_eur: 9800
    spaces:
      - {id: plateau, kind: open_space, positions: 2}
      - {id: bureau, kind: office, positions: 2}
    opening: {mon: ["08:00-19:00"], tue: ["08:00-19:00"], thu: ["08:00-19:00"]}
"""
MEMBERS = (
    "member_id,last_name,first_name,email,category,pass_since,pass_until,badges\n"
    "M001,Durand,Anne,,independent,2024-06-01,,04A2B3C4\n"
    "M002,Martin,Paul,,employee,,,0A0B0C0D\n"
    "M003,Roux,Léa,,mobile,2025-03-01,2025-09-30,0A0B0C0E\n"
    "M004,Vidal,Marc,,other,,,0A0B0C0F\n"
)
YEAR = "year=2025"


def _stays(session: Session) -> None:
    """Two years of stays: Mondays to Thursdays of 2024 and 2025, members and sites in turn,
    lengths from 1 h to 7 h 50 (some minutes odd, so rounding shows)."""
    sites = ("murat", "ydes", "aurillac", "murat", "aurillac")
    day = datetime(2024, 1, 1, 7, 30, tzinfo=UTC)
    number = 0
    while day.year < 2026:
        if day.weekday() < 4:
            number += 1
            start = day + timedelta(minutes=17 * (number % 5))
            session.add(
                PresenceSession(
                    member_id=f"M00{number % 4 + 1}",
                    site_id=sites[number % 5],
                    start=start,
                    end=start + timedelta(hours=1 + number % 7, minutes=7 * (number % 8)),
                )
            )
        day += timedelta(days=1)


@pytest.fixture
def store(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    with sessions.begin() as session:
        import_sites(session, SITES)
        import_members(session, MEMBERS)
        _stays(session)
    add_user(sessions, "dora", "department")
    add_user(sessions, "lea", "animator", ["murat"])
    return sessions


@pytest.fixture
def department(console_app: Flask, store: sessionmaker[Session]) -> Iterator[FlaskClient]:
    client = console_app.test_client()
    assert client_sign_in(client, "dora") == 302
    yield client


@pytest.fixture
def api(console_app: Flask, store: sessionmaker[Session]) -> Any:
    """GET on the API with a department token, answering the response."""
    client = console_app.test_client()
    with store.begin() as session:
        token = api_tokens.add_token(session, "evaluation", "department", actor="test")
    headers = {"Authorization": f"Bearer {token.secret}"}
    return lambda path: client.get(f"/api/v1{path}", headers=headers)


def _api_scopes(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The API's figures by the label the files give each scope."""
    names = {"murat": "La Cocotte Numérique", "ydes": "Maison des Services",
             "aurillac": "Aurillac A2EX"}  # fmt: skip
    scopes = {names[row["site"]]: row for row in body["by_site"]}
    scopes["En ZRR"], scopes["Hors ZRR"], scopes["Réseau"] = body["zrr"], body["non_zrr"], body
    return scopes


def _french_number(text: str) -> Decimal:
    assert "." not in text and " " not in text, text
    return Decimal(text.replace(",", "."))


def _two(value: float | None) -> Decimal | None:
    return None if value is None else Decimal(str(value)).quantize(Decimal("0.01"))


def test_the_french_csv_is_the_apis_figures(department: FlaskClient, api: Any) -> None:
    body = api("/evaluation?from=2025-01-01&to=2025-12-31").get_json()
    response = department.get(f"/reports/evaluation/figures.csv?{YEAR}")
    assert response.status_code == 200
    assert response.data.startswith("\ufeff".encode())
    assert (
        'filename="evaluation-2025-01-01-2025-12-31-figures.csv"'
        in (response.headers["Content-Disposition"])
    )
    text = response.data.decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text), delimiter=";"))
    assert list(rows[0])[:3] == ["Périmètre", "Télécentres", "Postes"]
    scopes = _api_scopes(body)
    assert [row["Périmètre"] for row in rows] == list(scopes)
    for row in rows:
        figures = scopes[row["Périmètre"]]
        assert int(row["Utilisateurs"]) == figures["users"]
        assert int(row["Indépendants"]) == figures["users_by_category"]["independent"]
        assert _french_number(row["Heures d'utilisation"]) == _two(figures["hours"])
        rate = _french_number(row["Taux d'occupation (%)"])
        assert rate == (Decimal(str(figures["occupancy_rate"])) * 100).quantize(Decimal("0.01"))
        assert int(row["Membres du Pass"]) == figures["pass_members"]
        cost = row["Coût annuel moyen d'un poste (€)"]
        assert (_french_number(cost) if cost else None) == _two(figures["cost_per_position"])
    assert body["hours"] > 0 and body["pass_members"] == 2


def _float(value: object) -> float:
    """A number cell's value; anything else (a text) fails here."""
    assert isinstance(value, int | float | Decimal) and not isinstance(value, bool), value
    return float(value)


def test_the_workbook_is_typed_and_its_figures_are_the_apis(
    department: FlaskClient, api: Any
) -> None:
    body = api("/evaluation?from=2025-01-01&to=2025-12-31").get_json()
    response = department.get(f"/reports/evaluation.xlsx?{YEAR}")
    assert response.status_code == 200
    book = load_workbook(io.BytesIO(response.data))
    assert book.sheetnames[:3] == ["À propos", "Évaluation", "Comparaison"]
    assert "Estimation subvention" in book.sheetnames
    sheet = book["Évaluation"]
    assert sheet.freeze_panes == "B2"
    header = [cell.value for cell in sheet[1]]
    column = {title: index for index, title in enumerate(header)}
    scopes = _api_scopes(body)
    for row in sheet.iter_rows(min_row=2):
        figures = scopes[str(row[0].value)]
        hours = row[column["Heures d'utilisation"]]
        assert isinstance(hours.value, Decimal | float | int)
        assert hours.number_format == "#,##0.00"
        assert _float(hours.value) == pytest.approx(figures["hours"], abs=1e-4)
        rate = row[column["Taux d'occupation"]]
        assert rate.number_format == "0.0%"
        assert _float(rate.value) == pytest.approx(figures["occupancy_rate"], abs=1e-9)
        cost = row[column["Coût annuel moyen d'un poste"]]
        assert cost.number_format == '#,##0.00\\ "€"'
        assert (None if cost.value is None else _float(cost.value)) == figures["cost_per_position"]
        assert row[column["Utilisateurs"]].value == figures["users"]
        assert row[column["Utilisateurs"]].number_format == "#,##0"
    months = book["Heures par mois"]
    assert isinstance(months, Worksheet)
    # The native chart of hours per month (openpyxl keeps a sheet's charts in `_charts`).
    assert len(months._charts) == 1  # type: ignore[attr-defined]
    first_month = months.cell(2, 1)
    assert isinstance(first_month.value, datetime) and first_month.value.month == 1
    assert first_month.number_format == "MMM YYYY"
    by_month = api("/usage?from=2025-01-01&to=2025-12-31&by=month").get_json()["rows"]
    totals = [_float(row[-1].value) for row in months.iter_rows(min_row=2)]
    assert totals == pytest.approx([row["hours"] for row in by_month], abs=1e-4)
    subsidy = book["Estimation subvention"]
    assert subsidy.cell(subsidy.max_row, 7).number_format == '#,##0.00\\ "€"'
    about = {row[0].value: row[1].value for row in book["À propos"].iter_rows()}
    assert about["Rapport"] == "Évaluation 2025 du réseau"
    assert isinstance(about["Chiffres du"], datetime)


def _pdf_rows(pdf: bytes, tmp_path: Path) -> list[list[str]]:
    """The PDF's lines as `pdftotext -layout` lays them out, cut into cells where two spaces
    or more part them; French spaces (thousands, before a unit) made plain."""
    path = tmp_path / "evaluation.pdf"
    path.write_bytes(pdf)
    done = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, check=True, timeout=60
    )
    text = done.stdout.decode().replace("\u202f", " ").replace("\u00a0", " ")
    return [re.split(r"\s{2,}", line.strip()) for line in text.splitlines() if line.strip()]


def _french(value: float, digits: int, unit: str) -> str:
    return f"{value:,.{digits}f}".replace(",", " ").replace(".", ",") + unit


def test_the_pdf_says_the_apis_figures(department: FlaskClient, api: Any, tmp_path: Path) -> None:
    body = api("/evaluation?from=2025-01-01&to=2025-12-31").get_json()
    response = department.get(f"/reports/evaluation.pdf?{YEAR}")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    rows = _pdf_rows(response.data, tmp_path)
    text = " ".join(" ".join(row) for row in rows)
    assert "Évaluation 2025 du réseau" in text
    assert "Conseil départemental du Cantal" in text
    assert "Période : du 1er janvier 2025 au 31 décembre 2025" in text and "Chiffres du" in text
    assert "Estimation de la subvention FNADT" in text
    for label, figures in _api_scopes(body).items():
        # A label may wrap: its row is the first line starting with its first line.
        row = next(row[1:] for row in rows if len(row) > 10 and label.startswith(row[0]))
        users = figures["users_by_category"]
        expected = [
            str(figures["sites"]),
            str(figures["positions"]["total"]),
            str(figures["positions"]["office"]),
            str(figures["positions"]["open_space"]),
            str(figures["users"]),
            *(str(users[key]) for key in ("independent", "employee", "mobile", "other", "unknown")),
            _french(figures["hours"], 1, " h"),
            _french(figures["available_hours"], 1, " h"),
            _french(figures["occupancy_rate"] * 100, 1, " %"),
            str(figures["pass_members"]),
            "–"
            if figures["cost_per_position"] is None
            else _french(figures["cost_per_position"], 2, " €"),
        ]
        assert row == expected, label


def test_the_pdf_opens_with_the_key_figures(
    department: FlaskClient, api: Any, tmp_path: Path
) -> None:
    """The page's cards, before the tables (the department's 2013 evaluation was a list of
    seven figures): the API's figures for the same year, and those of the year before."""
    body = api("/evaluation?from=2025-01-01&to=2025-12-31").get_json()
    before = api("/evaluation?from=2024-01-01&to=2024-12-31").get_json()
    details = api("/evaluation/details?from=2025-01-01&to=2025-12-31").get_json()
    path = tmp_path / "evaluation.pdf"
    path.write_bytes(department.get(f"/reports/evaluation.pdf?{YEAR}").data)
    done = subprocess.run(
        ["pdftotext", str(path), "-"], capture_output=True, check=True, timeout=60
    )
    text = " ".join(done.stdout.decode().replace("\u202f", " ").replace("\u00a0", " ").split())
    start, end = text.index("Les chiffres clés"), text.index("Les chiffres de l'évaluation")
    assert start < end
    summary = text[start:end]
    # The printed page the PDF is made of pairs each figure with its label.
    printed = department.get(f"/reports/evaluation/print?{YEAR}").text
    printed = printed.replace("\u202f", " ").replace("\u00a0", " ").replace("&#39;", "'")
    cards = dict(re.findall(r'<dt>([^<]+)</dt><dd><span class="value">([^<]+)</span>', printed))
    assert cards == {
        "Télécentres": str(body["sites"]),
        "Postes": str(body["positions"]["total"]),
        "Utilisateurs": str(body["users"]),
        "Heures d'utilisation": _french(body["hours"], 1, " h"),
        "Taux d'occupation": _french(body["occupancy_rate"] * 100, 1, " %"),
        "Membres du Pass": str(body["pass_members"]),
        "Coût annuel moyen d'un poste": _french(body["cost_per_position"], 2, " €"),
        "Subvention FNADT (estimation)": _french(details["subsidy"]["total_eur"], 2, " €"),
    }
    for label, value in cards.items():
        assert label in summary and value in summary, label
    assert f"avant : {before['users']}" in summary
    assert f"avant : {_french(before['hours'], 1, ' h')}" in summary


def test_the_api_answers_excel_wherever_it_answers_csv(api: Any) -> None:
    period = "from=2025-01-01&to=2025-12-31"
    for path in (
        f"/evaluation?{period}",
        f"/usage?{period}&by=site",
        f"/sessions?{period}&limit=50",
        "/billing?month=2025-03",
        "/occupancy",
        "/devices",
    ):
        joint = "&" if "?" in path else "?"
        as_csv = list(csv.reader(io.StringIO(api(f"{path}{joint}format=csv").text)))
        response = api(f"{path}{joint}format=xlsx")
        assert response.status_code == 200, path
        assert response.mimetype.endswith("spreadsheetml.sheet")
        sheet = load_workbook(io.BytesIO(response.data)).active
        assert sheet is not None
        rows = list(sheet.iter_rows(values_only=True))
        assert [list(rows[0])] == as_csv[:1], path
        assert len(rows) == len(as_csv), path
        for typed, text in zip(rows[1:], as_csv[1:], strict=True):
            for value, shown in zip(typed, text, strict=True):
                if isinstance(value, float | int | Decimal) and not isinstance(value, bool):
                    assert float(value) == pytest.approx(float(shown), abs=1e-9), (path, shown)
                elif isinstance(value, datetime):
                    assert shown.startswith(value.isoformat()), (path, shown)
                else:
                    assert (value or "") == shown, (path, shown)
    hours = load_workbook(io.BytesIO(api(f"/usage?{period}&by=site&format=xlsx").data)).active
    assert hours is not None and hours.cell(2, 3).number_format == "#,##0.00"
    assert isinstance(hours.cell(2, 3).value, float | int | Decimal)


def test_an_animator_gets_its_sites_only(console_app: Flask, store: sessionmaker[Session]) -> None:
    client = console_app.test_client()
    assert client_sign_in(client, "lea") == 302
    book = load_workbook(io.BytesIO(client.get(f"/reports/evaluation.xlsx?{YEAR}").data))
    labels = [row[0].value for row in book["Évaluation"].iter_rows(min_row=2)]
    assert labels == ["La Cocotte Numérique", "Total"]
    header = [cell.value for cell in book["Heures par mois"][1]]
    assert header == ["Mois", "La Cocotte Numérique", "Total"]
    page = client.get(f"/reports/?{YEAR}").text
    assert "Maison des Services" not in page and "Aurillac" not in page
    for path in (
        f"/reports/evaluation.xlsx?{YEAR}&site=ydes",
        f"/reports/evaluation.pdf?{YEAR}&site=ydes",
        f"/reports/evaluation/figures.csv?{YEAR}&site=ydes",
        f"/reports/evaluation/print?{YEAR}&site=aurillac",
    ):
        assert client.get(path).status_code == 404, path
    assert client.get(f"/reports/evaluation/nothing.csv?{YEAR}").status_code == 404
    client.get("/auth/logout")


def test_anonymous_visitors_get_no_file(console_app: Flask, store: sessionmaker[Session]) -> None:
    client = console_app.test_client()
    for path in (
        "/reports/evaluation.xlsx",
        "/reports/evaluation.pdf",
        "/reports/evaluation/figures.csv",
    ):
        assert client.get(f"{path}?{YEAR}").status_code == 302, path


def test_usage_by_category_and_the_top_members(
    department: FlaskClient, api: Any, console_app: Flask
) -> None:
    period = "from=2025-01-01&to=2025-12-31"
    by_category = api(f"/usage?{period}&by=category").get_json()
    by_member = api(f"/usage?{period}&by=member").get_json()
    assert [row["category"] for row in by_category["rows"]] == [
        "employee", "independent", "mobile", "other"
    ]  # fmt: skip
    assert by_category["total_hours"] == by_member["total_hours"]
    text = department.get(f"/reports/usage.fr.csv?{period}&by=category").data.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert rows[0] == ["Catégorie", "Présences", "Heures"]
    assert [row[0] for row in rows[1:]] == ["Salariés", "Indépendants", "Travailleurs nomades",
                                            "Autres", "Total"]  # fmt: skip
    assert _french_number(rows[-1][2]) == _two(by_category["total_hours"])
    book = load_workbook(io.BytesIO(department.get(f"/reports/usage.xlsx?{period}").data))
    usage, top = book.worksheets
    assert [cell.value for cell in usage[1]] == [
        "Membre",
        "Numéro de membre",
        "Présences",
        "Heures",
    ]
    assert usage.cell(2, 1).value == "Anne Durand" and usage.cell(2, 2).value == "M001"
    ranked = sorted(by_member["rows"], key=lambda row: -row["hours"])
    assert [row[1].value for row in top.iter_rows(min_row=2)] == [r["member_id"] for r in ranked]
    assert _float(top.cell(2, 4).value) == pytest.approx(ranked[0]["hours"], abs=1e-4)
    page = department.get(f"/reports/usage?{period}&by=category").text
    assert "Les membres les plus présents" in page and "Travailleurs nomades" in page
    animator = console_app.test_client()
    assert client_sign_in(animator, "lea") == 302
    book = load_workbook(io.BytesIO(animator.get(f"/reports/usage.xlsx?{period}&by=site").data))
    assert [row[0].value for row in book.worksheets[0].iter_rows(min_row=2)] == [
        "La Cocotte Numérique", "Total"
    ]  # fmt: skip
    assert animator.get(f"/reports/usage.xlsx?{period}&site=ydes").status_code == 404


def _numbers(values: list[Any]) -> list[float | None]:
    return [None if value is None else _float(value) for value in values]


def test_the_workbooks_other_tables_are_the_apis_details(department: FlaskClient, api: Any) -> None:
    details = api("/evaluation/details?from=2025-01-01&to=2025-12-31").get_json()
    assert (details["previous"]["from"], details["previous"]["to"]) == ("2024-01-01", "2024-12-31")
    previous = api("/evaluation?from=2024-01-01&to=2024-12-31").get_json()
    assert details["previous"]["hours"] == previous["hours"] > 0
    book = load_workbook(io.BytesIO(department.get(f"/reports/evaluation.xlsx?{YEAR}").data))
    comparison = {row[0]: row for row in book["Comparaison"].iter_rows(values_only=True)}
    assert _float(comparison["Réseau"][4]) == pytest.approx(previous["hours"], abs=1e-4)
    subsidy = list(book["Estimation subvention"].iter_rows(min_row=2, values_only=True))
    lines = details["subsidy"]["lines"]
    assert [_float(row[6]) for row in subsidy[: len(lines)]] == [
        line["amount_eur"] for line in lines
    ]
    assert [_float(row[3]) for row in subsidy[: len(lines)]] == [
        line["occupied_positions"] for line in lines
    ]
    assert _float(subsidy[-1][6]) == details["subsidy"]["total_eur"] > 0
    series = details["series"]
    months = list(book["Heures par mois"].iter_rows(min_row=2, values_only=True))
    by_site = list(series["hours_by_month"].values())
    for index, row in enumerate(months):
        assert _numbers(list(row[1:-1])) == pytest.approx([v[index] for v in by_site], abs=1e-4)
        assert _float(row[-1]) == pytest.approx(series["month_totals"][index], abs=1e-4)
    heat = [list(row[1:]) for row in book["Jour et heure"].iter_rows(min_row=2, values_only=True)]
    assert [_numbers(row) for row in heat] == series["weekday_hour"]
    day = list(book["Journée moyenne"].iter_rows(min_row=2, values_only=True))
    assert [_numbers(list(row[1:])) for row in day] == [
        list(values) for values in zip(*series["average_day"].values(), strict=True)
    ]
    pass_members = [
        row[1] for row in book["Membres du Pass"].iter_rows(min_row=2, values_only=True)
    ]
    assert pass_members == series["pass_members_by_month"]
    english = load_workbook(
        io.BytesIO(api("/evaluation/details?from=2025-01-01&to=2025-12-31&format=xlsx").data)
    )
    assert english.sheetnames[:2] == ["Evaluation", "Comparison"]


def test_an_animator_token_gets_its_sites_details_only(
    console_app: Flask, store: sessionmaker[Session]
) -> None:
    with store.begin() as session:
        token = api_tokens.add_token(session, "murat", "animator:murat", actor="test")
    client = console_app.test_client()
    headers = {"Authorization": f"Bearer {token.secret}"}
    details = client.get(
        "/api/v1/evaluation/details?from=2025-01-01&to=2025-12-31", headers=headers
    ).get_json()
    assert list(details["series"]["hours_by_month"]) == ["murat"]
    assert [line["site"] for line in details["subsidy"]["lines"]] == ["murat"]
    assert [row["site"] for row in details["previous"]["by_site"]] == ["murat"]
    assert "zrr" not in details["previous"]


def test_every_table_of_the_page_has_its_french_csv(department: FlaskClient) -> None:
    book = load_workbook(io.BytesIO(department.get(f"/reports/evaluation.xlsx?{YEAR}").data))
    page = department.get(f"/reports/?{YEAR}").text
    keys = sorted(set(re.findall(r"/reports/evaluation/([a-z-]+)\.csv", page)))
    assert keys == sorted(["figures", "comparison", "subsidy", "hours-by-month", "weekday-hour",
                           "average-day", "categories", "pass-members"])  # fmt: skip
    for key in keys:
        answer = department.get(f"/reports/evaluation/{key}.csv?{YEAR}")
        assert answer.status_code == 200, key
        rows = list(csv.reader(io.StringIO(answer.data.decode("utf-8-sig")), delimiter=";"))
        # The same table as one of the workbook's sheets: same header (units aside), rows.
        matching = [
            name
            for name in book.sheetnames
            if [str(cell.value) for cell in book[name][1]]
            == [title.removesuffix(" (%)").removesuffix(" (€)") for title in rows[0]]
        ]
        assert matching, key
        assert book[matching[0]].max_row == len(rows), key
