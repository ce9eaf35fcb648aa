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

Every list is signed with the hub's key (`telecentre.signing`) as it is published; the edges
apply only lists whose signature holds for a hub key in their config.

At a national network's size (1,000 sites, 100,000 badges: 1,000 lists of ~4 MB) the badges
are read once for all sites, their entries made and written once per local day
(`Membership`, `Holders`), and each list signed over those bytes and the site's own fields;
lists go out one at a time, each acknowledged before the next (docs/operations.md, Sizing).

>>> with sessions.begin() as session:                      # doctest: +SKIP
...     result = import_members(session, text)
...     publish_access_lists(session, ingest.client, key, result.access_changed)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import partial
from zoneinfo import ZoneInfo

import paho.mqtt.client as mqtt
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.people import audit
from hub.people.imports import BadgeChange
from hub.people.sites import load_members
from hub.rules.calendar import is_public_holiday
from hub.store.db import after_commit
from hub.store.models import AccessListVersion, AuditEntry, Badge, Site, utcnow
from telecentre import wire
from telecentre.signing import SigningKey

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
    """The active badges and their holders' Passes, read in two queries (no ORM objects),
    and the `Holders` of each local day asked for, built once."""

    def __init__(self, session: Session) -> None:
        self._members = load_members(session)
        rows = session.execute(select(Badge.uid, Badge.member_id).where(Badge.active))
        self._badges = sorted((uid, member) for uid, member in rows)
        self._days: dict[date, Holders] = {}

    def holders(self, today: date) -> Holders:
        if today not in self._days:
            entries = []
            for uid, member_id in self._badges:
                member = self._members[member_id]
                if member.pass_valid_between(today, today):
                    entry = wire.AccessEntry(badge=uid, until=member.pass_until, hours="always")
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


def publish_access_lists(
    session: Session,
    client: mqtt.Client,
    key: SigningKey,
    sites: Collection[str] | None = None,
    *,
    now: datetime | None = None,
) -> list[wire.AccessList]:
    """New lists for the given sites (all when None), signed with `key`, published retained,
    QoS 1, on `wire.access_topic(site)` once the caller's transaction commits.

    The hub calls it after an import whose `access_changed` is not empty, at start (a fresh
    version rather than guessing whether the broker still holds the last one), and daily.
    """
    lists = next_access_lists(session, sites, now=now or utcnow())
    for access, holders in lists:
        after_commit(session, partial(_publish, client, key, access, holders))
    return [access for access, _ in lists]


#: How long publishing one list waits for the broker's acknowledgement before the next.
PUBLISH_WAIT_S = 30.0


def _publish(
    client: mqtt.Client, key: SigningKey, access: wire.AccessList, holders: Holders
) -> None:
    payload = key.sign_access_list(access, badges_json=holders.canonical)
    if len(payload) > wire.MAX_ACCESS_LIST_BYTES:
        # The broker would cut the hub's connection over a packet this big (`max_packet_size`)
        # and paho would send it again at every reconnection: the ingest would stop with it.
        log.error(
            "access list %s v%d NOT published: %d bytes, over the %d-byte limit of the "
            "protocol (too many badges); the doors keep the list they have",
            access.site,
            access.version,
            len(payload),
            wire.MAX_ACCESS_LIST_BYTES,
        )
        return
    info = client.publish(wire.access_topic(access.site), payload, qos=wire.QOS_ACCESS, retain=True)
    if info.rc != mqtt.MQTT_ERR_SUCCESS:
        # paho keeps a QoS 1 message and sends it once connected again.
        log.warning(
            "access list %s v%d queued while the broker is unreachable (%s)",
            access.site,
            access.version,
            mqtt.error_string(info.rc),
        )
        return
    # One list at a time while the broker is there: paho holds every list it has not yet
    # sent, and a network's lists (1,000 of a few MB) would otherwise all sit in memory.
    deadline = time.monotonic() + PUBLISH_WAIT_S
    while not info.is_published() and client.is_connected() and time.monotonic() < deadline:
        info.wait_for_publish(timeout=0.5)
    log.info(
        "access list %s v%d published: %d badges, %d bytes",
        access.site,
        access.version,
        len(access.badges),
        len(payload),
    )


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
