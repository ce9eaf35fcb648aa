"""Members as staff handle them one at a time (the console's members page): find, create,
edit, deactivate.

A member entered by hand follows the members file's rules (`hub.people.imports.member_row`), so a
member the console accepts is one the file would accept, and the other way round. Each change
is audited and written in the caller's transaction, a refused value raises
`hub.people.users.Invalid` naming the form field; a change that alters who may enter
returns the sites whose access lists must go out again (every site: the network is one
membership, see `hub.doors.access_lists`). Nothing is ever deleted: deactivating a member revokes
their badges, and their past stays keep their name.

>>> with sessions.begin() as session:                                  # doctest: +SKIP
...     member, changed = save_member(session, form, actor="user:amelie")
"""

from __future__ import annotations

import unicodedata
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.people.audit import record
from hub.people.imports import COLUMNS, OPTIONAL_COLUMNS, BadField, member_row
from hub.people.users import N_, Invalid
from hub.store.models import Badge, Member, Site
from telecentre import wire

#: The fields of a member a person fills in (the members file's columns but the badges).
FIELDS = (*(column for column in COLUMNS if column != "badges"), *OPTIONAL_COLUMNS)


#: What the console says of a field the members file's rules refuse
#: (`hub.people.imports.member_row`).
_FIELD_MESSAGES = {
    "member_id": N_("Letters, digits, '.', '_' or '-' only, at most 64."),
    "last_name": N_("The last name is required."),
    "email": N_("This is not an e-mail address."),
    "category": N_("Choose a category."),
    "pass_since": N_("This is not a date."),
    "pass_until": N_("The Pass must have a start, and end after it."),
    "address": N_("At most 500 characters, letters and line breaks only."),
}


@dataclass(frozen=True)
class BadgeView:
    uid: str
    active: bool
    updated_at: datetime


@dataclass(frozen=True)
class MemberView:
    id: str
    last_name: str
    first_name: str
    email: str | None
    category: str
    pass_since: date | None
    pass_until: date | None
    #: Postal address for invoices (lines, the last one "15300 Murat"), if known.
    address: str | None
    #: Active ones first, then by UID.
    badges: tuple[BadgeView, ...]

    @property
    def name(self) -> str:
        return full_name(self.first_name, self.last_name)

    @property
    def active(self) -> bool:
        """May badge in: holds at least one active badge."""
        return any(badge.active for badge in self.badges)

    def pass_valid_on(self, day: date) -> bool:
        return (
            self.pass_since is not None
            and self.pass_since <= day
            and (self.pass_until is None or day <= self.pass_until)
        )


@dataclass(frozen=True)
class MemberPage:
    rows: list[MemberView]
    #: Members matching, over every page.
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def unknown_member(member_id: str) -> Invalid:
    return Invalid("member_id", N_("There is no member %(member_id)s."), member_id=member_id)


def full_name(first_name: str, last_name: str) -> str:
    return f"{first_name} {last_name}".strip()


def _views(session: Session, members: list[Member]) -> list[MemberView]:
    badges: dict[str, list[BadgeView]] = {member.id: [] for member in members}
    if members:
        query = select(Badge).where(Badge.member_id.in_(list(badges)))
        for badge in session.scalars(query):
            badges[badge.member_id].append(BadgeView(badge.uid, badge.active, badge.updated_at))
    return [
        MemberView(
            member.id,
            member.last_name,
            member.first_name,
            member.email,
            member.category,
            member.pass_since,
            member.pass_until,
            member.address,
            tuple(sorted(badges[member.id], key=lambda b: (not b.active, b.uid))),
        )
        for member in members
    ]


def fold(text: str) -> str:
    """Lower case, accents off: "Élodie" is found by "elodie", as a person would type it."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def search(
    session: Session, text: str | None = None, *, page: int = 1, per_page: int = 25
) -> MemberPage:
    """Members whose name, e-mail, member id or badge (current or past) contains `text`,
    case and accents aside, in name order; every member when `text` is empty.

    Names are matched here rather than in SQL: SQLite's `lower` knows no accents, and a
    network's few thousand members' names are read in a few milliseconds.
    """
    wanted = fold((text or "").strip())
    rows = list(
        session.execute(select(Member.id, Member.first_name, Member.last_name, Member.email))
    )
    if wanted:
        uid = wire.normalise_badge(text or "")
        by_badge: set[str] = set()
        if uid:
            by_badge = set(
                session.scalars(
                    select(Badge.member_id).where(Badge.uid.contains(uid, autoescape=True))
                )
            )
        rows = [
            row
            for row in rows
            if row.id in by_badge
            or any(
                wanted in fold(value)
                for value in (
                    f"{row.first_name} {row.last_name}",
                    f"{row.last_name} {row.first_name}",
                    row.email or "",
                    row.id,
                )
            )
        ]
    rows.sort(key=lambda row: (fold(row.last_name), fold(row.first_name), row.id))
    total = len(rows)
    page = max(1, min(page, max(1, -(-total // per_page))))
    chosen = [row.id for row in rows[(page - 1) * per_page : page * per_page]]
    found = {m.id: m for m in session.scalars(select(Member).where(Member.id.in_(chosen)))}
    return MemberPage(_views(session, [found[id_] for id_ in chosen]), total, page, per_page)


def get(session: Session, member_id: str) -> MemberView | None:
    member = session.get(Member, member_id)
    return None if member is None else _views(session, [member])[0]


def names(session: Session, member_ids: Collection[str | None]) -> dict[str, str]:
    """The name ("First Last") of each member id given, for the pages that list stays or
    invoice lines by member."""
    ids = sorted({member_id for member_id in member_ids if member_id})
    found: dict[str, str] = {}
    for start in range(0, len(ids), 500):
        rows = session.execute(
            select(Member.id, Member.first_name, Member.last_name).where(
                Member.id.in_(ids[start : start + 500])
            )
        )
        found.update((id_, full_name(first, last)) for id_, first, last in rows)
    return found


def _snapshot(member: Member) -> dict[str, Any]:
    return {
        "last_name": member.last_name,
        "first_name": member.first_name,
        "email": member.email,
        "category": member.category,
        "pass_since": None if member.pass_since is None else member.pass_since.isoformat(),
        "pass_until": None if member.pass_until is None else member.pass_until.isoformat(),
        "address": member.address,
    }


def all_sites(session: Session) -> set[str]:
    """Every site: who may enter is the same at every site of the network."""
    return set(session.scalars(select(Site.id)))


#: The fields that grant out-of-hours access at every site of the network (docs/console.md,
#: "Who may grant access"): only the department and admins set them.
PASS_FIELDS = ("pass_since", "pass_until")


def save_member(
    session: Session,
    values: Mapping[str, str],
    *,
    actor: str,
    member_id: str | None = None,
    may_set_pass: bool = True,
) -> tuple[MemberView, set[str]]:
    """Create a member (`member_id` None: `values["member_id"]` is the new id) or update
    `member_id`; returns it and the sites whose access lists changed (a Pass date of a
    member with a badge). `may_set_pass` False (an animator): a Pass date that differs
    from the member's is refused, since a Pass opens every site's doors at any hour."""
    record_ = {name: (values.get(name) or "").strip() for name in FIELDS}
    # A form's text area sends its lines as a browser does, CR LF.
    record_["address"] = "\n".join(line.strip() for line in record_["address"].splitlines())
    if member_id is not None:
        record_["member_id"] = member_id
    try:
        row = member_row(0, {**record_, "badges": ""})
    except BadField as bad:
        raise Invalid(bad.field, _FIELD_MESSAGES.get(bad.field, bad.message)) from None
    member = session.get(Member, row.member_id)
    if member_id is None and member is not None:
        raise Invalid(
            "member_id", N_("There is already a member %(member_id)s."), member_id=row.member_id
        )
    if member_id is not None and member is None:
        raise unknown_member(member_id)
    after = {
        "last_name": row.last_name,
        "first_name": row.first_name,
        "email": row.email,
        "category": row.category,
        "pass_since": row.pass_since,
        "pass_until": row.pass_until,
        "address": row.address or None,
    }
    if not may_set_pass:
        for name in PASS_FIELDS:
            if after[name] != (getattr(member, name) if member is not None else None):
                raise Invalid(
                    name,
                    N_(
                        "Only the department or an administrator may set a Pass: it opens "
                        "every site's doors, at any hour."
                    ),
                )
    changed: set[str] = set()
    if member is None:
        member = Member(id=row.member_id, **after)
        session.add(member)
        session.flush()
        record(session, actor, "member_created", after=_snapshot(member), member_id=member.id)
    else:
        before = _snapshot(member)
        fields = {key for key, value in after.items() if getattr(member, key) != value}
        if not fields:
            return _views(session, [member])[0], changed
        for key in fields:
            setattr(member, key, after[key])
        session.flush()
        holds_badge = session.scalar(
            select(func.count()).where(Badge.member_id == member.id, Badge.active)
        )
        if fields & set(PASS_FIELDS) and holds_badge:
            changed = all_sites(session)
        record(
            session,
            actor,
            "member_updated",
            sites=changed,
            before=before,
            after=_snapshot(member),
            member_id=member.id,
        )
    return _views(session, [member])[0], changed


def deactivate_member(session: Session, member_id: str, *, actor: str) -> set[str]:
    """Revoke every badge the member holds: they can no longer enter anywhere, and their
    past stays stay theirs. Returns the sites whose access lists changed (none if the member
    held no active badge)."""
    if session.get(Member, member_id) is None:
        raise unknown_member(member_id)
    revoked = sorted(
        session.scalars(select(Badge).where(Badge.member_id == member_id, Badge.active)),
        key=lambda badge: badge.uid,
    )
    if not revoked:
        return set()
    for badge in revoked:
        badge.active = False
    session.flush()
    changed = all_sites(session)
    record(
        session,
        actor,
        "member_deactivated",
        sites=changed,
        before={"badges": [badge.uid for badge in revoked]},
        after={"badges": []},
        member_id=member_id,
    )
    return changed


def match_one(session: Session, text: str, *, field: str = "member") -> MemberView:
    """The one member `text` designates, as a person types it in a form: their member
    number, or words of their name, e-mail or badge that match no one else."""
    wanted = text.strip()
    if not wanted:
        raise Invalid(field, N_("Type the member's name or number."))
    exact = get(session, wanted)
    if exact is not None:
        return exact
    found = search(session, wanted, per_page=6)
    if found.total == 1:
        return found.rows[0]
    if found.total == 0:
        raise Invalid(field, N_("No member matches “%(text)s”."), text=wanted)
    shown = ", ".join(f"{m.name} ({m.id})" for m in found.rows[:5])
    raise Invalid(
        field,
        N_("Several members match “%(text)s”: %(names)s. Type the member number."),
        text=wanted,
        names=shown + ("…" if found.total > 5 else ""),
    )
