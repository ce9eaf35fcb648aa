"""The outgoing queue (`mail_queue`): what to send, to whom, from when; what happened.

A message is sent once: a process claims it (`claim`, so a second hub process leaves it
alone), hands it to the server, and marks it sent the moment the server accepted it. A
refusal the server says is temporary (or no server at all) is tried again later, twice as
late each time (`hub.rules.alerts.retry_delay`); one it says is final, or one still refused
after `give_up_after_h`, is marked failed, with the server's words, for admins to see.

>>> enqueue(session, "lea@example.fr", "Porte forcée", body, thread="incident:4")  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from hub.config import Mail
from hub.rules.alerts import retry_delay
from hub.store.models import MailMessage, utcnow

#: How long a claim holds a message: longer than one SMTP conversation can take.
CLAIM = timedelta(minutes=5)
#: Stored error text is bounded (a server may answer at length).
ERROR_CHARS = 500

State = Literal["waiting", "sent", "failed"]


@dataclass(frozen=True)
class Outgoing:
    """A message as the sender and the admins' page see it."""

    id: int
    to_address: str
    subject: str
    body: str
    created_at: datetime
    next_attempt_at: datetime
    attempts: int
    last_error: str | None
    sent_at: datetime | None
    failed_at: datetime | None

    @property
    def state(self) -> State:
        if self.sent_at is not None:
            return "sent"
        return "failed" if self.failed_at is not None else "waiting"


def _outgoing(row: MailMessage) -> Outgoing:
    return Outgoing(
        row.id,
        row.to_address,
        row.subject,
        row.body,
        row.created_at,
        row.next_attempt_at,
        row.attempts,
        row.last_error,
        row.sent_at,
        row.failed_at,
    )


def enqueue(
    session: Session,
    to_address: str,
    subject: str,
    body: str,
    *,
    thread: str | None = None,
    not_before: datetime | None = None,
    now: datetime | None = None,
) -> int:
    """Queue one message in the caller's transaction; its id."""
    now = now or utcnow()
    row = MailMessage(
        to_address=to_address,
        subject=subject[:300],
        body=body,
        thread=thread,
        created_at=now,
        next_attempt_at=max(not_before or now, now),
    )
    session.add(row)
    session.flush()
    return row.id


def unsent_in_thread(session: Session, thread: str) -> set[str]:
    """The addresses that have a message of `thread` still waiting."""
    query = select(MailMessage.to_address).where(
        MailMessage.thread == thread,
        MailMessage.sent_at.is_(None),
        MailMessage.failed_at.is_(None),
    )
    return set(session.scalars(query))


def claim_due(session: Session, now: datetime, limit: int = 50) -> list[Outgoing]:
    """Messages due now, claimed for this process until `now + CLAIM` (the caller commits);
    one claimed by another process that has not given it back yet is left alone."""
    ids = list(
        session.scalars(
            select(MailMessage.id)
            .where(
                MailMessage.sent_at.is_(None),
                MailMessage.failed_at.is_(None),
                MailMessage.next_attempt_at <= now,
                or_(MailMessage.claimed_until.is_(None), MailMessage.claimed_until < now),
            )
            .order_by(MailMessage.next_attempt_at, MailMessage.id)
            .limit(limit)
        )
    )
    claimed = []
    for message_id in ids:
        taken = session.execute(
            update(MailMessage)
            .where(
                MailMessage.id == message_id,
                MailMessage.sent_at.is_(None),
                or_(MailMessage.claimed_until.is_(None), MailMessage.claimed_until < now),
            )
            .values(claimed_until=now + CLAIM)
        )
        if taken.rowcount == 1:  # type: ignore[attr-defined]
            row = session.get(MailMessage, message_id)
            assert row is not None
            claimed.append(_outgoing(row))
    return claimed


def mark_sent(session: Session, message_id: int, now: datetime) -> None:
    """Sent: its body goes (a sign-in link in it must not outlive its use in the database);
    who, what and when stay for the admins' page until `purge`."""
    session.execute(
        update(MailMessage)
        .where(MailMessage.id == message_id)
        .values(sent_at=now, claimed_until=None, attempts=MailMessage.attempts + 1, body="")
    )


def purge(session: Session, before: datetime) -> int:
    """Forget messages sent or given up before `before` (addresses are personal data)."""
    done = session.execute(
        delete(MailMessage).where(or_(MailMessage.sent_at < before, MailMessage.failed_at < before))
    )
    return int(done.rowcount)  # type: ignore[attr-defined]


def mark_refused(
    session: Session,
    message_id: int,
    error: str,
    now: datetime,
    settings: Mail,
    *,
    final: bool = False,
) -> State:
    """Another try later, or failed for good (`final`, or too old): which one."""
    row = session.get(MailMessage, message_id)
    assert row is not None
    row.attempts += 1
    row.last_error = error[:ERROR_CHARS]
    row.claimed_until = None
    too_old = now - row.created_at >= timedelta(hours=settings.give_up_after_h)
    if final or too_old:
        row.failed_at = now
        return "failed"
    row.next_attempt_at = now + retry_delay(
        row.attempts, first_s=settings.retry_first_s, max_s=settings.retry_max_s
    )
    return "waiting"


@dataclass(frozen=True)
class QueuePage:
    messages: list[Outgoing]
    waiting: int
    failed: int
    total: int


def recent(session: Session, *, page: int = 1, per_page: int = 50) -> QueuePage:
    """Newest first, with how many wait and how many failed (for the admins' page)."""
    rows = session.scalars(
        select(MailMessage)
        .order_by(MailMessage.created_at.desc(), MailMessage.id.desc())
        .offset((page - 1) * per_page)
        .limit(per_page)
    )
    unsent = MailMessage.sent_at.is_(None)
    count = select(func.count()).select_from(MailMessage)
    return QueuePage(
        messages=[_outgoing(row) for row in rows],
        waiting=session.scalar(count.where(unsent, MailMessage.failed_at.is_(None))) or 0,
        failed=session.scalar(count.where(unsent, MailMessage.failed_at.is_not(None))) or 0,
        total=session.scalar(count) or 0,
    )
