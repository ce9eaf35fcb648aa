"""How a member gets into their own space without a password: a one-time link by e-mail, or
a one-time code an animator hands over; then a short member session, separate from staff's.

- A link is valid `LINK_VALID` (15 minutes), a code `CODE_VALID` (a day: it may be printed
  and typed at home), each once. Only their SHA-256 is stored: both are random enough (256
  and 50 bits, and codes are tried through a limited door) that a fast hash is enough, as for
  API tokens (`hub.people.api_tokens`).
- `request_link` answers nothing: the caller shows the same page whether the address is a
  member's or not; only a member's address gets an e-mail, queued in the caller's transaction.
- A member session lasts `SESSION_LIFETIME` from sign-in, whatever is done meanwhile.
- A new pass or session for a member does not end the others: a member may have a phone
  and a computer.

>>> with sessions.begin() as session:                                   # doctest: +SKIP
...     request_link(session, "lea@example.fr", link_base="https://hub.example/espace-membre/lien/")
...     secret = redeem(session, token_from_the_mail, kind="link")  # a session's secret
...     member_of(session, secret)                                     # 'M0001'
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from hub.mail.queue import enqueue
from hub.mail.render import Templates
from hub.people.audit import record
from hub.people.members import full_name
from hub.store.models import (
    Badge,
    Event,
    MailMessage,
    Member,
    MemberPass,
    MemberSession,
    PresenceSession,
    utcnow,
)

LINK_VALID = timedelta(minutes=15)
CODE_VALID = timedelta(hours=24)
SESSION_LIFETIME = timedelta(minutes=30)
#: An erasure request asked again within this is audited but not e-mailed again.
REQUEST_REPEAT = timedelta(days=1)
#: Letters and digits nobody confuses when reading a printed code (no 0/O, 1/I/L).
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 10
#: The audit's actor for what members do themselves; the member is named in the detail, so
#: an erasure (`hub.presence.retention.erase_member`) scrubs it as any mention of them.
ACTOR = "member"

PassKind = Literal["link", "code"]

TEMPLATES = Templates(Path(__file__).resolve().parent / "templates")


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def normalise_code(typed: str) -> str:
    """A code as a person types it: any case, with or without its dash and spaces."""
    return "".join(typed.split()).replace("-", "").upper()


@dataclass(frozen=True)
class IssuedCode:
    member_id: str
    member_name: str
    #: `ABCDE-FGHJK`: shown once, to print or read out.
    code: str
    expires_at: datetime


def _new_pass(session: Session, member_id: str, kind: PassKind, secret: str, now: datetime) -> None:
    valid = LINK_VALID if kind == "link" else CODE_VALID
    session.add(
        MemberPass(
            secret_hash=digest(secret),
            member_id=member_id,
            kind=kind,
            created_at=now,
            expires_at=now + valid,
        )
    )
    session.flush()


def request_link(
    session: Session, email: str, *, link_base: str, now: datetime | None = None
) -> int:
    """Queue a sign-in link for each member with this address (any case); how many. The
    caller must not tell the person: the answer is the same for any address."""
    now = now or utcnow()
    wanted = email.strip().lower()
    if not wanted:
        return 0
    found = session.scalars(
        select(Member).where(func.lower(Member.email) == wanted).order_by(Member.id)
    ).all()
    for member in found:
        assert member.email is not None  # the query's
        secret = secrets.token_urlsafe(32)
        _new_pass(session, member.id, "link", secret, now)
        subject, body = TEMPLATES.render(
            "member_link.txt",
            member_name=full_name(member.first_name, member.last_name),
            link=link_base + secret,
            minutes=int(LINK_VALID.total_seconds() // 60),
        )
        enqueue(session, member.email, subject, body, thread=f"member-link:{member.id}", now=now)
    return len(found)


class NotMet(Exception):
    """A code asked for a member the asking staff have not met at their sites."""


def met_at(session: Session, member_id: str, sites: Collection[str] | None) -> bool:
    """Whether staff of `sites` (None: every site, department and admin) may hand this
    member a code: the member has stayed or tapped at one of those sites (a tap is its
    holder's then, `badge_holdings`), or a card they hold now was presented there while no
    one held it (a newcomer's card, refused as unknown, then given at the desk; the store
    keeps no site for a card's giving, so its taps stand for it). A card's taps by its
    previous holder are theirs, not this member's.

    A code opens the member's own space, their invoices and stays at every site: an animator
    may not read through it what the staff pages refuse them for members of other sites."""
    if sites is None:
        return True
    wanted = sorted(sites)
    stayed = select(PresenceSession.id).where(
        PresenceSession.member_id == member_id, PresenceSession.site_id.in_(wanted)
    )
    cards = select(Badge.uid).where(Badge.member_id == member_id, Badge.active)
    tapped = select(Event.id).where(
        Event.site.in_(wanted),
        or_(
            Event.member_id == member_id,
            Event.member_id.is_(None) & Event.badge.in_(cards),
        ),
    )
    return bool(session.scalar(select(or_(stayed.exists(), tapped.exists()))))


def issue_code(
    session: Session,
    member_id: str,
    *,
    actor: str,
    sites: Collection[str] | None,
    now: datetime | None = None,
) -> IssuedCode | None:
    """A one-time code for a member, made by staff of `sites` (None: every site) who hand it
    over in person; None: no such member; `NotMet` unless `met_at`. Audited, without the
    code."""
    now = now or utcnow()
    member = session.get(Member, member_id)
    if member is None:
        return None
    if not met_at(session, member_id, sites):
        raise NotMet(member_id)
    code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    _new_pass(session, member_id, "code", code, now)
    record(session, actor, "member_code_issued", member_id=member_id)
    half = CODE_LENGTH // 2
    return IssuedCode(
        member_id,
        full_name(member.first_name, member.last_name),
        f"{code[:half]}-{code[half:]}",
        now + CODE_VALID,
    )


def redeem(
    session: Session, secret: str, *, kind: PassKind, now: datetime | None = None
) -> str | None:
    """Use a link's token or a code (once), each only as its `kind`: the link's page counts
    no wrong tries, so a code must not be tried there. The secret of a new member session,
    to put in the member's cookie; None if it is unknown, of another kind, used or expired.
    The single use holds even when two requests race: only the one whose update changed the
    row goes on."""
    now = now or utcnow()
    hashed = digest(normalise_code(secret) if kind == "code" else secret)
    found = session.scalars(
        select(MemberPass).where(MemberPass.secret_hash == hashed, MemberPass.kind == kind)
    ).first()
    if found is None or found.used_at is not None or found.expires_at <= now:
        return None
    used = session.execute(
        update(MemberPass)
        .where(MemberPass.id == found.id, MemberPass.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if used.rowcount != 1:  # type: ignore[attr-defined]
        return None
    token = secrets.token_urlsafe(32)
    session.add(
        MemberSession(
            secret_hash=digest(token),
            member_id=found.member_id,
            created_at=now,
            expires_at=now + SESSION_LIFETIME,
        )
    )
    record(session, ACTOR, "member_signed_in", member_id=found.member_id, how=found.kind)
    session.flush()
    return token


def member_of(session: Session, token: str, *, now: datetime | None = None) -> str | None:
    """The member whose session this is, while it lasts; None otherwise."""
    now = now or utcnow()
    found = session.scalars(
        select(MemberSession).where(MemberSession.secret_hash == digest(token))
    ).first()
    if found is None or found.ended_at is not None or found.expires_at <= now:
        return None
    if session.get(Member, found.member_id) is None:
        return None
    return found.member_id


def end_session(session: Session, token: str, *, now: datetime | None = None) -> None:
    session.execute(
        update(MemberSession)
        .where(MemberSession.secret_hash == digest(token), MemberSession.ended_at.is_(None))
        .values(ended_at=now or utcnow())
    )


def forget_spent(session: Session, now: datetime | None = None) -> int:
    """Delete passes and sessions over for a day (used, expired or ended): they open nothing
    any more, and a sign-in's trace stays in the audit log. How many went."""
    cut = (now or utcnow()) - timedelta(days=1)
    gone = 0
    for table in (MemberPass, MemberSession):
        result = session.execute(
            delete(table).where(table.expires_at < cut).execution_options(synchronize_session=False)
        )
        gone += result.rowcount  # type: ignore[attr-defined]
    return gone


def asked_lately(session: Session, thread: str, now: datetime) -> bool:
    """Whether an e-mail of `thread` was queued within `REQUEST_REPEAT`: a member pressing
    the button again tells the department once a day, not once a press."""
    since = now - REQUEST_REPEAT
    found = session.scalar(
        select(func.count())
        .select_from(MailMessage)
        .where(MailMessage.thread == thread, MailMessage.created_at >= since)
    )
    return bool(found)


def request_erasure(
    session: Session,
    member_id: str,
    *,
    department_email: str | None,
    now: datetime | None = None,
) -> None:
    """A member asks for their data to be erased: the department decides (invoices are
    accounting records, kept for years), so this is told, not done. Audited (admins see it on
    the audit page) and, when the department has an address, e-mailed there."""
    now = now or utcnow()
    member = session.get(Member, member_id)
    if member is None:
        return
    record(session, ACTOR, "member_erasure_requested", member_id=member_id)
    thread = f"erasure:{member_id}"
    if department_email is not None and not asked_lately(session, thread, now):
        subject, body = TEMPLATES.render(
            "erasure_request.txt",
            member_name=full_name(member.first_name, member.last_name),
            member_id=member_id,
            email=member.email,
        )
        enqueue(session, department_email, subject, body, thread=thread, now=now)
