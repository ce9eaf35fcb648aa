"""An invoice as files: its printed page (`hub.reports.invoice_sheet`) made Factur-X
(PDF/A-3 carrying its EN 16931 CII XML, BASIC profile, built and checked against the XSD by
the `factur-x` package), a month's invoices made by worker processes and kept as issued, and
a month's invoices as one zip.
"""

from __future__ import annotations

import io
import os
import time
import zipfile
from collections.abc import Callable, Collection, Generator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from datetime import date
from decimal import Decimal
from multiprocessing import get_context
from typing import Any, cast

import facturx
from lxml import etree
from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from hub.reports import invoicing
from hub.reports.invoice_sheet import (
    invoice_pdf,
    issuer_address,
    line_label,
    month_words,
    title,
)
from hub.reports.invoicing import StoredInvoice
from hub.reports.queries import month_bounds
from hub.rules import legal
from hub.store.models import Invoice

# --- Factur-X (EN 16931 CII, BASIC profile) ---------------------------------------------------

_NS = {
    "rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
    "qdt": "urn:un:unece:uncefact:data:standard:QualifiedDataType:100",
    "udt": "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100",
}
BASIC = "urn:cen.eu:en16931:2017#compliant#urn:factur-x.eu:1p0:basic"
#: The VATEX code of the French small businesses' franchise (art. 293 B du CGI).
FRANCHISE_CODE = "VATEX-FR-FRANCHISE"


def _el(parent: Any, name: str, text: str | None = None, **attributes: str) -> Any:
    prefix, local = name.split(":")
    element = etree.SubElement(parent, f"{{{_NS[prefix]}}}{local}", attributes)
    if text is not None:
        element.text = text
    return element


def _day(parent: Any, name: str, day: date) -> None:
    _el(_el(parent, name), "udt:DateTimeString", day.strftime("%Y%m%d"), format="102")


def _money(amount: Decimal) -> str:
    return f"{amount:.2f}"


def _party(
    parent: Any, name: str, who: str, address: legal.PostalParts, ids: Mapping[str, str]
) -> None:
    party = _el(parent, name)
    _el(party, "ram:Name", who)
    if "siret" in ids:
        # EN 16931 BT-30: the seller's legal registration; 0002 is INSEE's SIRENE scheme
        # (ISO 6523), which the French profile wants for a SIREN or a SIRET.
        _el(_el(party, "ram:SpecifiedLegalOrganization"), "ram:ID", ids["siret"], schemeID="0002")
    postal = _el(party, "ram:PostalTradeAddress")
    if address.postcode:
        _el(postal, "ram:PostcodeCode", address.postcode)
    # Three lines at most: what a fourth would say goes on the third.
    lines = [*address.lines[:2], " ".join(address.lines[2:])] if address.lines else []
    for tag, line in zip(("ram:LineOne", "ram:LineTwo", "ram:LineThree"), lines, strict=False):
        if line:
            _el(postal, tag, " ".join(line.split()))
    if address.town:
        _el(postal, "ram:CityName", address.town)
    _el(postal, "ram:CountryID", "FR")
    if "vat_number" in ids:
        _el(_el(party, "ram:SpecifiedTaxRegistration"), "ram:ID", ids["vat_number"], schemeID="VA")


def _tax(parent: Any, invoice: StoredInvoice, basis: Decimal | None, tax: Decimal | None) -> None:
    """A VAT breakdown; on a line (`basis` None) only the category and the rate."""
    node = _el(parent, "ram:ApplicableTradeTax")
    if tax is not None:
        _el(node, "ram:CalculatedAmount", _money(tax))
    _el(node, "ram:TypeCode", "VAT")
    exempt = invoice.vat_rate is None
    if exempt and basis is not None:
        _el(node, "ram:ExemptionReason", str(invoice.issuer.get("vat_exemption")))
    if basis is not None:
        _el(node, "ram:BasisAmount", _money(basis))
    _el(node, "ram:CategoryCode", "E" if exempt else "S")
    if exempt and basis is not None:
        _el(node, "ram:ExemptionReasonCode", FRANCHISE_CODE)
    _el(node, "ram:RateApplicablePercent", "0" if exempt else str(invoice.vat_rate))


def facturx_xml(invoice: StoredInvoice) -> bytes:
    """The invoice's CII XML. A credit note (381) states its amounts as positive sums to
    refund, as EN 16931 wants; an adjustment line that lowers an invoice is a quantity of
    -1 at a positive price (BR-27: no negative price)."""
    sign = Decimal(-1) if invoice.kind == "credit_note" else Decimal(1)
    root = etree.Element(f"{{{_NS['rsm']}}}CrossIndustryInvoice", nsmap=_NS)
    context = _el(root, "rsm:ExchangedDocumentContext")
    _el(_el(context, "ram:GuidelineSpecifiedDocumentContextParameter"), "ram:ID", BASIC)
    document = _el(root, "rsm:ExchangedDocument")
    _el(document, "ram:ID", invoice.reference)
    _el(document, "ram:TypeCode", "381" if invoice.kind == "credit_note" else "380")
    _day(document, "ram:IssueDateTime", invoice.issued_on)
    if invoice.vat_rate is None:
        _el(_el(document, "ram:IncludedNote"), "ram:Content", str(invoice.issuer["vat_exemption"]))
    transaction = _el(root, "rsm:SupplyChainTradeTransaction")
    site_name = str(invoice.issuer.get("site_name") or invoice.site)
    for number, line in enumerate(invoice.lines, start=1):
        amount = line.amount_eur * sign
        item = _el(transaction, "ram:IncludedSupplyChainTradeLineItem")
        _el(_el(item, "ram:AssociatedDocumentLineDocument"), "ram:LineID", str(number))
        _el(_el(item, "ram:SpecifiedTradeProduct"), "ram:Name", line_label(line, site_name))
        price = _el(_el(item, "ram:SpecifiedLineTradeAgreement"), "ram:NetPriceProductTradePrice")
        _el(price, "ram:ChargeAmount", _money(abs(amount)))
        delivery = _el(item, "ram:SpecifiedLineTradeDelivery")
        _el(delivery, "ram:BilledQuantity", "-1" if amount < 0 else "1", unitCode="C62")
        settlement = _el(item, "ram:SpecifiedLineTradeSettlement")
        _tax(settlement, invoice, None, None)
        summation = _el(settlement, "ram:SpecifiedTradeSettlementLineMonetarySummation")
        _el(summation, "ram:LineTotalAmount", _money(amount))
    agreement = _el(transaction, "ram:ApplicableHeaderTradeAgreement")
    issuer = invoice.issuer
    seller_ids = {key: str(issuer[key]) for key in ("siret", "vat_number") if issuer.get(key)}
    _party(
        agreement,
        "ram:SellerTradeParty",
        str(issuer.get("issuer")),
        issuer_address(issuer),
        seller_ids,
    )
    buyer_address = legal.postal_parts(invoice.member_address)
    _party(agreement, "ram:BuyerTradeParty", invoice.member_name, buyer_address, {})
    _el(transaction, "ram:ApplicableHeaderTradeDelivery")
    settlement = _el(transaction, "ram:ApplicableHeaderTradeSettlement")
    _el(settlement, "ram:InvoiceCurrencyCode", "EUR")
    net, tax, total = invoice.net_eur * sign, invoice.vat_eur * sign, invoice.total_eur * sign
    _tax(settlement, invoice, net, tax)
    first, last = month_bounds(invoice.month)
    period = _el(settlement, "ram:BillingSpecifiedPeriod")
    _day(period, "ram:StartDateTime", first)
    _day(period, "ram:EndDateTime", last)
    if issuer.get("payment"):
        terms = _el(settlement, "ram:SpecifiedTradePaymentTerms")
        _el(terms, "ram:Description", str(issuer["payment"]))
    sums = _el(settlement, "ram:SpecifiedTradeSettlementHeaderMonetarySummation")
    _el(sums, "ram:LineTotalAmount", _money(net))
    _el(sums, "ram:TaxBasisTotalAmount", _money(net))
    _el(sums, "ram:TaxTotalAmount", _money(tax), currencyID="EUR")
    _el(sums, "ram:GrandTotalAmount", _money(total))
    _el(sums, "ram:DuePayableAmount", _money(total))
    xml: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    return xml


class _Rewritten(io.BytesIO):
    """The printed PDF that `facturx.generate_from_file` reads, then writes its result into:
    from the start, where its `generate_from_binary` would append it to the PDF read (in a
    temporary file), the file twice as long."""

    def __init__(self, pdf: bytes) -> None:
        super().__init__(pdf)
        self.rewriting = False

    def write(self, data: Any, /) -> int:
        if not self.rewriting:
            self.rewriting = True
            self.seek(0)
            self.truncate()
        return super().write(data)


def _facturx(invoice: StoredInvoice, pdf: bytes) -> bytes:
    """The invoice's PDF with its XML inside, checked against the Factur-X BASIC XSD."""
    issuer = invoice.issuer
    document = _Rewritten(pdf)
    facturx.generate_from_file(
        document,
        facturx_xml(invoice),
        flavor="factur-x",
        level="basic",
        check_xsd=True,
        lang="fr-FR",
        pdf_metadata={
            "author": str(issuer.get("issuer")),
            "keywords": "Factur-X, facture",
            "title": f"{title(invoice)} {invoice.reference}",
            "subject": f"{title(invoice)} {invoice.reference} de {month_words(invoice.month)}",
        },
    )
    return document.getvalue()


def facturx_pdf(invoice: StoredInvoice) -> bytes:
    """One invoice as Factur-X: its printed page with its XML inside."""
    return _facturx(invoice, invoice_pdf(invoice))


def facturx_pdfs(invoices: Sequence[StoredInvoice]) -> list[tuple[int, bytes]]:
    """The invoices' Factur-X PDFs, by invoice id (a worker process's batch)."""
    return [(one.id, facturx_pdf(one)) for one in invoices]


def file_name(invoice: StoredInvoice) -> str:
    return f"{invoice.reference}.pdf"


# --- Making many, keeping them as issued ------------------------------------------------------

#: Invoices a worker process makes at a time (about half a second's work): few enough that it
#: hands its PDFs back often (progress, and a stopping hub is not kept waiting).
BATCH = 40


def cores() -> int:
    """The cores this process may run on: the worker processes that make a month's PDFs."""
    return len(os.sched_getaffinity(0))


def made(
    invoices: Sequence[StoredInvoice], *, processes: int | None = None, batch: int = BATCH
) -> Generator[list[tuple[int, bytes]]]:
    """The invoices' Factur-X PDFs, `batch` at a time, in order. reportlab and pypdf are
    pure Python (one core per process): more than a batch per process is shared among
    `processes` worker processes (default: `cores()`), started afresh ("spawn": the hub's
    threads are not copied into them; about a second of imports each, hence not for less)
    and stopped when the caller stops reading."""
    processes = processes or cores()
    batches = [list(invoices[at : at + batch]) for at in range(0, len(invoices), batch)]
    if processes == 1 or len(invoices) <= batch * processes:
        yield from map(facturx_pdfs, batches)
        return
    pool = ProcessPoolExecutor(max_workers=processes, mp_context=get_context("spawn"))
    try:
        yield from pool.map(facturx_pdfs, batches)
    finally:
        pool.shutdown(cancel_futures=True)


def _kept(session: Session, ids: Collection[int]) -> dict[int, bytes]:
    ordered = sorted(ids)
    found: dict[int, bytes] = {}
    for at in range(0, len(ordered), 500):
        rows = session.execute(
            select(Invoice.id, Invoice.document).where(
                Invoice.id.in_(ordered[at : at + 500]), Invoice.document.is_not(None)
            )
        )
        found.update((id_, document) for id_, document in rows if document is not None)
    return found


def _keep(session: Session, documents: list[tuple[int, bytes]]) -> None:
    """Keep each document whose invoice has none yet: a stored one is never replaced."""
    table = cast(Table, Invoice.__table__)
    session.execute(
        update(table)
        .where(table.c.id == bindparam("kept_id"), table.c.document.is_(None))
        .values(document=bindparam("kept_document")),
        [{"kept_id": id_, "kept_document": document} for id_, document in documents],
    )


def issued_pdfs(
    session: Session,
    invoices: Sequence[StoredInvoice],
    *,
    processes: int | None = None,
    batch: int = BATCH,
) -> dict[int, bytes]:
    """The invoices' Factur-X PDFs as issued, by invoice id: those kept, and the others made
    now (`made`) and kept in the caller's transaction, so that every later download is the
    same document. Two processes may both make one invoice's PDF; the first kept is the one
    handed out."""
    kept = _kept(session, [one.id for one in invoices])
    missing = [one for one in invoices if one.id not in kept]
    for documents in made(missing, processes=processes, batch=batch):
        _keep(session, documents)
    if missing:
        kept.update(_kept(session, [one.id for one in missing]))
    return kept


def issued_pdf(session: Session, invoice: StoredInvoice) -> bytes:
    """One invoice's Factur-X PDF as issued (`issued_pdfs`)."""
    return issued_pdfs(session, [invoice])[invoice.id]


def pdfs_made(
    session: Session, month: str, *, sites: Collection[str] | None = None
) -> tuple[int, int]:
    """How many of a closed month's invoices have their PDF made and kept, out of how many."""
    query = select(
        func.count(Invoice.id).filter(Invoice.document.is_not(None)), func.count(Invoice.id)
    ).where(Invoice.month == month)
    if sites is not None:
        query = query.where(Invoice.site_id.in_(sites))
    made_count, total = session.execute(query).one()
    return int(made_count), int(total)


def make_missing(
    sessions: sessionmaker[Session],
    *,
    until: float,
    stopping: Callable[[], bool],
    processes: int | None = None,
    batch: int = BATCH,
) -> int:
    """Make and keep the PDF of every invoice that has none yet, oldest month first, a batch
    per transaction, until `time.monotonic()` reaches `until` or `stopping()`; how many.

    The hub runs it in the background after each close: a month of 2,000 members takes a
    few seconds on every core, which its first zip would otherwise wait for."""
    if stopping():
        return 0
    with sessions() as session:
        waiting = set(session.scalars(select(Invoice.id).where(Invoice.document.is_(None))))
        months = session.scalars(
            select(Invoice.month)
            .where(Invoice.document.is_(None))
            .distinct()
            .order_by(Invoice.month)
        ).all()
    count = 0
    for month in months:
        with sessions() as session:
            found = [one for one in invoicing.invoices(session, month) if one.id in waiting]
        batches = made(found, processes=processes, batch=batch)
        try:
            for documents in batches:
                with sessions.begin() as session:
                    _keep(session, documents)
                count += len(documents)
                if time.monotonic() >= until or stopping():
                    return count
        finally:
            batches.close()
    return count


def month_zip(
    session: Session, invoices: Sequence[StoredInvoice], *, processes: int | None = None
) -> bytes:
    """Every invoice given, as issued (`issued_pdfs`), in one zip (one folder per site)."""
    documents = issued_pdfs(session, invoices, processes=processes)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for one in invoices:
            archive.writestr(f"{one.site}/{file_name(one)}", documents[one.id])
    return buffer.getvalue()
