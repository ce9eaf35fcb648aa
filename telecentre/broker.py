"""The broker's access rules, derived from the wire protocol's topics.

Every edge device logs in as its own `device` id; the ACL lets it publish only under its
site's topics (so a stolen Pi cannot speak for another site) and read only its site's access
list and its own commands. The hub's account reads and writes everything.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from telecentre import wire

_ID_RE = re.compile(wire.ID_PATTERN)


def acl(devices: Iterable[tuple[str, str]], hub_users: Iterable[str] = ("hub",)) -> str:
    """Mosquitto `acl_file` text for `(site, device)` pairs and the hub's accounts."""
    devices = list(devices)
    for name in [*hub_users, *(part for pair in devices for part in pair)]:
        if not _ID_RE.fullmatch(name):
            # An id with `+`, `#`, `/` or a newline would widen or inject ACL rules.
            raise ValueError(f"{name!r} is not a site or device id ({wire.ID_PATTERN})")
    lines = ["# Generated from the device list; do not edit by hand."]
    for user in hub_users:
        lines += [f"user {user}", f"topic readwrite {wire.ROOT}/#", ""]
    for site, device in sorted(devices):
        lines += [
            f"user {device}",
            f"topic write {wire.events_topic(site, device)}",
            f"topic readwrite {wire.status_topic(site, device)}",
            f"topic read {wire.access_topic(site)}",
            f"topic read {wire.command_topic(site, device)}",
            f"topic read {wire.ack_topic(site, device)}",
            f"topic write {wire.command_result_topic(site, device)}",
            "",
        ]
    return "\n".join(lines)
