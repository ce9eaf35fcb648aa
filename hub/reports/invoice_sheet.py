"""An invoice as a reader sees it: its French words and its printed page, drawn with
reportlab's canvas (a few milliseconds a page, where laying out HTML took ~75 ms) in the
DejaVu fonts shipped in `hub/reports/fonts`, with the sRGB output intent PDF/A asks for
(`hub/reports/colour`): `hub.reports.invoice_files` makes it Factur-X.

The page is laid out first (every block measured, rows spread over as many pages as they
need, the table's header repeated on each), then drawn, so that each footer can say
"page 2 / 3". Invoices are French legal documents: their words are French whatever the
console's language, and their figures are the stored ones, never worked out again.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import ClassVar

from babel.dates import format_date
from babel.numbers import format_currency, format_decimal
from reportlab.lib.colors import HexColor
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm as _mm
from reportlab.lib.utils import simpleSplit
from reportlab.pdfbase.pdfdoc import (
    PDFArray,
    PDFCatalog,
    PDFDictionary,
    PDFName,
    PDFStream,
    PDFString,
)
from reportlab.pdfbase.pdfmetrics import registerFont, stringWidth
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

from hub.reports.invoicing import StoredInvoice, StoredLine
from hub.reports.queries import month_bounds
from hub.rules import legal

_HERE = Path(__file__).parent
FONTS = _HERE / "fonts"
SRGB = _HERE / "colour" / "sRGB2014.icc"
REGULAR, BOLD = "DejaVuSans", "DejaVuSans-Bold"

RATE_WORDS = {
    "public": "tarif public",
    "pass": "tarif Pass Actifs Mobiles",
    "free": "gratuit (six premiers mois du Pass)",
    "mixed": "tarifs public et Pass",
}
CLOSING_WORDS = (
    "Heures facturées arrondies au pas de facturation du télécentre ; montants plafonnés "
    "par jour et par mois selon ses tarifs."
)


def euros(amount: Decimal) -> str:
    """1 234,50 € as French readers write it."""
    return str(format_currency(amount, "EUR", locale="fr_FR"))


def hours(amount: Decimal) -> str:
    return f"{format_decimal(amount, '#,##0.00', locale='fr_FR')} h"


def month_words(month: str) -> str:
    first, _last = month_bounds(month)
    return str(format_date(first, "LLLL yyyy", locale="fr_FR"))


def day_words(day: date, pattern: str = "d MMMM yyyy", locale: str = "fr_FR") -> str:
    """2 décembre 2026; the first of a month is written 1er, as in French (the invoices, and
    the evaluation in the console's language: `pattern` starts with the day)."""
    words = str(format_date(day, pattern, locale=locale))
    french = locale.split("_")[0] == "fr"
    return "1er" + words[1:] if french and day.day == 1 else words


def issuer_address(issuer: Mapping[str, object]) -> legal.PostalParts:
    """The issuer's address as copied onto the invoice (one text before postcodes and towns
    had fields of their own: its last line is read for them)."""

    def text(key: str) -> str | None:
        value = issuer.get(key)
        return None if value is None else str(value)

    return legal.postal_parts(text("address"), text("postcode"), text("town"))


def title(invoice: StoredInvoice) -> str:
    return "Avoir" if invoice.kind == "credit_note" else "Facture"


def line_label(line: StoredLine, site_name: str) -> str:
    """What a line bills, in words: the site, the month or the month it corrects."""
    period = month_words(line.corrects or line.month)
    if line.corrects is not None:
        return f"Régularisation de {period}, {site_name}"
    return f"Espace de travail, {site_name}, {period}"


def note_words(line: StoredLine) -> str | None:
    """Why the line's amount is not its hours times its rate, on the line itself."""
    note = line.note
    if note is None:
        return None
    words = []
    if note.uncapped_eur is not None:
        words.append(
            f"plafonné à {euros(line.amount_eur)} ({euros(note.uncapped_eur)} au tarif horaire)"
        )
    if note.free_hours is not None:
        words.append(f"dont {hours(note.free_hours)} offertes")
    return " ; ".join(words)


# --- The page ---------------------------------------------------------------------------------

WIDTH, HEIGHT = float(A4[0]), float(A4[1])
MM = float(_mm)
#: The page's margins and, within them, the 6 pt a browser leaves around a page's body.
LEFT, RIGHT = 16 * MM + 6, WIDTH - 16 * MM - 6
TOP, BOTTOM = 18 * MM + 6, HEIGHT - 20 * MM - 6
PAD_X, PAD_Y = 1.5 * MM, 2 * MM
BODY, SMALL, NOTE, MENTION, GRAND = 9.5, 8.0, 8.0, 8.5, 11.0
INK, GREY, HEAD, NOTE_INK, RULE = (
    HexColor(c) for c in ("#111111", "#555555", "#333333", "#444444", "#bbbbbb")
)
#: DejaVu's ascent and descent, in ems: where a baseline sits in a line 1.4 ems high.
ASCENT, DESCENT = 0.928, 0.236

#: One drawing on the canvas, placed by the layout, drawn once every page is placed (for the
#: footers' page count).
Draw = Callable[[Canvas], None]


def _leading(size: float) -> float:
    return size * 1.4


def _baseline(top: float, size: float) -> float:
    """The canvas's y of the baseline of a line whose box starts `top` below the page's top."""
    return HEIGHT - (top + (_leading(size) - (ASCENT + DESCENT) * size) / 2 + ASCENT * size)


def _text(
    x: float, top: float, words: str, font: str, size: float, ink: object, align: str = "left"
) -> Draw:
    def draw(canvas: Canvas) -> None:
        canvas.setFont(font, size)
        canvas.setFillColor(ink)
        y = _baseline(top, size)
        if align == "right":
            canvas.drawRightString(x, y, words)
        else:
            canvas.drawString(x, y, words)

    return draw


def _rule(x1: float, x2: float, at: float, width: float, ink: object) -> Draw:
    def draw(canvas: Canvas) -> None:
        canvas.setStrokeColor(ink)
        canvas.setLineWidth(width)
        canvas.line(x1, HEIGHT - at, x2, HEIGHT - at)

    return draw


def _wrap(words: str, font: str, size: float, width: float) -> list[str]:
    """Lines of at most `width` points, a new line at each line break as in the address."""
    return [
        line
        for paragraph in words.splitlines() or [""]
        for line in simpleSplit(paragraph, font, size, width) or [""]
    ]


@dataclass
class _Layout:
    """Drawings placed on pages, top down; `top` is the next free height on the last page."""

    pages: list[list[Draw]] = field(default_factory=lambda: [[]])
    top: float = TOP

    def fits(self, height: float) -> bool:
        return self.top + height <= BOTTOM

    def new_page(self) -> None:
        self.pages.append([])
        self.top = TOP

    def add(self, draw: Draw) -> None:
        self.pages[-1].append(draw)

    def lines(
        self,
        x: float,
        top: float,
        lines: list[str],
        font: str,
        size: float,
        ink: object,
        align: str = "left",
    ) -> float:
        """Lines one under the other from `top`; the height they take."""
        for number, line in enumerate(lines):
            self.add(_text(x, top + number * _leading(size), line, font, size, ink, align))
        return len(lines) * _leading(size)


def _head(layout: _Layout, invoice: StoredInvoice) -> None:
    """Title, the facts (date, period, site), then the issuer and the member side by side."""
    issuer = invoice.issuer
    layout.add(_text(LEFT, layout.top, f"{title(invoice)} n° {invoice.reference}", BOLD, 18, INK))
    layout.top += _leading(18) + 2 * MM
    first, last = month_bounds(invoice.month)
    facts = [
        ("Date d’émission", day_words(invoice.issued_on)),
        ("Période", f"du {day_words(first)} au {day_words(last)}"),
        ("Télécentre", str(issuer.get("site_name") or invoice.site)),
    ]
    value_x = LEFT + max(stringWidth(label, REGULAR, BODY) for label, _ in facts) + 4 * MM
    for label, value in facts:
        layout.add(_text(LEFT, layout.top, label, REGULAR, BODY, GREY))
        layout.add(_text(value_x, layout.top, value, BOLD, BODY, INK))
        layout.top += _leading(BODY) + 1 * MM
    layout.top += 8 * MM

    half = (RIGHT - LEFT) / 2
    seller = [
        *issuer_address(issuer).printed,
        *([f"SIRET {issuer['siret']}"] if issuer.get("siret") else []),
        *(
            [f"N° TVA intracommunautaire {issuer['vat_number']}"]
            if issuer.get("vat_number")
            else []
        ),
    ]
    buyer = [
        *legal.postal_parts(invoice.member_address).printed,
        *([invoice.member_email] if invoice.member_email else []),
        f"Membre n° {invoice.member_id}",
    ]
    heights = [
        _party(layout, LEFT + at * half, half - 4 * MM, label, name, rest)
        for at, (label, name, rest) in enumerate(
            (
                ("ÉMETTEUR", str(issuer.get("issuer")), seller),
                ("CLIENT", invoice.member_name, buyer),
            )
        )
    ]
    layout.top += max(heights) + 8 * MM


def _party(
    layout: _Layout, x: float, width: float, label: str, name: str, rest: list[str]
) -> float:
    top = layout.top

    def spaced(canvas: Canvas) -> None:
        canvas.saveState()  # the letter spacing is the label's only
        canvas.setFont(REGULAR, SMALL)
        canvas.setFillColor(GREY)
        canvas.drawString(x, _baseline(top, SMALL), label, charSpace=0.05 * SMALL)
        canvas.restoreState()

    layout.add(spaced)
    height = _leading(SMALL) + 1 * MM
    height += layout.lines(x, top + height, _wrap(name, BOLD, BODY, width), BOLD, BODY, INK)
    lines = [line for words in rest for line in _wrap(words, REGULAR, BODY, width)]
    return height + layout.lines(x, top + height, lines, REGULAR, BODY, INK)


@dataclass(frozen=True)
class _Column:
    header: str
    width: float
    numeric: bool


def _columns(invoice: StoredInvoice, rows: list[list[str]], rates: list[str]) -> list[_Column]:
    """Figures' columns as wide as their widest figure or header word and a little air; the
    label and rate share what is left, the rate at most 40 %."""
    headers = [
        "Heures",
        "Heures gratuites",
        "Heures facturées",
        "Prix horaire",
        "Montant HT" if invoice.vat_rate is not None else "Montant",
    ]
    figures = []
    for number, header in enumerate(headers):
        widest = max(
            [stringWidth(word, BOLD, SMALL) for word in header.split()]
            + [stringWidth(row[number], REGULAR, BODY) for row in rows]
        )
        figures.append(_Column(header, widest + 2 * PAD_X + 2 * MM, numeric=True))
    left = RIGHT - LEFT - sum(column.width for column in figures)
    rate = min(
        max([stringWidth(words, REGULAR, BODY) for words in rates] + [0.0]) + 2 * PAD_X,
        0.4 * left,
    )
    return [
        _Column("Désignation", left - rate, numeric=False),
        _Column("Tarif", rate, numeric=False),
        *figures,
    ]


def _cells(
    layout: _Layout,
    columns: list[_Column],
    cells: list[list[str]],
    font: str,
    size: float,
    ink: object,
    height: float,
) -> None:
    """A row's cells from `layout.top`, each a list of lines, figures set right."""
    x = LEFT
    for column, lines in zip(columns, cells, strict=True):
        if column.numeric:
            layout.lines(
                x + column.width - PAD_X, layout.top + PAD_Y, lines, font, size, ink, "right"
            )
        else:
            layout.lines(x + PAD_X, layout.top + PAD_Y, lines, font, size, ink)
        x += column.width
    layout.top += height


def _table(layout: _Layout, invoice: StoredInvoice) -> None:
    """The lines, as many rows per page as fit, the header again at the top of each."""
    site_name = str(invoice.issuer.get("site_name") or invoice.site)
    figures = [
        [
            hours(line.hours),
            hours(line.free_hours),
            hours(line.billed_hours),
            "–" if line.hourly_eur is None else euros(line.hourly_eur),
            euros(line.amount_eur),
        ]
        for line in invoice.lines
    ]
    rates = [RATE_WORDS.get(line.rate, line.rate) for line in invoice.lines]
    columns = _columns(invoice, figures, rates)
    headers = [_wrap(column.header, BOLD, SMALL, column.width - 2 * PAD_X) for column in columns]
    header_height = max(map(len, headers)) * _leading(SMALL) + 2 * PAD_Y

    def header() -> None:
        _cells(layout, columns, headers, BOLD, SMALL, HEAD, header_height)
        layout.add(_rule(LEFT, RIGHT, layout.top, 0.5 * MM, HEAD))

    header()
    for line, rate, row in zip(invoice.lines, rates, figures, strict=True):
        label = _wrap(line_label(line, site_name), REGULAR, BODY, columns[0].width - 2 * PAD_X)
        note_text = note_words(line)
        note = (
            [] if not note_text else _wrap(note_text, REGULAR, NOTE, columns[0].width - 2 * PAD_X)
        )
        rate_lines = _wrap(rate, REGULAR, BODY, columns[1].width - 2 * PAD_X)
        label_height = len(label) * _leading(BODY)
        note_height = len(note) * _leading(NOTE) + 1 * MM if note else 0.0
        height = max(label_height + note_height, len(rate_lines) * _leading(BODY)) + 2 * PAD_Y
        if not layout.fits(height):
            layout.new_page()
            header()
        if note:
            layout.lines(
                LEFT + PAD_X,
                layout.top + PAD_Y + label_height + 1 * MM,
                note,
                REGULAR,
                NOTE,
                NOTE_INK,
            )
        _cells(
            layout,
            columns,
            [label, rate_lines, *([cell] for cell in row)],
            REGULAR,
            BODY,
            INK,
            height,
        )
        layout.add(_rule(LEFT, RIGHT, layout.top, 0.3 * MM, RULE))
    layout.top += 6 * MM


def _totals(layout: _Layout, invoice: StoredInvoice) -> None:
    """Net, VAT and total (or the total alone under the franchise), right of the page."""
    refund = invoice.kind == "credit_note"
    rows: list[tuple[str, Decimal]] = []
    if invoice.vat_rate is not None:
        rate = format_decimal(invoice.vat_rate, locale="fr_FR")
        rows += [("Total HT", invoice.net_eur), (f"TVA {rate} %", invoice.vat_eur)]
        grand = "Total TTC à rembourser" if refund else "Total TTC"
    else:
        grand = "Total à rembourser" if refund else "Total à payer"
    height = len(rows) * (_leading(BODY) + 2 * PAD_Y) + _leading(GRAND) + 2 * PAD_Y
    if not layout.fits(height):
        layout.new_page()
    x = RIGHT - 0.45 * (RIGHT - LEFT)
    for label, amount in rows:
        layout.add(_text(x + PAD_X, layout.top + PAD_Y, label, BOLD, BODY, INK))
        layout.add(
            _text(RIGHT - PAD_X, layout.top + PAD_Y, euros(amount), REGULAR, BODY, INK, "right")
        )
        layout.top += _leading(BODY) + 2 * PAD_Y
        layout.add(_rule(x, RIGHT, layout.top, 0.3 * MM, RULE))
    layout.add(_text(x + PAD_X, layout.top + PAD_Y, grand, BOLD, GRAND, INK))
    layout.add(
        _text(
            RIGHT - PAD_X, layout.top + PAD_Y, euros(invoice.total_eur), BOLD, GRAND, INK, "right"
        )
    )
    layout.top += _leading(GRAND) + 2 * PAD_Y
    layout.add(_rule(x, RIGHT, layout.top, 0.6 * MM, INK))
    layout.top += 6 * MM


def _mentions(layout: _Layout, invoice: StoredInvoice) -> None:
    """The VAT exemption, the payment terms and how hours are billed, in small print."""
    issuer = invoice.issuer
    paragraphs = [
        *([str(issuer.get("vat_exemption"))] if invoice.vat_rate is None else []),
        *([str(issuer["payment"])] if issuer.get("payment") else []),
        CLOSING_WORDS,
    ]
    for paragraph in paragraphs:
        lines = _wrap(paragraph, REGULAR, MENTION, RIGHT - LEFT)
        if not layout.fits(len(lines) * _leading(MENTION)):
            layout.new_page()
        layout.top += layout.lines(LEFT, layout.top, lines, REGULAR, MENTION, HEAD) + MENTION


@cache
def _fonts() -> None:
    """Read once per process: reportlab embeds the subset each invoice uses."""
    registerFont(TTFont(REGULAR, str(FONTS / "DejaVuSans.ttf")))
    registerFont(TTFont(BOLD, str(FONTS / "DejaVuSans-Bold.ttf")))


@cache
def _srgb() -> bytes:
    return SRGB.read_bytes()


class _PdfACatalog(PDFCatalog):  # type: ignore[misc]
    """reportlab's document catalogue, with the output intent PDF/A asks of a file that
    draws in device RGB: its colours are sRGB."""

    __NoDefault__: ClassVar[list[str]] = [*PDFCatalog.__NoDefault__, "OutputIntents"]
    __Refs__: ClassVar[list[str]] = PDFCatalog.__Refs__


def _output_intent(canvas: Canvas) -> None:
    document = canvas._doc
    catalog = _PdfACatalog()
    catalog.__dict__.update(document.Catalog.__dict__)
    profile = PDFStream(PDFDictionary({"N": 3}), _srgb())
    catalog.OutputIntents = PDFArray(
        [
            PDFDictionary(
                {
                    "Type": PDFName("OutputIntent"),
                    "S": PDFName("GTS_PDFA1"),
                    "OutputConditionIdentifier": PDFString("sRGB IEC61966-2.1"),
                    "Info": PDFString("sRGB IEC61966-2.1"),
                    "DestOutputProfile": document.Reference(profile),
                }
            )
        ]
    )
    document.Catalog = document._catalog = catalog


def invoice_pdf(invoice: StoredInvoice) -> bytes:
    """The printable invoice, one file of its own pages, ready to be made PDF/A-3 Factur-X
    (`invoice_files.facturx_pdf`): fonts embedded, colours in sRGB."""
    _fonts()
    layout = _Layout()
    _head(layout, invoice)
    _table(layout, invoice)
    _totals(layout, invoice)
    _mentions(layout, invoice)
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=A4, pageCompression=1, lang="fr-FR", initialFontName=REGULAR)
    canvas.setProducer("pypdf")  # as the Factur-X step's XMP says: the file's last writer
    canvas.setTitle(f"{title(invoice)} {invoice.reference}")
    canvas.setAuthor(str(invoice.issuer.get("issuer")))
    _output_intent(canvas)
    count = len(layout.pages)
    for number, drawings in enumerate(layout.pages, start=1):
        for draw in drawings:
            draw(canvas)
        footer = f"{invoice.reference} · page {number} / {count}"
        canvas.setFont(REGULAR, SMALL)
        canvas.setFillColor(GREY)
        canvas.drawCentredString(WIDTH / 2, 10 * MM - 1 * MM, footer)
        canvas.showPage()
    canvas.save()
    return buffer.getvalue()
