"""Importing the sites file (YAML) and the members file (CSV) of FORMATS.md into the store.

A file is validated whole before anything is written: every bad line is reported, with its
number, the field and why, and a file with one bad line writes nothing. Importing the same
file again changes nothing; nothing is ever deleted (a badge a member no longer lists is
deactivated, not removed, so past events still say whose it was).

Both functions write in the caller's transaction and leave the commit to the caller, who
then publishes the access lists of `ImportResult.access_changed`:

>>> with sessions.begin() as session:                         # doctest: +SKIP
...     result = import_members(session, path.read_text(), progress=bar_update)
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Annotated, Any, Literal

import yaml
from pydantic import Field, ValidationError, ValidationInfo, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.people import audit
from hub.rules import legal
from hub.store.models import Badge, Member, Site, Space
from telecentre import wire
from telecentre.config import Strict
from telecentre.text import MAX_INT_DIGITS, unprintable

#: Called with (rows written so far, rows in the file), for a progress bar.
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Problem:
    line: int
    field: str | None
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}" + (f", field '{self.field}'" if self.field else "")
        return f"{where}: {self.message}"


class InvalidFile(ValueError):
    """A file that was not imported at all; `problems` lists every bad line."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(problem) for problem in problems))
        self.problems = problems


@dataclass(frozen=True)
class BadgeChange:
    """A card the members file gave to another member, gave again or took back: audited
    one entry each as the console's giving and revoking (`badge_assigned`, `badge_revoked`,
    with the holder before and after) by `hub.doors.access_lists.record_import`. A card
    new to the hub is counted in the import's own entry."""

    action: Literal["badge_assigned", "badge_revoked"]
    uid: str
    #: The holder now (the one it was taken back from, for `badge_revoked`).
    member_id: str
    before: dict[str, Any]
    after: dict[str, Any]


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    #: Sites whose access list must be published again.
    access_changed: set[str] = field(default_factory=set)
    #: Cards moved, given again or taken back, in the file's order.
    badge_changes: list[BadgeChange] = field(default_factory=list)


# --- Sites (YAML) ------------------------------------------------------------------------


#: Finite: an infinite yearly cost would make every evaluation that includes the site fail.
Euros = Annotated[float, Field(ge=0, le=1e9, allow_inf_nan=False)]


class Rate(Strict):
    hourly: Euros = 0.0
    daily_cap: Euros | None = None
    monthly_cap: Euros | None = None


class Tariffs(Strict):
    public: Rate = Rate()
    pass_: Rate = Field(default=Rate(), alias="pass")


class Invoicing(Strict):
    """Who issues the site's invoices (the French mentions of docs/rules.md, Invoices).

    Left out, the site's name issues them, with no VAT and the franchise's mention."""

    #: The seller's legal name (a commune, an association); None: the site's name, but no
    #: invoice is issued until it is given (`hub.rules.legal.IDENTITY`).
    issuer: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    #: The street part of the postal address (lines), then its postcode and town.
    address: Annotated[str, Field(max_length=500)] | None = None
    postcode: str | None = None
    town: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    siret: str | None = None
    #: French intra-community VAT number (FR, its key, the SIREN); None: none.
    vat_number: str | None = None
    #: Percent; None: no VAT, and `vat_exemption` is printed instead.
    vat_rate: Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)] | None = None
    vat_exemption: Annotated[str, Field(min_length=1, max_length=200)] = (
        "TVA non applicable, art. 293 B du CGI"
    )
    #: Before each invoice number (MURAT-000042); None: the site id in capitals.
    prefix: Annotated[str, Field(pattern=r"^[A-Z0-9][A-Z0-9-]{0,23}$")] | None = None
    #: How to pay (terms, IBAN), printed under the totals.
    payment: Annotated[str, Field(max_length=500)] | None = None

    @field_validator("siret")
    @classmethod
    def _siret(cls, value: str | None) -> str | None:
        return _checked(value, legal.siret_problem)

    @field_validator("postcode")
    @classmethod
    def _postcode(cls, value: str | None) -> str | None:
        return _checked(value, legal.postcode_problem)

    @field_validator("vat_number")
    @classmethod
    def _vat_number(cls, value: str | None, info: ValidationInfo) -> str | None:
        siret = info.data.get("siret")
        return _checked(value, lambda number: legal.vat_number_problem(number, siret=siret))


def _checked(value: str | None, problem_of: Callable[[str], str | None]) -> str | None:
    """A number as people copy it (spaces between groups) without its spaces, or refused
    with the reason `problem_of` gives; an empty one is none."""
    if value is None:
        return None
    compact = "".join(value.split()).upper()
    if not compact:
        return None
    problem = problem_of(compact)
    if problem is not None:
        raise ValueError(f"{value!r} {problem}")
    return compact


class SpaceSpec(Strict):
    id: wire.Id
    kind: Literal["office", "open_space", "meeting"]
    positions: Annotated[int, Field(ge=0)]


class DoorSpec(Strict):
    id: wire.Id
    name: Annotated[str, Field(min_length=1, max_length=80)]


class DeviceSpec(Strict):
    id: wire.Id
    label: Annotated[str, Field(min_length=1, max_length=80)]


class SiteSpec(Strict):
    id: wire.Id
    name: Annotated[str, Field(min_length=1, max_length=200)]
    commune: str | None = None
    zrr: bool = False
    timezone: wire.TimeZone = "Europe/Paris"
    annual_cost_eur: Euros | None = None
    spaces: list[SpaceSpec] = Field(default_factory=list)
    opening: wire.OpeningHours = Field(default_factory=dict)
    open_on_public_holidays: bool = False
    closed: list[date] = Field(default_factory=list)
    #: Left out: the site charges nothing.
    tariffs: Tariffs = Tariffs()
    rounding_min: Annotated[int, Field(ge=1, le=1440)] = 15
    invoicing: Invoicing = Invoicing()
    #: Left out (None): the names stored stay as they are (a file of before names, the
    #: console's site form); listed: exactly these.
    doors: list[DoorSpec] | None = None
    devices: list[DeviceSpec] | None = None


class SitesFile(Strict):
    sites: list[SiteSpec]


def _line_of(root: yaml.Node | None, location: tuple[int | str, ...]) -> int:
    """The line of the deepest YAML node along a pydantic error location."""
    node, line = root, 1
    for part in location:
        if node is None:
            break
        line = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if k.value == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            node = node.value[part] if part < len(node.value) else None
        else:
            node = None
    return node.start_mark.line + 1 if node is not None else line


_NUMBER_RE = re.compile(r"[-+]?[0-9][0-9_]*")


def _unsafe_yaml(text: str) -> list[Problem]:
    """What the sites file may not hold, found on its parse events before anything is built:
    an alias (`*name` repeats a part of the file: a few kilobytes of them would expand to
    gigabytes), a value with a control character, an integer too long for any field."""
    problems = []
    for event in yaml.parse(text):
        line = event.start_mark.line + 1 if event.start_mark is not None else 1
        if isinstance(event, yaml.AliasEvent):
            message = f"alias *{event.anchor} refused: write the entry out in full"
            problems.append(Problem(line, None, message))
        elif isinstance(event, yaml.ScalarEvent):
            # Line breaks and tabs are text here (an issuer's postal address spans lines);
            # ids and names are held to their own patterns by the sites file's model.
            problem = unprintable(event.value, lines=True)
            if problem is not None:
                problems.append(Problem(line, None, f"holds {problem}"))
            elif (
                event.style is None
                and _NUMBER_RE.fullmatch(event.value)
                and len(event.value) > MAX_INT_DIGITS
            ):
                message = f"a number of {len(event.value)} digits is longer than any field takes"
                problems.append(Problem(line, None, message))
    return problems


def parse_sites(text: str) -> list[SiteSpec]:
    try:
        unsafe = _unsafe_yaml(text)
        if unsafe:
            raise InvalidFile(unsafe)
        data = yaml.safe_load(text)
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        message = f"not valid YAML: {exc}".replace("\n", " ")
        raise InvalidFile([Problem(line, None, message)]) from None
    try:
        sites = SitesFile.model_validate(data).sites
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            location = error["loc"]
            where = ".".join(str(part) for part in location[2:]) or None
            problems.append(
                Problem(
                    _line_of(root, location),
                    where,
                    error["msg"].removeprefix("Value error, "),
                )
            )
        raise InvalidFile(problems) from None
    problems = []
    seen: set[str] = set()
    for index, site in enumerate(sites):
        if site.id in seen:
            line = _line_of(root, ("sites", index, "id"))
            problems.append(Problem(line, "id", f"site {site.id!r} is listed twice"))
        seen.add(site.id)
        for key, ids in _keyed_lists(site).items():
            for repeated in sorted({s for s in ids if ids.count(s) > 1}):
                line = _line_of(root, ("sites", index, key))
                problems.append(Problem(line, key, f"{key[:-1]} {repeated!r} is listed twice"))
    if problems:
        raise InvalidFile(problems)
    return sites


def _keyed_lists(site: SiteSpec) -> dict[str, list[str]]:
    """The ids of each list of a site whose entries must be unique."""
    return {
        "spaces": [space.id for space in site.spaces],
        "doors": [door.id for door in site.doors or ()],
        "devices": [device.id for device in site.devices or ()],
    }


def _site_values(spec: SiteSpec) -> dict[str, Any]:
    names: dict[str, Any] = {}
    if spec.doors is not None:
        names["door_names"] = {door.id: door.name for door in spec.doors}
    if spec.devices is not None:
        names["device_labels"] = {device.id: device.label for device in spec.devices}
    return {
        **names,
        "name": spec.name,
        "commune": spec.commune,
        "zrr": spec.zrr,
        "timezone": spec.timezone,
        "annual_cost_eur": spec.annual_cost_eur,
        "opening": {day: list(ranges) for day, ranges in spec.opening.items()},
        "open_on_public_holidays": spec.open_on_public_holidays,
        "closed": [day.isoformat() for day in spec.closed],
        "tariffs": spec.tariffs.model_dump(by_alias=True),
        "rounding_min": spec.rounding_min,
        "invoicing": spec.invoicing.model_dump(exclude_defaults=True),
    }


_SITE_KEYS = (
    "name",
    "commune",
    "zrr",
    "timezone",
    "annual_cost_eur",
    "opening",
    "open_on_public_holidays",
    "closed",
    "tariffs",
    "rounding_min",
    "invoicing",
)

#: What edges decide taps with: a change here means a new access list for the site.
_ACCESS_FIELDS = ("timezone", "opening", "open_on_public_holidays", "closed")


def _update_spaces(site: Site, specs: list[SpaceSpec]) -> bool:
    wanted = {(s.id, s.kind, s.positions) for s in specs}
    if {(s.id, s.kind, s.positions) for s in site.spaces} == wanted:
        return False
    site.spaces = [Space(id=s.id, kind=s.kind, positions=s.positions) for s in specs]
    return True


def _apply_site(session: Session, spec: SiteSpec, site: Site | None, result: ImportResult) -> None:
    values = _site_values(spec)
    if site is None:
        site = Site(id=spec.id, **values)
        _update_spaces(site, spec.spaces)
        session.add(site)
        result.created += 1
        result.access_changed.add(spec.id)
        return
    changed = {key for key, value in values.items() if getattr(site, key) != value}
    for key in changed:
        setattr(site, key, values[key])
    if _update_spaces(site, spec.spaces) or changed:
        result.updated += 1
    if changed.intersection(_ACCESS_FIELDS):
        result.access_changed.add(spec.id)


def import_sites(session: Session, text: str, progress: Progress | None = None) -> ImportResult:
    """Create or update every site of the file; sites not in the file are left as they are."""
    specs = parse_sites(text)
    result = ImportResult()
    existing = {
        site.id: site
        for site in session.scalars(select(Site).where(Site.id.in_([s.id for s in specs])))
    }
    for done, spec in enumerate(specs, start=1):
        _apply_site(session, spec, existing.get(spec.id), result)
        if progress is not None:
            progress(done, len(specs))
    session.flush()
    return result


# --- One site at a time (the console's sites page) --------------------------------------


@dataclass(frozen=True)
class FieldProblem:
    """One bad field of a site entered by hand: `field` is its path in the sites file
    (`tariffs.pass.hourly`, `spaces.1.positions`, `opening.mon.0`), `kind` pydantic's
    error type (`greater_than_equal`, `missing`, `value_error`…) for the console to say it
    in French, `message` the sites file's English sentence."""

    field: str
    kind: str
    message: str


class InvalidSite(ValueError):
    def __init__(self, problems: list[FieldProblem]) -> None:
        super().__init__("; ".join(f"{p.field}: {p.message}" for p in problems))
        self.problems = problems


def check_site(entry: dict[str, Any]) -> SiteSpec:
    """One entry of the sites file's `sites` list, checked by the file's own rules."""
    try:
        spec = SiteSpec.model_validate(entry)
    except ValidationError as exc:
        raise InvalidSite(
            [
                FieldProblem(
                    ".".join(str(part) for part in error["loc"]) or "id",
                    error["type"],
                    error["msg"].removeprefix("Value error, "),
                )
                for error in exc.errors()
            ]
        ) from None
    repeated = [
        FieldProblem(f"{key}.{index}.id", "repeated", f"{key[:-1]} {ids[index]!r} twice")
        for key, ids in _keyed_lists(spec).items()
        for index, one in enumerate(ids)
        if one in ids[:index]
    ]
    if repeated:
        raise InvalidSite(repeated)
    return spec


def site_entry(site: Site) -> dict[str, Any]:
    """A stored site as an entry of the sites file (what `check_site` takes back)."""
    names: dict[str, Any] = {}
    if site.door_names:
        names["doors"] = [{"id": k, "name": v} for k, v in sorted(site.door_names.items())]
    if site.device_labels:
        names["devices"] = [{"id": k, "label": v} for k, v in sorted(site.device_labels.items())]
    return {
        "id": site.id,
        **_site_values_of(site),
        "spaces": [{"id": s.id, "kind": s.kind, "positions": s.positions} for s in site.spaces],
        **names,
    }


def _site_values_of(site: Site) -> dict[str, Any]:
    return {key: getattr(site, key) for key in _SITE_KEYS}


def save_site(
    session: Session, entry: dict[str, Any], *, creating: bool, actor: str
) -> tuple[SiteSpec, ImportResult]:
    """Create (`creating`) or update one site from a sites-file entry, as `import_sites`
    would, audited (the entry before and after); the caller publishes `access_changed` once
    committed."""
    site = session.get(Site, entry["id"]) if entry.get("id") else None
    if site is not None:
        # The console's form gives the issuer's identity only: the VAT rate, the invoice
        # prefix and the payment terms the sites file set stay.
        entry = {**entry, "invoicing": {**site.invoicing, **(entry.get("invoicing") or {})}}
    spec = check_site(entry)
    if creating and site is not None:
        raise InvalidSite([FieldProblem("id", "exists", f"site {spec.id!r} already exists")])
    if not creating and site is None:
        raise InvalidSite([FieldProblem("id", "unknown", f"there is no site {spec.id!r}")])
    before = None if site is None else _jsonable(site_entry(site))
    result = ImportResult()
    _apply_site(session, spec, site, result)
    session.flush()
    if result.created or result.updated:
        stored = session.get(Site, spec.id)
        assert stored is not None
        audit.record(
            session,
            actor,
            "site_created" if creating else "site_updated",
            site=spec.id,
            before=before,
            after=_jsonable(site_entry(stored)),
        )
    return spec, result


def site_entries(session: Session) -> list[dict[str, Any]]:
    """Every site as a sites-file entry, by name."""
    sites = session.scalars(select(Site).order_by(Site.name, Site.id))
    return [site_entry(site) for site in sites]


def _jsonable(entry: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in entry.items() if key != "id"}


# --- Members (CSV) -----------------------------------------------------------------------

COLUMNS = (
    "member_id",
    "last_name",
    "first_name",
    "email",
    "category",
    "pass_since",
    "pass_until",
    "badges",
)
#: Columns a members file may add: `address`, the postal address printed on invoices.
OPTIONAL_COLUMNS = ("address",)
ADDRESS_MAX_CHARS = 500
CATEGORIES = ("independent", "employee", "mobile", "other")
#: Matched whole (`fullmatch`) wherever a member id comes in: the CSV, the API, the CLI.
MEMBER_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_BADGE_RE = re.compile(wire.BADGE_PATTERN)


@dataclass(frozen=True)
class MemberRow:
    line: int
    member_id: str
    last_name: str
    first_name: str
    email: str | None
    category: str
    pass_since: date | None
    pass_until: date | None
    badges: tuple[str, ...]
    #: None when the file has no `address` column: the stored address is left as it is.
    address: str | None = None


class BadField(Exception):
    """One field of a member that breaks the members file's rules (the console's form too)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def _date(record: dict[str, str], name: str) -> date | None:
    value = record[name]
    if not value:
        return None
    try:
        return wire.parse_date(value)
    except ValueError as exc:
        raise BadField(name, str(exc)) from None


#: Columns whose value may span lines (a quoted CSV field): a postal address is written so.
MULTILINE_COLUMNS = frozenset({"address"})


def member_row(line: int, record: dict[str, str]) -> MemberRow:
    """One member as the members file gives it (every column, stripped), checked."""
    for name, value in record.items():
        problem = unprintable(value, lines=name in MULTILINE_COLUMNS)
        if problem is not None:
            raise BadField(name, f"holds {problem}")
    member_id = record["member_id"]
    if not MEMBER_ID_RE.fullmatch(member_id):
        why = "is required" if not member_id else f"{member_id!r} is not a member id"
        raise BadField("member_id", f"{why} (letters, digits, '.', '_', '-'; at most 64)")
    if not record["last_name"]:
        raise BadField("last_name", "is required")
    email = record["email"] or None
    if email is not None and not _EMAIL_RE.fullmatch(email):
        raise BadField("email", f"{email!r} is not an e-mail address")
    if record["category"] not in CATEGORIES:
        raise BadField("category", f"{record['category']!r} is not one of {', '.join(CATEGORIES)}")
    pass_since, pass_until = _date(record, "pass_since"), _date(record, "pass_until")
    if pass_until is not None and (pass_since is None or pass_until < pass_since):
        raise BadField("pass_until", f"{pass_until} is before pass_since (or it is missing)")
    badges: list[str] = []
    for raw in filter(None, (part.strip() for part in record["badges"].split(";"))):
        uid = wire.normalise_badge(raw)
        if not _BADGE_RE.fullmatch(uid):
            raise BadField("badges", f"{raw!r} is not a badge UID (8 to 20 hex digits)")
        if uid not in badges:
            badges.append(uid)
    address = record.get("address")
    if address is not None and len(address) > ADDRESS_MAX_CHARS:
        raise BadField("address", f"is longer than {ADDRESS_MAX_CHARS} characters")
    return MemberRow(
        line,
        member_id,
        record["last_name"],
        record["first_name"],
        email,
        record["category"],
        pass_since,
        pass_until,
        tuple(badges),
        address,
    )


def parse_members(text: str) -> list[MemberRow]:
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""))
    try:
        return _parse_member_rows(reader)
    except csv.Error as exc:
        raise InvalidFile([Problem(reader.line_num, None, f"not readable as CSV: {exc}")]) from None


def _parse_member_rows(reader: Any) -> list[MemberRow]:
    header = [name.strip() for name in next(reader, [])]
    if len(header) == 1 and ";" in header[0]:
        # What a French spreadsheet saves as "CSV" by default.
        raise InvalidFile(
            [
                Problem(
                    1,
                    None,
                    "columns are separated by ';': save the file as CSV with commas (UTF-8)",
                )
            ]
        )
    missing = [name for name in COLUMNS if name not in header]
    unknown = [name for name in header if name not in (*COLUMNS, *OPTIONAL_COLUMNS)]
    if missing or unknown:
        problems = [Problem(1, name, "column is missing") for name in missing]
        problems += [Problem(1, name, "is not a column of the members file") for name in unknown]
        raise InvalidFile(problems)
    rows: list[MemberRow] = []
    problems = []
    first_line_of: dict[str, int] = {}
    holder_of: dict[str, MemberRow] = {}
    last_line = reader.line_num
    for values in reader:
        # A quoted field may span lines: a row is reported at the line it starts on.
        start, last_line = last_line + 1, reader.line_num
        if not any(value.strip() for value in values):
            continue
        if len(values) != len(header):
            problems.append(
                Problem(start, None, f"{len(values)} fields where the header has {len(header)}")
            )
            continue
        record = {name: value.strip() for name, value in zip(header, values, strict=True)}
        try:
            row = member_row(start, record)
        except BadField as bad:
            problems.append(Problem(start, bad.field, bad.message))
            continue
        if row.member_id in first_line_of:
            message = f"{row.member_id!r} is already on line {first_line_of[row.member_id]}"
            problems.append(Problem(start, "member_id", message))
            continue
        first_line_of[row.member_id] = start
        for uid in row.badges:
            other = holder_of.setdefault(uid, row)
            if other is not row:
                message = (
                    f"badge {uid} is already given to {other.member_id!r} on line {other.line}"
                )
                problems.append(Problem(start, "badges", message))
        rows.append(row)
    if problems:
        raise InvalidFile(problems)
    return rows


def _member_values(row: MemberRow) -> dict[str, Any]:
    values = {
        "last_name": row.last_name,
        "first_name": row.first_name,
        "email": row.email,
        "category": row.category,
        "pass_since": row.pass_since,
        "pass_until": row.pass_until,
    }
    if row.address is not None:
        # Several lines in one quoted cell; an empty cell clears it.
        values["address"] = row.address or None
    return values


def _holding(member_id: str, active: bool) -> dict[str, Any]:
    return {"member_id": member_id, "active": active}


def import_members(session: Session, text: str, progress: Progress | None = None) -> ImportResult:
    """Create or update every member of the file and give them exactly the badges listed:
    a badge another member held is moved, a badge no longer listed is deactivated (each
    such change in `badge_changes`, for the audit)."""
    rows = parse_members(text)
    result = ImportResult()
    members = {member.id: member for member in session.scalars(select(Member))}
    badges = {badge.uid: badge for badge in session.scalars(select(Badge))}
    held: dict[str, set[str]] = {}
    for badge in badges.values():
        if badge.active:
            held.setdefault(badge.member_id, set()).add(badge.uid)
    access_changed = False
    for done, row in enumerate(rows, start=1):
        values = _member_values(row)
        member = members.get(row.member_id)
        if member is None:
            session.add(Member(id=row.member_id, **values))
            changed = False
        else:
            changed_fields = {k for k, v in values.items() if getattr(member, k) != v}
            for key in changed_fields:
                setattr(member, key, values[key])
            changed = bool(changed_fields)
            access_changed |= bool(changed_fields & {"pass_since", "pass_until"})
        mine = held.setdefault(row.member_id, set())
        for uid in sorted(mine - set(row.badges)):
            badges[uid].active = False
            mine.discard(uid)
            changed = access_changed = True
            result.badge_changes.append(
                BadgeChange(
                    "badge_revoked",
                    uid,
                    row.member_id,
                    _holding(row.member_id, True),
                    _holding(row.member_id, False),
                )
            )
        for uid in row.badges:
            known = badges.get(uid)
            if known is None:
                badges[uid] = Badge(uid=uid, member_id=row.member_id, active=True)
                session.add(badges[uid])
            elif known.member_id != row.member_id or not known.active:
                held.get(known.member_id, set()).discard(uid)
                before = _holding(known.member_id, known.active)
                known.member_id, known.active = row.member_id, True
                result.badge_changes.append(
                    BadgeChange(
                        "badge_assigned", uid, row.member_id, before, _holding(row.member_id, True)
                    )
                )
            else:
                continue
            mine.add(uid)
            changed = access_changed = True
        if member is None:
            result.created += 1
        elif changed:
            result.updated += 1
        if progress is not None:
            progress(done, len(rows))
    session.flush()
    if access_changed:
        result.access_changed = set(session.scalars(select(Site.id)))
    return result
