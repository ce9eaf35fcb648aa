"""The printed evaluation as a PDF (WeasyPrint): the console's print page, with the style
sheet (`templates/printable.css`) and the DejaVu fonts (`fonts/`) shipped beside this
module, so the file looks the same on every server whatever fonts it has installed.

The page is the hub's own template (texts escaped, no image, no style sheet of its own):
nothing in it makes WeasyPrint fetch anything but these files.
"""

from __future__ import annotations

from pathlib import Path

from weasyprint import CSS, HTML
from weasyprint.text.fonts import FontConfiguration

HERE = Path(__file__).resolve().parent
STYLE_SHEET = HERE / "templates" / "printable.css"


def pdf(html: str, *, title: str) -> bytes:
    """`html` (a whole page) printed on A4 with the shipped style sheet and fonts."""
    fonts = FontConfiguration()
    style = CSS(filename=str(STYLE_SHEET), font_config=fonts)
    document = HTML(string=html, base_url=str(HERE)).render(stylesheets=[style], font_config=fonts)
    document.metadata.title = title
    return bytes(document.write_pdf())
