"""French e-mails from text templates (Jinja2): the first line is the subject, the rest after
a blank line is the body. People read these on a phone at any hour: plain text, short lines,
the facts first, a link to act.

Templates live with the capability that sends them (`hub/alerts/templates/`); `when` writes
a moment in the site's time zone the French way ("lundi 7 décembre 2026 à 03:12").

>>> subject, body = Templates(HERE / "templates").render("alert.txt", site=…)  # doctest: +SKIP
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from jinja2 import Environment, FileSystemLoader, StrictUndefined

LOCALE = "fr_FR"
_BLANK_LINES = re.compile(r"\n{3,}")
PARIS = ZoneInfo("Europe/Paris")


def when(moment: datetime, zone: str | ZoneInfo = PARIS) -> str:
    """`lundi 7 décembre 2026 à 03:12`, in `zone` (the site's)."""
    tz = ZoneInfo(zone) if isinstance(zone, str) else zone
    text: str = format_datetime(moment, "EEEE d MMMM y 'à' HH:mm", tzinfo=tz, locale=LOCALE)
    return text


class Templates:
    """The message templates of one folder."""

    def __init__(self, folder: Path) -> None:
        self.environment = Environment(
            loader=FileSystemLoader(folder),
            autoescape=False,  # plain text, never HTML
            undefined=StrictUndefined,  # a missing value is a bug, not an empty gap in a mail
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )
        self.environment.filters["when"] = when

    def render(self, name: str, **context: Any) -> tuple[str, str]:
        """The subject (one line) and the body of template `name`."""
        text = self.environment.get_template(name).render(**context)
        subject, _, body = text.partition("\n\n")
        # A part left out (no link to give) leaves no hole: one blank line between paragraphs.
        return " ".join(subject.split()), _BLANK_LINES.sub("\n\n", body.strip()) + "\n"


#: The mail package's own messages (a test e-mail).
TEST_TEMPLATES = Templates(Path(__file__).resolve().parent / "templates")
