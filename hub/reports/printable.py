"""The printed evaluation as a PDF (WeasyPrint): the console's print page, with the style
sheet and fonts shipped beside this module, so the file looks the same on every server
whatever fonts it has installed.

WeasyPrint fetches nothing but these files: the page is the hub's own, and a link to the
network in it must never make the hub fetch (and leak) anything.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from weasyprint import CSS, HTML
from weasyprint.text.fonts import FontConfiguration
from weasyprint.urls import URLFetcher

HERE = Path(__file__).resolve().parent
STYLE_SHEET = HERE / "printable.css"


class _LocalOnly(URLFetcher):  # type: ignore[misc]
    def fetch(self, url: str, headers: Any = None) -> Any:
        if not url.startswith(HERE.as_uri() + "/"):
            raise ValueError(f"the printed evaluation fetches only its own files, not {url}")
        return super().fetch(url, headers)


def pdf(html: str, *, title: str) -> bytes:
    """`html` (a whole page) printed on A4 with the shipped style sheet and fonts."""
    fonts = FontConfiguration()
    fetcher = _LocalOnly(allowed_protocols=("file",))
    style = CSS(filename=str(STYLE_SHEET), font_config=fonts, url_fetcher=fetcher)
    document = HTML(string=html, base_url=HERE.as_uri() + "/", url_fetcher=fetcher)
    rendered = document.render(stylesheets=[style], font_config=fonts)
    rendered.metadata.title = title
    return bytes(rendered.write_pdf())
