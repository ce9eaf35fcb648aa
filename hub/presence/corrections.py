"""Sessions made or corrected by a person: a forgotten badge, a forgotten check-out, a
wrong auto-close (docs/rules.md, Manual sessions).

A manual session is final: no replay rewrites it or starts before it, so a late tap of that
member at that site never undoes a correction (`hub.rules.replay`). Each function checks its
input and raises `CorrectionError` naming the form field before it writes anything, writes
an `AuditEntry` (who, what, before → after) and works in the caller's transaction; the caller
commits. The API, the CLI and the console all call these:

>>> with sessions.begin() as session:                                  # doctest: +SKIP
...     row = manual_check_out(session, session_id=12, at=now, reason="oubli", actor="amelie")
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.people.users import N_
from hub.rules.model import utc
from hub.store.models import AuditEntry, Member, PresenceSession, Site, utcnow
from hub.store.replay import lock_members

#: A correction "now" may be a little ahead of the hub's clock (a phone's clock).
CLOCK_SLACK = timedelta(minutes=2)
REASON_MAX_CHARS = 500


class CorrectionError(ValueError):
    """Bad input for a correction: `field` names the form field, `message` says why (an
    English message of the console's catalog, with its `params`; `text` is it written out,
    for the API and the CLI)."""

    def __init__(self, field: str, message: str, **params: Any) -> None:
        self.field = field
        self.message = message
        self.params = params
        written = {k: v.isoformat(timespec="minutes") if isinstance(v, datetime) else v
                   for k, v in params.items()}  # fmt: skip
        self.text = message % written if params else message
        super().__init__(f"{field}: {self.text}")


class SessionChanged(CorrectionError):
    """The session is no longer as the person saw it (a tap closed it, a replay moved its
    end): the caller answers 409 with `row`, the session as it now stands, and nothing is
    written."""

    def __init__(self, row: PresenceSession) -> None:
        super().__init__("session_id", N_("the session changed meanwhile"))
        self.row = row


def version(row: PresenceSession) -> str:
    """What a person saw of a session, to send back with a correction (`seen`): its start,
    end and how it ended. Any change to them, by a tap, a replay or another person, makes a
    correction made on the old view answer `SessionChanged`."""
    return version_of(row.start, row.end, row.end_reason)


def version_of(start: datetime, end: datetime | None, end_reason: str | None) -> str:
    """`version` of a session read elsewhere (a report's row)."""
    ended = "-" if end is None else utc(end).isoformat()
    return f"{utc(start).isoformat()}/{ended}/{end_reason or '-'}"


#: No télécentre counted anyone before: an earlier time is a typing slip (year 0001...).
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)


def _reason(reason: str) -> str:
    text = reason.strip()
    if not text:
        raise CorrectionError("reason", N_("the reason is required"))
    if len(text) > REASON_MAX_CHARS:
        raise CorrectionError(
            "reason", N_("the reason is longer than %(max)d characters"), max=REASON_MAX_CHARS
        )
    return text


def _instant(field: str, value: datetime, now: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise CorrectionError(field, N_("the time needs a time zone"))
    try:
        instant = utc(value)
    except OverflowError:
        raise CorrectionError(field, N_("the time is out of the possible dates")) from None
    if instant < EARLIEST:
        raise CorrectionError(field, N_("the time is too old (before the year 2000)"))
    if instant > utc(now) + CLOCK_SLACK:
        raise CorrectionError(field, N_("the time is in the future"))
    return value


def _check_no_overlap(
    session: Session,
    member_id: str,
    site_id: str,
    start: datetime,
    end: datetime | None,
    *,
    field: str,
    ignore: int | None = None,
) -> None:
    """Refuse a stay that overlaps another session of the member, at any site (a member is
    in one place at a time). Of a session at another site, the message says nothing more:
    an animator of this site may not see the others."""
    query = select(PresenceSession).where(PresenceSession.member_id == member_id)
    if end is not None:
        query = query.where(PresenceSession.start < end)
    if ignore is not None:
        query = query.where(PresenceSession.id != ignore)
    for other in session.scalars(query):
        if other.end is None or utc(other.end) > utc(start):
            if other.site_id != site_id:
                raise CorrectionError(
                    field, N_("overlaps a session of this member at another télécentre")
                )
            raise CorrectionError(
                field,
                N_("overlaps session no. %(number)d (since %(since)s)"),
                number=other.id,
                since=other.start,
            )


def _snapshot(row: PresenceSession) -> dict[str, Any]:
    return {
        "start": row.start.isoformat(),
        "end": None if row.end is None else row.end.isoformat(),
        "auto_closed": row.auto_closed,
        "end_reason": row.end_reason,
        "manual": row.manual,
    }


def _mark_manual(row: PresenceSession, reason: str, actor: str, now: datetime) -> None:
    row.manual = True
    row.final = True
    row.manual_reason = reason
    row.manual_by = actor
    row.manual_at = now


def _audit(
    session: Session,
    action: str,
    row: PresenceSession,
    before: dict[str, Any] | None,
    reason: str,
    actor: str,
    now: datetime,
) -> None:
    session.add(
        AuditEntry(
            at=now,
            actor=actor,
            action=action,
            site_id=row.site_id,
            detail={
                "session_id": row.id,
                "member_id": row.member_id,
                "reason": reason,
                "before": before,
                "after": _snapshot(row),
            },
        )
    )


def _save(
    session: Session,
    action: str,
    row: PresenceSession,
    before: dict[str, Any] | None,
    reason: str,
    actor: str,
    now: datetime,
) -> None:
    """Every correction ends the same way: the session marked manual (so no recompute
    overwrites it), written, and its before/after in the audit log."""
    _mark_manual(row, reason, actor, now)
    session.flush()
    _audit(session, action, row, before, reason, actor, now)


def _stored_session(session: Session, session_id: int, seen: str | None) -> PresenceSession:
    """The session to correct, its member locked; `SessionChanged` if it is no longer the
    `seen` version."""
    row = session.get(PresenceSession, session_id)
    if row is None:
        raise CorrectionError(
            "session_id", N_("there is no session no. %(number)d"), number=session_id
        )
    if row.member_id is None:
        raise CorrectionError("session_id", N_("this session is pseudonymised (retention)"))
    lock_members(session, [row.member_id])
    session.refresh(row)  # as it stands once locked: a batch may have changed it meanwhile
    if seen is not None and seen != version(row):
        raise SessionChanged(row)
    return row


def manual_check_in(
    session: Session,
    *,
    member_id: str,
    site_id: str,
    at: datetime,
    reason: str,
    actor: str,
    now: datetime | None = None,
) -> PresenceSession:
    """Open a session for a member who came in without badging; a later tap out (or the
    auto-close) ends it, and it stays manual."""
    now = now or utcnow()
    why = _reason(reason)
    if session.get(Member, member_id) is None:
        raise CorrectionError("member_id", N_("there is no member %(member)r"), member=member_id)
    if session.get(Site, site_id) is None:
        raise CorrectionError("site_id", N_("there is no site %(site)r"), site=site_id)
    _instant("at", at, now)
    lock_members(session, [member_id])
    _check_no_overlap(session, member_id, site_id, at, None, field="at")
    row = PresenceSession(member_id=member_id, site_id=site_id, start=at, auto_closed=False)
    session.add(row)
    _save(session, "session_check_in", row, None, why, actor, now)
    return row


def manual_check_out(
    session: Session,
    *,
    session_id: int,
    at: datetime,
    reason: str,
    actor: str,
    now: datetime | None = None,
    seen: str | None = None,
) -> PresenceSession:
    """End an open (or auto-closed) session at `at`: the member forgot to badge out.

    One that ended otherwise meanwhile (a tap out, the member seen elsewhere) has changed
    under the person's eyes: `SessionChanged`, whether they said what they saw or not."""
    now = now or utcnow()
    why = _reason(reason)
    row = _stored_session(session, session_id, seen)
    if row.end is not None and not row.auto_closed:
        raise SessionChanged(row)
    _instant("at", at, now)
    # The form says the time to the minute, the arrival has its seconds: a check-out in the
    # arrival's own minute ends the stay at the arrival, not before it.
    if utc(at) < utc(row.start).replace(second=0, microsecond=0):
        raise CorrectionError("at", N_("the check-out is before the arrival"))
    at = max(at, row.start, key=utc)
    assert row.member_id is not None  # _stored_session
    _check_no_overlap(session, row.member_id, row.site_id, row.start, at, field="at", ignore=row.id)
    before = _snapshot(row)
    row.end, row.auto_closed, row.end_reason, row.end_event_id = at, False, "manual", None
    row.natural_end = at
    _save(session, "session_check_out", row, before, why, actor, now)
    return row


def correct_session(
    session: Session,
    *,
    session_id: int,
    start: datetime,
    end: datetime | None,
    reason: str,
    actor: str,
    now: datetime | None = None,
    seen: str | None = None,
) -> PresenceSession:
    """Set a session's start and end (None: still open) as a person knows them to be;
    `seen`: the `version` the person corrected (`SessionChanged` if it is no longer)."""
    now = now or utcnow()
    why = _reason(reason)
    row = _stored_session(session, session_id, seen)
    _instant("start", start, now)
    if end is not None:
        _instant("end", end, now)
        if utc(end) < utc(start):
            raise CorrectionError("end", N_("the end is before the start"))
    assert row.member_id is not None  # _stored_session
    _check_no_overlap(session, row.member_id, row.site_id, start, end, field="start", ignore=row.id)
    before = _snapshot(row)
    if utc(row.start) != utc(start):
        row.start, row.start_event_id = start, None
    if end is None:
        row.end, row.auto_closed, row.end_reason, row.end_event_id = None, False, None, None
    elif row.end is None or utc(row.end) != utc(end):
        row.end, row.auto_closed, row.end_reason, row.end_event_id = end, False, "manual", None
    row.natural_end = row.end
    _save(session, "session_corrected", row, before, why, actor, now)
    return row
