"""The sign-in limit holds under parallel requests: an attempt is counted before its
password is checked, so thirty wrong passwords sent at once for one login are five checks
(401) and twenty-five refusals (429), and the right password is refused too until the
minute has passed. A right password gives its attempt back."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker

from hub.console.ratelimit import PER_ACCOUNT
from tests.console import PASSWORD, add_user, client_sign_in, csrf_token

PARALLEL = 30


def ready(console_app: Flask) -> tuple[FlaskClient, str]:
    client = console_app.test_client()
    return client, csrf_token(client.get("/login").text)


def test_thirty_parallel_wrong_passwords_are_five_checks(
    console_app: Flask, sessions: sessionmaker[Session]
) -> None:
    add_user(sessions, "marie", "department")
    clients = [ready(console_app) for _ in range(PARALLEL)]
    start = threading.Barrier(PARALLEL)

    def attempt(pair: tuple[FlaskClient, str]) -> int:
        client, token = pair
        start.wait(timeout=30)
        data = {"login": "marie", "password": "not the password", "csrf_token": token}
        return client.post("/login", data=data).status_code

    with ThreadPoolExecutor(PARALLEL) as pool:
        statuses = list(pool.map(attempt, clients))
    assert sorted(statuses) == [401] * PER_ACCOUNT + [429] * (PARALLEL - PER_ACCOUNT)
    assert client_sign_in(console_app.test_client(), "marie") == 429


def test_a_right_password_gives_its_attempt_back(
    console_app: Flask, sessions: sessionmaker[Session]
) -> None:
    add_user(sessions, "marie", "department")
    for _ in range(PER_ACCOUNT * 3):
        assert client_sign_in(console_app.test_client(), "marie", PASSWORD) == 302
    for _ in range(PER_ACCOUNT - 1):
        assert client_sign_in(console_app.test_client(), "marie", "wrong password") == 401
    assert client_sign_in(console_app.test_client(), "marie", PASSWORD) == 302
