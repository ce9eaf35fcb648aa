"""The members page's polls (`/members/unknown-badges`, `/members/doors`) are not activity:
a page left open does not keep its session alive past the idle timeout, and once it has
ended a poll takes the whole page to the login form (htmx's `HX-Redirect`)."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker

from tests.console import add_user, client_sign_in

POLLS = ["/members/unknown-badges", "/members/doors"]
HTMX = {"HX-Request": "true"}


@pytest.fixture
def client(console_app: Flask, sessions: sessionmaker[Session]) -> FlaskClient:
    add_user(sessions, "ada", "admin")
    client = console_app.test_client()
    assert client_sign_in(client, "ada") == 302
    return client


def seen_ago(client: FlaskClient, minutes: float) -> int:
    seen = int(time.time() - timedelta(minutes=minutes).total_seconds())
    with client.session_transaction() as cookie:
        cookie["seen"] = seen
    return seen


def test_polls_do_not_keep_a_session_alive(client: FlaskClient) -> None:
    seen = seen_ago(client, 29)
    for _ in range(3):
        for poll in POLLS:
            assert client.get(poll, headers=HTMX).status_code in (200, 204)
    with client.session_transaction() as cookie:
        assert cookie["seen"] == seen  # polled, not refreshed


@pytest.mark.parametrize("poll", POLLS)
def test_a_poll_after_the_idle_timeout_takes_the_page_to_the_login(
    client: FlaskClient, poll: str
) -> None:
    seen_ago(client, 31)
    answer = client.get(poll, headers=HTMX)
    assert answer.status_code == 204
    assert answer.headers["HX-Redirect"] == "/login"
    assert client.get("/members/").status_code == 302  # signed out for good


def test_a_page_asked_for_still_counts_as_activity(client: FlaskClient) -> None:
    seen = seen_ago(client, 29)
    assert client.get("/members/").status_code == 200
    with client.session_transaction() as cookie:
        assert cookie["seen"] > seen
