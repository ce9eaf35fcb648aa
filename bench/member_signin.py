"""Member sign-in benchmark: `.venv/bin/python -m bench.member_signin [--probes 200]`.

Prints figures as JSON, asserts nothing. Does `POST /espace-membre/` take longer for a
member's address than for a stranger's (secfindings 4)? The hub service (`hub.service.Hub`)
runs on a real Mosquitto and SQLite with `--probes` members; each address is asked once,
member and stranger in turn (which goes first is drawn), each from another loopback client
address (as an attacker with an IPv6 /64 has), so no limit is reached. Printed: the median
answer of each kind, and how many answers a threshold halfway between the medians
classifies right (half: the time says nothing; all: it tells members apart). Baseline
measured in the same run: the work the answer no longer waits for
(`member_access.request_link` in one transaction, as the request did it before) for a
member's address and a stranger's.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import re
import statistics
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from hub.config import HubConfig
from hub.console.member_space.links import link_requests
from hub.people import member_access
from hub.people.imports import import_members
from hub.service import Hub
from tests.servers import REPO, Mosquitto, free_port

TOKEN = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
TIMEOUT_S = 30


def members_file(count: int) -> str:
    rows = ["member_id,last_name,first_name,email,category,pass_since,pass_until,badges"]
    rows += [
        f"B{i:05d},Nom{i},Prénom{i},member{i}@example.org,independent,,," for i in range(count)
    ]
    return "\n".join(rows) + "\n"


def probe(port: int, email: str, n: int) -> float:
    """Seconds from sending `POST /espace-membre/` to its whole answer, from client `n`."""
    source = (f"127.0.{n // 250 + 1}.{n % 250 + 1}", 0)
    connection = http.client.HTTPConnection(
        "127.0.0.1", port, timeout=TIMEOUT_S, source_address=source
    )
    try:
        connection.request("GET", "/espace-membre/")
        answer = connection.getresponse()
        page = answer.read().decode()
        cookie = (answer.getheader("Set-Cookie") or "").split(";")[0]
        found = TOKEN.search(page)
        assert found is not None, "no CSRF token on the sign-in page"
        body = urlencode({"email": email, "csrf_token": found.group(1)})
        headers = {"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"}
        start = time.perf_counter()
        connection.request("POST", "/espace-membre/", body=body, headers=headers)
        answer = connection.getresponse()
        answer.read()
        took = time.perf_counter() - start
        assert answer.status == 200, answer.status
        return took
    finally:
        connection.close()


def right(members: list[float], strangers: list[float]) -> float:
    """Share of answers a threshold halfway between the medians classifies right."""
    cut = (statistics.median(members) + statistics.median(strangers)) / 2
    hits = sum(t > cut for t in members) + sum(t <= cut for t in strangers)
    return round(hits / (len(members) + len(strangers)), 2)


def ms(seconds: list[float]) -> float:
    return round(1000 * statistics.median(seconds), 2)


def figures(members: list[float], strangers: list[float]) -> dict[str, float]:
    return {
        "member_ms": ms(members),
        "stranger_ms": ms(strangers),
        "right": right(members, strangers),
    }


def request_link_baseline(hub: Hub, count: int) -> dict[str, float]:
    """The lookup, pass row and mail as the request did them before, member vs stranger."""
    members, strangers = [], []

    def timed(email: str) -> float:
        start = time.perf_counter()
        with hub.sessions.begin() as session:
            member_access.request_link(session, email, link_base="http://hub/lien/")
        return time.perf_counter() - start

    for i in range(count):
        members.append(timed(f"member{i}@example.org"))
        strangers.append(timed(f"nobody{i}@example.org"))
    return figures(members, strangers)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.member_signin", description=__doc__)
    parser.add_argument("--probes", type=int, default=200)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp, Mosquitto(Path(tmp) / "broker") as broker:
        config = HubConfig.model_validate(
            {
                "state_dir": str(Path(tmp) / "hub"),
                "mqtt": {"port": broker.port},
                "http": {"port": free_port()},
                "sites_file": str(REPO / "deploy" / "demo" / "sites.yaml"),
            }
        )
        hub = Hub(config)
        hub.start()
        try:
            with hub.sessions.begin() as session:
                import_members(session, members_file(args.probes))
            port = urlsplit(hub.url).port
            assert port is not None
            members: list[float] = []
            strangers: list[float] = []
            chance = random.Random(4)
            for i in range(args.probes):
                pair = [(f"member{i}@example.org", members), (f"nobody{i}@example.org", strangers)]
                chance.shuffle(pair)  # which goes first is no pattern the answers could follow
                for n, (email, into) in enumerate(pair, start=2 * i):
                    into.append(probe(port, email, n))
            written = link_requests(hub.app).drain(timeout=TIMEOUT_S)
            found = {
                "answer": {**figures(members, strangers), "links_written": written},
                "baseline_request_link": request_link_baseline(hub, args.probes),
            }
        finally:
            hub.stop()
    print(json.dumps(found, indent=2))


if __name__ == "__main__":
    main()
