"""Invoices that carry what French law asks of them (docs/rules.md, Invoices), on SQLite and
PostgreSQL: the issuer's legal identity in the sites file (SIRET and VAT number checked, bad
ones named by line and field), on the sites page and its form; the member's address on their
form; the invoice's PDF and Factur-X XML naming seller and buyer with their addresses; a
month whose issuing sites lack their identity refused, on the billing page before the close
and by the close itself, with nothing written."""

from __future__ import annotations

from pathlib import Path

import facturx
import pytest
import yaml
from flask import Flask
from lxml import etree
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from hub.cli.main import main
from hub.console.forms.sites import form_values
from hub.people.imports import InvalidFile, import_members, import_sites, site_entry
from hub.reports import invoice_files, invoicing
from hub.store.models import BillingMonth, Invoice, InvoiceRecord, Member, Site
from tests.console import add_user, client_sign_in, csrf_token
from tests.integration.test_console_french import visible
from tests.integration.test_invoicing import CLOSE_NOV, MEMBERS, SITES, pdftotext, stay

#: Ydes as a file written before issuers had an identity: a VAT rate and a prefix only.
BARE_YDES = SITES.replace(
    """    invoicing: {issuer: Association Ydes Numérique, address: "1 place de la Mairie",
                postcode: "15210", town: Ydes, siret: "78395320100010",
                vat_number: FR40783953201, vat_rate: 20, prefix: YDES}
""",
    """    invoicing: {vat_rate: 20, prefix: YDES}
  - id: mauriac
    name: Télécentre de la médiathèque
    spaces: [{id: bureau, kind: office, positions: 2}]
""",
)
NS = {"ram": invoice_files._NS["ram"]}


def count(sessions: sessionmaker[Session], model: type[object]) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


@pytest.fixture
def november(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    """November 2026 at Murat (complete issuer) and Ydes (`BARE_YDES`); Mauriac, bare too,
    bills nothing. Anne has an address, Paul none."""
    assert BARE_YDES != SITES
    with sessions.begin() as session:
        import_sites(session, BARE_YDES)
        import_members(session, MEMBERS)
        session.add(stay("M001", "murat", "2026-11-03", "09:00", 4))
        session.add(stay("M002", "ydes", "2026-11-24", "09:00", 3))
    return sessions


def test_the_sites_file_names_each_bad_number_by_line_and_field_and_writes_nothing(
    sessions: sessionmaker[Session],
) -> None:
    bad = (
        SITES.replace('siret: "21150138200017"', 'siret: "21150138200019"')
        .replace('postcode: "15300"', 'postcode: "1530"')
        .replace("vat_number: FR40783953201", "vat_number: FR41783953201")
    )
    with pytest.raises(InvalidFile) as refused, sessions.begin() as session:
        import_sites(session, bad)
    assert [str(problem) for problem in refused.value.problems] == [
        "line 9, field 'invoicing.postcode': '1530' is not a French postcode (5 digits)",
        "line 11, field 'invoicing.siret': '21150138200019' is not a SIRET: its last digit "
        "is wrong (Luhn key)",
        "line 19, field 'invoicing.vat_number': 'FR41783953201' is not a VAT number: its key "
        "41 does not match its SIREN 783953201",
    ]
    assert count(sessions, Site) == 0
    spaced = SITES.replace('siret: "21150138200017"', 'siret: "211 501 382 00017"')
    with sessions.begin() as session:
        import_sites(session, spaced)
    with sessions() as session:
        murat = session.get(Site, "murat")
        assert murat is not None
        assert murat.invoicing["siret"] == "21150138200017"
        assert (murat.invoicing["postcode"], murat.invoicing["town"]) == ("15300", "Murat")


def test_a_month_is_not_closed_while_a_site_that_bills_lacks_its_identity(
    november: sessionmaker[Session],
) -> None:
    refusal = pytest.raises(invoicing.CannotClose, match="lack their legal identity: 1")
    with refusal as refused, november.begin() as session:
        invoicing.close_month(session, "2026-11", now=CLOSE_NOV, actor="test")
    # Mauriac lacks it too, but issues nothing this month.
    assert refused.value.gaps == [
        invoicing.IssuerGap("ydes", ("issuer", "address", "postcode", "town", "siret"))
    ]
    assert count(november, BillingMonth) == count(november, Invoice) == 0
    assert count(november, InvoiceRecord) == 0
    with november.begin() as session:
        import_sites(session, SITES)
    with november.begin() as session:
        closed = invoicing.close_month(session, "2026-11", now=CLOSE_NOV, actor="test")
    assert closed.invoices == 2
    with november() as session:
        ydes = next(i for i in invoicing.invoices(session, "2026-11") if i.site == "ydes")
    assert ydes.reference == "YDES-000001" and ydes.issuer["siret"] == "78395320100010"


def _party(tree: etree._Element, role: str) -> dict[str, str | None]:
    party = tree.find(f".//ram:{role}", NS)
    assert party is not None
    found: dict[str, str | None] = {
        tag: party.findtext(f"ram:PostalTradeAddress/ram:{tag}", namespaces=NS)
        for tag in ("PostcodeCode", "LineOne", "LineTwo", "CityName", "CountryID")
    }
    legal_id = party.find("ram:SpecifiedLegalOrganization/ram:ID", NS)
    found["legal"] = None if legal_id is None else f"{legal_id.get('schemeID')}:{legal_id.text}"
    vat = party.find("ram:SpecifiedTaxRegistration/ram:ID", NS)
    found["vat"] = None if vat is None else f"{vat.get('schemeID')}:{vat.text}"
    return found


def test_the_invoice_names_seller_and_buyer_with_their_addresses(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        import_sites(session, SITES)
        import_members(session, MEMBERS)
        session.add(stay("M001", "murat", "2026-11-03", "09:00", 4))
        session.add(stay("M002", "ydes", "2026-11-24", "09:00", 3))
    with sessions.begin() as session:
        invoicing.close_month(session, "2026-11", now=CLOSE_NOV, actor="test")
    with sessions() as session:
        anne, paul = invoicing.invoices(session, "2026-11")
    with sessions.begin() as session:
        pdfs = invoice_files.issued_pdfs(session, [anne, paul])

    text = pdftotext(pdfs[anne.id])
    for words in (
        "Commune de Murat",
        "Place de l'Hôtel de Ville",
        "15300 Murat",
        "SIRET 21150138200017",
        "4 rue du Lac",
        "TVA non applicable, art. 293 B du CGI",
    ):
        assert words in text, words
    _name, xml = facturx.get_xml_from_pdf(pdfs[anne.id], check_xsd=True)
    assert facturx.xml_check_xsd(xml, flavor="factur-x", level="basic")
    tree = etree.fromstring(xml)
    assert _party(tree, "SellerTradeParty") == {
        "PostcodeCode": "15300",
        "LineOne": "Place de l'Hôtel de Ville",
        "LineTwo": None,
        "CityName": "Murat",
        "CountryID": "FR",
        "legal": "0002:21150138200017",
        "vat": None,
    }
    assert _party(tree, "BuyerTradeParty") == {
        "PostcodeCode": "15300",
        "LineOne": "4 rue du Lac",
        "LineTwo": None,
        "CityName": "Murat",
        "CountryID": "FR",
        "legal": None,
        "vat": None,
    }

    text = pdftotext(pdfs[paul.id])
    assert "Association Ydes Numérique" in text and "15210 Ydes" in text
    assert "N° TVA intracommunautaire FR40783953201" in text
    _name, xml = facturx.get_xml_from_pdf(pdfs[paul.id], check_xsd=True)
    tree = etree.fromstring(xml)
    assert _party(tree, "SellerTradeParty")["vat"] == "VA:FR40783953201"
    # Paul gave no address: his name and e-mail, the country alone in the XML.
    assert "paul@example.fr" in text
    assert _party(tree, "BuyerTradeParty") == {
        "PostcodeCode": None,
        "LineOne": None,
        "LineTwo": None,
        "CityName": None,
        "CountryID": "FR",
        "legal": None,
        "vat": None,
    }


def test_the_billing_page_says_what_a_close_would_lack_and_the_close_refuses(
    november: sessionmaker[Session], console_app: Flask
) -> None:
    add_user(november, "dora", "department")
    dora = console_app.test_client()
    assert client_sign_in(dora, "dora") == 302
    page = dora.get("/reports/billing?month=2026-11").text
    shown = visible(page)
    assert "Ce mois ne peut pas encore être clos" in shown
    assert (
        "Maison des Services — à compléter : raison sociale, adresse (rue), code postal, "
        "commune, SIRET" in shown
    )
    assert "médiathèque —" not in shown  # bills nothing this month
    assert "1 membre recevrait une facture sans adresse postale : Paul Martin" in shown
    assert 'href="/members/M002"' in page
    assert "Clore novembre 2026" not in shown
    assert 'href="/sites/ydes#issuer"' in page

    confirmed = {"csrf_token": csrf_token(page), "month": "2026-11", "confirm": "y"}
    refused = visible(
        dora.post("/reports/billing/close", data=confirmed, follow_redirects=True).text
    )
    assert "Sites qui émettraient des factures sans leur identité légale : 1." in refused
    assert "Maison des Services, à compléter : raison sociale, adresse (rue)" in refused
    assert count(november, BillingMonth) == 0


def test_the_site_form_takes_the_issuer_and_the_sites_page_shows_it(
    november: sessionmaker[Session], console_app: Flask
) -> None:
    add_user(november, "dora", "department")
    dora = console_app.test_client()
    assert client_sign_in(dora, "dora") == 302
    listed = visible(dora.get("/sites/").text)
    assert "Commune de Murat SIRET 21150138200017" in listed
    assert "à compléter : raison sociale, adresse (rue), code postal, commune, SIRET" in listed

    page = dora.get("/sites/ydes").text
    assert "Qui émet les factures" in visible(page)
    with november() as session:
        ydes = session.get(Site, "ydes")
        assert ydes is not None
        fields = form_values(site_entry(ydes))
    identity = {
        "invoicing-issuer": "Commune d'Ydes",
        "invoicing-address": "Maison des Services\r\n2 rue de la Mairie",
        "invoicing-postcode": "15210",
        "invoicing-town": "Ydes",
        "invoicing-siret": "21152650400019",
    }
    wrong = dora.post("/sites/ydes", data={**fields, **identity, "csrf_token": csrf_token(page)})
    assert wrong.status_code == 200
    said = visible(wrong.text)
    assert "Rien n’a été enregistré" in said or "Rien n'a été enregistré" in said
    assert "Ce n'est pas un SIRET : 14 chiffres" in said
    with november() as session:
        assert "siret" not in (session.get(Site, "ydes") or Site()).invoicing

    identity["invoicing-siret"] = "211 526 504 00017"
    saved = dora.post(
        "/sites/ydes",
        data={**fields, **identity, "csrf_token": csrf_token(page)},
        follow_redirects=True,
    )
    assert "Commune d'Ydes SIRET 21152650400017" in visible(saved.text)
    with november() as session:
        stored = (session.get(Site, "ydes") or Site()).invoicing
    assert stored == {
        "issuer": "Commune d'Ydes",
        "address": "Maison des Services\n2 rue de la Mairie",
        "postcode": "15210",
        "town": "Ydes",
        "siret": "21152650400017",
        "vat_rate": 20.0,
        "prefix": "YDES",
    }


def test_a_members_address_is_given_on_their_form(
    november: sessionmaker[Session], console_app: Flask
) -> None:
    add_user(november, "dora", "department")
    dora = console_app.test_client()
    assert client_sign_in(dora, "dora") == 302
    page = dora.get("/members/M002").text
    assert "Adresse postale (facultative)" in visible(page)
    fields = {
        "csrf_token": csrf_token(page),
        "member_id": "M002",
        "last_name": "Martin",
        "first_name": "Paul",
        "email": "paul@example.fr",
        "category": "employee",
        "pass_since": "",
        "pass_until": "",
        "address": "12 route de Salers\r\n15210 Ydes",
    }
    assert dora.post("/members/M002", data=fields).status_code == 302
    with november() as session:
        paul = session.get(Member, "M002")
        assert paul is not None and paul.address == "12 route de Salers\n15210 Ydes"
    assert "12 route de Salers" in dora.get("/members/M002").text
    shown = visible(dora.get("/reports/billing?month=2026-11").text)
    assert "sans adresse postale" not in shown


def test_the_command_names_the_sites_and_keys_missing(
    november: sessionmaker[Session],
    db_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = tmp_path / "hub.yaml"
    config.write_text(yaml.safe_dump({"database": {"url": db_url}}))
    assert main(["--config", str(config), "billing", "close", "2026-11"]) == 1
    said = capsys.readouterr()
    assert "lack their legal identity: 1" in said.err
    assert (
        "  site ydes: missing invoicing.issuer, invoicing.address, invoicing.postcode, "
        "invoicing.town, invoicing.siret (sites file or the console's sites page)" in said.out
    )
    assert count(november, BillingMonth) == 0
