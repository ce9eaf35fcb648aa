"""Storing incoming events: the one path for MQTT batches and JSON Lines imports alike.

Validation is `telecentre.wire.parse_event`; an event id already stored, or twice in the same
batch, is a duplicate (edges resend until acknowledged, the broker redelivers after a crash).
"Already stored" is decided from `event_ids`, which retention never empties, not from
`events`: an event redelivered after retention deleted it is still a duplicate.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.event import listen
from sqlalchemy.orm import Session

from hub.store.bulk import execute_many, insert_new
from hub.store.db import insert_ignoring_conflicts
from hub.store.models import BadgeHolding, DeviceMark, Event, EventId, RejectedEvent, utcnow
from telecentre import wire

#: A rejected payload is kept only this long: enough to diagnose, not to fill the disk.
REJECTED_PAYLOAD_CHARS = 2048

WireEvent = wire.BadgeEvent | wire.DoorEvent | wire.AlarmEvent | wire.ExitRequestEvent


@dataclass(frozen=True)
class Incoming:
    """One payload as it arrived; `topic` is None for a line of an imported file."""

    payload: bytes | str
    topic: str | None = None
    received_at: datetime = field(default_factory=utcnow)


@dataclass(frozen=True)
class NewEvent:
    """An event stored by this batch, for the hooks (the presence engine, alerts)."""

    event: WireEvent
    #: Holder of the badge at the event's time stamp (`badge_holdings`); None for other types,
    #: unknown badges, and a badge nobody held then.
    member_id: str | None
    received_at: datetime = field(default_factory=utcnow)
    #: An admin applies it deliberately: the arrival checks (`hub.rules.replay`) are skipped.
    trusted: bool = False


@dataclass
class StoreResult:
    new: list[NewEvent] = field(default_factory=list)
    duplicates: int = 0
    #: (index in the input, reason) of every payload that did not follow the protocol.
    rejected: list[tuple[int, str]] = field(default_factory=list)
    #: Of the rejected, those naming another device or site than their topic's.
    wrong_sender: int = 0


#: Called inside the batch's transaction with the events it stored for the first time.
OnBatch = Callable[[Session, list[NewEvent]], None]


def _text(payload: bytes | str) -> str:
    return payload.decode("utf-8", errors="replace") if isinstance(payload, bytes) else payload


def rejection(incoming: Incoming, reason: str) -> dict[str, Any]:
    """A row of `rejected_events`, for an INSERT of many."""
    return {
        "topic": incoming.topic,
        # A NUL is kept as U+FFFD: PostgreSQL stores no NUL in text, and one such payload
        # would fail the INSERT of every rejection of its batch.
        "payload": _text(incoming.payload)[:REJECTED_PAYLOAD_CHARS].replace("\x00", "\ufffd"),
        "reason": reason,
        "received_at": incoming.received_at,
    }


def _fields(event: WireEvent) -> dict[str, Any]:
    """What `getattr(event, name, None)` gives, as a dict: the event's fields over the extra
    keys its payload carried (the protocol allows them).

    `getattr` of a name an event type lacks goes through pydantic's `__getattr__` and an
    exception, which cost more than the rest of the row; this is one dict per event.
    """
    extra = event.__pydantic_extra__
    return {**extra, **event.__dict__} if extra else event.__dict__


def _row(
    event: WireEvent,
    fields: dict[str, Any],
    member_id: str | None,
    payload: str,
    received_at: datetime,
) -> dict[str, Any]:
    """The `events` row of `event`, whose `_fields` are `fields`."""
    offset = event.ts.utcoffset()
    assert offset is not None  # wire.Timestamp only accepts aware times
    return {
        "id": event.id,
        "site": event.site,
        "device": event.device,
        "seq": event.seq,
        "type": event.type,
        "ts": event.ts,
        "ts_offset_min": int(offset.total_seconds() // 60),
        "clock_synced": event.clock_synced,
        "badge": fields.get("badge"),
        "member_id": member_id,
        "reader": fields.get("reader"),
        "access": fields.get("access"),
        "direction": fields.get("direction"),
        "reason": fields.get("reason"),
        "door": fields.get("door"),
        "state": fields.get("state"),
        "kind": fields.get("kind"),
        "payload": payload,
        "received_at": received_at,
        **_outcome(event, member_id),
    }


def _outcome(event: WireEvent, member_id: str | None) -> dict[str, str | None]:
    """What the store can tell of a tap before any replay (docs/rules.md, Every tap says
    why): a denial and its reason, a badge no member holds. Counted taps get theirs from the
    presence engine."""
    if not isinstance(event, wire.BadgeEvent):
        return {"outcome": None, "outcome_reason": None}
    if event.access == "denied":
        return {"outcome": "denied", "outcome_reason": event.reason}
    if member_id is None:
        return {"outcome": "unknown_badge", "outcome_reason": None}
    return {"outcome": None, "outcome_reason": None}


#: A badge's holdings: (held from, held until, member), None for "always" / "still".
Holding = tuple[datetime | None, datetime | None, str]


@dataclass(frozen=True)
class CardHolders:
    """Who held each badge when (`badge_holdings`), read once for a batch."""

    holdings: Mapping[str, Sequence[Holding]]

    def at(self, badge: str | None, ts: datetime) -> str | None:
        """The holder of `badge` at the tap's time stamp (the door's clock), whenever the tap
        reaches the hub: a late tap is its holder's then, never the badge's holder now
        (docs/rules.md, rule 1). None: no one held it then (unknown, or revoked)."""
        for since, until, member_id in self.holdings.get(badge or "", ()):
            if (since is None or since <= ts) and (until is None or ts < until):
                return member_id
        return None


def _holders(
    session: Session, badges: set[str], known: dict[str, list[Holding]] | None = None
) -> CardHolders:
    """The holdings of `badges`; with `known`, those of the badges not in it yet are read
    and added to it (a badge nobody held, as an empty list)."""
    holdings: dict[str, list[Holding]] = {} if known is None else known
    wanted = badges - holdings.keys()
    if wanted:
        for uid in wanted:
            holdings[uid] = []
        rows = session.execute(
            select(
                BadgeHolding.uid,
                BadgeHolding.held_from,
                BadgeHolding.held_until,
                BadgeHolding.member_id,
            ).where(BadgeHolding.uid.in_(wanted))
        )
        for uid, since, until, member_id in rows:
            holdings[uid].append((since, until, member_id))
    return CardHolders(holdings)


def holder_at(session: Session, badge: str | None, ts: datetime) -> str | None:
    """Who held `badge` at `ts`, for a tap stored earlier and applied now."""
    return _holders(session, {badge} if badge else set()).at(badge, ts)


_EVENTS = cast(Table, Event.__table__)
_EVENT_IDS = cast(Table, EventId.__table__)
_INSERT_EVENTS = insert(_EVENTS)
_SET_OUTCOMES = (
    update(_EVENTS)
    .where(_EVENTS.c.id == bindparam("event_id"))
    .values(outcome=bindparam("new_outcome"), outcome_reason=bindparam("new_reason"))
)
#: In `Session.info`: the `events` rows `store_events(hold=True)` kept back, by id.
_HELD = "events.held"
#: In `Session.info`: the session writes its held rows at commit and forgets them at rollback.
_HELD_HOOKED = "events.held.hooked"


def _held(session: Session) -> dict[str, dict[str, Any]]:
    """The rows held back in `session`'s transaction. Their ids are stored at once: a commit
    without their rows would make them duplicates of nothing, so the commit writes them
    whether or not the caller called `write_held`, and a rollback forgets them."""
    if not session.info.get(_HELD_HOOKED):
        listen(session, "before_commit", write_held)
        listen(session, "after_rollback", _forget_held)
        session.info[_HELD_HOOKED] = True
    held: dict[str, dict[str, Any]] = session.info.setdefault(_HELD, {})
    return held


def _forget_held(session: Session) -> None:
    session.info.pop(_HELD, None)


def write_held(session: Session) -> None:
    """Insert the `events` rows `store_events(hold=True)` kept back, with the outcomes set
    on them meanwhile: one statement, and no UPDATE of each tap after its INSERT."""
    held = session.info.pop(_HELD, None)
    if held:
        execute_many(session.connection(), _INSERT_EVENTS, list(held.values()))


def write_outcomes(session: Session, outcomes: Mapping[str, tuple[str, str | None]]) -> None:
    """Set the outcome (and its reason) of these events: on the rows still held back, else
    one UPDATE for all."""
    held = session.info.get(_HELD, {})
    stored = []
    for event_id, (outcome, reason) in sorted(outcomes.items()):
        row = held.get(event_id)
        if row is None:
            stored.append({"event_id": event_id, "new_outcome": outcome, "new_reason": reason})
        else:
            row["outcome"], row["outcome_reason"] = outcome, reason
    execute_many(session.connection(), _SET_OUTCOMES, stored)


def store_events(
    session: Session,
    batch: Sequence[Incoming],
    *,
    hold: bool = False,
    holdings: dict[str, list[Holding]] | None = None,
) -> StoreResult:
    """Validate and store `batch` in the caller's transaction; the caller commits.

    `hold`: the new events' rows wait in memory until `write_held`, which the caller calls
    before it commits (else the commit writes them), after the hooks (the presence engine
    then sets the taps' outcomes on them, and reads from the store only the taps of earlier
    batches). Their ids are stored
    at once all the same: what is a duplicate is decided as without it.

    `holdings`: the badges' holdings read by the earlier calls of the same transaction,
    used and added to. Only for a caller whose transaction changes no holding meanwhile (a
    file's import): each badge's are then read once, not once a batch.
    """
    result = StoreResult()
    valid: dict[str, tuple[WireEvent, Incoming]] = {}
    rejected_rows = []
    for index, incoming in enumerate(batch):
        try:
            event = wire.parse_event(incoming.payload, incoming.topic)
        except wire.ProtocolError as exc:
            result.rejected.append((index, str(exc)))
            rejected_rows.append(rejection(incoming, str(exc)))
            if isinstance(exc, wire.WrongSender):
                result.wrong_sender += 1
            continue
        if event.id in valid:
            result.duplicates += 1
        else:
            valid[event.id] = (event, incoming)
    if rejected_rows:
        session.execute(insert(RejectedEvent), rejected_rows)
    if not valid:
        return result

    holders = _holders(
        session, {e.badge for e, _ in valid.values() if isinstance(e, wire.BadgeEvent)}, holdings
    )
    # In id order, so that two hub processes inserting the same events cannot deadlock.
    rows = []
    holder_of: dict[str, str | None] = {}
    for event, incoming in sorted(valid.values(), key=lambda pair: pair[0].id):
        fields = _fields(event)
        member_id = holder_of[event.id] = holders.at(fields.get("badge"), event.ts)
        rows.append(_row(event, fields, member_id, _text(incoming.payload), incoming.received_at))
    # Through the Core connection: the ORM's bulk insert path costs more than the insert.
    # The ids first: the ones already known are the duplicates, whose events are not stored.
    connection = session.connection()
    inserted = insert_new(
        connection,
        _EVENT_IDS,
        [
            {"id": r["id"], "device": r["device"], "seq": r["seq"], "received_at": r["received_at"]}
            for r in rows
        ],
    )
    if inserted:
        fresh = [row for row in rows if row["id"] in inserted]
        if hold:
            _held(session).update((row["id"], row) for row in fresh)
        else:
            execute_many(connection, _INSERT_EVENTS, fresh)
        # Every device with events gets a mark (`hub.store.marks`), even from an import made
        # with no broker at hand: the running hub finds it and acknowledges.
        devices = {row["device"]: row["site"] for row in rows if row["id"] in inserted}
        connection.execute(
            insert_ignoring_conflicts(session, DeviceMark),
            [{"id": device, "site": site} for device, site in sorted(devices.items())],
        )
    result.duplicates += len(valid) - len(inserted)
    result.new = [
        NewEvent(event, holder_of[event_id], incoming.received_at)
        for event_id, (event, incoming) in valid.items()
        if event_id in inserted
    ]
    return result
