"""French first: the console's catalogs, the language of each request, French formats.

Every visible string goes through the catalog (`_()` in templates and views; `N_()` marks
messages of hub modules that the console translates). The `.po` files are the source, kept
in `translations/<lang>/LC_MESSAGES/messages.po`; they are compiled when the app starts, into
a folder of this process, so a fresh clone needs no build step. Source strings are English;
`fr` is the default, `en` is available. The language is the user's choice, else the
browser's, else French.

Jinja filters for the other pages: `hours` (`43 800,0 h`), `euros` (`934,00 €`), `day`
(`lun. 2 déc.`, `ven. 3 déc. 2021`: the year unless it is this one), `when` (date and time,
the same way), `clock` (`09:05`), `number`.

French elides its articles before a vowel: "la présence d'Élodie Vigier", not "de Élodie".
`gettext` here (and `_`, `ngettext` in templates) apply `elide` to every name put after "de",
"le" or "que" in a French message, so the catalog keeps plain "de %(name)s".

Update the catalogs after adding strings:
    .venv/bin/pybabel extract -F hub/console/babel.cfg -k N_ -o /tmp/messages.pot hub
    .venv/bin/pybabel update -i /tmp/messages.pot -d hub/console/translations --no-fuzzy-matching
"""

from __future__ import annotations

import re
import tempfile
import threading
from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask, request, session
from flask_babel import (
    Babel,
    format_currency,
    format_date,
    format_datetime,
    format_decimal,
    get_locale,
    get_timezone,
    get_translations,
)
from flask_babel import gettext as babel_gettext
from flask_login import current_user
from jinja2.runtime import Context
from jinja2.utils import pass_context
from markupsafe import Markup

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


#: Letters before which French elides "de", "le", "que" (a mute h included: d'Hélène).
_VOWELS = frozenset("aeiouyhàâäéèêëîïôöûüœæ")
_ARTICLE = re.compile(r"(?<![\w'’])(de|De|le|Le|que|Que) %\((\w+)\)s")


def _elides(name: str) -> bool:
    return name[:1].lower() in _VOWELS


def elide(article: str, name: str) -> str:
    """`de` + `Élodie Vigier` → `d'Élodie Vigier`; `le` + `Aurillac` → `l'Aurillac`;
    `de` + `Murat` → `de Murat`. The one rule, for messages and templates alike."""
    return f"{article[:-1]}'{name}" if _elides(name) else f"{article} {name}"


def _elided(template: str, values: Mapping[str, Any]) -> str:
    """The French `template` with each "de %(name)s" elided for the value it will take."""

    def one(match: re.Match[str]) -> str:
        value = values.get(match[2])
        if isinstance(value, str) and _elides(value):
            return f"{match[1][:-1]}'%({match[2]})s"
        return match[0]

    return _ARTICLE.sub(one, template)


def _format(template: str, values: Mapping[str, Any]) -> str:
    if str(get_locale() or DEFAULT_LANGUAGE).startswith("fr"):
        elided = _elided(str(template), values)
        template = Markup(elided) if isinstance(template, Markup) else elided
    return template % values


def gettext(string: str, **variables: Any) -> str:
    """Flask-Babel's `gettext`, with French elision before the names put in."""
    if not variables:
        return str(babel_gettext(string))
    return _format(get_translations().ugettext(string), variables)


@pass_context
def _template_gettext(context: Context, string: str, **variables: Any) -> str:
    text = get_translations().ugettext(string)
    return _format(Markup(text) if context.eval_ctx.autoescape else text, variables)


@pass_context
def _template_ngettext(
    context: Context, singular: str, plural: str, num: int, **variables: Any
) -> str:
    variables.setdefault("num", num)
    text = get_translations().ungettext(singular, plural, num)
    return _format(Markup(text) if context.eval_ctx.autoescape else text, variables)


def hours(value: float | None, digits: int = 1) -> str:
    """`43 800,0 h`. Billing lines take `digits=2`: hours billed by the quarter (`3,75 h`)
    shown as `3,8 h` would not multiply to their amount."""
    if value is None:
        return "–"
    return f"{format_decimal(value, format='#,##0.' + '0' * digits)}\u00a0h"


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


def _this_year(value: date | datetime) -> bool:
    if isinstance(value, datetime):
        zone = get_timezone()
        return value.astimezone(zone).year == datetime.now(zone).year
    return value.year == date.today().year


def day(value: date | datetime | None) -> str:
    """`lun. 2 déc.` this year, `ven. 3 déc. 2021` another (in the hub's time zone for a
    datetime): the one way the console writes a day."""
    if value is None:
        return "–"
    pattern = "EEE d MMM" if _this_year(value) else "EEE d MMM y"
    if isinstance(value, datetime):
        return str(format_datetime(value, pattern))
    return str(format_date(value, pattern))


def when(value: datetime | None) -> str:
    """`lun. 2 déc. 09:05`, `ven. 3 déc. 2021 09:05`."""
    if value is None:
        return "–"
    return f"{day(value)} {format_datetime(value, 'HH:mm')}"


def moment(value: datetime | None) -> str:
    """`14 h 20` today, else `lun. 2 déc. 09:05`: when something began, said briefly."""
    if value is None:
        return "–"
    zone = get_timezone()
    if value.astimezone(zone).date() != datetime.now(zone).date():
        return when(value)
    french = str(get_locale() or DEFAULT_LANGUAGE).startswith("fr")
    return str(format_datetime(value, "H 'h' mm" if french else "HH:mm"))


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
        return str(babel_gettext("yes") if value else babel_gettext("no"))
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


def init_i18n(app: Flask) -> None:
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT_LANGUAGE)
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", TIMEZONE)
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(compiled_catalogs())
    Babel(app, locale_selector=select_language)
    app.jinja_env.globals.update(
        _=_template_gettext, gettext=_template_gettext, ngettext=_template_ngettext
    )
    for name, function in {
        "hours": hours,
        "euros": euros,
        "number": number,
        "day": day,
        "when": when,
        "clock": clock,
        "moment": moment,
        "audit_value": audit_value,
    }.items():
        app.jinja_env.filters[name] = function
