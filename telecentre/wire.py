"""The wire protocol between edge agents and the hub (PROTOCOL.md, version 1).

This is the only place that knows topic strings and payload schemas: the edge builds
payloads here, the hub validates them here, tests and tools import the same names.

>>> event = badge_event(site="murat", device="murat-door", badge="04a2b3c4", reader="entrance",
...                     direction="toggle", access="granted", clock_synced=True)
>>> parse_event(encode(event | {"seq": 1}), topic=events_topic("murat", "murat-door")).badge
'04A2B3C4'
"""

from __future__ import annotations

import itertools
import json
import re
import uuid
from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from telecentre.text import plainly_fine, strict_json

VERSION = 1

#: Events, statuses, commands and occupancy payloads are small; access lists may be several MiB
#: (8 MiB: about 130,000 badges). The broker's `max_packet_size` is sized on the larger: in
#: Mosquitto 2.0 it applies to every client alike, and the hub must be able to send a list.
MAX_PAYLOAD_BYTES = 16 * 1024
MAX_ACCESS_LIST_BYTES = 8 * 1024 * 1024

ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,47}$"
#: An event's `id`: a UUID as the edge makes them, or any id of letters, digits and `._:-`
#: (another tool's, an import's), at most 64 characters, starting with a letter or digit.
EVENT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"
BADGE_PATTERN = r"^[0-9A-F]{8,20}$"
_ID_RE = re.compile(ID_PATTERN)

# --- Topics -------------------------------------------------------------------------------

ROOT = "telecentre"
#: What the hub subscribes to: a shared subscription, so several hub processes split the load.
HUB_EVENTS_SUBSCRIPTION = f"$share/hub/{ROOT}/+/events/+"
ALL_EVENTS = f"{ROOT}/+/events/+"
ALL_STATUSES = f"{ROOT}/+/status/+"


def events_topic(site: str, device: str) -> str:
    """Each device publishes on its own topic, which the broker's ACL lets only its account
    write: the hub then checks that an event names the device (and site) of its topic."""
    return f"{ROOT}/{site}/events/{device}"


def status_topic(site: str, device: str) -> str:
    return f"{ROOT}/{site}/status/{device}"


def access_topic(site: str) -> str:
    return f"{ROOT}/{site}/access"


def command_topic(site: str, device: str) -> str:
    return f"{ROOT}/{site}/cmd/{device}"


def occupancy_topic(site: str) -> str:
    return f"{ROOT}/{site}/occupancy"


def ack_topic(site: str, device: str) -> str:
    """Hub → one device, retained: the events the hub has committed (`Ack`)."""
    return f"{ROOT}/{site}/ack/{device}"


def command_result_topic(site: str, device: str) -> str:
    """One device → hub: what became of a command (`CommandResult`)."""
    return f"{ROOT}/{site}/cmd-result/{device}"


def is_status_topic(topic: str) -> bool:
    parts = topic.split("/")
    return len(parts) == 4 and parts[0] == ROOT and parts[2] == "status"


def device_of_topic(topic: str) -> str | None:
    """The `{device}` segment of a per-device topic (events, status, commands, acks)."""
    parts = topic.split("/")
    if len(parts) == 4 and site_of_topic(topic) is not None and _ID_RE.fullmatch(parts[3]):
        return parts[3]
    return None


def site_of_topic(topic: str) -> str | None:
    """The `{site}` segment of any protocol topic, or None if the topic is not ours."""
    parts = topic.split("/")
    if len(parts) >= 3 and parts[0] == ROOT and _ID_RE.fullmatch(parts[1]):
        return parts[1]
    return None


# --- Field types --------------------------------------------------------------------------


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("timestamp must carry a UTC offset (RFC 3339)")
    if not EARLIEST_YEAR <= value.year <= LATEST_YEAR:
        # 1970 stays valid: a Pi with no clock source boots at the epoch (clock_synced false).
        raise ValueError(f"timestamp year {value.year} is outside {EARLIEST_YEAR}-{LATEST_YEAR}")
    return value


def _text_timestamp(value: Any) -> Any:
    if not isinstance(value, (str, datetime)):  # a tuple: checked faster than a union
        raise ValueError("timestamp must be an RFC 3339 string")
    return value


EARLIEST_YEAR, LATEST_YEAR = 1970, 2999
#: The stores keep counters in 32-bit signed integers.
MAX_COUNTER = 2**31 - 1
#: Access list versions are the hub's issue time in milliseconds (or one more than the last):
#: 64-bit in the stores, and no more than an IEEE double holds exactly (JSON readers differ).
MAX_ACCESS_VERSION = 2**53 - 1
AccessVersion = Annotated[int, Strict(), Field(ge=0, le=MAX_ACCESS_VERSION)]

Id = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
Timestamp = Annotated[datetime, BeforeValidator(_text_timestamp), AfterValidator(_aware)]
Counter = Annotated[int, Strict(), Field(ge=0, le=MAX_COUNTER)]


_BADGE_SEPARATORS = re.compile(r"[\s:-]")


def normalise_badge(uid: str) -> str:
    """Badge UIDs are compared as upper-case hex with no separators (readers differ)."""
    return _BADGE_SEPARATORS.sub("", uid).upper()


def parse_badge(raw: str) -> str:
    """A badge UID as a reader or a person writes it (`04:a2:b3:c4`), normalised (`04A2B3C4`).

    Raises `ProtocolError` if it is not one: 8 to 20 hex digits, once separators are gone.
    """
    uid = normalise_badge(raw)
    if not re.fullmatch(BADGE_PATTERN, uid):
        raise ProtocolError(
            f"{raw!r} is not a badge UID (8 to 20 hex digits, with or without ':', '-' or spaces)"
        )
    return uid


Badge = Annotated[str, AfterValidator(normalise_badge), StringConstraints(pattern=BADGE_PATTERN)]

Direction = Literal["in", "out", "toggle"]
DenyReason = Literal["unknown", "revoked", "expired", "outside_hours"]
AlarmKind = Literal["door_forced", "door_held_open", "outbox_overflow"]


class _Payload(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    v: Literal[1]


# --- Events (edge → hub) ------------------------------------------------------------------


class _EventBase(_Payload):
    id: Annotated[str, StringConstraints(pattern=EVENT_ID_PATTERN)]
    site: Id
    device: Id
    seq: Counter
    ts: Timestamp
    clock_synced: Annotated[bool, Strict()]
    #: Extension of version 1: `ts` was worked out, once NTP had synchronised the clock, from
    #: the boot's monotonic clock the event was stamped with while it was not.
    rebased: Annotated[bool, Strict()] = False


class BadgeEvent(_EventBase):
    type: Literal["badge"]
    badge: Badge
    reader: Id
    direction: Direction
    access: Literal["granted", "denied"]
    reason: DenyReason | None = None

    @model_validator(mode="after")
    def _reason_only_when_denied(self) -> BadgeEvent:
        if (self.access == "denied") != (self.reason is not None):
            raise ValueError("field 'reason' is required when access is denied, and only then")
        return self


class DoorEvent(_EventBase):
    type: Literal["door"]
    door: Id
    state: Literal["open", "closed"]


class AlarmEvent(_EventBase):
    """`door_forced` and `door_held_open` name a door; `outbox_overflow` (an extension of
    version 1) says how many of the oldest unsent events the edge had to drop."""

    type: Literal["alarm"]
    kind: AlarmKind
    door: Id | None = None
    dropped: Counter | None = None

    @model_validator(mode="after")
    def _door_for_door_alarms(self) -> AlarmEvent:
        if self.door is None and self.kind != "outbox_overflow":
            raise ValueError(f"field 'door' is required for a {self.kind} alarm")
        return self


class ExitRequestEvent(_EventBase):
    type: Literal["exit_request"]
    door: Id


Event = Annotated[
    BadgeEvent | DoorEvent | AlarmEvent | ExitRequestEvent, Field(discriminator="type")
]
EVENT_TYPES = ("badge", "door", "alarm", "exit_request")
_event_adapter: TypeAdapter[BadgeEvent | DoorEvent | AlarmEvent | ExitRequestEvent] = TypeAdapter(
    Event
)


class ProtocolError(ValueError):
    """A payload that does not follow the protocol; the message says which field and why."""


class WrongSender(ProtocolError):
    """A payload naming another device or site than the topic it came on, which the broker's
    ACL lets only its own device write: one device speaking for another (counted apart)."""


def describe(error: ValidationError, tagged: bool = False) -> str:
    """One readable sentence per problem: `field 'ts': timestamp must carry a UTC offset`.

    `tagged`: the error comes from the event union, whose locations start with the type tag.
    """
    problems = []
    for item in error.errors():
        loc = item["loc"][1:] if tagged else item["loc"]
        location = ".".join(str(part) for part in loc)
        message = item["msg"].removeprefix("Value error, ")
        problems.append(f"field '{location}': {message}" if location else message)
    return "; ".join(problems)


def _load_json(payload: bytes | str, limit: int) -> Any:
    # The limit is in bytes: a text payload counts as its UTF-8 encoding (not its characters).
    size = len(payload.encode("utf-8", "surrogatepass") if isinstance(payload, str) else payload)
    if size > limit:
        raise ProtocolError(f"payload of {size} bytes is over the {limit}-byte limit")
    try:
        # Decoded here, strictly: `json.loads` of bytes would also take a BOM or UTF-16, and a
        # signed list re-encoded so would verify (the signature covers the parsed object) and
        # then be unreadable from the edge's disk after a restart.
        text = payload.decode("utf-8") if isinstance(payload, bytes) else payload
    except UnicodeDecodeError as exc:
        raise ProtocolError(f"payload is not UTF-8 JSON: {exc}") from None
    try:
        # No NaN, no 5,000-digit integer, no NUL in any string (not even an unknown field's,
        # which the hub keeps in the raw payload): refused here, as one bad event, rather
        # than failing the database write of the whole batch it came in.
        return strict_json(text)
    except json.JSONDecodeError as exc:
        raise ProtocolError(f"payload is not UTF-8 JSON: {exc}") from None
    except ValueError as exc:
        raise ProtocolError(f"payload refused: {exc}") from None


AnyEvent = BadgeEvent | DoorEvent | AlarmEvent | ExitRequestEvent


def parse_event(payload: bytes | str | dict[str, Any], topic: str | None = None) -> AnyEvent:
    """Validate one event; with `topic`, also that its `site` is the topic's (anti-spoofing)."""
    event = None if isinstance(payload, dict) else _plain_event(payload)
    if event is None:
        event = _careful_event(payload)
    if topic is not None and site_of_topic(topic) != event.site:
        raise WrongSender(f"field 'site': event for site {event.site!r} arrived on topic {topic!r}")
    if topic is not None and device_of_topic(topic) != event.device:
        raise WrongSender(
            f"field 'device': event of device {event.device!r} arrived on topic {topic!r}"
        )
    return event


def _plain_event(payload: bytes | str) -> AnyEvent | None:
    """The event of a plain, valid payload, read by pydantic from its JSON text in one pass
    (8 µs an event instead of 12: a year's import, 26,000 events, 0.1 s sooner); None for
    any other payload, which `_careful_event` then judges and words the error of.

    Plain: within the size limit, UTF-8, no BOM, no escape nor character `strict_json`
    refuses, nested shallowly (`plainly_fine`: what `strict_json` checks on every string
    holds, whatever fields the model gains), and no field beyond the protocol's (where NaN,
    a 40-digit integer or 1e400 could hide, which pydantic's JSON reader takes and
    `strict_json` refuses). The model's own fields refuse those by their types alike, and a
    key given twice goes the careful way (its first value, which pydantic's reader forgets
    unchecked, could be NaN): an event accepted here is the one `_careful_event` makes
    (tests/unit/test_wire_plain.py, a property).
    """
    if isinstance(payload, bytes):
        if len(payload) > MAX_PAYLOAD_BYTES:
            return None
        try:
            text = payload.decode("utf-8")
        except UnicodeDecodeError:
            return None
    else:
        text = payload
        # A character is at most four bytes: the exact size only for a long text.
        if len(text) * 4 > MAX_PAYLOAD_BYTES and (
            len(text.encode("utf-8", "surrogatepass")) > MAX_PAYLOAD_BYTES
        ):
            return None
    if text.startswith("\ufeff") or not plainly_fine(text):
        return None
    try:
        event = _event_adapter.validate_json(text)
    except ValueError:  # pydantic's ValidationError, or a text its reader refuses
        return None
    if event.__pydantic_extra__ or len(_KEY_END.findall(text)) != len(event.model_fields_set):
        return None
    return event


#: The end of a key (`"…":`): in a text without backslashes, a `"` ends or starts a string,
#: and only a key's end is followed by a colon. More keys than the event's fields: a key
#: given twice, whose first value pydantic's reader forgets unchecked (NaN, 1e400, …) where
#: `strict_json` refuses it; the careful path then judges.
_KEY_END = re.compile(r'"\s*:')


def _careful_event(payload: bytes | str | dict[str, Any]) -> AnyEvent:
    """`parse_event` step by step, for any payload: `strict_json`, then pydantic on the
    value, each refusal said in a sentence."""
    data = payload if isinstance(payload, dict) else _load_json(payload, MAX_PAYLOAD_BYTES)
    if not isinstance(data, dict):
        raise ProtocolError("payload is not a JSON object")
    if "type" not in data:
        raise ProtocolError("field 'type': is required")
    if data["type"] not in EVENT_TYPES:
        raise ProtocolError(f"field 'type': unknown event type {data['type']!r}")
    try:
        return _event_adapter.validate_python(data)
    except ValidationError as exc:
        raise ProtocolError(describe(exc, tagged=True)) from None


# --- Building events (the edge side) -----------------------------------------------------


def now() -> str:
    """RFC 3339 with the local UTC offset and milliseconds, as the edge stamps events."""
    return datetime.now(UTC).astimezone().isoformat(timespec="milliseconds")


def _event(
    event_type: str, site: str, device: str, clock_synced: bool, **fields: Any
) -> dict[str, Any]:
    """A new event without its `seq`: the outbox numbers events as it stores them."""
    return {
        "v": VERSION,
        "id": str(uuid.uuid4()),
        "type": event_type,
        "site": site,
        "device": device,
        "ts": now(),
        "clock_synced": clock_synced,
        **{key: value for key, value in fields.items() if value is not None},
    }


def badge_event(
    *,
    site: str,
    device: str,
    badge: str,
    reader: str,
    direction: Direction,
    access: Literal["granted", "denied"],
    clock_synced: bool,
    reason: DenyReason | None = None,
) -> dict[str, Any]:
    return _event(
        "badge",
        site,
        device,
        clock_synced,
        badge=normalise_badge(badge),
        reader=reader,
        direction=direction,
        access=access,
        reason=reason,
    )


def door_event(
    *, site: str, device: str, door: str, state: Literal["open", "closed"], clock_synced: bool
) -> dict[str, Any]:
    return _event("door", site, device, clock_synced, door=door, state=state)


def alarm_event(
    *,
    site: str,
    device: str,
    kind: AlarmKind,
    clock_synced: bool,
    door: str | None = None,
    dropped: int | None = None,
) -> dict[str, Any]:
    return _event("alarm", site, device, clock_synced, kind=kind, door=door, dropped=dropped)


def exit_request_event(*, site: str, device: str, door: str, clock_synced: bool) -> dict[str, Any]:
    return _event("exit_request", site, device, clock_synced, door=door)


def encode(payload: dict[str, Any] | BaseModel) -> bytes:
    if isinstance(payload, BaseModel):
        return payload.model_dump_json(exclude_none=True).encode()
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


# --- Device status (edge → all, retained; also the last will) ----------------------------


class Status(_Payload):
    device: Id
    site: Id
    state: Literal["online", "offline"]
    ts: Timestamp
    version: Annotated[str, StringConstraints(max_length=64)] | None = None
    queue: Counter | None = None
    clock_synced: Annotated[bool, Strict()] | None = None
    #: Reader and door ids, as in the edge's config: ids like any other (a door's name ends
    #: up in the console, in a command, in a file).
    readers: dict[Id, Literal["ok", "error"]] = Field(default_factory=dict)
    doors: dict[Id, Literal["open", "closed"]] = Field(default_factory=dict)
    #: Extension of version 1: the access list version the device decides from (None: none).
    access_version: AccessVersion | None = None
    #: Extension of version 1: every event of this device with a lower `seq` has left its
    #: outbox for good (committed by the hub, or dropped by an overflow): the hub need not
    #: wait for them before acknowledging the later ones (`Ack`).
    outbox_floor: Counter | None = None
    #: Extension of version 1: events stored while the clock was not NTP-synchronised that
    #: the device holds back until it is (then sends them with their time rebased).
    held: Counter | None = None


def parse_status(payload: bytes | str) -> Status:
    data = _load_json(payload, MAX_PAYLOAD_BYTES)
    try:
        return Status.model_validate(data)
    except ValidationError as exc:
        raise ProtocolError(describe(exc)) from None


# --- Access list (hub → edges of a site, retained) ---------------------------------------

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_RANGE_RE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")


def _time_range(value: str) -> str:
    match = _RANGE_RE.fullmatch(value)
    if not match or value[:5] >= value[6:] or (value[6:8] == "24" and value[9:] != "00"):
        raise ValueError(f"{value!r} is not a time range like '08:30-17:00'")
    return value


def _no_overlap(ranges: list[str]) -> list[str]:
    """A day's ranges may not overlap: every later computation (availability, auto-close)
    assumes they don't, so they are refused where they come in."""
    ordered = sorted(ranges)
    for earlier, later in itertools.pairwise(ordered):
        if later[:5] < earlier[6:]:
            raise ValueError(f"ranges {earlier!r} and {later!r} overlap")
    return ranges


def parse_time_range(text: str) -> tuple[time, time]:
    """An opening range as times; "24:00" ends the day at its last instant (a range never
    crosses midnight). The one parser of ranges: the edge, the hub and the rules use it."""
    start, end = _time_range(text).split("-")
    return time.fromisoformat(start), (time.max if end == "24:00" else time.fromisoformat(end))


_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_date(text: str) -> date:
    """A calendar day written exactly YYYY-MM-DD (Python alone would also take 20261122)."""
    if not _DATE_RE.fullmatch(text):
        raise ValueError(f"{text!r} is not a date (YYYY-MM-DD)")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def _time_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{name!r} is not a time zone (like Europe/Paris)") from None
    return name


#: An IANA time zone name, checked where it comes in (an access list, a sites file).
TimeZone = Annotated[str, AfterValidator(_time_zone)]
TimeRange = Annotated[str, AfterValidator(_time_range)]
OpeningHours = dict[Weekday, Annotated[list[TimeRange], AfterValidator(_no_overlap)]]


class AccessEntry(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    badge: Badge
    until: date | None = None
    hours: Literal["always", "opening"] = "opening"


class AccessList(_Payload):
    site: Id
    #: Extension of version 1: the hub's issue time in ms (see `hub/doors/access_lists.py`).
    version: AccessVersion
    issued: Timestamp
    #: Extension of version 1: the zone `opening` is in (default: the Cantal's).
    timezone: TimeZone = "Europe/Paris"
    opening: OpeningHours = Field(default_factory=dict)
    #: Extension of version 1: public holidays and extra closed days, local dates.
    closed: list[date] = Field(default_factory=list)
    badges: list[AccessEntry] = Field(default_factory=list)
    #: Extension of version 1: which hub key signed the list, and the Ed25519 signature
    #: (base64) over `signed_bytes` of the list; the edge applies only a signed list.
    key_id: Annotated[str, StringConstraints(max_length=64)] | None = None
    sig: Annotated[str, StringConstraints(max_length=128)] | None = None


def access_list_data(payload: bytes | str) -> dict[str, Any]:
    """An access list payload as JSON (bounded in size), before its signature is checked."""
    data = _load_json(payload, MAX_ACCESS_LIST_BYTES)
    if not isinstance(data, dict):
        raise ProtocolError("payload is not a JSON object")
    return data


def parse_access_list(payload: bytes | str | dict[str, Any]) -> AccessList:
    data = payload if isinstance(payload, dict) else access_list_data(payload)
    try:
        return AccessList.model_validate(data)
    except ValidationError as exc:
        raise ProtocolError(describe(exc)) from None


def signed_bytes(data: Mapping[str, Any]) -> bytes:
    """What an access list's signature covers: the list as parsed JSON, without its `sig`,
    written canonically (keys sorted, no spaces, UTF-8 unescaped): the same bytes on the
    hub, which signs what it encodes, and on the edge, which re-writes what it parsed."""
    return canonical_json({key: value for key, value in data.items() if key != "sig"})


def canonical_json(value: Any) -> bytes:
    """`value` written as `signed_bytes` writes a list's parts (keys sorted, no spaces)."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


# --- Command (hub → one device) ----------------------------------------------------------


#: How long a door command is good for after the hub issued it (`UnlockCommand.valid_s`): the
#: hub sends it only to a device that is online, so it arrives within seconds or not at all.
COMMAND_VALIDITY_S = 30.0
MAX_COMMAND_VALIDITY_S = 120.0


class UnlockCommand(_Payload):
    """Unlock a door for `seconds`. The edge obeys only a command signed by a hub key it
    trusts (the access lists' key), for its own site and device, issued less than `valid_s`
    ago, that it has not seen before and that did not come to it retained (docs/protocol.md,
    Commands). The fields after `seconds` are extensions of version 1; the wire format keeps
    them optional so that the edge can say which one a command lacks."""

    id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    cmd: Literal["unlock"]
    door: Id
    seconds: Annotated[float, Field(gt=0, le=600)] = 5
    site: Id | None = None
    device: Id | None = None
    issued: Timestamp | None = None
    valid_s: Annotated[float, Field(gt=0, le=MAX_COMMAND_VALIDITY_S)] | None = None
    key_id: Annotated[str, StringConstraints(max_length=64)] | None = None
    sig: Annotated[str, StringConstraints(max_length=128)] | None = None


def unlock_command(
    *, command_id: str, site: str, device: str, door: str, seconds: float, issued: datetime
) -> dict[str, Any]:
    """A command as the hub signs it (`SigningKey.sign_command`), valid COMMAND_VALIDITY_S."""
    return {
        "v": VERSION,
        "id": command_id,
        "cmd": "unlock",
        "site": site,
        "device": device,
        "door": door,
        "seconds": seconds,
        "issued": issued.astimezone(UTC).isoformat(timespec="milliseconds"),
        "valid_s": COMMAND_VALIDITY_S,
    }


def command_data(payload: bytes | str) -> dict[str, Any]:
    """A command payload as JSON (bounded in size), before its signature is checked."""
    data = _load_json(payload, MAX_PAYLOAD_BYTES)
    if not isinstance(data, dict):
        raise ProtocolError("payload is not a JSON object")
    return data


def parse_command(payload: bytes | str | dict[str, Any]) -> UnlockCommand:
    """Raises ProtocolError for malformed payloads and for commands this version lacks."""
    data = payload if isinstance(payload, dict) else _load_json(payload, MAX_PAYLOAD_BYTES)
    if isinstance(data, dict) and data.get("cmd") != "unlock":
        raise ProtocolError(f"field 'cmd': unknown command {data.get('cmd')!r}")
    try:
        return UnlockCommand.model_validate(data)
    except ValidationError as exc:
        raise ProtocolError(describe(exc)) from None


class CommandResult(_Payload):
    """A device's answer to a command, by the command's `id` (extension of version 1)."""

    id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    site: Id
    device: Id
    ts: Timestamp
    ok: Annotated[bool, Strict()]
    error: Annotated[str, StringConstraints(max_length=200)] | None = None


def parse_command_result(payload: bytes | str) -> CommandResult:
    data = _load_json(payload, MAX_PAYLOAD_BYTES)
    try:
        return CommandResult.model_validate(data)
    except ValidationError as exc:
        raise ProtocolError(describe(exc)) from None


# --- Acknowledgement (hub → one device, retained) -----------------------------------------


class Ack(_Payload):
    """End-to-end acknowledgement (extension of version 1): the hub has committed every event
    of `device` with a `seq` up to and including `seq`; the device may drop them from its
    outbox, and must keep (and send again) the later ones."""

    site: Id
    device: Id
    seq: Counter
    ts: Timestamp


def parse_ack(payload: bytes | str) -> Ack:
    data = _load_json(payload, MAX_PAYLOAD_BYTES)
    try:
        return Ack.model_validate(data)
    except ValidationError as exc:
        raise ProtocolError(describe(exc)) from None


# --- Occupancy (hub → displays, retained, QoS 0) ------------------------------------------


class Occupancy(_Payload):
    site: Id
    ts: Timestamp
    present: Annotated[int, Field(ge=0)]
    positions: Annotated[int, Field(ge=0)]


QOS_EVENTS = 1
QOS_STATUS = 1
QOS_ACCESS = 1
QOS_COMMAND = 1
QOS_OCCUPANCY = 0
QOS_ACK = 1
