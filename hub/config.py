"""The hub's config (FORMATS.md): every key has a default, so a config names only what differs.

State the hub keeps on its own disk (the SQLite database by default, the generated console
secret key, the key that signs access lists) lives under `state_dir`; a `database.url`,
`http.secret_key_file` or `access_lists.signing_key_file` set in the config takes precedence
over that default place.

>>> HubConfig().database_url
'sqlite:////var/lib/telecentre-hub/hub.db'
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import stat
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import AfterValidator, Field, TypeAdapter, ValidationError, model_validator

from telecentre.config import Strict
from telecentre.mqtt import Tls
from telecentre.wire import ID_PATTERN

Port = Annotated[int, Field(ge=1, le=65535)]
_ROLE_RE = re.compile(rf"department|admin|animator:{ID_PATTERN[1:-1]}")


def _role(value: str) -> str:
    if not _ROLE_RE.fullmatch(value):
        raise ValueError(f"{value!r} is not a role: department, admin or animator:<site id>")
    return value


#: `department` (every site), `admin`, or `animator:<site>` (that site only).
Role = Annotated[str, AfterValidator(_role)]
#: Bootstrap API tokens are secrets: too short a token could be guessed.
Token = Annotated[str, Field(min_length=16)]
#: An e-mail address as people type it: one `@`, a dotted domain, no spaces (RFC 5321 length).
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
EmailAddress = Annotated[str, Field(max_length=320, pattern=EMAIL_PATTERN)]
#: Who a token is in the audit (`api:<name>`): printable, short, never the token itself.
TokenName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[\w.@:# -]+$")]


class NamedToken(Strict):
    """A bootstrap token written `<token>: {role: department, name: alice}`; the short form
    `<token>: department` gets a name made of its role and a fingerprint of the token."""

    role: Role
    name: TokenName


def token_fingerprint(token: str) -> str:
    """8 hex digits that tell tokens apart in the audit and reveal nothing of them."""
    return hashlib.sha256(token.encode()).hexdigest()[:8]


class Mqtt(Strict):
    host: str = "127.0.0.1"
    port: Port = 1883
    username: str | None = None
    password: str | None = None
    password_file: Path | None = None
    tls: Tls | None = None
    #: Stable per hub process: the broker keeps this persistent session's queued events while
    #: the hub is down. Two hub processes sharing the load need two different ids.
    client_id: Annotated[str, Field(min_length=1, max_length=64)] = "hub"
    keepalive_s: Annotated[int, Field(ge=5)] = 30


class Database(Strict):
    #: SQLAlchemy URL (`postgresql+psycopg://user@host/db`); None: SQLite in `state_dir`.
    url: str | None = None


class InfluxDb(Strict):
    url: str
    token: str
    org: str
    bucket: str


def _ip_address(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise ValueError(f"{value!r} is not an IP address (127.0.0.1, ::1)") from None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Http(Strict):
    host: str = "127.0.0.1"
    port: Port = 8080
    #: None: a key generated at first start and kept in `state_dir`.
    secret_key_file: Path | None = None
    #: Requests answered at once; more wait, in order, without holding a thread.
    threads: Annotated[int, Field(ge=1, le=64)] = 8
    #: Open sockets, idle or half-sent ones included; past it new ones wait in the backlog.
    connection_limit: Annotated[int, Field(ge=10, le=10_000)] = 500
    #: A socket silent this long is closed (a slow or half-sent request).
    channel_timeout_s: Annotated[int, Field(ge=1, le=600)] = 30
    #: A request whose headers are not all in after this long is closed, however slowly
    #: bytes keep coming (a slowloris client is never silent long enough for the above).
    header_timeout_s: Annotated[int, Field(ge=1, le=600)] = 20
    #: Proxies in front (nginx: 1) whose `X-Forwarded-For` names the client; 0 trusts none.
    trusted_proxies: Annotated[int, Field(ge=0, le=5)] = 0
    #: The address the proxy in front connects from (nginx on this machine: 127.0.0.1): only
    #: its `X-Forwarded-For` and `X-Forwarded-Proto` are believed.
    proxy_address: Annotated[str, AfterValidator(_ip_address)] = "127.0.0.1"

    @property
    def loopback_only(self) -> bool:
        """Whether only this machine reaches the hub: it listens on a loopback address and no
        proxy in front brings it other machines' requests."""
        return self.trusted_proxies == 0 and _is_loopback(self.host)


class Console(Strict):
    """The staff console's sessions and live board."""

    #: A session ends after this long without a page asked for.
    idle_timeout_min: Annotated[int, Field(ge=1, le=24 * 60)] = 30
    #: Cookies only over HTTPS: set it when the hub is reached through TLS (a proxy).
    secure_cookies: bool = False
    #: No longer used (open boards no longer hold a thread each, and none polls): kept so
    #: that older hub.yaml files still load.
    max_streams: Annotated[int, Field(ge=0, le=1000)] = 4
    #: Live boards one account keeps open at once; its further boards are refreshed every
    #: second instead (each a short request), so that one account (or its stolen cookie)
    #: cannot hold every socket of `http.connection_limit`.
    streams_per_account: Annotated[int, Field(ge=1, le=10_000)] = 20
    #: The console's address as people reach it (`https://hub.cybercantal.fr`): every link
    #: the hub hands out (members' sign-in e-mails, alerts) leads there, and the hub answers
    #: only requests for its host (and this machine's `localhost`, `127.0.0.1`). Required
    #: unless the hub is reached from this machine only (`HubConfig.links_root`).
    public_url: Annotated[str, Field(pattern=r"^https?://[^\s/]+(/\S*)?$")] | None = None


class Ingest(Strict):
    """A batch is what waited while the previous one was stored (at most `batch_size`): it is
    committed, then acknowledged, as soon as the queue is empty."""

    batch_size: Annotated[int, Field(ge=1, le=10_000)] = 500
    #: No longer used (a batch no longer waits to fill up): kept so that older hub.yaml
    #: files still load.
    batch_ms: Annotated[int, Field(ge=1)] = 200


class AccessLists(Strict):
    #: The Ed25519 private key that signs every access list (PEM, mode 0600). None: made at
    #: first start (or by `telecentre-hub keys init`) as `state_dir/access-list.key`.
    signing_key_file: Path | None = None


class Rules(Strict):
    debounce_s: Annotated[float, Field(ge=0)] = 60
    max_session_h: Annotated[float, Field(gt=0, le=48)] = 12
    #: A tap stamped more than this after its receipt is quarantined (`future`).
    future_tolerance_s: Annotated[float, Field(ge=0)] = 300


class Retention(Strict):
    events_retention_days: Annotated[int, Field(ge=1)] = 90
    sessions_retention_years: Annotated[int, Field(ge=1)] = 5
    #: Invoice lines keep the member's name and e-mail this long, even after an erasure
    #: (Code de commerce L123-22: accounting records and their vouchers, 10 years).
    accounting_years: Annotated[int, Field(ge=1, le=100)] = 10
    #: A quarantined tap waits for a person to apply or dismiss it this long after its
    #: receipt (its time stamp is known to be wrong), then goes (docs/rules.md, Quarantine).
    quarantine_days: Annotated[int, Field(ge=1)] = 365


def _private_text(path: Path, what: str) -> str:
    """The text of a secret file, refused if its group or others may read it."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise ValueError(
                f"{what} {path}: its group or others may read it (mode {mode:04o}); "
                "chmod 600 it, owned by the hub's user"
            )
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"{what} {path}: cannot read: {exc.strerror}") from None


class Smtp(Strict):
    """The mail server the hub hands its e-mails to (the department's, or a relay)."""

    host: str
    port: Port = 587
    #: `starttls` (port 587), `tls` (TLS from the first byte, port 465), or `none`: only for a
    #: relay on the same machine, the password would travel in clear otherwise.
    security: Literal["starttls", "tls", "none"] = "starttls"
    #: The authority that signed the server's certificate, when it is not one the system
    #: trusts (a department's own CA); None: the system's authorities.
    ca_file: Path | None = None
    #: The From address (`Télécentres CyberCantal <alertes@cybercantal.fr>` is written as
    #: `sender_name` + `sender`).
    sender: EmailAddress
    sender_name: Annotated[str, Field(max_length=100)] = "Télécentres CyberCantal"
    username: str | None = None
    #: The password alone on one line, in a file only the hub's user may read (mode 0600).
    password_file: Path | None = None
    timeout_s: Annotated[float, Field(gt=0, le=300)] = 30

    @model_validator(mode="after")
    def _password_with_user(self) -> Smtp:
        if (self.username is None) != (self.password_file is None):
            raise ValueError("smtp: username and password_file go together")
        if self.password_file is not None:
            _private_text(self.password_file, "smtp.password_file")
        return self

    def password(self) -> str | None:
        """Read when a connection opens, so a changed password needs no restart."""
        if self.password_file is None:
            return None
        return _private_text(self.password_file, "smtp.password_file").strip("\r\n")


class Mail(Strict):
    """The outgoing queue (`hub/mail/`): kept in the database, sent by the hub's mail thread."""

    #: None: messages wait in the queue (visible to admins) until a server is configured.
    smtp: Smtp | None = None
    #: How often the mail thread looks for alerts to raise and messages to send.
    poll_s: Annotated[float, Field(gt=0, le=300)] = 5
    #: A message the server did not take is tried again after this, then twice as long each
    #: time, up to `retry_max_s`, and given up (shown to admins) after `give_up_after_h`.
    retry_first_s: Annotated[float, Field(gt=0, le=3600)] = 60
    retry_max_s: Annotated[float, Field(gt=0, le=24 * 3600)] = 3600
    give_up_after_h: Annotated[float, Field(gt=0, le=24 * 30)] = 48
    #: Sent and given-up messages are listed to admins this long, then forgotten.
    keep_days: Annotated[int, Field(ge=1, le=3660)] = 90


class Alerts(Strict):
    """Who hears of forced doors, doors held open, doors offline, lost events and late
    access lists, beyond the site's animators (each user chooses in "My account")."""

    #: The department's address: every alert of every site, at any hour.
    department_email: EmailAddress | None = None
    #: A door offline this long is an alert (a short network cut is not).
    door_offline_min: Annotated[int, Field(ge=1, le=24 * 60)] = 15
    #: While an incident stands, a "still going on" message this often (at most hourly).
    reminder_min: Annotated[int, Field(ge=60, le=7 * 24 * 60)] = 60


_TOKENS: TypeAdapter[dict[str, str | NamedToken]] = TypeAdapter(dict[Token, Role | NamedToken])


class HubConfig(Strict):
    state_dir: Path = Path("/var/lib/telecentre-hub")
    mqtt: Mqtt = Mqtt()
    database: Database = Database()
    influxdb: InfluxDb | None = None
    http: Http = Http()
    console: Console = Console()
    api_tokens: dict[Token, Role | NamedToken] = Field(default_factory=dict)
    #: The same as YAML in a file of its own, so that no token sits in hub.yaml. Refused if
    #: its group or others may read it (mode 0600, owned by the hub's user).
    api_tokens_file: Path | None = None
    sites_file: Path | None = None
    ingest: Ingest = Ingest()
    access_lists: AccessLists = AccessLists()
    rules: Rules = Rules()
    retention: Retention = Retention()
    mail: Mail = Mail()
    alerts: Alerts = Alerts()

    @model_validator(mode="after")
    def _read_api_tokens_file(self) -> HubConfig:
        if self.api_tokens_file is None:
            return self
        source = str(self.api_tokens_file)
        try:
            mode = stat.S_IMODE(self.api_tokens_file.stat().st_mode)
            if mode & 0o077:
                raise ValueError(
                    f"api_tokens_file {source}: its group or others may read it "
                    f"(mode {mode:04o}); chmod 600 it, owned by the hub's user"
                )
            tokens = yaml.safe_load(self.api_tokens_file.read_text(encoding="utf-8")) or {}
            parsed = _TOKENS.validate_python(tokens)
        except OSError as exc:
            raise ValueError(f"api_tokens_file {source}: cannot read: {exc.strerror}") from None
        except yaml.YAMLError:
            raise ValueError(f"api_tokens_file {source}: not valid YAML") from None
        except ValidationError as exc:
            item = exc.errors()[0]
            raise ValueError(f"api_tokens_file {source}: {item['msg']}") from None
        object.__setattr__(self, "api_tokens", {**self.api_tokens, **parsed})
        return self

    @model_validator(mode="after")
    def _public_url_when_reached_from_elsewhere(self) -> HubConfig:
        """A request's Host is whatever its client says: a hub that other machines reach
        cannot build its links from it (a forged Host would send members' sign-in links to
        another site), so it must be told its address."""
        if self.console.public_url is None and not self.http.loopback_only:
            raise ValueError(
                "console.public_url is required when other machines reach the hub "
                f"(http.host {self.http.host}, http.trusted_proxies "
                f"{self.http.trusted_proxies}): the address people type, such as "
                "https://hub.cybercantal.fr; links in e-mails lead there, and the hub "
                "answers no other host"
            )
        return self

    @property
    def links_root(self) -> str:
        """Where every link the hub hands out starts, never taken from a request: the
        console's public address, or on a hub only this machine reaches, the one it
        listens on."""
        if self.console.public_url is not None:
            return self.console.public_url.rstrip("/")
        host = "localhost" if ":" in self.http.host else self.http.host  # ::1
        return f"http://{host}:{self.http.port}"

    @property
    def known_hosts(self) -> list[str]:
        """The Host names the hub answers (Flask's `TRUSTED_HOSTS`): its public address's,
        and this machine's own names, for a local check (`curl http://127.0.0.1:8080/…`)."""
        hosts = ["localhost", "127.0.0.1"]
        if self.console.public_url is not None:
            hosts.append(urlsplit(self.console.public_url).hostname or "")
        return hosts

    def bootstrap_tokens(self) -> dict[str, NamedToken]:
        """`api_tokens` (and the file's), each with its role and the name the audit uses."""
        return {
            token: entry
            if isinstance(entry, NamedToken)
            else NamedToken(role=entry, name=f"{entry}#{token_fingerprint(token)}")
            for token, entry in self.api_tokens.items()
        }

    @property
    def database_url(self) -> str:
        if self.database.url is not None:
            return self.database.url
        return f"sqlite:///{self.state_dir / 'hub.db'}"

    @property
    def signing_key_path(self) -> Path:
        return self.access_lists.signing_key_file or self.state_dir / "access-list.key"

    @property
    def secret_key_path(self) -> Path:
        return self.http.secret_key_file or self.state_dir / "secret_key"


def readable_secrets(config: HubConfig, config_file: Path | None) -> list[str]:
    """Each file of this hub holding a secret that its group or others may read, as a
    sentence with the `chmod` that fixes it: the hub refuses to start on any (a copy of the
    session key forges any staff session, of the signing key opens every door). The config
    file counts when it holds `api_tokens` itself; files not made yet are skipped."""
    files = [
        ("http.secret_key_file", config.secret_key_path),
        ("access_lists.signing_key_file", config.signing_key_path),
    ]
    if config.mqtt.password_file is not None:
        files.append(("mqtt.password_file", config.mqtt.password_file))
    if config_file is not None:
        data = yaml.safe_load(config_file.read_text(encoding="utf-8"))
        if isinstance(data, dict) and data.get("api_tokens"):
            files.append(("the config file (it holds api_tokens)", config_file))
    problems = []
    for what, path in files:
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except FileNotFoundError:
            continue
        if mode & 0o077:
            problems.append(
                f"{what} {path} may be read by its group or others (mode {mode:04o}): "
                f"run `chmod 600 {path}` (owned by the hub's user)"
            )
    return problems
