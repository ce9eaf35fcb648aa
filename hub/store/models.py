"""The hub's tables. Every change here comes with a migration in `hub/migrations/versions`.

Times are stored in UTC and come back as aware UTC datetimes on SQLite and PostgreSQL alike;
the site's local time is a matter for the rules and the reports, never for the store.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time
from typing import Any, ClassVar, cast, overload

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Connection,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    case,
    event,
    inspect,
    literal,
    null,
    select,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

#: Constraint names stay the same on every database, so migrations can name them.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ID = String(48)
MEMBER_ID = String(64)
BADGE = String(20)


@overload
def sqlite_time(value: datetime) -> str: ...
@overload
def sqlite_time(value: None) -> None: ...
def sqlite_time(value: datetime | None) -> str | None:
    """An instant as SQLite stores it: its UTC time as fixed-width text without offset (the
    format of SQLAlchemy's SQLite DATETIME, which reads it back), so that text order is time
    order. The one place of that format: `UtcDateTime` binds with it, and so does
    `hub.store.bulk` for the rows of an import. One C call rather than two conversions and a
    format of nine fields; a time in UTC already (most of them: receipts, the engine's
    sessions) is formatted as it is, less its offset (the last six characters)."""
    if value is None:
        return None
    zone = value.tzinfo
    if zone is UTC:
        return value.isoformat(" ", "microseconds")[:-6]
    if zone is None:
        raise ValueError(f"naive datetime {value!r}: the store only takes aware datetimes")
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out: SQLite would otherwise drop the offset silently."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def bind_processor(self, dialect: Dialect) -> Callable[[datetime | None], Any] | None:
        # On SQLite the text is made in one step (`sqlite_time`), instead of the decorator's
        # `process_bind_param` followed by DATETIME's own format.
        if dialect.name == "sqlite":
            return sqlite_time
        return super().bind_processor(dialect)

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the store only takes aware datetimes")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UtcDateTime(),
        dict[str, Any]: JSON(),
        list[Any]: JSON(),
    }


class Site(Base):
    __tablename__ = "sites"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    commune: Mapped[str | None] = mapped_column(String(200))
    zrr: Mapped[bool] = mapped_column(Boolean, default=False)
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Paris")
    annual_cost_eur: Mapped[float | None] = mapped_column(Float)
    #: `{"mon": ["08:30-12:00", …]}` as in the sites file and the access list.
    opening: Mapped[dict[str, Any]] = mapped_column(default=dict)
    open_on_public_holidays: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Extra closed days, ISO dates.
    closed: Mapped[list[Any]] = mapped_column(default=list)
    #: `{"public": {"hourly", "daily_cap", "monthly_cap"}, "pass": {…}}`, EUR.
    tariffs: Mapped[dict[str, Any]] = mapped_column(default=dict)
    rounding_min: Mapped[int] = mapped_column(Integer, default=15)
    #: Who issues the site's invoices and how (the sites file's `invoicing`): `issuer`,
    #: `address`, `postcode`, `town`, `siret`, `vat_number`, `vat_rate`, `vat_exemption`,
    #: `prefix`, `payment` (`hub.rules.legal.IDENTITY`: what a close needs of an issuer).
    invoicing: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: `{door id: "Porte d'entrée"}`: what people read for a door (the id stays the key).
    door_names: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default="{}")
    #: `{device id: "Boîtier de l'entrée"}`: what people read for an edge device.
    device_labels: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default="{}")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    spaces: Mapped[list[Space]] = relationship(
        cascade="all, delete-orphan", order_by="Space.id", lazy="selectin"
    )


class Space(Base):
    __tablename__ = "spaces"

    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"), primary_key=True)
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    #: `office` and `open_space` are positions; `meeting` rooms are not.
    kind: Mapped[str] = mapped_column(String(16))
    positions: Mapped[int] = mapped_column(Integer)


class Member(Base):
    __tablename__ = "members"

    id: Mapped[str] = mapped_column(MEMBER_ID, primary_key=True)
    last_name: Mapped[str] = mapped_column(String(200))
    first_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    #: Postal address, for invoices (optional).
    address: Mapped[str | None] = mapped_column(Text)
    #: `independent`, `employee`, `mobile` or `other`.
    category: Mapped[str] = mapped_column(String(16))
    pass_since: Mapped[date | None]
    pass_until: Mapped[date | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Badge(Base):
    """A card and who holds it now; who held it when is `BadgeHolding`, which decides whose a
    tap is (and which of a reused card's taps stored with no holder a member's export and
    erasure take), and past holders stay on the events they produced."""

    __tablename__ = "badges"

    uid: Mapped[str] = mapped_column(BADGE, primary_key=True)
    # Their old values are loaded before a change (active history), even on an expired
    # badge: `_badge_moved` closes the holding of the holder and state it had.
    member_id: Mapped[str] = mapped_column(
        ForeignKey("members.id"), index=True, active_history=True
    )
    active: Mapped[bool] = mapped_column(Boolean, default=True, active_history=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    member: Mapped[Member] = relationship(lazy="raise")


class BadgeHolding(Base):
    """Who held a badge when: a tap is its holder's at its time stamp, whenever it reaches
    the hub (a door offline while the card changed hands hands no one the other's taps).

    `held_until` None: still held. `held_from` None only on a badge's first holding: its
    first holder is its holder for every earlier tap, so a year of taps imported after the
    members file that created the member is theirs. Kept by the mapper events below, from
    the badge's own changes, whichever operation (enrolment, members file, lost badge,
    deactivation) makes them; erasing a member deletes their holdings (ON DELETE CASCADE).
    """

    __tablename__ = "badge_holdings"
    __table_args__ = (Index("ix_badge_holdings_uid_held_from", "uid", "held_from"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uid: Mapped[str] = mapped_column(BADGE)
    member_id: Mapped[str] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    held_from: Mapped[datetime | None]
    held_until: Mapped[datetime | None]


_HOLDINGS = cast(Table, BadgeHolding.__table__)


def _open_holding(connection: Connection, target: Badge, since: datetime) -> None:
    """`target`'s holder holds it from `since`, or from always if nobody held it before; any
    holding still open ends then. One is, though this process saw the card revoked, when
    another gave it meanwhile (PostgreSQL: this update waited for that one's row): the last
    giving wins, in the badge and in its holdings alike, never two holders at once."""
    _close_holding(connection, target.uid, since)
    held_before = select(_HOLDINGS.c.id).where(_HOLDINGS.c.uid == target.uid).exists()
    connection.execute(
        _HOLDINGS.insert().from_select(
            ["uid", "member_id", "held_from"],
            select(
                literal(target.uid, BADGE),
                literal(target.member_id, MEMBER_ID),
                case((held_before, literal(since, UtcDateTime())), else_=null()),
            ),
        )
    )


def _close_holding(connection: Connection, uid: str, until: datetime) -> None:
    connection.execute(
        _HOLDINGS.update()
        .where(_HOLDINGS.c.uid == uid, _HOLDINGS.c.held_until.is_(None))
        .values(held_until=until)
    )


@event.listens_for(Badge, "after_insert")
def _badge_created(_mapper: object, connection: Connection, target: Badge) -> None:
    if target.active:
        _open_holding(connection, target, utcnow())


@event.listens_for(Badge, "after_update")
def _badge_moved(_mapper: object, connection: Connection, target: Badge) -> None:
    """Close the holding a change of holder or a revocation ends, and open the holding a
    giving (or a reactivation) starts, at one instant: a giving's end of the previous
    holding is the next one's start."""
    state = inspect(target)
    holder, active = state.attrs.member_id.history, state.attrs.active.history
    if not holder.has_changes() and not active.has_changes():
        return
    was_active = active.deleted[0] if active.deleted else target.active
    given = holder.has_changes()
    at = utcnow()
    if was_active and (given or not target.active):
        _close_holding(connection, target.uid, at)
    if target.active and (given or not was_active):
        _open_holding(connection, target, at)


class Event(Base):
    """Every valid event, once: `id` is the edge's UUID, so a redelivered event is a conflict.

    `site` is not a foreign key: an edge may report before its site is imported, and its
    events must be kept all the same.
    """

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_site_ts", "site", "ts"),
        Index("ix_events_badge_ts", "badge", "ts"),
        Index("ix_events_member_id_ts", "member_id", "ts"),
        Index("ix_events_outcome", "outcome"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    site: Mapped[str] = mapped_column(ID)
    device: Mapped[str] = mapped_column(ID)
    seq: Mapped[int] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(String(16))
    ts: Mapped[datetime]
    #: The edge clock's UTC offset when it stamped `ts`, in minutes (local time = ts + offset).
    ts_offset_min: Mapped[int] = mapped_column(Integer)
    clock_synced: Mapped[bool] = mapped_column(Boolean)
    badge: Mapped[str | None] = mapped_column(BADGE)
    #: Who held the badge at the event's time stamp (`badge_holdings`); NULL if no one did.
    member_id: Mapped[str | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    reader: Mapped[str | None] = mapped_column(ID)
    access: Mapped[str | None] = mapped_column(String(16))
    direction: Mapped[str | None] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(32))
    door: Mapped[str | None] = mapped_column(ID)
    state: Mapped[str | None] = mapped_column(String(16))
    kind: Mapped[str | None] = mapped_column(String(32))
    #: The payload as received, for fields this version of the hub does not know yet.
    payload: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: What the hub made of a badge event (`hub.rules.outcomes`): `counted`, `debounced`,
    #: `already_in`, `no_open_session`, `quarantined`, `unknown_badge`, `denied`; None for
    #: other types, or a tap at a site not imported yet.
    outcome: Mapped[str | None] = mapped_column(String(16))
    #: Why: the quarantine's reason, the edge's reason for a denial.
    outcome_reason: Mapped[str | None] = mapped_column(String(64))


class EventId(Base):
    """The id of every event ever stored, kept when retention deletes the event itself: what
    decides that an event is a duplicate, however late it comes back (an edge's backlog after
    months offline, a broker redelivering a batch retention has just deleted).

    No personal data (a random id, a device, a counter, a time), hence outside the CNIL
    retention that applies to `events` (docs/operations.md).
    """

    __tablename__ = "event_ids"
    __table_args__ = (Index("ix_event_ids_device_seq", "device", "seq"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    device: Mapped[str] = mapped_column(ID)
    seq: Mapped[int] = mapped_column(Integer)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class DeviceMark(Base):
    """How far the hub holds each device's events (the end-to-end acknowledgement, `wire.Ack`).

    Kept for ever, like `event_ids`: a device's counter and nothing about people.
    """

    __tablename__ = "device_marks"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    site: Mapped[str] = mapped_column(ID)
    #: The highest `seq` such that the hub holds every event of the device from `floor` up to
    #: it (`hub.rules.delivery.committed_mark`); 0: none yet.
    committed_seq: Mapped[int] = mapped_column(Integer, default=0)
    #: The highest `outbox_floor` the device's statuses gave: every lower seq has left its
    #: outbox for good (committed here, or dropped by an overflow); 0: never said.
    floor: Mapped[int] = mapped_column(Integer, default=0)
    #: The `committed_seq` last published on the device's ack topic (the broker confirmed it).
    published_seq: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class RejectedEvent(Base):
    """What did not follow the protocol, kept so a misbehaving edge can be diagnosed."""

    __tablename__ = "rejected_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    #: None for events that came from a JSON Lines import.
    topic: Mapped[str | None] = mapped_column(String(256))
    #: The start of the payload only (an oversize payload is not worth keeping whole).
    payload: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class PresenceSession(Base):
    """One member's stay at one site (RULES.md). After the retention period the member is
    replaced by `pseudonym`, so distinct users can still be counted."""

    __tablename__ = "sessions"
    __table_args__ = (
        Index("ix_sessions_site_id_start", "site_id", "start"),
        Index("ix_sessions_member_id_start", "member_id", "start"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    member_id: Mapped[str | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    pseudonym: Mapped[str | None] = mapped_column(String(64))
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"))
    start: Mapped[datetime]
    end: Mapped[datetime | None]
    auto_closed: Mapped[bool] = mapped_column(Boolean, default=False)
    start_event_id: Mapped[str | None] = mapped_column(String(64))
    end_event_id: Mapped[str | None] = mapped_column(String(64))
    #: No replay rewrites it or starts before it (docs/rules.md, Final sessions): set by the
    #: retention before it deletes the session's taps, and on every manual session.
    final: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Made or corrected by a person (`hub.presence.corrections`): who, when, why.
    manual: Mapped[bool] = mapped_column(Boolean, default=False)
    manual_reason: Mapped[str | None] = mapped_column(Text)
    manual_by: Mapped[str | None] = mapped_column(String(200))
    manual_at: Mapped[datetime | None]
    #: How it ended: `tap`, `auto` (rule 4), `elsewhere` (a tap at another site), `manual`;
    #: None while open.
    end_reason: Mapped[str | None] = mapped_column(String(16))
    #: Written equal to `end`. Before the replay walked all of a member's sites at once, it
    #: held the end the session's own site gave it, `end` being earlier when the member was
    #: seen elsewhere; rows of that time are set right by their next replay.
    natural_end: Mapped[datetime | None]


#: What the rules read of a stored session (`hub.rules.model.Session`), in its field order:
#: the columns only, as whole ORM objects cost the reports and the engine most of their time.
RULE_COLUMNS = (
    PresenceSession.member_id,
    PresenceSession.site_id,
    PresenceSession.start,
    PresenceSession.end,
    PresenceSession.auto_closed,
)


class Device(Base):
    """The last status each edge device published (retained, and its last will)."""

    __tablename__ = "devices"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    site: Mapped[str] = mapped_column(ID, index=True)
    #: `online` or `offline`.
    state: Mapped[str] = mapped_column(String(16))
    #: The device's own time stamp on its last `online` status.
    last_seen: Mapped[datetime | None]
    queue: Mapped[int | None] = mapped_column(Integer)
    clock_synced: Mapped[bool | None] = mapped_column(Boolean)
    version: Mapped[str | None] = mapped_column(String(64))
    #: The access list version the device decides from: behind the hub's means stale doors.
    access_version: Mapped[int | None] = mapped_column(BigInteger)
    readers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    doors: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class AuditEntry(Base):
    """Who changed what by hand (an animator closing a session, an import, a door opened)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(64))
    site_id: Mapped[str | None] = mapped_column(ID)
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


class AuditSite(Base):
    """Every site a change of the audit log affects, beside its own `site_id`: a badge given
    opens the doors of every site, so each of their animators sees it (`hub.people.audit`)."""

    __tablename__ = "audit_sites"

    entry_id: Mapped[int] = mapped_column(
        ForeignKey("audit_log.id", ondelete="CASCADE"), primary_key=True
    )
    site_id: Mapped[str] = mapped_column(ID, primary_key=True, index=True)


class AccessListVersion(Base):
    """Each access list published for a site; edges apply only a higher `version`."""

    __tablename__ = "access_list_versions"

    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"), primary_key=True)
    #: The issue time in ms, or the last version + 1 (`hub.doors.access_lists.next_version`).
    version: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    issued: Mapped[datetime] = mapped_column(default=utcnow)


class User(Base):
    """A person who signs in to the console: `admin`, `department` or `animator` (of the
    sites in `sites`). Never deleted, only disabled, so the audit log keeps naming them."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    login: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    #: `admin`, `department` or `animator`.
    role: Mapped[str] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    #: argon2id, as `argon2-cffi` writes it (`$argon2id$v=19$…`).
    password_hash: Mapped[str] = mapped_column(String(200))
    #: Changed with the password or on disabling: the sessions signed with the old one end.
    session_nonce: Mapped[str] = mapped_column(String(32))
    #: `fr` or `en`; None: the browser's.
    language: Mapped[str | None] = mapped_column(String(8))
    last_login_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    #: Where alerts reach them; None: no e-mail.
    email: Mapped[str | None] = mapped_column(String(320))
    #: The alert kinds they chose (`hub.rules.alerts.KINDS`); None: their role's default.
    alert_kinds: Mapped[list[Any] | None] = mapped_column(JSON)
    #: No alert leaves in this window of their site's local time; it waits for its end.
    quiet_start: Mapped[time | None]
    quiet_end: Mapped[time | None]

    sites: Mapped[list[UserSite]] = relationship(
        cascade="all, delete-orphan", order_by="UserSite.site_id", lazy="selectin"
    )


class UserSite(Base):
    """A site an animator runs (one or several)."""

    __tablename__ = "user_sites"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"), primary_key=True)


class ApiToken(Base):
    """An API token made in the console or the CLI; only its SHA-256 is kept."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: `department`, `admin` or `animator:<site>`, as the bootstrap tokens of hub.yaml.
    role: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class Alarm(Base):
    """A door alarm (`door_forced`, `door_held_open`) or an edge's `outbox_overflow`, from its
    event; it stands out on the board until someone acknowledges it (who and when kept)."""

    __tablename__ = "alarms"
    __table_args__ = (Index("ix_alarms_site_id_acknowledged_at", "site_id", "acknowledged_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(64), unique=True)
    site_id: Mapped[str] = mapped_column(ID)
    device: Mapped[str] = mapped_column(ID)
    door: Mapped[str | None] = mapped_column(ID)
    kind: Mapped[str] = mapped_column(String(32))
    #: The event's time stamp (when the edge saw it).
    at: Mapped[datetime]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(String(200))


class DoorCommand(Base):
    """A door opened from the console: the command sent and what the device answered."""

    __tablename__ = "door_commands"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    site_id: Mapped[str] = mapped_column(ID, index=True)
    device: Mapped[str] = mapped_column(ID)
    door: Mapped[str] = mapped_column(ID)
    reason: Mapped[str] = mapped_column(Text)
    requested_by: Mapped[str] = mapped_column(String(200))
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: None until the device answered (`wire.CommandResult`).
    answered_at: Mapped[datetime | None]
    ok: Mapped[bool | None] = mapped_column(Boolean)
    error: Mapped[str | None] = mapped_column(String(200))


class BillingState(Base):
    """One row (`id` 1): every close locks it first, so two hub processes closing at once
    take turns, and invoice numbers are read and given under that lock (no gap, no reuse)."""

    __tablename__ = "billing_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    #: The last "YYYY-MM" closed; None before the first close.
    last_closed: Mapped[str | None] = mapped_column(String(7))
    updated_at: Mapped[datetime | None]


class BillingMonth(Base):
    """A closed month: its invoice lines and invoices are records from then on."""

    __tablename__ = "billing_months"

    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    closed_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_by: Mapped[str] = mapped_column(String(200))


class Invoice(Base):
    """One invoice (or credit note) of a member at a site for a closed month, numbered in
    the site's unbroken sequence. Money in cents. `member_id` is no foreign key: an invoice
    outlives the member's erasure (docs/rules.md, Invoices)."""

    __tablename__ = "invoices"
    __table_args__ = (Index("ix_invoices_site_id_number", "site_id", "number", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    site_id: Mapped[str] = mapped_column(ID)
    number: Mapped[int] = mapped_column(Integer)
    reference: Mapped[str] = mapped_column(String(64), unique=True)
    #: `invoice` or `credit_note`.
    kind: Mapped[str] = mapped_column(String(16))
    month: Mapped[str] = mapped_column(String(7), index=True)
    issued_on: Mapped[date]
    member_id: Mapped[str] = mapped_column(MEMBER_ID)
    net_cents: Mapped[int] = mapped_column(BigInteger)
    #: Percent, as text ("20" or "5.5"); None: no VAT, `issuer["vat_exemption"]` says why.
    vat_rate: Mapped[str | None] = mapped_column(String(8))
    vat_cents: Mapped[int] = mapped_column(BigInteger)
    total_cents: Mapped[int] = mapped_column(BigInteger)
    #: The site's `invoicing` and name as they were on the day of issue.
    issuer: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: The Factur-X PDF as first handed out, kept so that the same document is handed out
    #: every time (`hub.reports.invoice_files.issued_pdf`); None until first asked for.
    document: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)


class InvoiceRecord(Base):
    """A closed month's invoice line, with the member as they were at the close: the
    month's own line (`corrects` None) or an adjustment of an earlier closed month.
    Hours in 1/10000 h, money in cents: exact on every database."""

    __tablename__ = "invoice_lines"
    __table_args__ = (Index("ix_invoice_lines_month_site_id", "month", "site_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    month: Mapped[str] = mapped_column(String(7), ForeignKey("billing_months.month"))
    corrects: Mapped[str | None] = mapped_column(String(7), index=True)
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"), index=True)
    member_id: Mapped[str] = mapped_column(MEMBER_ID, index=True)
    member_name: Mapped[str] = mapped_column(String(401))
    member_email: Mapped[str | None] = mapped_column(String(320))
    member_address: Mapped[str | None] = mapped_column(Text)
    site_id: Mapped[str] = mapped_column(ID)
    #: `public`, `pass`, `free` or `mixed`.
    rate_set: Mapped[str] = mapped_column(String(8))
    hours_e4: Mapped[int] = mapped_column(BigInteger)
    free_hours_e4: Mapped[int] = mapped_column(BigInteger)
    billed_hours_e4: Mapped[int] = mapped_column(BigInteger)
    #: The hourly rate of the line's rate set; None for `free` and `mixed`.
    hourly_cents: Mapped[int | None] = mapped_column(BigInteger)
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    #: When an erasure past the accounting horizon replaced name and e-mail.
    erased_at: Mapped[datetime | None]


class MailMessage(Base):
    """An e-mail to send (`hub/mail/`): kept until the server took it, so an SMTP outage or a
    hub restart loses none; sent once (marked the moment the server accepted it)."""

    __tablename__ = "mail_queue"
    __table_args__ = (Index("ix_mail_queue_sent_at_next_attempt_at", "sent_at", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    to_address: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    #: What it is about (`incident:42`): a reminder is not queued beside an unsent message
    #: of its thread for the same address.
    thread: Mapped[str | None] = mapped_column(String(100), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: Not before this (the recipient's quiet hours), then as soon as the server takes it.
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None]
    #: Given up (refused for good, or tried for `mail.give_up_after_h`): shown to admins.
    failed_at: Mapped[datetime | None]
    #: A hub process sending it holds it until then, so another one does not send it too.
    claimed_until: Mapped[datetime | None]


class AlertIncident(Base):
    """One thing going wrong at one place (`hub.rules.alerts.Key`), told once by e-mail and
    reminded while it stands; kept after it ends, as the history of what people were told."""

    __tablename__ = "alert_incidents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    site_id: Mapped[str] = mapped_column(ID, index=True)
    kind: Mapped[str] = mapped_column(String(32))
    #: The door (door alarms) or the device.
    subject: Mapped[str] = mapped_column(ID)
    #: `Key.text()` while it stands, None once resolved: at most one standing incident per
    #: key, even with two hub processes scanning at once.
    open_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    #: When what went wrong began (the first alarm's time stamp, the device's last sight).
    began_at: Mapped[datetime]
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    notified_at: Mapped[datetime] = mapped_column(default=utcnow)
    reminders: Mapped[int] = mapped_column(Integer, default=0)
    resolved_at: Mapped[datetime | None]


class MemberPass(Base):
    """A way into the members' space, used once: a link sent by e-mail (`link`, 15 minutes)
    or a code an animator hands to a member without e-mail (`code`). Only its SHA-256 is
    kept, so the table tells nobody how to sign in (`hub.people.member_access`)."""

    __tablename__ = "member_passes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    member_id: Mapped[str] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    #: `link` or `code`.
    kind: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class MemberSession(Base):
    """A member signed in to their own space: short, separate from staff sessions (its own
    cookie holds the secret, the table its SHA-256), ended by signing out or by time."""

    __tablename__ = "member_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    member_id: Mapped[str] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]


class ReportMonth(Base):
    """One site's sessions of one local month summed up (`hub.rules.months.MonthTally`),
    kept by `hub.reports.months` so that a report reads a year of a site from 12 rows, not
    from every session."""

    __tablename__ = "report_months"

    #: "YYYY-MM", in the site's zone; first in the key: a period of every site is one range.
    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    site_id: Mapped[str] = mapped_column(ID, primary_key=True)
    #: The zone the month's days were read in: a site moved to another zone is read again.
    timezone: Mapped[str] = mapped_column(String(64))
    used_us: Mapped[int] = mapped_column(BigInteger)
    #: Who came: member ids and pseudonyms, sorted.
    users: Mapped[list[Any]]
    #: Microseconds in each hour slot of the week (`hub.rules.months.SLOTS`).
    slots: Mapped[list[Any]]


class ReportYear(Base):
    """One site's stored months of one local year summed up together
    (`hub.rules.months.YearTally`), kept with its months by `hub.reports.months`: a report of
    whole years reads one row a site instead of twelve."""

    __tablename__ = "report_years"

    #: "YYYY"; first in the key, as for the months.
    year: Mapped[str] = mapped_column(String(4), primary_key=True)
    site_id: Mapped[str] = mapped_column(ID, primary_key=True)
    #: The zone of every month summed up (a year of months in two zones is not kept).
    timezone: Mapped[str] = mapped_column(String(64))
    used_us: Mapped[int] = mapped_column(BigInteger)
    #: Who came in the year: member ids and pseudonyms, sorted.
    users: Mapped[list[Any]]
    slots: Mapped[list[Any]]
    #: Each month's `used_us`, January first.
    months_us: Mapped[list[Any]]


class ReportStale(Base):
    """A site's UTC day whose sessions changed since its months were summed up: written by
    triggers on `sessions` (migration 0016) in the transaction of the change, whatever made
    it (the presence engine, a correction, the retention, an import), and cleared by
    `hub.reports.months.refresh`."""

    __tablename__ = "report_stale"

    site_id: Mapped[str] = mapped_column(ID, primary_key=True)
    #: The UTC day of the start of a session inserted, deleted, or updated (before and after).
    day: Mapped[date] = mapped_column(primary_key=True)
