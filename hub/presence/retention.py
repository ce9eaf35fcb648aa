"""How long the hub keeps personal data (RULES.md, Retention (CNIL)), and a member's rights
to get theirs (`export_member`) and to have it erased (`erase_member`).

Every function works inside the caller's transaction and writes an `audit_log` entry;
the caller commits:

>>> with sessions.begin() as session:                     # doctest: +SKIP
...     apply_retention(session, utcnow(), **config.retention.model_dump())

Choices where RULES.md leaves one:
- Raw events older than `events_retention_days` (by their `ts`) are deleted, every type
  alike, rather than stripped: a badge or door event without its badge still says when a
  door moved, which the per-site counts in InfluxDB and the sessions already keep. Rejected
  payloads older than that (by `received_at`) go too: they may hold badge UIDs.
- A quarantined tap is kept until a person applies or dismisses it, or until
  `quarantine_days` after its receipt (a year by default): its time stamp is known to be
  wrong, so it says nothing of when it is too old; its receipt does.
- Before they go, every session starting before the same cut is marked `final`: its taps are
  about to go, so no replay may rewrite it (docs/rules.md, Final sessions).
- Sessions older than `sessions_retention_years` lose their member for a random pseudonym.
  To keep distinct users countable per year although retention runs every day, a member's
  expired sessions take with them all that member's sessions of the same local calendar
  year (the year reports count them in, RULES.md rule 5), and a run gives each member one
  pseudonym for all the sessions it pseudonymises: a yearly count of users stays exact.
  Those same-year sessions are pseudonymised up to a year early, which the CNIL's limit (a
  maximum) allows. A count across years pseudonymised in different runs may count a member
  twice. Pseudonyms are random and no table links them back to members.
- Closed months' invoice lines and invoices are accounting records (docs/rules.md,
  Invoices): neither the retention nor an erasure deletes them. An erasure replaces the
  name, e-mail and address they carry by `[erased]` only on lines of months older than the
  accounting horizon (`accounting_years`, 10 by default: Code de commerce L123-22); younger
  ones keep them, as the law requires, and say so in the erasure's result.
- An erasure deletes the member and their badges, pseudonymises their sessions (one
  pseudonym; the reason of a manual correction, which may name them, becomes `[erased]`),
  strips their events of badge and member (and the badge from the raw payload), deletes
  rejected payloads naming their badges, and replaces their id, email, names and badge UIDs
  by `[erased]` in audit entries that name them; its own audit entry names no one.
"""

from __future__ import annotations

import json
import secrets
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from typing import cast as typing_cast
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    CursorResult,
    Delete,
    String,
    and_,
    cast,
    delete,
    false,
    func,
    not_,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.orm import InstrumentedAttribute, Session

from hub.rules.presence import DEFAULT_DEBOUNCE_S
from hub.store.models import (
    AuditEntry,
    Badge,
    BadgeHolding,
    Event,
    Invoice,
    InvoiceRecord,
    Member,
    PresenceSession,
    RejectedEvent,
    Site,
    utcnow,
)

ERASED = "[erased]"
#: Rows changed per statement: keeps `IN (…)` lists well within every database's limits.
_CHUNK = 500


class UnknownMember(LookupError):
    """No member has this id."""


@dataclass(frozen=True)
class RetentionResult:
    events_deleted: int
    rejected_deleted: int
    sessions_pseudonymised: int
    #: Distinct members whose sessions were pseudonymised (as many pseudonyms).
    members_pseudonymised: int
    #: Sessions marked final before their taps went (docs/rules.md, Final sessions).
    sessions_finalised: int = 0


@dataclass(frozen=True)
class ErasureResult:
    sessions_pseudonymised: int
    badges_deleted: int
    events_stripped: int
    rejected_deleted: int
    audit_entries_scrubbed: int
    #: Invoice lines past the accounting horizon whose name and e-mail were replaced.
    invoice_lines_scrubbed: int = 0
    #: Invoice lines still within it: kept whole, as accounting records.
    invoice_lines_kept: int = 0


def new_pseudonym() -> str:
    """A random stand-in for a member on their old sessions, linked to nothing."""
    return f"p-{secrets.token_hex(16)}"


def years_before(now: datetime, years: int) -> datetime:
    """The same instant `years` calendar years earlier (29 February becomes the 28th)."""
    try:
        return now.replace(year=now.year - years)
    except ValueError:
        return now.replace(year=now.year - years, day=28)


def _chunks(items: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def _delete(session: Session, statement: Delete) -> int:
    """Run a DELETE; how many rows it removed."""
    result = typing_cast(CursorResult[Any], session.execute(statement))
    return result.rowcount


def _site_zones(session: Session) -> dict[str, ZoneInfo]:
    return {site: ZoneInfo(zone) for site, zone in session.execute(select(Site.id, Site.timezone))}


def _local_year(start: datetime, site: str, zones: dict[str, ZoneInfo]) -> int:
    return start.astimezone(zones.get(site, ZoneInfo("Europe/Paris"))).year


def _pseudonymise(session: Session, ids: Sequence[int], pseudonym: str) -> None:
    for chunk in _chunks(ids):
        session.execute(
            update(PresenceSession)
            .where(PresenceSession.id.in_(chunk))
            .values(member_id=None, pseudonym=pseudonym)
            .execution_options(synchronize_session="fetch")
        )


def apply_retention(
    session: Session,
    now: datetime,
    events_retention_days: int = 90,
    sessions_retention_years: int = 5,
    *,
    quarantine_days: int = 365,
    debounce_s: float = DEFAULT_DEBOUNCE_S,
    actor: str = "retention",
) -> RetentionResult:
    """Delete raw events older than `events_retention_days` and pseudonymise sessions older
    than `sessions_retention_years` (see the module's notes); audited as `retention`."""
    events_before = now - timedelta(days=events_retention_days)
    sessions_before = years_before(now, sessions_retention_years)

    # First: a session whose taps are about to go can never be replayed again, so no replay
    # may start before it or rewrite it. A session is at most 48 h long, so one starting
    # before the cut has ended (or is a manual check-in, final anyway).
    finalised = typing_cast(
        CursorResult[Any],
        session.execute(
            update(PresenceSession)
            .where(PresenceSession.start < events_before, PresenceSession.final.is_(false()))
            .values(final=True)
            .execution_options(synchronize_session=False)
        ),
    ).rowcount
    # By the earlier of the edge's time stamp and the hub's receipt: a Pi whose clock runs
    # ahead must not keep movement data past the limit.
    # Except a tap that opened or closed nothing but still counts for the debounce of the
    # taps just after the cut (`no_open_session`, `already_in`, less than `debounce_s`
    # before it): without it, a replay after the cut would count a tap the full history
    # debounces. It goes at the next run, a day later.
    debounce_memory = and_(
        Event.outcome.in_(("no_open_session", "already_in")),
        Event.ts >= events_before - timedelta(seconds=debounce_s),
        Event.received_at >= events_before,
    )
    # Written without NOT: most events have no outcome, and NOT (NULL = …) is NULL.
    not_waiting = or_(
        Event.outcome.is_(None),
        Event.outcome != "quarantined",
        Event.received_at < now - timedelta(days=quarantine_days),
    )
    events_deleted = _delete(
        session,
        delete(Event).where(
            or_(Event.ts < events_before, Event.received_at < events_before),
            not_(debounce_memory),
            not_waiting,
        ),
    )
    rejected_deleted = _delete(
        session, delete(RejectedEvent).where(RejectedEvent.received_at < events_before)
    )

    zones = _site_zones(session)
    expired_years: dict[str, set[int]] = defaultdict(set)
    for member_id, site, start in session.execute(
        select(PresenceSession.member_id, PresenceSession.site_id, PresenceSession.start).where(
            PresenceSession.start < sessions_before, PresenceSession.member_id.is_not(None)
        )
    ):
        if member_id is not None:
            expired_years[member_id].add(_local_year(start, site, zones))

    pseudonymised = 0
    for member_id, years in sorted(expired_years.items()):
        # Every local new year is within a day of the UTC one.
        horizon = datetime(max(years) + 1, 1, 2, tzinfo=UTC)
        ids = [
            session_id
            for session_id, site, start in session.execute(
                select(PresenceSession.id, PresenceSession.site_id, PresenceSession.start).where(
                    PresenceSession.member_id == member_id, PresenceSession.start < horizon
                )
            )
            if _local_year(start, site, zones) in years
        ]
        _pseudonymise(session, ids, new_pseudonym())
        pseudonymised += len(ids)

    result = RetentionResult(
        events_deleted=events_deleted,
        rejected_deleted=rejected_deleted,
        sessions_pseudonymised=pseudonymised,
        members_pseudonymised=len(expired_years),
        sessions_finalised=finalised,
    )
    session.add(
        AuditEntry(
            at=now,
            actor=actor,
            action="retention",
            detail={
                **asdict(result),
                "events_before": events_before.isoformat(),
                "quarantined_received_before": (now - timedelta(days=quarantine_days)).isoformat(),
                "sessions_before": sessions_before.isoformat(),
            },
        )
    )
    return result


# A member's rights: export and erasure.


def _iso(value: datetime | date | None) -> str | None:
    return None if value is None else value.isoformat()


def _get_member(session: Session, member_id: str) -> Member:
    member = session.get(Member, member_id)
    if member is None:
        raise UnknownMember(member_id)
    return member


def _holdings(session: Session, member_id: str) -> list[BadgeHolding]:
    """Every card they held and when, those given to someone else since included."""
    return list(
        session.scalars(
            select(BadgeHolding)
            .where(BadgeHolding.member_id == member_id)
            .order_by(BadgeHolding.uid, BadgeHolding.id)
        )
    )


def _while_held(holding: BadgeHolding, at: InstrumentedAttribute[datetime]) -> ColumnElement[bool]:
    """`at` within `holding`: from its start (none: a card's first holder holds it for every
    earlier time) until its end (none: held still)."""
    return and_(
        at >= holding.held_from if holding.held_from is not None else true(),
        at < holding.held_until if holding.held_until is not None else true(),
    )


def _member_events(member_id: str, holdings: Sequence[BadgeHolding]) -> ColumnElement[bool]:
    """Their events: stored with them as holder, or on a card with no holder known (the
    badge inactive or unknown when they came in) while they held it. A reused card's
    earlier and later holders' taps are not theirs."""
    held = [and_(Event.badge == h.uid, _while_held(h, Event.ts)) for h in holdings]
    return or_(
        Event.member_id == member_id, (Event.member_id.is_(None) & or_(*held)) if held else false()
    )


def _member_audit(
    session: Session, own: set[str], holdings: Sequence[BadgeHolding]
) -> list[AuditEntry]:
    """Audit entries naming them (`own`: id, e-mail), or a card of theirs while they held
    it, as `_member_events`: a reused card's entries of another holder's time are not theirs."""
    entries = {entry.id: entry for entry in _audit_entries_naming(session, own)}
    for holding in holdings:
        then = _while_held(holding, AuditEntry.at)
        entries.update((e.id, e) for e in _audit_entries_naming(session, {holding.uid}, then))
    return [entries[key] for key in sorted(entries)]


def _contains_value(detail: Any, values: set[str]) -> bool:
    if isinstance(detail, str):
        return detail in values
    if isinstance(detail, dict):
        return any(_contains_value(v, values) for v in detail.values())
    if isinstance(detail, list):
        return any(_contains_value(v, values) for v in detail)
    return False


def _scrub(detail: Any, values: set[str]) -> Any:
    if isinstance(detail, str):
        return ERASED if detail in values else detail
    if isinstance(detail, dict):
        return {k: _scrub(v, values) for k, v in detail.items()}
    if isinstance(detail, list):
        return [_scrub(v, values) for v in detail]
    return detail


def _audit_entries_naming(
    session: Session, values: set[str], *where: ColumnElement[bool]
) -> list[AuditEntry]:
    """Audit entries with one of `values` as a value anywhere in their detail (and `where`)."""
    text = cast(AuditEntry.detail, String)
    # As stored, a JSON string may have its non-ASCII characters escaped: look for both.
    needles = sorted(values | {json.dumps(value)[1:-1] for value in values})
    candidates = session.scalars(
        select(AuditEntry)
        .where(or_(*(text.contains(needle, autoescape=True) for needle in needles)), *where)
        .order_by(AuditEntry.id)
    )
    return [entry for entry in candidates if _contains_value(entry.detail, values)]


def export_member(session: Session, member_id: str, *, actor: str = "system") -> dict[str, Any]:
    """All personal data the hub holds on a member, as JSON-ready values: the member's
    fields, badges, sessions, events and the audit entries that name them. Audited as
    `member_exported`. Raises `UnknownMember`."""
    member = _get_member(session, member_id)
    badges = session.scalars(
        select(Badge).where(Badge.member_id == member_id).order_by(Badge.uid)
    ).all()
    sessions = session.scalars(
        select(PresenceSession)
        .where(PresenceSession.member_id == member_id)
        .order_by(PresenceSession.start, PresenceSession.id)
    ).all()
    holdings = _holdings(session, member_id)
    events = session.scalars(
        select(Event).where(_member_events(member_id, holdings)).order_by(Event.ts, Event.id)
    ).all()
    own = {member_id} | ({member.email} if member.email else set())
    audit = _member_audit(session, own, holdings)
    export: dict[str, Any] = {
        "exported_at": utcnow().isoformat(),
        "member": {
            "id": member.id,
            "last_name": member.last_name,
            "first_name": member.first_name,
            "email": member.email,
            "address": member.address,
            "category": member.category,
            "pass_since": _iso(member.pass_since),
            "pass_until": _iso(member.pass_until),
            "created_at": _iso(member.created_at),
            "updated_at": _iso(member.updated_at),
        },
        "badges": [
            {"uid": b.uid, "active": b.active, "updated_at": _iso(b.updated_at)} for b in badges
        ],
        # Every card they held and when, those given to someone else since included.
        "badge_holdings": [
            {"uid": h.uid, "held_from": _iso(h.held_from), "held_until": _iso(h.held_until)}
            for h in holdings
        ],
        "sessions": [
            {
                "site": s.site_id,
                "start": _iso(s.start),
                "end": _iso(s.end),
                "auto_closed": s.auto_closed,
                "end_reason": s.end_reason,
                "manual": s.manual,
                "manual_reason": s.manual_reason,
            }
            for s in sessions
        ],
        "events": [
            {
                "id": e.id,
                "site": e.site,
                "device": e.device,
                "type": e.type,
                "ts": _iso(e.ts),
                "badge": e.badge,
                "reader": e.reader,
                "access": e.access,
                "direction": e.direction,
                "reason": e.reason,
                "door": e.door,
                "state": e.state,
                "kind": e.kind,
            }
            for e in events
        ],
        "invoice_lines": [
            {
                "month": line.month,
                "corrects": line.corrects,
                "site": line.site_id,
                "name": line.member_name,
                "email": line.member_email,
                "address": line.member_address,
                "hours_e4": line.hours_e4,
                "amount_cents": line.amount_cents,
            }
            for line in session.scalars(
                select(InvoiceRecord)
                .where(InvoiceRecord.member_id == member_id)
                .order_by(InvoiceRecord.month, InvoiceRecord.id)
            )
        ],
        "audit": [
            {
                "at": _iso(a.at),
                "actor": a.actor,
                "action": a.action,
                "site": a.site_id,
                "detail": a.detail,
            }
            for a in audit
        ],
    }
    session.add(AuditEntry(actor=actor, action="member_exported", detail={"member_id": member_id}))
    return export


def _strip_badge(payload: str) -> str:
    try:
        data = json.loads(payload)
    except ValueError:
        return "{}"
    if not isinstance(data, dict):
        return "{}"
    data.pop("badge", None)
    return json.dumps(data, separators=(",", ":"))


def accounting_cut(now: datetime, accounting_years: int) -> str:
    """The first "YYYY-MM" whose invoice lines are still within the accounting horizon."""
    return years_before(now, accounting_years).strftime("%Y-%m")


def _scrub_invoice_lines(
    session: Session, member_id: str, now: datetime, accounting_years: int
) -> tuple[int, int]:
    """Replace who the member was on invoice lines older than the horizon; how many lines
    were scrubbed and how many are kept whole."""
    cut = accounting_cut(now, accounting_years)
    mine = InvoiceRecord.member_id == member_id
    scrubbed = typing_cast(
        CursorResult[Any],
        session.execute(
            update(InvoiceRecord)
            .where(mine, InvoiceRecord.month < cut, InvoiceRecord.erased_at.is_(None))
            .values(member_name=ERASED, member_email=None, member_address=None, erased_at=now)
            .execution_options(synchronize_session=False)
        ),
    ).rowcount
    kept = session.scalar(
        select(func.count()).select_from(InvoiceRecord).where(mine, InvoiceRecord.month >= cut)
    )
    # Their kept PDFs name them too: made again from the scrubbed lines when next asked for.
    session.execute(
        update(Invoice)
        .where(Invoice.member_id == member_id, Invoice.month < cut)
        .values(document=None)
        .execution_options(synchronize_session=False)
    )
    return scrubbed, kept or 0


def erase_member(
    session: Session,
    member_id: str,
    *,
    actor: str = "system",
    now: datetime | None = None,
    accounting_years: int = 10,
) -> ErasureResult:
    """Remove a member's personal data, keeping their sessions under one new pseudonym for
    the statistics and their invoice lines as accounting records (see the module's notes).
    Audited as `member_erased`, naming no one. Raises `UnknownMember`."""
    member = _get_member(session, member_id)
    scrubbed, kept = _scrub_invoice_lines(session, member_id, now or utcnow(), accounting_years)
    badges = session.scalars(select(Badge).where(Badge.member_id == member_id)).all()
    uids = [badge.uid for badge in badges]

    session_ids = list(
        session.scalars(select(PresenceSession.id).where(PresenceSession.member_id == member_id))
    )
    _pseudonymise(session, session_ids, new_pseudonym())
    # A person's reason for a correction may name the member.
    for chunk in _chunks(session_ids):
        session.execute(
            update(PresenceSession)
            .where(PresenceSession.id.in_(chunk), PresenceSession.manual_reason.is_not(None))
            .values(manual_reason=ERASED)
            .execution_options(synchronize_session="fetch")
        )

    holdings = _holdings(session, member_id)
    events = session.scalars(select(Event).where(_member_events(member_id, holdings))).all()
    for event in events:
        event.badge = None
        event.member_id = None
        event.payload = _strip_badge(event.payload)

    rejected_deleted = 0
    for uid in uids:
        rejected_deleted += _delete(
            session,
            delete(RejectedEvent).where(RejectedEvent.payload.contains(uid, autoescape=True)),
        )

    own = {member_id} | ({member.email} if member.email else set())
    identifiers = own | set(uids) | {holding.uid for holding in holdings}
    names = {member.last_name, member.first_name, f"{member.first_name} {member.last_name}"}
    entries = _member_audit(session, own, holdings)
    for entry in entries:
        entry.detail = _scrub(entry.detail, identifiers | names)

    badges_deleted = _delete(session, delete(Badge).where(Badge.member_id == member_id))
    session.flush()
    session.delete(member)
    session.flush()

    result = ErasureResult(
        sessions_pseudonymised=len(session_ids),
        badges_deleted=badges_deleted,
        events_stripped=len(events),
        rejected_deleted=rejected_deleted,
        audit_entries_scrubbed=len(entries),
        invoice_lines_scrubbed=scrubbed,
        invoice_lines_kept=kept,
    )
    session.add(AuditEntry(actor=actor, action="member_erased", detail=asdict(result)))
    return result
