"""Closed months as accounting records (docs/rules.md, Invoices), on SQLite and PostgreSQL:
what a close stores, what blocks it, how a late correction is carried, what survives
pseudonymisation and erasure, the Factur-X files read back by the factur-x package and
pdftotext, and invoice numbers under two processes closing at once on PostgreSQL."""

from __future__ import annotations

import csv
import dataclasses
import io
import re
import subprocess
import sys
import time
import zipfile
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import facturx
import pytest
from flask import Flask
from lxml import etree
from pypdf import PdfReader
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from hub.config import HubConfig
from hub.people import api_tokens
from hub.people.imports import import_members, import_sites
from hub.presence.corrections import correct_session
from hub.presence.retention import apply_retention, erase_member
from hub.reports import invoice_files, invoice_sheet, invoicing, queries
from hub.reports.billing_table import billing_table
from hub.reports.spreadsheets import french_csv
from hub.store import make_engine, make_sessionmaker, migrate
from hub.store.models import BillingMonth, Invoice, InvoiceRecord, PresenceSession, Site
from hub.web.app import create_app
from tests.console import add_user, client_sign_in, csrf_token
from tests.integration.test_console_french import visible
from tests.servers import Postgres

PARIS = ZoneInfo("Europe/Paris")
SITES = """\
sites:
  - id: murat
    name: La Cocotte Numérique
    spaces: [{id: plateau, kind: open_space, positions: 6}]
    tariffs: {public: {hourly: 3.0, daily_cap: 15.0}, pass: {hourly: 2.0}}
    invoicing:
      issuer: Commune de Murat
      address: "Place de l'Hôtel de Ville"
      postcode: "15300"
      town: Murat
      siret: "21150138200017"
      payment: "Paiement à réception."
  - id: ydes
    name: Maison des Services
    spaces: [{id: bureau, kind: office, positions: 1}]
    tariffs: {public: {hourly: 3.0}}
    invoicing: {issuer: Association Ydes Numérique, address: "1 place de la Mairie",
                postcode: "15210", town: Ydes, siret: "78395320100010",
                vat_number: FR40783953201, vat_rate: 20, prefix: YDES}
"""
MEMBERS = (
    "member_id,last_name,first_name,email,category,pass_since,pass_until,badges,address\n"
    'M001,Durand,Anne,anne@example.fr,independent,,,,"4 rue du Lac\n15300 Murat"\n'
    "M002,Martin,Paul,paul@example.fr,employee,,,,\n"
    "M003,Roux,Léa,,mobile,2026-10-01,,,\n"
)
CLOSE_NOV = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
#: A second either side of November's end in Paris (midnight there is 23:00 UTC).
LAST_SECOND_OF_NOV = datetime(2026, 11, 30, 22, 59, 59, tzinfo=UTC)
FIRST_SECOND_OF_DEC = datetime(2026, 11, 30, 23, 0, 1, tzinfo=UTC)
CLOSE_DEC = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)
D = Decimal


def at(day: str, clock: str) -> datetime:
    return datetime.fromisoformat(f"{day}T{clock}").replace(tzinfo=PARIS)


def stay(member: str, site: str, day: str, start: str, hours: float) -> PresenceSession:
    begin = at(day, start)
    return PresenceSession(
        member_id=member,
        site_id=site,
        start=begin,
        end=begin + timedelta(hours=hours),
        end_reason="tap",
        natural_end=begin + timedelta(hours=hours),
    )


@pytest.fixture
def store(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    """November 2026: Anne at both sites, Paul at Ydes, Léa in her Pass's free months."""
    with sessions.begin() as session:
        import_sites(session, SITES)
        import_members(session, MEMBERS)
        for day in ("2026-11-03", "2026-11-10", "2026-11-17"):
            session.add(stay("M001", "murat", day, "09:00", 4 + 10 / 60))  # 4.25 h billed
        session.add(stay("M001", "ydes", "2026-11-18", "14:00", 2))
        session.add(stay("M002", "ydes", "2026-11-24", "09:00", 3))
        session.add(stay("M003", "murat", "2026-11-05", "09:00", 3))
    return sessions


def close(store: sessionmaker[Session], month: str, now: datetime) -> invoicing.Closed:
    with store.begin() as session:
        return invoicing.close_month(session, month, now=now, actor="test")


def snapshot(store: sessionmaker[Session], month: str) -> tuple[Any, ...]:
    with store() as session:
        billing = invoicing.month_billing(session, month)
        invoices = invoicing.invoices(session, month)
    return billing, invoices


def test_closing_a_month_stores_its_lines_and_numbers_its_invoices(
    store: sessionmaker[Session],
) -> None:
    with store() as session:
        before = invoicing.month_billing(session, "2026-11")
    assert not before.closed
    closed = close(store, "2026-11", CLOSE_NOV)
    assert (closed.lines, closed.adjustments, closed.invoices) == (4, 0, 3)
    billing, invoices = snapshot(store, "2026-11")
    assert billing.closed and billing.closed_at == CLOSE_NOV
    assert [(row.member_name, row.site, row.amount_eur, row.invoice) for row in billing.lines] == [
        ("Anne Durand", "murat", D("38.25"), "MURAT-000001"),
        ("Léa Roux", "murat", D("0.00"), None),  # free months: on record, nothing to pay
        ("Anne Durand", "ydes", D("6.00"), "YDES-000001"),
        ("Paul Martin", "ydes", D("9.00"), "YDES-000002"),
    ]
    assert billing.lines[0].billed_hours == D("12.75") and billing.lines[0].hours == D("12.5")
    assert billing.total_eur == D("53.25") == before.total_eur
    assert [(m.member_name, m.total_eur) for m in billing.members] == [
        ("Anne Durand", D("44.25")),
        ("Léa Roux", D("0.00")),
        ("Paul Martin", D("9.00")),
    ]
    assert [(i.reference, i.net_eur, i.vat_eur, i.total_eur) for i in invoices] == [
        ("MURAT-000001", D("38.25"), D("0.00"), D("38.25")),
        ("YDES-000001", D("6.00"), D("1.20"), D("7.20")),
        ("YDES-000002", D("9.00"), D("1.80"), D("10.80")),
    ]
    anne = invoices[0]
    assert (anne.member_email, anne.member_address) == (
        "anne@example.fr",
        "4 rue du Lac\n15300 Murat",
    )
    assert anne.issuer["issuer"] == "Commune de Murat" and anne.issued_on == date(2026, 12, 2)
    assert anne.lines[0].hourly_eur == D("3.00")


def test_a_closed_month_survives_pseudonymisation_and_erasure(
    store: sessionmaker[Session],
) -> None:
    close(store, "2026-11", CLOSE_NOV)
    billing, invoices = snapshot(store, "2026-11")
    with store.begin() as session:
        issued = [invoice_files.issued_pdf(session, invoice) for invoice in invoices]
    pdf_text = pdftotext(issued[0])

    # Anne asks to be erased a few days later: within the accounting horizon, her lines and
    # invoices keep her name, as the law requires.
    with store.begin() as session:
        result = erase_member(session, "M001", actor="test", now=CLOSE_NOV + timedelta(days=3))
    assert (result.invoice_lines_scrubbed, result.invoice_lines_kept) == (0, 2)
    assert snapshot(store, "2026-11") == (billing, invoices)
    # Closing December then finds her vanished stays no correction to refund.
    assert close(store, "2026-12", CLOSE_DEC).adjustments == 0

    # Five years on, the retention pseudonymises 2026's sessions: the month's billing
    # worked out again would be empty; its records are not.
    with store.begin() as session:
        apply_retention(session, datetime(2032, 6, 1, tzinfo=UTC))
    with store() as session:
        assert queries.billing(session, "2026-11").lines == []
        assert session.scalar(select(PresenceSession.member_id).limit(1)) is None
    assert snapshot(store, "2026-11") == (billing, invoices)
    with store.begin() as session:
        # The same documents as issued, byte for byte.
        assert [invoice_files.issued_pdf(session, invoice) for invoice in invoices] == issued
    assert pdftotext(invoice_sheet.invoice_pdf(invoices[0])) == pdf_text

    # Paul is erased past the horizon (10 years): his name and e-mail go, his figures stay.
    with store.begin() as session:
        result = erase_member(session, "M002", actor="test", now=datetime(2037, 1, 5, tzinfo=UTC))
    assert (result.invoice_lines_scrubbed, result.invoice_lines_kept) == (1, 0)
    after, after_invoices = snapshot(store, "2026-11")
    paul = [line for line in after.lines if line.member_id == "M002"]
    assert [(row.member_name, row.amount_eur, row.invoice) for row in paul] == [
        ("[erased]", D("9.00"), "YDES-000002")
    ]
    assert after.total_eur == billing.total_eur
    assert [(i.reference, i.total_eur) for i in after_invoices] == [
        (i.reference, i.total_eur) for i in invoices
    ]
    with store.begin() as session:
        # Paul's invoice is made again without his name; Anne's, within the horizon, is not.
        again = [invoice_files.issued_pdf(session, invoice) for invoice in after_invoices]
    assert again[0] == issued[0] and again[2] != issued[2]
    assert "Paul Martin" not in pdftotext(again[2]) and "[erased]" in pdftotext(again[2])
    assert "9,00" in pdftotext(again[2])
    with store() as session:
        row = session.scalars(select(InvoiceRecord).where(InvoiceRecord.member_id == "M002")).one()
        assert (row.member_email, row.erased_at is not None) == (None, True)
        # Anne's lines are inside the horizon still: kept whole.
        assert {
            r.member_name
            for r in session.scalars(select(InvoiceRecord).where(InvoiceRecord.member_id == "M001"))
        } == {"Anne Durand"}


def test_a_late_correction_is_an_adjustment_in_the_next_month_closed(
    store: sessionmaker[Session],
) -> None:
    close(store, "2026-11", CLOSE_NOV)
    before = snapshot(store, "2026-11")
    with store.begin() as session:
        paul = session.scalars(
            select(PresenceSession).where(PresenceSession.member_id == "M002")
        ).one()
        # Paul stayed an hour longer than he badged: 4 h, not 3.
        correct_session(
            session,
            session_id=paul.id,
            start=paul.start,
            end=paul.start + timedelta(hours=4),
            reason="sortie non badgée",
            actor="user:amelie",
            now=CLOSE_NOV + timedelta(days=10),
        )
        anne = session.scalars(
            select(PresenceSession).where(
                PresenceSession.member_id == "M001", PresenceSession.site_id == "ydes"
            )
        ).one()
        # Anne's afternoon at Ydes was a mistake: 0 h.
        correct_session(
            session,
            session_id=anne.id,
            start=anne.start,
            end=anne.start,
            reason="badge prêté par erreur",
            actor="user:amelie",
            now=CLOSE_NOV + timedelta(days=10),
        )
        session.add(stay("M002", "ydes", "2026-12-08", "09:00", 1))
    # The closed month never changes.
    assert snapshot(store, "2026-11") == before
    with store() as session:
        pending = invoicing.pending_adjustments(session, CLOSE_DEC, 5)
    assert [(a.member_id, a.corrects, a.figures.amount_eur) for a in pending] == [
        ("M001", "2026-11", D("-6.00")),
        ("M002", "2026-11", D("3.00")),
    ]

    closed = close(store, "2026-12", CLOSE_DEC)
    assert (closed.lines, closed.adjustments, closed.invoices) == (1, 2, 2)
    december, invoices = snapshot(store, "2026-12")
    assert [
        (row.member_id, row.month, row.corrects, row.hours, row.amount_eur)
        for row in december.lines
    ] == [
        ("M001", "2026-11", "2026-11", D("-2"), D("-6.00")),
        ("M002", "2026-12", None, D("1"), D("3.00")),
        ("M002", "2026-11", "2026-11", D("1"), D("3.00")),
    ]
    assert [(i.reference, i.kind, i.total_eur) for i in invoices] == [
        ("YDES-000003", "credit_note", D("-7.20")),
        ("YDES-000004", "invoice", D("7.20")),
    ]
    # The spreadsheet's lines say which month an adjustment corrects, and its negative hours.
    spreadsheet = french_csv(billing_table(december, {"ydes": "Ydes"}, str)).decode("utf-8-sig")
    assert spreadsheet.splitlines()[1:4] == [
        "Anne Durand;M001;Ydes;11/2026;-2,00;0,00;-2,00;public;3,00;;-6,00;YDES-000003",
        "Paul Martin;M002;Ydes;11/2026;1,00;0,00;1,00;public;3,00;;3,00;YDES-000004",
        "Paul Martin;M002;Ydes;;1,00;0,00;1,00;public;3,00;;3,00;YDES-000004",
    ]  # by month, as the page lists them
    assert snapshot(store, "2026-11") == before
    # Corrected once: closing January finds nothing more to carry.
    assert close(store, "2027-01", datetime(2027, 2, 2, tzinfo=UTC)).adjustments == 0


def test_the_pdfs_are_made_in_the_background_then_handed_out_as_kept(
    store: sessionmaker[Session],
) -> None:
    close(store, "2026-11", CLOSE_NOV)
    made = invoice_files.make_missing(store, until=time.monotonic() + 120, stopping=lambda: False)
    assert made == 3
    with store() as session:
        kept = session.scalars(select(Invoice.document).order_by(Invoice.id)).all()
        invoices = invoicing.invoices(session, "2026-11")
    assert all(document and document.startswith(b"%PDF-") for document in kept)
    with store.begin() as session:
        assert [invoice_files.issued_pdf(session, invoice) for invoice in invoices] == kept
    assert (
        invoice_files.make_missing(store, until=time.monotonic() + 120, stopping=lambda: False) == 0
    )
    # A stopping hub leaves the rest for later.
    close(store, "2026-12", CLOSE_DEC)
    with store.begin() as session:
        session.execute(update(Invoice).values(document=None))
    assert (
        invoice_files.make_missing(store, until=time.monotonic() + 120, stopping=lambda: True) == 0
    )


def test_what_a_close_refuses(store: sessionmaker[Session]) -> None:
    with store.begin() as session:
        session.add(
            PresenceSession(member_id="M002", site_id="murat", start=at("2026-11-30", "17:00"))
        )
    with pytest.raises(invoicing.CannotClose, match="still open") as refused:
        close(store, "2026-11", CLOSE_NOV)
    assert [(row.member_id, row.site) for row in refused.value.blocking] == [("M002", "murat")]
    with store() as session:
        assert session.scalars(select(BillingMonth)).all() == []
        assert session.scalars(select(Invoice)).all() == []
        open_one = session.scalars(
            select(PresenceSession).where(PresenceSession.end.is_(None))
        ).one()
        open_one.end = open_one.start + timedelta(hours=1)
        session.commit()
    with pytest.raises(invoicing.CannotClose, match=r"2026-12 has not ended: .* from 2027-01-01"):
        close(store, "2026-12", datetime(2026, 12, 31, 22, 59, tzinfo=UTC))
    close(store, "2026-11", CLOSE_NOV)
    with pytest.raises(invoicing.CannotClose, match="already closed"):
        close(store, "2026-11", CLOSE_DEC)
    with pytest.raises(invoicing.CannotClose, match="close 2026-12 before 2027-01"):
        close(store, "2027-01", datetime(2027, 2, 2, tzinfo=UTC))
    with pytest.raises(invoicing.CannotClose, match="before 2026-11"):
        close(store, "2026-10", CLOSE_DEC)


def pdftotext(pdf: bytes) -> str:
    done = subprocess.run(
        ["pdftotext", "-layout", "-", "-"], input=pdf, capture_output=True, check=True, timeout=60
    )
    return done.stdout.decode().replace("\u202f", " ").replace("\xa0", " ")


def french_euros(amount: str) -> str:
    return invoice_sheet.euros(Decimal(amount)).replace("\u202f", " ").replace("\xa0", " ")


def test_the_factur_x_files_pass_the_packages_checks_and_say_what_the_api_says(
    store: sessionmaker[Session], console_app: Flask
) -> None:
    close(store, "2026-11", CLOSE_NOV)
    with store.begin() as session:
        token = api_tokens.add_token(session, "compta", "department", actor="test")
    api = (
        console_app.test_client()
        .get("/api/v1/billing?month=2026-11", headers={"Authorization": f"Bearer {token.secret}"})
        .get_json()
    )
    assert api["closed"] is True
    with store() as session:
        invoices = invoicing.invoices(session, "2026-11")
    with store.begin() as session:
        month = invoice_files.month_zip(session, invoices)
    archive = zipfile.ZipFile(io.BytesIO(month))
    assert sorted(archive.namelist()) == [
        "murat/MURAT-000001.pdf",
        "ydes/YDES-000001.pdf",
        "ydes/YDES-000002.pdf",
    ]
    for invoice in invoices:
        pdf = archive.read(f"{invoice.site}/{invoice.reference}.pdf")
        name, xml = facturx.get_xml_from_pdf(pdf, check_xsd=True)
        assert name == "factur-x.xml"
        assert facturx.xml_check_xsd(xml, flavor="factur-x", level="basic")
        assert facturx.get_level(etree.fromstring(xml)) == "basic"
        tree = etree.fromstring(xml)
        ns = {"ram": invoice_files._NS["ram"]}
        assert tree.findtext(".//ram:GrandTotalAmount", namespaces=ns) == str(invoice.total_eur)
        lines = [row for row in api["lines"] if row["invoice"] == invoice.reference]
        net = sum(Decimal(str(row["amount_eur"])) for row in lines)
        assert Decimal(tree.findtext(".//ram:TaxBasisTotalAmount", namespaces=ns)) == net

        text = pdftotext(pdf)
        assert f"Facture n° {invoice.reference}" in text
        for line in lines:
            assert line["member_name"] in text
            assert french_euros(str(line["amount_eur"])) in text
            assert invoice_sheet.hours(Decimal(str(line["hours"]))).replace("\u202f", " ") in text
        assert re.search(
            rf"Total (à payer|TTC)\s+{re.escape(french_euros(str(invoice.total_eur)))}", text
        )
        assert "du 1er novembre 2026 au 30 novembre 2026" in text
        assert str(invoice.issuer["siret"]) in text
    murat, ydes = (
        pdftotext(archive.read(n)) for n in ("murat/MURAT-000001.pdf", "ydes/YDES-000001.pdf")
    )
    assert "TVA non applicable, art. 293 B du CGI" in murat and "Commune de Murat" in murat
    assert "4 rue du Lac" in murat
    assert "TVA 20 %" in ydes and "Total HT" in ydes and "FR40783953201" in ydes


def pages_and_fonts(pdf: bytes) -> tuple[int, list[str]]:
    info = subprocess.run(["pdfinfo", "-"], input=pdf, capture_output=True, check=True, timeout=60)
    pages = int(re.search(rb"Pages:\s+(\d+)", info.stdout).group(1))  # type: ignore[union-attr]
    fonts = subprocess.run(
        ["pdffonts", "-"], input=pdf, capture_output=True, check=True, timeout=60
    ).stdout.decode()
    return pages, [row.split()[0] for row in fonts.splitlines()[2:] if " yes yes " in row]


def assert_pdf_a3(pdf: bytes) -> None:
    """What PDF/A-3b asks of these files beyond embedded fonts: the sRGB output intent its
    colours refer to, the XMP saying PDF/A-3B, a file identifier."""
    reader = PdfReader(io.BytesIO(pdf))
    root: Any = reader.trailer["/Root"]
    (intent,) = root["/OutputIntents"]
    assert intent["/S"] == "/GTS_PDFA1"
    assert intent["/DestOutputProfile"]["/N"] == 3
    xmp = root["/Metadata"].get_data()
    assert b"<pdfaid:part>3</pdfaid:part>" in xmp
    assert b"<pdfaid:conformance>B</pdfaid:conformance>" in xmp
    identifiers: Any = reader.trailer["/ID"]
    assert len(identifiers) == 2


def test_each_invoice_is_one_file_of_its_own_pages(store: sessionmaker[Session]) -> None:
    """Each Factur-X file is one invoice: its words, its pages only, its fonts embedded; a
    longer invoice runs over pages, each saying "page 2 / 3"."""
    close(store, "2026-11", CLOSE_NOV)
    with store() as session:
        invoices = invoicing.invoices(session, "2026-11")
    first = invoices[0]
    long = dataclasses.replace(first, lines=first.lines * 45)
    made = invoice_files.facturx_pdfs([*invoices, long])  # `long` has `first`'s id
    texts = []
    for invoice, (id_, pdf) in zip([*invoices, long], made, strict=True):
        assert id_ == invoice.id
        text = pdftotext(pdf)
        assert text == pdftotext(invoice_sheet.invoice_pdf(invoice))
        pages, fonts = pages_and_fonts(pdf)
        assert pages == (text.count(" · page ") if invoice is long else 1)
        assert sorted(font.split("+")[1] for font in fonts) == ["DejaVuSans", "DejaVuSans-Bold"]
        assert_pdf_a3(pdf)
        texts.append(text)
    assert [text.count("Facture n°") for text in texts] == [1, 1, 1, 1]
    assert [text.count(" · page ") for text in texts[:3]] == [1, 1, 1]
    assert all(other.reference not in texts[0] for other in invoices[1:])
    assert f"{first.reference} · page 1 / 1" in texts[0]
    pages = texts[-1].count(" · page ")
    assert pages > 2
    for sheet in texts[-1].split("\f")[:pages]:  # the table's header on each page of lines
        assert sheet.count("Désignation") == ("Espace de travail" in sheet)
    for page in range(1, pages + 1):
        assert f"{first.reference} · page {page} / {pages}" in texts[-1]
    # Every line, the note that goes with it, and the total once, after the last line.
    assert texts[-1].count("Espace de travail, La Cocotte") == len(long.lines)
    assert texts[-1].count("Total à payer") == 1


def test_a_month_made_by_worker_processes_is_kept_and_handed_out_as_made(
    store: sessionmaker[Session],
) -> None:
    close(store, "2026-11", CLOSE_NOV)
    with store() as session:
        invoices = invoicing.invoices(session, "2026-11")
        assert invoice_files.pdfs_made(session, "2026-11") == (0, 3)
        assert invoice_files.pdfs_made(session, "2026-11", sites=["ydes"]) == (0, 2)
    # One invoice per batch, more batches than processes: two worker processes make them.
    made = invoice_files.make_missing(
        store, until=time.monotonic() + 120, stopping=lambda: False, processes=2, batch=1
    )
    assert made == 3
    with store.begin() as session:
        assert invoice_files.pdfs_made(session, "2026-11") == (3, 3)
        kept = {
            id_: document or b""
            for id_, document in session.execute(select(Invoice.id, Invoice.document))
        }
        handed = invoice_files.issued_pdfs(session, invoices, processes=2, batch=1)
        archive = zipfile.ZipFile(io.BytesIO(invoice_files.month_zip(session, invoices)))
    assert handed == kept
    for invoice in invoices:
        assert archive.read(f"{invoice.site}/{invoice.reference}.pdf") == kept[invoice.id]
        assert f"Facture n° {invoice.reference}" in pdftotext(kept[invoice.id])


# --- Two processes closing at once (PostgreSQL) ----------------------------------------------

WORKER = """
import sys, time
from datetime import UTC, datetime
from pathlib import Path
from hub.reports import invoicing
from hub.store import make_engine, make_sessionmaker

url, go, ready, months = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4:]
sessions = make_sessionmaker(make_engine(url))
with sessions() as session:
    invoicing.last_closed(session)  # connected and imported: ready to race
ready.touch()
deadline = time.monotonic() + 60
while not go.exists() and time.monotonic() < deadline:
    time.sleep(0.005)
closed = []
for month in months:
    for _attempt in range(2000):
        try:
            with sessions.begin() as session:
                invoicing.close_month(
                    session, month, now=datetime(2027, 1, 5, tzinfo=UTC), actor=ready.name
                )
            closed.append(month)
            break
        except invoicing.CannotClose as refused:
            if "already closed" in str(refused):
                break
            if "in order" not in str(refused):
                raise
            time.sleep(0.002)
    else:
        raise SystemExit(f"{month}: never closed")
print(" ".join(closed))
"""


@pytest.mark.postgres
def test_two_processes_closing_at_once_leave_no_gap(postgres: Postgres, tmp_path: Path) -> None:
    url = postgres.create_database()
    try:
        migrate(url)
        engine = make_engine(url)
        sessions = make_sessionmaker(engine)
        months = [f"2026-{number:02d}" for number in range(1, 12)]
        with sessions.begin() as session:
            import_sites(session, SITES)
            rows = ["member_id,last_name,first_name,email,category,pass_since,pass_until,badges"]
            rows += [f"P{n:03d},Membre,N{n},,other,,," for n in range(12)]
            import_members(session, "\n".join(rows) + "\n")
            for month in months:
                for n in range(12):
                    site = "murat" if n % 3 else "ydes"
                    session.add(stay(f"P{n:03d}", site, f"{month}-1{n % 9}", "09:00", 1 + n % 4))
        go = tmp_path / "go"
        ready = [tmp_path / f"ready-{n}" for n in range(2)]
        workers = [
            subprocess.Popen(
                [sys.executable, "-c", WORKER, url, str(go), str(flag), *months],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for flag in ready
        ]
        deadline = time.monotonic() + 60
        while not all(flag.exists() for flag in ready) and time.monotonic() < deadline:
            time.sleep(0.01)
        go.touch()
        outputs = [worker.communicate(timeout=240) for worker in workers]
        assert [worker.returncode for worker in workers] == [0, 0], outputs
        closed_by = [out.split() for out, _err in outputs]
        assert sorted(closed_by[0] + closed_by[1]) == months  # each month closed once
        with sessions() as session:
            invoices = session.execute(
                select(Invoice.site_id, Invoice.number, Invoice.month).order_by(Invoice.id)
            ).all()
        engine.dispose()
        for site in ("murat", "ydes"):
            numbers = [number for s, number, _month in invoices if s == site]
            assert sorted(numbers) == list(range(1, len(numbers) + 1))  # no gap, no reuse
            in_order = [month for s, _number, month in sorted(invoices) if s == site]
            assert in_order == sorted(in_order)  # numbers follow the months
        assert len(invoices) == 12 * len(months)
    finally:
        postgres.drop_database(url)


# --- The console's billing page ----------------------------------------------------------------


def test_the_billing_page_closes_a_confirmed_month_and_an_animator_sees_its_sites(
    store: sessionmaker[Session], console_app: Flask
) -> None:
    add_user(store, "dora", "department")
    add_user(store, "marie", "animator", ["murat"])
    with store.begin() as session:
        session.add(
            PresenceSession(member_id="M002", site_id="murat", start=at("2026-11-30", "17:00"))
        )
    dora, marie = console_app.test_client(), console_app.test_client()
    assert client_sign_in(dora, "dora") == client_sign_in(marie, "marie") == 302

    page = dora.get("/reports/billing?month=2026-11").text
    assert "ouvert" in visible(page) and "Total pour Anne Durand" in visible(page)
    assert "44,25" in visible(page) and "Clore novembre 2026" in visible(page)
    token = csrf_token(page)
    unconfirmed = dora.post(
        "/reports/billing/close",
        data={"csrf_token": token, "month": "2026-11"},
        follow_redirects=True,
    )
    assert "Cochez la case pour confirmer la clôture." in visible(unconfirmed.text)
    confirmed = {"csrf_token": token, "month": "2026-11", "confirm": "y"}
    blocked = visible(
        dora.post("/reports/billing/close", data=confirmed, follow_redirects=True).text
    )
    assert "Séjours de novembre 2026 encore ouverts : 1. Clôturez-les d’abord." in blocked
    assert (
        "Encore ouvert : Paul Martin à La Cocotte Numérique depuis le 30/11/2026 17:00" in blocked
    )
    hers = {**confirmed, "csrf_token": csrf_token(marie.get("/sessions/new").text)}
    assert marie.post("/reports/billing/close", data=hers).status_code == 403

    with store.begin() as session:
        for row in session.scalars(select(PresenceSession).where(PresenceSession.end.is_(None))):
            row.end = row.start + timedelta(minutes=30)
    done = visible(dora.post("/reports/billing/close", data=confirmed, follow_redirects=True).text)
    assert "novembre 2026 est clos : 4 factures, 0 régularisations." in done
    assert "Clore" not in done and "MURAT-000001" in done

    seen = visible(marie.get("/reports/billing?month=2026-11").text)
    assert "Anne Durand" in seen and "Léa Roux" in seen and "clos" in seen
    assert "YDES" not in seen and "Maison des Services" not in seen
    assert marie.get("/reports/billing?month=2026-11&site=ydes").status_code == 404
    with store() as session:
        ids = {i.reference: i.id for i in invoicing.invoices(session, "2026-11")}
    mine = marie.get(f"/reports/billing/invoices/{ids['MURAT-000001']}.pdf")
    assert mine.status_code == 200 and mine.mimetype == "application/pdf"
    assert 'filename="MURAT-000001.pdf"' in mine.headers["Content-Disposition"]
    assert marie.get(f"/reports/billing/invoices/{ids['YDES-000001']}.pdf").status_code == 404
    archive = zipfile.ZipFile(
        io.BytesIO(marie.get("/reports/billing/invoices.zip?month=2026-11").data)
    )
    assert sorted(archive.namelist()) == ["murat/MURAT-000001.pdf", "murat/MURAT-000002.pdf"]
    everything = zipfile.ZipFile(
        io.BytesIO(dora.get("/reports/billing/invoices.zip?month=2026-11").data)
    )
    assert len(everything.namelist()) == 4
    assert dora.get("/reports/billing/invoices.zip?month=2026-10").status_code == 404


def test_a_month_is_closed_only_once_it_has_ended_in_paris(store: sessionmaker[Session]) -> None:
    """At 23:59:59 on 30 November in Paris the page offers no close, says from when it can
    be, and a close posted anyway is refused in words; a second after midnight, the close is
    offered and done. UTC's midnight, an hour later, plays no part."""
    now = [LAST_SECOND_OF_NOV]
    app = create_app(HubConfig(), sessionmaker=store, clock=lambda: now[0])
    add_user(store, "dora", "department")
    add_user(store, "marie", "animator", ["murat"])
    dora, marie = app.test_client(), app.test_client()
    assert client_sign_in(dora, "dora") == client_sign_in(marie, "marie") == 302

    page = visible(dora.get("/reports/billing?month=2026-11").text)
    assert "Clore novembre 2026" not in page
    assert "Il pourra être clos à partir du 1er décembre 2026, une fois terminé" in page
    assert "pourra être clos" not in visible(marie.get("/reports/billing?month=2026-11").text)
    confirmed = {
        "csrf_token": csrf_token(dora.get("/sessions/new").text),
        "month": "2026-11",
        "confirm": "y",
    }
    refused = visible(
        dora.post("/reports/billing/close", data=confirmed, follow_redirects=True).text
    )
    assert (
        "novembre 2026 n’est pas terminé : il ne pourra être clos qu’à partir du "
        "1er décembre 2026." in refused
    )
    with store() as session:
        assert session.scalars(select(BillingMonth)).all() == []
        assert session.scalars(select(Invoice)).all() == []

    now[0] = FIRST_SECOND_OF_DEC
    page = visible(dora.get("/reports/billing?month=2026-11").text)
    assert "Clore novembre 2026" in page and "pourra être clos" not in page
    done = visible(dora.post("/reports/billing/close", data=confirmed, follow_redirects=True).text)
    assert "novembre 2026 est clos : 3 factures, 0 régularisations." in done
    december = visible(dora.get("/reports/billing?month=2026-12").text)
    assert "Clore décembre 2026" not in december
    assert "Il pourra être clos à partir du 1er janvier 2027" in december


def test_the_billing_page_sums_up_the_month_by_site_and_says_why_billed_hours_differ(
    store: sessionmaker[Session],
) -> None:
    """The month's total once, at the top; a total per site with its billing step, which
    explains billed hours above the hours used (Anne's 3 × 4 h 10 billed 3 × 4 h 15); the
    month list runs from the first month with a stay, not years back."""
    with store.begin() as session:
        session.execute(update(Site).where(Site.id == "ydes").values(rounding_min=30))
        session.add(stay("M002", "ydes", "2026-11-25", "09:00", 1 + 5 / 60))  # 1.5 h billed
    app = create_app(HubConfig(), sessionmaker=store, clock=lambda: CLOSE_NOV)
    add_user(store, "dora", "department")
    dora = app.test_client()
    assert client_sign_in(dora, "dora") == 302
    html = dora.get("/reports/billing?month=2026-11").text
    page = visible(html)
    assert page.count("Total du mois") == 1
    assert page.index("Total du mois : 57,75 €") < page.index("Total pour Anne Durand")
    assert "chaque séjour est facturé arrondi au-dessus, au pas de facturation de son site" in page
    assert (
        "La Cocotte Numérique 15,50 h 3,00 h 12,75 h 15 min 38,25 € "
        "Maison des Services 6,08 h 0,00 h 6,50 h 30 min 19,50 €"
    ) in page
    months = re.findall(r'<option value="([0-9-]+)"', html)
    assert months == ["2026-12", "2026-11"]
    asked = dora.get("/reports/billing?month=2025-03").text
    assert re.findall(r'<option value="([0-9-]+)"', asked) == ["2026-12", "2026-11", "2025-03"]
    ydes = visible(dora.get("/reports/billing?month=2026-11&site=ydes").text)
    assert "La Cocotte Numérique 15,50 h" not in ydes and "Total du mois : 19,50 €" in ydes


def french_rows(data: bytes) -> list[dict[str, str]]:
    """A French spreadsheet's CSV read back: BOM, `;`, one dict per line by header."""
    assert data.startswith(b"\xef\xbb\xbf")
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))


def test_the_billing_lines_for_a_spreadsheet_name_people_and_sites_in_french(
    store: sessionmaker[Session], console_app: Flask
) -> None:
    """The page's main download: names, member numbers, French rates, decimal commas, the
    month's total last, a capped line's amount at the hourly rate (Paul's 6 h at Murat: 18 €
    capped at 15 € a day); a closed month's lines name their invoice. The programs' CSV
    stays."""
    with store.begin() as session:
        session.add(stay("M002", "murat", "2026-11-12", "09:00", 6))
    add_user(store, "dora", "department")
    add_user(store, "marie", "animator", ["murat"])
    dora, marie = console_app.test_client(), console_app.test_client()
    assert client_sign_in(dora, "dora") == client_sign_in(marie, "marie") == 302
    page = dora.get("/reports/billing?month=2026-11").text
    assert "Lignes de facture (CSV pour Excel)" in visible(page)
    assert "CSV pour les programmes (celui de l'API)" in visible(page)

    answer = dora.get("/reports/billing.fr.csv?month=2026-11")
    assert answer.mimetype == "text/csv"
    assert 'filename="facturation-2026-11.csv"' in answer.headers["Content-Disposition"]
    rows = french_rows(answer.data)
    assert list(rows[0]) == [
        "Membre", "Numéro de membre", "Site", "Régularisation de", "Heures",
        "Heures gratuites", "Heures facturées", "Tarif", "Tarif horaire (€)",
        "Au tarif horaire, avant plafond (€)", "Montant (€)",
    ]  # fmt: skip
    cells = [[row[name] for name in ("Membre", "Numéro de membre", "Site")] for row in rows]
    assert cells == [
        ["Anne Durand", "M001", "La Cocotte Numérique"],
        ["Anne Durand", "M001", "Maison des Services"],
        ["Léa Roux", "M003", "La Cocotte Numérique"],
        ["Paul Martin", "M002", "La Cocotte Numérique"],
        ["Paul Martin", "M002", "Maison des Services"],
        ["Total du mois", "", ""],
    ]
    anne = rows[0]
    assert (anne["Heures"], anne["Heures facturées"], anne["Tarif"]) == ("12,50", "12,75", "public")
    assert (anne["Tarif horaire (€)"], anne["Montant (€)"]) == ("3,00", "38,25")
    lea = rows[2]
    assert (lea["Heures gratuites"], lea["Tarif"], lea["Montant (€)"]) == (
        "3,00",
        "gratuit",
        "0,00",
    )
    assert anne["Au tarif horaire, avant plafond (€)"] == ""
    paul = rows[3]
    assert (paul["Au tarif horaire, avant plafond (€)"], paul["Montant (€)"]) == ("18,00", "15,00")
    assert rows[-1]["Montant (€)"] == "68,25" and rows[-1]["Heures"] == "26,50"
    programs = dora.get("/reports/billing.csv?month=2026-11").text
    assert programs.startswith("member_id,member_name,site,")

    close(store, "2026-11", CLOSE_NOV)
    closed = french_rows(dora.get("/reports/billing.fr.csv?month=2026-11").data)
    assert [row["Facture"] for row in closed] == [
        "MURAT-000001", "YDES-000001", "", "MURAT-000002", "YDES-000002", "",
    ]  # fmt: skip
    hers = french_rows(marie.get("/reports/billing.fr.csv?month=2026-11").data)
    assert {row["Site"] for row in hers} == {"La Cocotte Numérique", ""}
    assert hers[-1]["Montant (€)"] == "53,25"
    assert dora.get("/reports/billing.fr.csv?month=2026-13").status_code == 400


def test_a_line_says_why_its_amount_is_not_hours_times_rate(
    store: sessionmaker[Session], console_app: Flask
) -> None:
    """Paul's 6 h at Murat come to 18 € at 3 €/h, capped at 15 € a day; Léa's 3 h are her
    Pass's free hours: the page, and the PDF, say so on the line. The month picker speaks
    French whatever the browser's language, and the page says how many PDFs are made yet."""
    with store.begin() as session:
        session.add(stay("M002", "murat", "2026-11-12", "09:00", 6))
    add_user(store, "dora", "department")
    dora = console_app.test_client()
    assert client_sign_in(dora, "dora") == 302
    open_page = dora.get("/reports/billing?month=2026-11").text
    seen = visible(open_page)
    assert "15,00 € plafonné (18,00 € au tarif horaire)" in seen
    assert "dont 3,0 h offertes" in seen
    assert seen.count("plafonné") == 1 and seen.count("offertes") == 1
    assert 'type="month"' not in open_page
    assert re.search(r'<option value="2026-11" selected>novembre 2026</option>', open_page)

    close(store, "2026-11", CLOSE_NOV)
    closed_page = visible(dora.get("/reports/billing?month=2026-11").text)
    assert "15,00 € plafonné (18,00 € au tarif horaire)" in closed_page
    assert "Factures PDF prêtes : 0 sur 4." in closed_page
    with store.begin() as session:
        paul = next(
            invoice
            for invoice in invoicing.invoices(session, "2026-11")
            if invoice.member_id == "M002" and invoice.site == "murat"
        )
        text = pdftotext(invoice_files.issued_pdf(session, paul))
    # In the line's first column, under its label (wrapped there: one space per break).
    assert "plafonné à 15,00 € (18,00 € au tarif horaire)" in " ".join(text.split())
    assert "Factures PDF prêtes : 1 sur 4." in visible(
        dora.get("/reports/billing?month=2026-11").text
    )
