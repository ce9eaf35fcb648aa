"""French first: the catalog covers every string of the code and templates, the pages in
`fr` show no English, and numbers, money and dates come out in French."""

from __future__ import annotations

from datetime import UTC, date, datetime
from html.parser import HTMLParser

import pytest
from babel.messages.extract import extract_from_dir
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hub.console import audit_words, i18n
from hub.people import audit
from hub.people.imports import import_sites
from hub.store.models import Alarm, AuditEntry, Device, Member
from tests.console import add_user, client_sign_in, english_left, french
from tests.servers import REPO

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}  # fmt: skip
KEYWORDS = {"_": None, "gettext": None, "lazy_gettext": None, "_l": None, "N_": None,
            "ngettext": (1, 2)}  # fmt: skip


def test_every_string_of_the_console_is_in_the_french_catalog_and_translated() -> None:
    method_map = [("**.py", "python"), ("**/templates/**.html", "jinja2")]
    found = {
        message if isinstance(message, str) else message[0]
        for _, _, message, _, _ in extract_from_dir(
            str(REPO / "hub"), method_map, keywords=KEYWORDS
        )
    }
    catalog = french()
    assert sorted(found - catalog.keys()) == []  # run the pybabel commands of the README
    assert [msgid for msgid in found if not catalog.get(msgid)] == []


class VisibleText(HTMLParser):
    """What a person reads or hears: text outside scripts, and the labels of attributes;
    not what the page marks `translate="no"` (data: logins, ids, the audit's raw values)."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._open: list[bool] = []  # for each open element: whether it hides its text

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        hides = tag in ("script", "style") or values.get("translate") == "no"
        if tag not in VOID:
            self._open.append(hides)
        if any(self._open):
            return
        for name in ("aria-label", "title", "alt", "placeholder", "data-announce"):
            if values.get(name):
                self.parts.append(str(values[name]))

    def handle_endtag(self, tag: str) -> None:
        if tag not in VOID and self._open:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        if not any(self._open):
            self.parts.append(data)


def visible(html: str) -> str:
    parser = VisibleText()
    parser.feed(html)
    return " ".join(" ".join(parser.parts).split())


@pytest.fixture
def admin_client(console_app: Flask, sessions: sessionmaker[Session]) -> Flask:
    with sessions.begin() as session:
        import_sites(session, (REPO / "deploy" / "demo" / "sites.yaml").read_text())
        session.add(Device(id="murat-door", site="murat", state="online", clock_synced=False,
                           readers={"entrance": "error"}, queue=3))  # fmt: skip
        session.add(Alarm(event_id="a1", site_id="murat", device="murat-door", door="main",
                          kind="door_held_open", at=datetime.now(UTC)))  # fmt: skip
    add_user(sessions, "ada", "admin")
    add_user(sessions, "lea", "animator", ["murat"])
    return console_app


PAGES = ["/", "/?site=murat", "/board/murat", "/board/murat/door", "/audit/", "/admin/users",
         "/admin/users/new", "/admin/users/lea", "/admin/tokens", "/admin/mail", "/account/",
         "/nowhere"]  # fmt: skip


def test_the_pages_in_french_show_no_english(admin_client: Flask) -> None:
    anonymous = admin_client.test_client()
    texts = {"/login": visible(anonymous.get("/login").get_data(as_text=True))}
    client = admin_client.test_client()
    assert client_sign_in(client, "ada") == 302
    for path in PAGES:
        texts[path] = visible(client.get(path).get_data(as_text=True))
    assert english_left(texts) == []
    assert all(" the " not in text.lower() for text in texts.values())
    murat = texts["/?site=murat"]
    assert "Alarme : porte restée ouverte" in murat and "Porte d'entrée" in murat
    assert "horloge non synchronisée" in murat and "1 lecteur de badges en panne" in murat
    assert "murat-door" not in murat and "entrance" not in murat


def test_numbers_money_and_dates_are_written_the_french_way(console_app: Flask) -> None:
    with console_app.test_request_context(headers={"Accept-Language": "fr"}):
        assert i18n.hours(43800).replace("\u202f", " ").replace("\xa0", " ") == "43 800,0 h"
        assert i18n.euros(934).replace("\xa0", " ").replace("\u202f", " ") == "934,00 €"
        this_year = datetime.now(UTC).year
        assert i18n.day(date(2021, 12, 7)) == "mar. 7 déc. 2021"
        assert i18n.when(datetime(this_year, 6, 7, 8, 5, tzinfo=UTC)).endswith("7 juin 10:05")
        assert i18n.number(1234.5, 1).replace("\u202f", " ") == "1 234,5"
        assert i18n.hours(None) == "–"
        assert i18n.hours(3.75, 2).replace("\xa0", " ") == "3,75 h"  # billed by the quarter


def test_french_elides_before_a_name_and_dates_carry_the_year_unless_this_one(
    console_app: Flask,
) -> None:
    with console_app.test_request_context(headers={"Accept-Language": "fr"}):
        session_of = "The session of %(name)s is corrected."
        assert i18n.gettext(session_of, name="Élodie Vigier") == (
            "La présence d'Élodie Vigier est corrigée."
        )
        assert (
            i18n.gettext(session_of, name="Hélène Roux")
            == "La présence d'Hélène Roux est corrigée."
        )
        assert i18n.gettext(session_of, name="Pierre Delmas") == (
            "La présence de Pierre Delmas est corrigée."
        )
        assert i18n.gettext("Check-out recorded for %(name)s.", name="Aurélie Martin") == (
            "Sortie d'Aurélie Martin enregistrée."
        )
        assert i18n.elide("le", "Aurillac") == "l'Aurillac" and i18n.elide("de", "Murat") == (
            "de Murat"
        )
        this_year = datetime.now(UTC).year
        assert i18n.day(date(2021, 12, 3)) == "ven. 3 déc. 2021"
        assert i18n.when(datetime(2021, 12, 3, 8, 5, tzinfo=UTC)) == "ven. 3 déc. 2021 09:05"
        assert i18n.day(date(this_year, 1, 5)).endswith("5 janv.")
    with console_app.test_request_context(headers={"Accept-Language": "en"}):
        assert i18n.gettext(session_of, name="Élodie Vigier") == (
            "The session of Élodie Vigier is corrected."
        )


def test_the_log_is_searched_by_the_name_people_read(
    console_app: Flask, sessions: sessionmaker[Session]
) -> None:
    add_user(sessions, "ada", "admin", display_name="Ada Admin")
    add_user(sessions, "lea", "department", display_name="Léa Martin")
    with sessions.begin() as session:
        audit.record(session, "user:lea", "token_created", name="compta")
        audit.record(session, "user:ada", "token_revoked", name="vieux")
    client = console_app.test_client()
    assert client_sign_in(client, "ada") == 302
    text = visible(client.get("/audit/?actor=Martin").get_data(as_text=True))
    assert "Léa Martin jeton d'API créé" in text
    assert "vieux" not in text
    assert "jeton d'API révoqué" in visible(client.get("/audit/?actor=ada").get_data(as_text=True))


def test_the_audit_log_reads_as_french_not_as_python(
    console_app: Flask, sessions: sessionmaker[Session]
) -> None:
    """The log stores JSON (ISO times, true, null, keys, logins); the page shows what a
    person reads: names, French labels and words."""
    before: dict[str, object] = {"start": "2021-12-07T08:05:00+00:00", "end": None}
    before |= {"auto_closed": True, "end_reason": None}
    after: dict[str, object] = {"start": "2021-12-07T08:05:00+00:00"}
    after |= {"end": "2021-12-07T16:30:00+00:00", "auto_closed": False, "end_reason": "manual"}
    with sessions.begin() as session:
        import_sites(session, (REPO / "deploy" / "demo" / "sites.yaml").read_text())
        session.add(Member(id="M0001", last_name="Vigier", first_name="Élodie", category="other"))
    add_user(sessions, "lea", "animator", ["murat"], display_name="Léa Martin")
    with sessions.begin() as session:
        audit.record(session, "user:lea", "session_check_out", site="murat", before=before,
                     after=after, member_id="M0001", reason="badge oublié")  # fmt: skip
        audit.record(session, "cli:root", "alarm_acknowledged", site="murat", kind="door_forced",
                     door="main", device="murat-door")  # fmt: skip
        audit.record(session, "hub:sites_file /tmp/x/sites.yaml", "import", sites=["murat"])
    with console_app.test_request_context(headers={"Accept-Language": "fr"}), sessions() as session:
        query = select(AuditEntry).where(AuditEntry.action != "user_created")
        entries = session.scalars(query.order_by(AuditEntry.id)).all()
        lines = audit_words.lines(session, entries)
    check_out, alarm, imported = lines
    assert check_out.who == "Léa Martin"
    assert check_out.details == [("membre", "Élodie Vigier"), ("motif", "badge oublié")]
    assert check_out.changes == [
        ("départ", "–", "mar. 7 déc. 2021 17:30"),
        ("fermée automatiquement", "oui", "non"),
        ("fin", "–", "à la main"),
    ]
    assert alarm.who == "ligne de commande (root)"
    assert alarm.details == [
        ("type", "porte forcée"),
        ("porte", "Porte d'entrée"),
        ("boîtier", "Boîtier de l'entrée"),
    ]
    assert imported.who == "import du fichier des sites"
    # The sites it touched are the page's Site column, not a detail.
    assert imported.affected == ["murat"]
    assert imported.details == []
