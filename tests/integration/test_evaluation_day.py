"""The evaluation's "today" is the day in Cantal: between 23:00 UTC and midnight UTC (in
winter) it is already tomorrow in Paris, and the officer read "au 7 décembre" above
"Chiffres du 8 décembre 2026, 00:22". The page, the printable page, the workbook and the
files' names all end the current year on Paris's day; a first of the month is "1er"."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime

import pytest
from flask import Flask
from flask.testing import FlaskClient
from openpyxl import load_workbook
from sqlalchemy.orm import Session, sessionmaker

from hub.console.services import EXTENSION
from hub.people.imports import import_members, import_sites
from tests.console import add_user, client_sign_in
from tests.integration.test_evaluation_files import MEMBERS, SITES


@pytest.fixture
def department(console_app: Flask, sessions: sessionmaker[Session]) -> FlaskClient:
    with sessions.begin() as session:
        import_sites(session, SITES)
        import_members(session, MEMBERS)
    add_user(sessions, "dora", "department")
    client = console_app.test_client()
    assert client_sign_in(client, "dora") == 302
    return client


@pytest.mark.parametrize(
    ("now", "last", "title", "stamp"),
    [
        (
            datetime(2026, 12, 7, 23, 22, tzinfo=UTC),
            date(2026, 12, 8),
            "Évaluation 2026 du réseau, au 8 décembre",
            "8 décembre 2026, 00:22",
        ),
        (
            datetime(2026, 12, 31, 23, 5, tzinfo=UTC),
            date(2027, 1, 1),
            "Évaluation 2027 du réseau, au 1er janvier",
            "1er janvier 2027, 00:05",
        ),
    ],
)
def test_the_current_year_ends_on_the_day_in_paris(
    console_app: Flask,
    department: FlaskClient,
    now: datetime,
    last: date,
    title: str,
    stamp: str,
) -> None:
    console_app.extensions[EXTENSION].clock = lambda: now
    page = department.get("/reports/").text
    assert f'<h2 class="evaluation-title">{title}</h2>' in page
    assert f"Chiffres du {stamp}." in page
    assert f'name="to" value="{last.isoformat()}"' in page
    printed = department.get("/reports/evaluation/print").text
    assert f"<h1>{title}</h1>" in printed
    assert f"Chiffres du {stamp}." in printed
    answer = department.get(f"/reports/evaluation.xlsx?year={last.year}")
    assert f"-{last.isoformat()}.xlsx" in answer.headers["Content-Disposition"]
    about = {row[0]: row[1] for row in load_workbook(io.BytesIO(answer.data))["À propos"].values}
    assert about["Rapport"] == title
    assert about["Au"] == datetime.combine(last, datetime.min.time())
