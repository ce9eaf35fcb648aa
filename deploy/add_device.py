"""`deploy/add-device SITE DEVICE`: a new edge device's broker account and its edge's files.

Run on the hub host, as root (it changes the broker's accounts); docs/operations.md:

    deploy/add-device murat murat-door --host hub.cybercantal.fr \\
        --hub-config /etc/telecentre/hub.yaml
    systemctl restart mosquitto      # the plugin reads its accounts at start only

It adds to the broker's dynamic-security file (`--dynsec`, 0600) an account for DEVICE with a
random password and the rights of a device of SITE (`telecentre.broker.device_role`), and
writes in `--out` (default `./edge-config/DEVICE/`) what the Pi's `/etc/telecentre/` needs:
`edge.yaml` (site, device, the broker's address, the files below), `mqtt.password` (0600),
`hub-public-keys` (the key its doors obey: `--hub-key`, or `telecentre-hub keys public` of
`--hub-config`) and `ca.crt` (the broker's CA, `--ca`). A device that has an account already
is refused: its Pi holds the password. Exit status 0 done, 1 refused (the reason on stderr).
`deploy/add-device --watcher NAME` makes a read-only account for watching the traffic.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from telecentre import broker
from telecentre.private_files import private_dir, write_private
from telecentre.signing import parse_public_key

#: Where the edge's files go on the Pi (`--etc`): what `edge.yaml` names.
PI_ETC = Path("/etc/telecentre")
DYNSEC = Path("/etc/mosquitto/telecentre-dynsec.json")
CA = Path("/etc/mosquitto/certs/ca.crt")


def read_dynsec(path: Path) -> dict[str, Any]:
    """The plugin's file, or an empty configuration if there is none yet."""
    if not path.exists():
        return broker.dynsec_config()
    config: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return config


def write_dynsec(path: Path, config: dict[str, Any]) -> None:
    """Replace the plugin's file (password hashes: 0600) in one rename; as root, make it the
    broker's (Mosquitto reads it as its own user)."""
    tmp = path.with_suffix(".tmp")
    write_private(tmp, json.dumps(config, indent=1).encode("utf-8"))
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("mosquitto")
        except KeyError:
            pass  # no such user: the broker runs as root, which reads it anyway
        else:
            os.chown(tmp, owner.pw_uid, owner.pw_gid)
    os.replace(tmp, path)


def edge_config(site: str, device: str, host: str, port: int, etc: Path) -> dict[str, Any]:
    """The edge's `edge.yaml`: the rest (readers, doors, pins) keeps its defaults until the
    installer says otherwise (docs/formats.md)."""
    return {
        "site": site,
        "device": device,
        "mqtt": {
            "host": host,
            "port": port,
            "username": device,
            "password_file": str(etc / "mqtt.password"),
            "tls": {"ca": str(etc / "ca.crt")},
        },
        "access": {"hub_public_keys_file": str(etc / "hub-public-keys")},
    }


def hub_keys(keys: list[str], hub_config: Path | None) -> list[str]:
    if hub_config is not None:
        # The hub's command beside this Python (the installed venv is not on root's PATH).
        beside = Path(sys.executable).parent / "telecentre-hub"
        command = str(beside) if beside.exists() else "telecentre-hub"
        shown = subprocess.run(
            [command, "--config", str(hub_config), "keys", "public"],
            capture_output=True,
            text=True,
        )
        if shown.returncode != 0:
            raise ValueError(f"telecentre-hub keys public: {shown.stderr.strip()}")
        keys = [*keys, shown.stdout.strip()]
    if not keys:
        raise ValueError("give the hub's public key: --hub-key KEY or --hub-config FILE")
    for key in keys:
        parse_public_key(key)  # ValueError says why not
    return keys


def add_device(
    site: str,
    device: str,
    *,
    dynsec: Path,
    out: Path,
    host: str,
    port: int,
    ca: Path,
    keys: list[str],
    etc: Path = PI_ETC,
    password: str | None = None,
) -> None:
    """The account in `dynsec` and the edge's files in `out` (ValueError: nothing written)."""
    password = password or os.urandom(18).hex()
    with locked(dynsec):
        config = broker.with_device(read_dynsec(dynsec), site, device, password)
        if not ca.is_file():
            raise ValueError(f"{ca}: no such CA certificate (--ca)")
        private_dir(out)
        write_private(out / "mqtt.password", password.encode("ascii"))
        keys_text = "".join(f"{key}\n" for key in keys)
        (out / "hub-public-keys").write_text(keys_text, encoding="utf-8")
        shutil.copyfile(ca, out / "ca.crt")
        document = edge_config(site, device, host, port, etc)
        (out / "edge.yaml").write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
        write_dynsec(dynsec, config)


@contextlib.contextmanager
def locked(dynsec: Path) -> Iterator[None]:
    """One change of the accounts at a time: two installs at once would each read the file,
    add their device and write it, and the first device would lose its account."""
    dynsec.parent.mkdir(parents=True, exist_ok=True)
    with open(dynsec.with_suffix(".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def add_watcher(name: str, dynsec: Path, out: Path) -> int:
    """A read-only account `name`, its password in `out/mqtt.password`."""
    password = os.urandom(18).hex()
    try:
        with locked(dynsec):
            config = broker.with_watcher(read_dynsec(dynsec), name, password)
            private_dir(out)
            write_private(out / "mqtt.password", password.encode("ascii"))
            write_dynsec(dynsec, config)
    except (OSError, ValueError) as exc:
        print(f"add-device: {exc}", file=sys.stderr)
        return 1
    print(
        f"watcher {name}: account added to {dynsec}, its password in {out}/mqtt.password. "
        "Now restart the broker: systemctl restart mosquitto"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="deploy/add-device", description=__doc__.split("\n\n")[0])
    parser.add_argument("site", nargs="?")
    parser.add_argument("device", nargs="?")
    parser.add_argument(
        "--watcher", metavar="NAME", help="instead: a read-only account for watching the traffic"
    )
    parser.add_argument("--dynsec", type=Path, default=DYNSEC, help=f"default {DYNSEC}")
    parser.add_argument("--out", type=Path, help="default ./edge-config/DEVICE")
    parser.add_argument("--host", default=socket.getfqdn(), help="the broker, as the Pi sees it")
    parser.add_argument("--port", type=int, default=8883)
    parser.add_argument("--ca", type=Path, default=CA, help=f"default {CA}")
    parser.add_argument("--hub-key", action="append", default=[], metavar="KEY")
    parser.add_argument("--hub-config", type=Path, metavar="HUB_YAML")
    parser.add_argument("--etc", type=Path, default=PI_ETC, help="the files' folder on the Pi")
    args = parser.parse_args(argv)
    if args.watcher is not None:
        return add_watcher(
            args.watcher, args.dynsec, args.out or Path("edge-config") / args.watcher
        )
    if args.site is None or args.device is None:
        parser.error("give SITE and DEVICE (or --watcher NAME)")
    out = args.out or Path("edge-config") / args.device
    try:
        keys = hub_keys(args.hub_key, args.hub_config)
        add_device(
            args.site,
            args.device,
            dynsec=args.dynsec,
            out=out,
            host=args.host,
            port=args.port,
            ca=args.ca,
            keys=keys,
            etc=args.etc,
        )
    except (OSError, ValueError) as exc:
        print(f"add-device: {exc}", file=sys.stderr)
        return 1
    print(
        f"{args.device} of {args.site}: account added to {args.dynsec}; its files are in "
        f"{out}/ (copy them to the Pi's {args.etc}/). Now restart the broker: "
        "systemctl restart mosquitto"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
