"""French first: the console's catalogs, the language of each request, French formats.

Every visible string goes through the catalog (`_()` in templates and views; `N_()` marks
messages of hub modules that the console translates). The `.po` files are the source, kept
in `translations/<lang>/LC_MESSAGES/messages.po`; they are compiled when the app starts, into
a folder of this process, so a fresh clone needs no build step. Source strings are English;
`fr` is the default, `en` is available. The language is the user's choice, else the
browser's, else French.

Jinja filters for the other pages: `hours` (`43 800,0 h`), `euros` (`934,00 €`), `day`
(`lun. 2 déc.`), `when` (date and time), `clock` (`09:05`), `number`.

Update the catalogs after adding strings:
    .venv/bin/pybabel extract -F hub/console/babel.cfg -k N_ -o /tmp/messages.pot hub
    .venv/bin/pybabel update -i /tmp/messages.pot -d hub/console/translations --no-fuzzy-matching
"""

from __future__ import annotations

import tempfile
import threading
from datetime import date, datetime
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask, request, session
from flask_babel import (
    Babel,
    format_currency,
    format_date,
    format_datetime,
    format_decimal,
    gettext,
)
from flask_login import current_user

LANGUAGES = ("fr", "en")
DEFAULT_LANGUAGE = "fr"
TIMEZONE = "Europe/Paris"
SOURCE = Path(__file__).resolve().parent / "translations"

_compiled: Path | None = None
_compiled_lock = threading.Lock()


def compiled_catalogs() -> Path:
    """The catalogs compiled (`.mo`) from the `.po` sources, once per process."""
    global _compiled
    with _compiled_lock:
        if _compiled is None:
            target = Path(tempfile.mkdtemp(prefix="telecentre-console-i18n-"))
            for po in SOURCE.glob("*/LC_MESSAGES/*.po"):
                out = target / po.relative_to(SOURCE).with_suffix(".mo")
                out.parent.mkdir(parents=True, exist_ok=True)
                with po.open("rb") as source:
                    catalog = read_po(source)
                with out.open("wb") as sink:
                    write_mo(sink, catalog)
            _compiled = target
        return _compiled


def select_language() -> str:
    chosen = getattr(current_user, "language", None)
    if chosen in LANGUAGES:
        return str(chosen)
    chosen = session.get("language")
    if chosen in LANGUAGES:
        return str(chosen)
    return request.accept_languages.best_match(LANGUAGES) or DEFAULT_LANGUAGE


def hours(value: float | None) -> str:
    """`43 800,0 h`."""
    if value is None:
        return "–"
    return f"{format_decimal(value, format='#,##0.0')}\u00a0h"


def euros(value: float | None) -> str:
    """`934,00 €`."""
    if value is None:
        return "–"
    return str(format_currency(value, "EUR"))


def number(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "–"
    pattern = "#,##0" + ("." + "0" * digits if digits else "")
    return str(format_decimal(value, format=pattern))


def day(value: date | datetime | None) -> str:
    """`lun. 2 déc.` (in the hub's time zone for a datetime)."""
    if value is None:
        return "–"
    if isinstance(value, datetime):
        return str(format_datetime(value, "EEE d MMM"))
    return str(format_date(value, "EEE d MMM"))


def when(value: datetime | None) -> str:
    """`lun. 2 déc. 09:05`."""
    if value is None:
        return "–"
    return str(format_datetime(value, "EEE d MMM HH:mm"))


def clock(value: datetime | None) -> str:
    """`09:05:12`, for the board's taps."""
    if value is None:
        return "–"
    return str(format_datetime(value, "HH:mm:ss"))


def audit_value(value: object) -> str:
    """A value of an audit entry's detail as a person reads it: times in local French,
    yes/no, lists joined, nothing as a dash (the log keeps JSON: ISO times, true, null)."""
    if value is None or value == "":
        return "–"
    if isinstance(value, bool):
        return str(gettext("yes") if value else gettext("no"))
    if isinstance(value, list):
        return ", ".join(audit_value(item) for item in value) or "–"
    if isinstance(value, dict):
        return " · ".join(f"{key} : {audit_value(item)}" for key, item in value.items())
    if isinstance(value, str) and len(value) >= 16 and value[4] == "-" and "T" in value:
        try:
            return when(datetime.fromisoformat(value))
        except ValueError:
            pass
    return str(value)


def audit_changes(before: object, after: object) -> list[tuple[str, str, str]]:
    """What an audited change changed: `(key, before, after)` of the keys that differ."""
    old = before if isinstance(before, dict) else {}
    new = after if isinstance(after, dict) else {}
    return [
        (key, audit_value(old.get(key)), audit_value(new.get(key)))
        for key in [*old, *(k for k in new if k not in old)]
        if old.get(key) != new.get(key)
    ]


def init_i18n(app: Flask) -> None:
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT_LANGUAGE)
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", TIMEZONE)
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(compiled_catalogs())
    Babel(app, locale_selector=select_language)
    for name, function in {
        "hours": hours,
        "euros": euros,
        "number": number,
        "day": day,
        "when": when,
        "clock": clock,
        "audit_value": audit_value,
    }.items():
        app.jinja_env.filters[name] = function
    app.jinja_env.globals["audit_changes"] = audit_changes
