"""A real spreadsheet opens the evaluation's files: LibreOffice Calc (headless) reads the
Excel workbook and the French CSV as a French user's spreadsheet reads them (`;`, decimal
commas) and writes back what it read; the totals made from its cells are the API's, and no
figure came back as text (a text would be written back as typed, "336,00", not 336).

One SQLite store and one LibreOffice run per file: LibreOffice takes a few seconds to start.
"""

from __future__ import annotations

import csv
import io
import subprocess
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from openpyxl import load_workbook
from sqlalchemy.orm import Session, sessionmaker

from hub.config import HubConfig
from hub.people import api_tokens
from hub.people.imports import import_members, import_sites
from hub.store import make_engine, make_sessionmaker, migrate
from hub.web.app import create_app
from tests.console import add_user, client_sign_in
from tests.integration.test_evaluation_files import MEMBERS, SITES, _stays

#: LibreOffice's CSV filter options: separator, quote, UTF-8 (76), first line, cell formats,
#: language (1036 French, 1033 US English), quoted as text, detect special numbers, then for
#: export: as shown (false: the values), formulas, spaces, and the sheet (-1: every sheet).
FRENCH_CSV_IN = "CSV:59,34,76,1,,1036,false,true"
PLAIN_CSV_OUT = "csv:Text - txt - csv (StarCalc):44,34,76,1,,1033,false,true,false,false,false"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sessionmaker[Session]]:
    url = f"sqlite:///{tmp_path_factory.mktemp('store') / 'hub.db'}"
    migrate(url)
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    with sessions.begin() as session:
        import_sites(session, SITES)
        import_members(session, MEMBERS)
        _stays(session)
    add_user(sessions, "dora", "department")
    yield sessions
    engine.dispose()


@pytest.fixture(scope="module")
def clients(store: sessionmaker[Session]) -> tuple[FlaskClient, Any]:
    app = create_app(HubConfig(), sessionmaker=store)
    console = app.test_client()
    assert client_sign_in(console, "dora") == 302
    with store.begin() as session:
        token = api_tokens.add_token(session, "calc", "department", actor="test")
    api = app.test_client()
    headers = {"Authorization": f"Bearer {token.secret}"}
    return console, lambda path: api.get(f"/api/v1{path}", headers=headers).get_json()


def calc(source: Path, out: Path, *, infilter: str | None = None, sheets: bool = False) -> Path:
    """`source` opened by LibreOffice Calc and saved as plain CSV into `out`."""
    command = [
        "soffice",
        f"-env:UserInstallation={(out / 'profile').as_uri()}",
        "--headless",
        "--convert-to",
        PLAIN_CSV_OUT + (",-1" if sheets else ""),
        "--outdir",
        str(out),
    ]
    if infilter:
        command.insert(3, f"--infilter={infilter}")
    subprocess.run([*command, str(source)], capture_output=True, check=True, timeout=180)
    return out


def _rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))


def _number(text: str) -> Decimal:
    """A value LibreOffice wrote back: a plain number, or a percentage as it shows one."""
    if text.endswith("%"):
        return Decimal(text[:-1]) / 100
    return Decimal(text)


def test_calc_reads_the_french_csv_as_numbers(
    clients: tuple[FlaskClient, Any], tmp_path: Path
) -> None:
    console, api = clients
    body = api("/evaluation?from=2025-01-01&to=2025-12-31")
    source = tmp_path / "evaluation.csv"
    source.write_bytes(console.get("/reports/evaluation/figures.csv?year=2025").data)
    rows = _rows(calc(source, tmp_path / "out", infilter=FRENCH_CSV_IN) / "evaluation.csv")
    sites = rows[:3]
    hours = sum((Decimal(row["Heures d'utilisation"]) for row in sites), Decimal(0))
    assert hours == pytest.approx(Decimal(str(body["hours"])), abs=Decimal("0.02"))
    assert sum(int(row["Postes"]) for row in sites) == body["positions"]["total"]
    network = rows[-1]
    assert network["Périmètre"] == "Réseau"
    assert Decimal(network["Heures d'utilisation"]) == Decimal(str(body["hours"])).quantize(
        Decimal("0.01")
    )
    assert Decimal(network["Taux d'occupation (%)"]) == (
        Decimal(str(body["occupancy_rate"])) * 100
    ).quantize(Decimal("0.01"))
    assert Decimal(network["Coût annuel moyen d'un poste (€)"]) == Decimal(
        str(body["cost_per_position"])
    )


def test_calc_reads_the_workbook_as_numbers(
    clients: tuple[FlaskClient, Any], tmp_path: Path
) -> None:
    console, api = clients
    body = api("/evaluation?from=2025-01-01&to=2025-12-31")
    by_month = api("/usage?from=2025-01-01&to=2025-12-31&by=month")
    source = tmp_path / "evaluation.xlsx"
    source.write_bytes(console.get("/reports/evaluation.xlsx?year=2025").data)
    out = calc(source, tmp_path / "out", sheets=True)
    figures = _rows(out / "evaluation-Évaluation.csv")
    sites = figures[:3]
    hours = sum((_number(row["Heures d'utilisation"]) for row in sites), Decimal(0))
    assert hours == pytest.approx(Decimal(str(body["hours"])), abs=Decimal("0.001"))
    network = figures[-1]
    assert _number(network["Taux d'occupation"]) == pytest.approx(
        Decimal(str(body["occupancy_rate"])), abs=Decimal("0.0001")
    )
    months = _rows(out / "evaluation-Heures par mois.csv")
    assert len(months) == 12
    total = sum((_number(row["Total"]) for row in months), Decimal(0))
    assert total == pytest.approx(Decimal(str(by_month["total_hours"])), abs=Decimal("0.001"))
    subsidy = _rows(out / "evaluation-Estimation subvention.csv")
    assert subsidy[-1]["Site"] == "Total"
    assert _number(subsidy[-1]["Montant estimé"]) == sum(
        (_number(row["Montant estimé"]) for row in subsidy[:3]), Decimal(0)
    )


def test_calc_prints_each_sheet_one_page_wide(
    clients: tuple[FlaskClient, Any], tmp_path: Path
) -> None:
    """Printed from LibreOffice (the officer's printout took 39 pages, columns cut and the
    "À propos" note one line over 3 pages): A4 landscape, one page per sheet for a year of
    three sites, every column and the whole note on it."""
    console, _api = clients
    source = tmp_path / "evaluation.xlsx"
    source.write_bytes(console.get("/reports/evaluation.xlsx?year=2025").data)
    book = load_workbook(source)
    for sheet in book.worksheets:
        assert sheet.page_setup.orientation == "landscape", sheet.title
        fit = sheet.sheet_properties.pageSetUpPr
        assert fit is not None and fit.fitToPage, sheet.title
        # As many pages long as it takes; the months' table and its chart on one.
        long = 1 if sheet.title == "Heures par mois" else 0
        assert sheet.page_setup.fitToWidth == 1 and sheet.page_setup.fitToHeight == long
    assert book["Évaluation"].print_title_rows == "$1:$1"
    first_year = load_workbook(io.BytesIO(console.get("/reports/evaluation.xlsx?year=2024").data))
    assert first_year["Comparaison"].print_title_rows == "$2:$2"  # under the table's note
    out = tmp_path / "out"
    command = ["soffice", f"-env:UserInstallation={(out / 'profile').as_uri()}", "--headless"]
    command += ["--convert-to", "pdf", "--outdir", str(out), str(source)]
    subprocess.run(command, capture_output=True, check=True, timeout=180)
    pdf = out / "evaluation.pdf"
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, check=True, timeout=60)
    fields = dict(line.split(":", 1) for line in info.stdout.decode().splitlines() if ":" in line)
    assert int(fields["Pages"]) == len(book.sheetnames)
    width, height = (float(value) for value in fields["Page size"].split()[0:3:2])
    assert width > height
    pages = subprocess.run(
        ["pdftotext", str(pdf), "-"], capture_output=True, check=True, timeout=60
    )
    about, figures, *_rest = (" ".join(page.split()) for page in pages.stdout.decode().split("\f"))
    assert "C'est une estimation, pas une décision de subvention." in about
    assert "moyen d'un poste" in figures and "Réseau" in figures
