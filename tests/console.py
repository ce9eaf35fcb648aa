"""Helpers for the console's tests: users, signing in (Flask's test client or Chromium), and
a running hub with the demo sites and members.

Fixtures built on these live in `tests/conftest.py`: `running_hub` (the hub service on a real
Mosquitto and SQLite, demo sites and members imported), `browser` (Debian's Chromium through
Playwright, one per run), `page` (a fresh French context per test, 1280 px wide),
`console_app` / `console_client` (the app on the `sessions` store, Flask's test client).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import cache
from typing import TYPE_CHECKING

from babel.messages.pofile import read_po
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker

from hub.people import users
from tests.servers import REPO

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CATALOG = REPO / "hub" / "console" / "translations" / "fr" / "LC_MESSAGES" / "messages.po"
PASSWORD = "un mot de passe assez long"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]

_CSRF_RE = re.compile(
    r'name="csrf_token" type="hidden" value="([^"]+)"|'
    r'type="hidden" name="csrf_token" value="([^"]+)"'
)


def add_user(
    sessions: sessionmaker[Session],
    login: str,
    role: str,
    sites: Sequence[str] = (),
    password: str = PASSWORD,
    display_name: str | None = None,
    email: str | None = None,
) -> users.Account:
    with sessions.begin() as session:
        return users.create_user(
            session,
            login=login,
            display_name=display_name or login.capitalize(),
            role=role,
            sites=sites,
            password=password,
            actor="test",
            email=email,
        )


def csrf_token(html: str) -> str:
    """The CSRF token of the first form of a page."""
    match = _CSRF_RE.search(html)
    assert match is not None, "no CSRF token on this page"
    return match.group(1) or match.group(2)


def client_sign_in(client: FlaskClient, login: str, password: str = PASSWORD) -> int:
    """Sign in through the login form; the status of the answer (302 when signed in)."""
    token = csrf_token(client.get("/login").text)
    answer = client.post("/login", data={"login": login, "password": password, "csrf_token": token})
    return answer.status_code


def session_cookie(app: Flask, login: str) -> str:
    """`telecentre_session=…` of `login` signed in (and landed on the board, as a browser
    does), for clients other than Flask's: raw sockets, nginx."""
    client = app.test_client()
    assert client_sign_in(client, login) == 302
    assert client.get("/").status_code == 200
    cookie = client.get_cookie("telecentre_session")
    assert cookie is not None
    return f"telecentre_session={cookie.value}"


def browser_sign_in(page: Page, base_url: str, login: str, password: str = PASSWORD) -> None:
    page.goto(f"{base_url}/login")
    page.get_by_label("Identifiant").fill(login)
    page.get_by_label("Mot de passe").fill(password)
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_url(f"{base_url}/")


@contextmanager
def axe_page(browser: Browser, base_url: str, login: str, width: int) -> Iterator[Page]:
    """`login` signed in, in French, `width` px wide, in a context where axe-core may run:
    it is injected as an inline script, which the pages' policy rightly forbids."""
    context = browser.new_context(
        locale="fr-FR", viewport={"width": width, "height": 900}, bypass_csp=True
    )
    try:
        page = context.new_page()
        browser_sign_in(page, base_url, login)
        yield page
    finally:
        context.close()


@cache
def _english(allowed: frozenset[str]) -> re.Pattern[str]:
    """Any source string whose French differs, long enough to be words rather than chance,
    as a whole phrase, in one pattern (longest first): searching for each of a thousand
    strings alone would compile each again, past `re`'s cache, for every text."""
    sources = [m for m, f in french().items() if f != m and len(m) > 3 and m not in allowed]
    phrases = "|".join(re.escape(m) for m in sorted(sources, key=len, reverse=True))
    return re.compile(rf"(?<![\w'’-])(?:{phrases})(?![\w'’-])")


def english_left(texts: Mapping[str, str], allowed: Collection[str] = ()) -> list[str]:
    """`place: 'source string'` for each English string of the catalog still shown in a
    page's text (one typed in a template without `_()`, or a catalog entry missing); the
    `allowed` read the same in both languages."""
    pattern = _english(frozenset(allowed))
    return [
        f"{place}: {found!r}"
        for place, text in texts.items()
        for found in sorted(set(pattern.findall(text)))
    ]


def french() -> dict[str, str]:
    """msgid → French (a plural message by its singular, its French plural forms joined)."""
    with CATALOG.open("rb") as source:
        catalog = read_po(source)
    found = {}
    for message in catalog:
        if not message.id or message.fuzzy:
            continue
        if isinstance(message.id, str):
            found[message.id] = str(message.string)
        else:  # plural: every form must be there
            forms = [str(form) for form in message.string or ()]
            found[str(message.id[0])] = " | ".join(forms) if all(forms) else ""
    return found
