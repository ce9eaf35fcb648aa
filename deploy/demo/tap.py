"""`./dev tap SITE [BADGE]`: present a card to a site's door in the running demo.

The card goes to the door's own reader (through `.demo/tap.sock`), so the door decides
(granted, or refused as unknown), opens, and sends the event as every other tap: over its
own connection, numbered with its next `seq`. This command uses no broker account at all,
so it can neither push the door off the broker nor reuse one of its numbers. It then waits
for the hub to store the tap and says what became of it. Without BADGE: the demo visitor's
card (a Pass member in no one's day), which checks in and out in turn.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


def hand_over(sock_path: Path, site: str, badge: str | None, peek: bool = False) -> dict[str, Any]:
    """Ask the demo to present the card (`peek`: only check the request and learn where the
    hub answers)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.settimeout(5)
        client.connect(str(sock_path))
        request = {"site": site, "badge": badge, "peek": peek}
        client.sendall(json.dumps(request).encode() + b"\n")
        answer: dict[str, Any] = json.loads(client.makefile("rb").readline())
        return answer


def newest(api: str, token: str, site: str, badge: str) -> list[dict[str, Any]]:
    """The hub's latest records of this card at this site, newest first."""
    query = urllib.parse.urlencode({"site": site, "badge": badge, "limit": 5})
    request = urllib.request.Request(
        f"{api}/api/v1/events?{query}", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=5) as answer:
        return list(json.load(answer)["events"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="./dev tap", description=__doc__)
    parser.add_argument("site", help="a site id of the demo, e.g. murat")
    parser.add_argument("badge", nargs="?", help="a card UID in hex (default: the visitor's)")
    parser.add_argument("--state", type=Path, default=REPO / ".demo")
    args = parser.parse_args(argv)
    sock_path = args.state / "tap.sock"
    try:
        answer = hand_over(sock_path, args.site, args.badge, peek=True)
        if "error" in answer:
            print(f"./dev tap: {answer['error']}", file=sys.stderr)
            return 1
        api, token, badge = answer["api"], answer["token"], answer["badge"]
        seen = {event["id"] for event in newest(api, token, args.site, badge)}
        answer = hand_over(sock_path, args.site, args.badge)
    except OSError:
        print(f"./dev tap: no demo running here ({sock_path}): start `./dev demo`", file=sys.stderr)
        return 1
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            for event in newest(api, token, args.site, badge):
                if event["id"] not in seen:
                    reason = f" ({event['outcome_reason']})" if event.get("outcome_reason") else ""
                    # "granted, counted"; a refusal is said once: "denied (unknown)".
                    outcome = "" if event["outcome"] == event["access"] else f", {event['outcome']}"
                    print(
                        f"{answer['device']}: card {badge} {event['access']}"
                        f"{outcome}{reason}; board: {api}/?site={args.site}"
                    )
                    return 0
        time.sleep(0.3)
    print(f"./dev tap: the hub has not stored the tap at {args.site} yet", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
