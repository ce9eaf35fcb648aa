"""The outgoing queue on SQLite and PostgreSQL: a message claimed by one sender is not given
to another, retries wait longer each time and end, sent ones lose their body and are
forgotten after `mail.keep_days`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hub.config import Mail
from hub.mail import queue
from hub.store.models import MailMessage

NOW = datetime(2026, 12, 8, 9, 0, tzinfo=UTC)
SETTINGS = Mail(retry_first_s=60, retry_max_s=600, give_up_after_h=1)


def test_a_claimed_message_is_not_claimed_again_until_its_claim_lapses(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        queue.enqueue(session, "lea@murat.example", "Porte forcée", "…", now=NOW)
    with sessions.begin() as session:
        [first] = queue.claim_due(session, NOW)
    with sessions.begin() as session:
        assert queue.claim_due(session, NOW + timedelta(minutes=1)) == []
    with sessions.begin() as session:  # the first sender died: its claim lapses
        [again] = queue.claim_due(session, NOW + queue.CLAIM + timedelta(seconds=1))
    assert again.id == first.id


def test_retries_wait_longer_then_the_message_is_given_up(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        message = queue.enqueue(session, "lea@murat.example", "Porte forcée", "…", now=NOW)
    states: list[object] = []
    for minutes in (0, 1, 3, 59, 60):
        with sessions.begin() as session:
            states.append(
                queue.mark_refused(
                    session, message, "421 try later", NOW + timedelta(minutes=minutes), SETTINGS
                )
            )
            row = session.get(MailMessage, message)
            assert row is not None
            states.append(row.next_attempt_at - (NOW + timedelta(minutes=minutes)))
    assert states == [
        "waiting", timedelta(seconds=60),
        "waiting", timedelta(seconds=120),
        "waiting", timedelta(seconds=240),
        "waiting", timedelta(seconds=480),
        "failed", timedelta(seconds=480 - 60),  # given up after an hour: no next try
    ]  # fmt: skip


def test_a_sent_message_loses_its_body_and_is_forgotten_after_keep_days(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        sent = queue.enqueue(
            session, "lea@murat.example", "Lien de connexion", "https://…", now=NOW
        )
        waiting = queue.enqueue(session, "marc@mauriac.example", "Porte forcée", "…", now=NOW)
        queue.mark_sent(session, sent, NOW)
    with sessions.begin() as session:
        assert session.scalars(select(MailMessage.body).where(MailMessage.id == sent)).one() == ""
        assert queue.purge(session, NOW - timedelta(days=1)) == 0
        assert queue.purge(session, NOW + timedelta(seconds=1)) == 1
    with sessions() as session:
        assert list(session.scalars(select(MailMessage.id))) == [waiting]
