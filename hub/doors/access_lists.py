"""Each site's access list (PROTOCOL.md, Access list), built from the store and published
retained for the site's edges, which decide every tap from it even when the hub is away.

Who may enter, where FORMATS.md is silent: the network is one membership, so every member
with an active badge may enter every site.
- A member whose Pass is valid today (pass_since <= today <= pass_until, or no pass_until)
  gets `hours: "always"` and `until` = `pass_until`: Pass holders may work outside the
  opening hours, for as long as their Pass lasts.
- Every other member gets `hours: "opening"` and `until: null`.
"Today" is the site's local date when the list is issued, so the hub publishes the lists again
every day: a Pass that starts today becomes "always", and one that ended yesterday, which the
edge now refuses as expired, goes back to "opening".
`closed` lists, from today on, the site's extra closed days and (unless the site opens on
them) the French public holidays of this year and next.

Each list gets the site's next version, stored with it in the caller's transaction, and is
published only once that transaction commits: a version that rolled back is never seen by an
edge, which would otherwise refuse the next list that reuses its number. A version is the
issue time in milliseconds, or one more than the site's last if that is later
(`next_version`): a database restored from a backup, or a new one, still numbers its lists
above what the doors hold, where counting from 1 again would leave every door ignoring them.

Every list is signed with the hub's key (`telecentre.signing`) as it is published, by the
hub's one publisher (`hub.doors.publisher`); the edges apply only lists whose signature holds
for a hub key in their config.

At a national network's size (1,000 sites, 100,000 badges: 1,000 lists of ~4 MB) the badges
are read once for all sites, their entries made and written once per local day
(`Membership`, `Holders`), and each list signed over those bytes and the site's own fields;
lists go out one at a time, each acknowledged before the next (docs/operations.md, Sizing).

>>> with sessions.begin() as session:                      # doctest: +SKIP
...     lists = next_access_lists(session, {"murat"}, now=utcnow())
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.people import audit
from hub.people.imports import BadgeChange
from hub.rules.calendar import is_public_holiday
from hub.rules.model import pass_valid_between
from hub.store.models import AccessListVersion, AuditEntry, Badge, Member, Site
from telecentre import wire

log = logging.getLogger(__name__)


def closed_days(site: Site, today: date) -> list[date]:
    """The site's closed days from `today` to the end of next year, in order."""
    days = {day for day in map(date.fromisoformat, site.closed) if day >= today}
    if not site.open_on_public_holidays:
        day, last = today, date(today.year + 1, 12, 31)
        while day <= last:
            if is_public_holiday(day):
                days.add(day)
            day += timedelta(days=1)
    return sorted(days)


@dataclass(frozen=True)
class Holders:
    """Every active badge with what its holder may do on one local day, and their canonical
    JSON: the network is one membership, so every site's list of that day holds the same
    entries, read once and written once however many sites publish (a national network's
    1,000 lists of 100,000 badges would otherwise read and write the same badges 1,000 times).
    """

    entries: list[wire.AccessEntry]
    canonical: bytes


class Membership:
    """The active badges with their holders' Passes, read in one statement (no ORM objects),
    and the `Holders` of each local day asked for, built once.

    One statement, so one snapshot: read as two (the members, then the badges), a member and
    their badge committed between the reads on PostgreSQL (READ COMMITTED) gave a badge with
    no holder, and every list of that build failed until the next one.
    """

    def __init__(self, session: Session) -> None:
        rows = session.execute(
            select(Badge.uid, Badge.member_id, Member.id, Member.pass_since, Member.pass_until)
            .outerjoin(Member, Member.id == Badge.member_id)
            .where(Badge.active)
        )
        self._badges: list[tuple[str, date | None, date | None]] = []
        for uid, member_id, found, since, until in rows:
            if found is None:
                # The foreign key forbids it; a store that lost the row must not stop every
                # door's list: the badge is left out, as a holder erased would be.
                log.error("badge %s left out of the access lists: no member %s", uid, member_id)
                continue
            self._badges.append((uid, since, until))
        self._badges.sort()  # here, not in SQL: the same order whatever the database's collation
        self._days: dict[date, Holders] = {}

    def holders(self, today: date) -> Holders:
        if today not in self._days:
            entries = []
            for uid, since, until in self._badges:
                if since is not None and pass_valid_between(since, until, today, today):
                    entry = wire.AccessEntry(badge=uid, until=until, hours="always")
                else:
                    entry = wire.AccessEntry(badge=uid, until=None, hours="opening")
                entries.append(entry)
            canonical = wire.canonical_json(
                [entry.model_dump(mode="json", exclude_none=True) for entry in entries]
            )
            self._days[today] = Holders(entries, canonical)
        return self._days[today]


def build_access_list(
    site: Site, membership: Membership, *, version: int, issued: datetime
) -> tuple[wire.AccessList, Holders]:
    """The site's list, and the holders it shares with the other sites of its local day."""
    local = issued.astimezone(ZoneInfo(site.timezone))
    holders = membership.holders(local.date())
    head = wire.AccessList(
        v=wire.VERSION,
        site=site.id,
        version=version,
        issued=local,
        timezone=site.timezone,
        opening={day: list(site.opening[day]) for day in wire.WEEKDAYS if site.opening.get(day)},
        closed=closed_days(site, local.date()),
    )
    # Validated once in `Membership.holders`, not again for each of the sites that share them.
    return head.model_copy(update={"badges": holders.entries}), holders


def next_version(latest: int | None, now: datetime) -> int:
    """The issue time in ms, kept above the site's last version (a hub clock set back)."""
    issued_ms = int(now.timestamp() * 1000)
    return issued_ms if latest is None else max(latest + 1, issued_ms)


def latest_versions(session: Session, issued_before: datetime | None = None) -> dict[str, int]:
    """Each site's latest access list version (of those issued before `issued_before`)."""
    query = select(AccessListVersion.site_id, func.max(AccessListVersion.version))
    if issued_before is not None:
        query = query.where(AccessListVersion.issued <= issued_before)
    rows = session.execute(query.group_by(AccessListVersion.site_id))
    return {site: version for site, version in rows}


def next_access_lists(
    session: Session, sites: Collection[str] | None, *, now: datetime
) -> list[tuple[wire.AccessList, Holders]]:
    """The given sites' lists (all when None) as the store says now, each under a new version
    stored in the caller's transaction. The site rows are locked first, in order, so two hub
    processes can neither take one number nor deadlock."""
    query = select(Site).order_by(Site.id).with_for_update(key_share=True)
    if sites is not None:
        query = query.where(Site.id.in_(sites))
    chosen = list(session.scalars(query))
    if not chosen:
        return []
    rows = session.execute(
        select(AccessListVersion.site_id, func.max(AccessListVersion.version))
        .where(AccessListVersion.site_id.in_([site.id for site in chosen]))
        .group_by(AccessListVersion.site_id)
    )
    latest = {site: version for site, version in rows}
    versions = {site.id: next_version(latest.get(site.id), now) for site in chosen}
    session.add_all(
        AccessListVersion(site_id=site, version=version, issued=now)
        for site, version in versions.items()
    )
    session.flush()
    membership = Membership(session)
    return [
        build_access_list(site, membership, version=versions[site.id], issued=now)
        for site in chosen
    ]


#: The audit action by which an import says which sites' lists it changed.
IMPORTED = "import"


def record_import(
    session: Session,
    actor: str,
    kind: str,
    sites: Collection[str],
    *,
    badges: Sequence[BadgeChange] = (),
    **counts: int,
) -> None:
    """Audit an import by `actor` (`api:<token name>`, `cli:<user>`), naming the sites whose
    access lists it changed and what it did (`counts`: created, updated, accepted…). A shell
    import has no broker connection: the running hub finds these entries (`changed_since`)
    and publishes.

    Each card a members import moved, gave again or took back (`badges`) gets its own entry,
    as the console's giving and revoking write it (the card, the holders before and after,
    the sites whose lists change): every change of who may open a door is audited, and each
    site's animators see those of their doors."""
    for change in badges:
        audit.record(
            session,
            actor,
            change.action,
            sites=sites,
            before=change.before,
            after=change.after,
            badge=change.uid,
            member_id=change.member_id,
        )
    detail = {"kind": kind, "sites": sorted(sites), **counts}
    session.add(AuditEntry(actor=actor, action=IMPORTED, detail=detail))


def changed_since(session: Session, after_id: int) -> tuple[int, set[str]]:
    """Sites named by imports audited after entry `after_id`, and the last entry's id."""
    rows = session.execute(
        select(AuditEntry.id, AuditEntry.detail)
        .where(AuditEntry.id > after_id, AuditEntry.action == IMPORTED)
        .order_by(AuditEntry.id)
    ).all()
    sites = {site for _, detail in rows for site in detail.get("sites", [])}
    return (rows[-1][0] if rows else after_id), sites


def last_audit_id(session: Session) -> int:
    return session.scalar(select(func.max(AuditEntry.id))) or 0
