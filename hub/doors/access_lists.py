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

>>> with sessions.begin() as session:                      # doctest: +SKIP
...     result = import_members(session, text)
...     publish_access_lists(session, ingest.client, key, result.access_changed)
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from datetime import date, datetime, timedelta
from functools import partial
from zoneinfo import ZoneInfo

import paho.mqtt.client as mqtt
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.people.sites import member_rules
from hub.rules.calendar import is_public_holiday
from hub.store.db import after_commit
from hub.store.models import AccessListVersion, AuditEntry, Badge, Member, Site, utcnow
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


def badges(session: Session, today: date) -> list[wire.AccessEntry]:
    """Every active badge, with what its holder may do (see the module docstring)."""
    entries = []
    rows = session.execute(
        select(Badge.uid, Member).join(Member, Badge.member_id == Member.id).where(Badge.active)
    )
    for uid, member in rows:
        if member_rules(member).pass_valid_between(today, today):
            entries.append(wire.AccessEntry(badge=uid, until=member.pass_until, hours="always"))
        else:
            entries.append(wire.AccessEntry(badge=uid, until=None, hours="opening"))
    return sorted(entries, key=lambda entry: entry.badge)


def build_access_list(
    session: Session, site: Site, *, version: int, issued: datetime
) -> wire.AccessList:
    local = issued.astimezone(ZoneInfo(site.timezone))
    return wire.AccessList(
        v=wire.VERSION,
        site=site.id,
        version=version,
        issued=local,
        timezone=site.timezone,
        opening={day: list(site.opening[day]) for day in wire.WEEKDAYS if site.opening.get(day)},
        closed=closed_days(site, local.date()),
        badges=badges(session, local.date()),
    )


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


def next_access_list(session: Session, site_id: str, *, now: datetime) -> wire.AccessList:
    """The site's list as the store says now, under a new version stored in the caller's
    transaction. The site row is locked first, so two hub processes cannot take one number."""
    site = session.scalars(
        select(Site).where(Site.id == site_id).with_for_update(key_share=True)
    ).one()
    latest = session.scalar(
        select(func.max(AccessListVersion.version)).where(AccessListVersion.site_id == site_id)
    )
    version = next_version(latest, now)
    session.add(AccessListVersion(site_id=site_id, version=version, issued=now))
    session.flush()
    return build_access_list(session, site, version=version, issued=now)


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
    now = now or utcnow()
    query = select(Site.id).order_by(Site.id)
    if sites is not None:
        query = query.where(Site.id.in_(sites))
    lists = [next_access_list(session, site_id, now=now) for site_id in session.scalars(query)]
    for access in lists:
        after_commit(session, partial(_publish, client, key, access))
    return lists


def _publish(client: mqtt.Client, key: SigningKey, access: wire.AccessList) -> None:
    payload = key.sign_access_list(access)
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
    else:
        log.info(
            "access list %s v%d published: %d badges",
            access.site,
            access.version,
            len(access.badges),
        )


#: The audit action by which an import says which sites' lists it changed.
IMPORTED = "import"


def record_import(
    session: Session, actor: str, kind: str, sites: Collection[str], **counts: int
) -> None:
    """Audit an import by `actor` (`api:<token name>`, `cli:<user>`), naming the sites whose
    access lists it changed and what it did (`counts`: created, updated, accepted…). A shell
    import has no broker connection: the running hub finds these entries (`changed_since`)
    and publishes."""
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
