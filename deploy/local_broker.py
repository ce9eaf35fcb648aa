"""The shipped broker configuration (deploy/mosquitto/) run on this machine: the demo and the
tests use it as a hub host would, only with their own paths, ports and a throw-away CA.

`LocalBroker` writes, in its own directory, what docs/operations.md has an operator make:
a CA and a server certificate for 127.0.0.1 (made with `cryptography`), the hub listener's
password file and ACL (`telecentre.broker.acl`), the device listener's dynamic-security file
with an account per device and per watcher (as `deploy/add-device` adds them), and
`mosquitto.conf` as shipped with its `/etc/mosquitto/` paths and its two ports replaced (an
error if the shipped file no longer has them: it must not drift from what is tested).

>>> broker = LocalBroker(Path(".demo/broker"), devices=[("murat", "murat-door")],
...                      watchers=["demo-watch"])
>>> broker.start()     # device listener (TLS) on broker.device_port, hub's on broker.hub_port
>>> broker.password("murat-door"), broker.ca
"""

from __future__ import annotations

import getpass
import ipaddress
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from deploy.add_device import write_dynsec
from telecentre import broker

SHIPPED = Path(__file__).resolve().parent / "mosquitto"
#: What the shipped mosquitto.conf says, and what a local run puts in its place.
DEVICE_LISTENER = "listener 8883\n"
HUB_LISTENER = "listener 1884 127.0.0.1\n"
ETC = "/etc/mosquitto/"
DYNSEC_PLUGIN = "/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so"


def dynsec_plugin() -> str:
    """The plugin's path on this machine (the shipped file names Debian's on x86_64)."""
    found = sorted(Path("/usr/lib").glob("*/mosquitto_dynamic_security.so"))
    return str(found[0]) if found else DYNSEC_PLUGIN


def mosquitto_binary() -> str:
    return shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _write_private(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    path.chmod(0o600)


_CA_USAGE = x509.KeyUsage(
    digital_signature=True,
    key_cert_sign=True,
    crl_sign=True,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    encipher_only=False,
    decipher_only=False,
)


def make_certificates(directory: Path) -> None:
    """`ca.crt`, `server.crt` and `server.key` in `directory`, for 127.0.0.1 and localhost,
    valid for a year: a CA of this machine's own, as an operator makes one for the hub."""
    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "telecentre local CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_CA_USAGE, critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    server_key = ec.generate_private_key(ec.SECP256R1())
    server = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=365))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    (directory / "ca.crt").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (directory / "server.crt").write_bytes(server.public_bytes(serialization.Encoding.PEM))
    _write_private(
        directory / "server.key",
        server_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )


def render(shipped: str, directory: Path, device_port: int, hub_port: int) -> str:
    """The shipped `mosquitto.conf` with this run's paths and ports."""
    for expected in (DEVICE_LISTENER, HUB_LISTENER, ETC, DYNSEC_PLUGIN):
        if expected not in shipped:
            raise ValueError(f"deploy/mosquitto/mosquitto.conf no longer has {expected!r}")
    return (
        shipped.replace(DEVICE_LISTENER, f"listener {device_port} 127.0.0.1\n")
        .replace(DYNSEC_PLUGIN, dynsec_plugin())
        .replace(HUB_LISTENER, f"listener {hub_port} 127.0.0.1\n")
        .replace(ETC, f"{directory}/")
    )


class LocalBroker:
    """Mosquitto run with the shipped configuration, for `devices` and `watchers` (read-only,
    on the device listener) and `hub_users` (on the hub's)."""

    def __init__(
        self,
        directory: Path,
        devices: Iterable[tuple[str, str]],
        hub_users: Iterable[str] = ("hub",),
        device_port: int | None = None,
        hub_port: int | None = None,
        watchers: Iterable[str] = (),
    ) -> None:
        self.directory = directory.resolve()
        self.devices = list(devices)
        self.hub_users = list(hub_users)
        self.watchers = list(watchers)
        self.device_port = device_port or _free_port()
        self.hub_port = hub_port or _free_port()
        self.log = self.directory / "mosquitto.log"
        self.conf = self.directory / "mosquitto.conf"
        self.secrets = self.directory / "secrets"
        self.process: subprocess.Popen[bytes] | None = None
        self._prepare()

    @property
    def ca(self) -> Path:
        return self.directory / "certs" / "ca.crt"

    def password_file(self, user: str) -> Path:
        return self.secrets / f"{user}.password"

    def password(self, user: str) -> str:
        return self.password_file(user).read_text()

    def _prepare(self) -> None:
        directory = self.directory
        (directory / "telecentre.d").mkdir(parents=True, exist_ok=True)
        shutil.copy(SHIPPED / "limits.conf", directory / "telecentre.d" / "limits.conf")
        if not self.ca.exists():
            make_certificates(directory / "certs")
        self.secrets.mkdir(mode=0o700, exist_ok=True)
        for user in [*self.hub_users, *self.watchers, *(device for _, device in self.devices)]:
            if not self.password_file(user).exists():
                _write_private(self.password_file(user), secrets.token_urlsafe(18).encode())
        path = directory / "telecentre-hub.passwd"
        path.unlink(missing_ok=True)
        for user in self.hub_users:
            create = [] if path.exists() else ["-c"]
            subprocess.run(
                ["mosquitto_passwd", "-b", *create, str(path), user, self.password(user)],
                check=True,
            )
        path.chmod(0o600)
        (directory / "telecentre.acl").write_text(broker.acl(self.hub_users))
        accounts = broker.dynsec_config()
        for site, device in self.devices:
            accounts = broker.with_device(accounts, site, device, self.password(device))
        for watcher in self.watchers:
            accounts = broker.with_watcher(accounts, watcher, self.password(watcher))
        write_dynsec(directory / "telecentre-dynsec.json", accounts)
        (directory / "persistence").mkdir(exist_ok=True)
        shipped = (SHIPPED / "mosquitto.conf").read_text()
        self.conf.write_text(
            f"user {getpass.getuser()}\n"  # as root, stay root: the directory is ours
            f"persistence_location {directory / 'persistence'}/\n"
            f"log_dest file {self.log}\n"
            "log_type error\nlog_type warning\nlog_type notice\nlog_type information\n"
            + render(shipped, directory, self.device_port, self.hub_port)
        )

    def start(self, timeout: float = 15.0) -> None:
        self.process = subprocess.Popen(
            [mosquitto_binary(), "-c", str(self.conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=self.directory,
            # Its own process group: a terminal's Ctrl-C reaches the program that started it,
            # which stops the broker last (its clients first, so none logs a lost broker).
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        for port in (self.device_port, self.hub_port):
            while True:
                if self.process.poll() is not None:
                    log = self.log.read_text() if self.log.exists() else ""
                    raise RuntimeError(f"mosquitto exited at start: {log[-2000:]}")
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                        break
                except OSError:
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"mosquitto is not listening on {port}") from None
                    time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.process = None
