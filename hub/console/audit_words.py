"""The audit log as a person reads it: who by name ("Léa Martin", "ligne de commande
(root)", "import du fichier des sites"), each detail by a French label, values as words
(a member's name, a site with its town, "fermée automatiquement"), never the stored keys.

The log itself keeps what was stored (actor `user:lea`, JSON details); this only reads it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask_babel import LazyString
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from hub.console.forms.members import CATEGORY_LABELS
from hub.console.i18n import audit_value
from hub.console.i18n import gettext as _
from hub.console.labels import ALARMS
from hub.console.navigation import ROLE_LABELS
from hub.people import members
from hub.people.names import place_names, site_labels, user_names
from hub.store.models import AuditEntry

KEYS: dict[str, LazyString] = {
    "session_id": _l("session no."),
    "member_id": _l("member"),
    "reason": _l("reason"),
    "badge": _l("badge"),
    "badges": _l("badges"),
    "login": _l("user"),
    "display_name": _l("name"),
    "name": _l("name"),
    "kind": _l("kind"),
    "site": _l("site"),
    "sites": _l("sites"),
    "door": _l("door"),
    "device": _l("device"),
    "alarm": _l("alarm no."),
    "at": _l("time"),
    "ts": _l("time"),
    "command": _l("command"),
    "created": _l("created"),
    "updated": _l("changed"),
    "accepted": _l("accepted"),
    "duplicates": _l("already known"),
    "rejected": _l("refused"),
    "events_deleted": _l("events deleted"),
    "rejected_deleted": _l("refused events deleted"),
    "sessions_pseudonymised": _l("sessions made anonymous"),
    "members_pseudonymised": _l("members made anonymous"),
    "sessions_finalised": _l("sessions made final"),
    "events_before": _l("events before"),
    "sessions_before": _l("sessions before"),
    "event_id": _l("event"),
    "outcome": _l("outcome"),
    "start": _l("arrival"),
    "end": _l("departure"),
    "auto_closed": _l("closed automatically"),
    "end_reason": _l("how it ended"),
    "manual": _l("by hand"),
    "active": _l("active"),
    "revoked": _l("revoked"),
    "role": _l("role"),
    "language": _l("language"),
    "last_name": _l("last name"),
    "first_name": _l("first name"),
    "email": _l("e-mail"),
    "category": _l("category"),
    "pass_since": _l("Pass since"),
    "pass_until": _l("Pass until"),
    "commune": _l("town"),
    "zrr": _l("rural revitalisation zone"),
    "timezone": _l("time zone"),
    "annual_cost_eur": _l("yearly cost (€)"),
    "opening": _l("opening hours"),
    "open_on_public_holidays": _l("open on public holidays"),
    "closed": _l("closed days"),
    "tariffs": _l("tariffs"),
    "rounding_min": _l("rounding (min)"),
    "spaces": _l("spaces"),
    "doors": _l("doors"),
    "devices": _l("devices"),
    "door_names": _l("door names"),
    "device_labels": _l("device labels"),
}

_WORDS: dict[str, dict[str, LazyString]] = {
    "end_reason": {"tap": _l("badge"), "auto": _l("closed automatically"), "manual": _l("by hand")},
    "category": CATEGORY_LABELS,
    "role": ROLE_LABELS,
    "kind": {
        **ALARMS,
        "sites": _l("sites file"),
        "members": _l("members file"),
        "events": _l("events file"),
    },
    "outcome": {
        "counted": _l("counted"),
        "debounced": _l("repeated tap"),
        "already_in": _l("already in"),
        "no_open_session": _l("no stay open"),
        "quarantined": _l("set aside"),
        "unknown_badge": _l("unknown badge"),
        "denied": _l("refused"),
    },
}


def actor_label(actor: str, users: dict[str, str]) -> str:
    """Who made a change, as a person says it."""
    kind, _sep, rest = actor.partition(":")
    if kind == "user":
        return users.get(rest, rest)
    if kind == "cli":
        return _("command line (%(user)s)", user=rest)
    if kind == "hub" and rest.startswith("sites_file"):
        return _("sites file import")
    if kind in ("api", "token"):
        return _("API (%(name)s)", name=rest)
    if actor == "system":
        return _("the hub")
    if actor == "retention":
        return _("the hub (retention rules)")
    return actor


def _logins(actors: Iterable[str]) -> set[str]:
    return {actor.partition(":")[2] for actor in actors if actor.startswith("user:")}


def actor_labels(session: Session, actors: Collection[str]) -> dict[str, str]:
    """`{actor: label}` of the given actors."""
    users = user_names(session, _logins(actors))
    return {actor: actor_label(actor, users) for actor in actors}


@dataclass(frozen=True)
class Line:
    at: datetime
    who: str
    action: str
    site_id: str | None
    #: The sites an access change affects (`audit.record(..., sites=…)`), beside `site_id`.
    affected: list[str]
    details: list[tuple[str, str]]
    changes: list[tuple[str, str, str]]


class _Reader:
    """The names an entry's values stand for, read once per page."""

    def __init__(self, session: Session, entries: list[AuditEntry]) -> None:
        member_ids: set[str] = set()
        sites: set[str] = set()
        for entry in entries:
            for part in (entry.detail, entry.detail.get("before"), entry.detail.get("after")):
                if isinstance(part, dict) and isinstance(part.get("member_id"), str):
                    member_ids.add(part["member_id"])
            sites.update(s for s in entry.detail.get("sites", []) if isinstance(s, str))
            if entry.site_id:
                sites.add(entry.site_id)
        logins = _logins(e.actor for e in entries)
        logins |= {e.detail["login"] for e in entries if isinstance(e.detail.get("login"), str)}
        self.members = members.names(session, member_ids)
        self.sites = site_labels(session, sites)
        self.places = place_names(session, sites)
        self.users = user_names(session, logins)

    def value(self, key: str, value: Any, site: str | None) -> str:
        if key == "member_id" and isinstance(value, str):
            return self.members.get(value, value)
        if key == "login" and isinstance(value, str):
            return self.users.get(value, value)
        if key == "sites" and isinstance(value, list):
            return ", ".join(self.sites.get(str(s), str(s)) for s in value) or "–"
        if key == "door" and isinstance(value, str) and site is not None:
            return self.places.door(site, value) or value
        if key == "device" and isinstance(value, str) and site is not None:
            return self.places.device(site, value) or value
        words = _WORDS.get(key)
        if words is not None and isinstance(value, str) and value in words:
            return str(words[value])
        return audit_value(value)

    def line(self, entry: AuditEntry) -> Line:
        detail = entry.detail
        old = detail.get("before") if isinstance(detail.get("before"), dict) else {}
        new = detail.get("after") if isinstance(detail.get("after"), dict) else {}
        assert isinstance(old, dict) and isinstance(new, dict)
        site = entry.site_id
        return Line(
            at=entry.at,
            who=actor_label(entry.actor, self.users),
            action=entry.action,
            site_id=site,
            affected=[s for s in detail.get("sites") or [] if isinstance(s, str)],
            details=[
                (key_label(key), self.value(key, value, site))
                for key, value in detail.items()
                if key not in ("before", "after", "sites")
            ],
            changes=[
                (key_label(key), was, now)
                for key in [*old, *(k for k in new if k not in old)]
                if old.get(key) != new.get(key)
                # `None` → `[]` reads "– → –": not a change a person sees.
                and (was := self.value(key, old.get(key), site))
                != (now := self.value(key, new.get(key), site))
            ],
        )


def key_label(key: str) -> str:
    label = KEYS.get(key)
    return str(label) if label is not None else key.replace("_", " ")


def lines(session: Session, entries: Iterable[AuditEntry]) -> list[Line]:
    """The page's entries as lines people read."""
    found = list(entries)
    reader = _Reader(session, found)
    return [reader.line(entry) for entry in found]
