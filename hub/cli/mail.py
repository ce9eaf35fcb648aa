"""`telecentre-hub mail …`: the check after configuring `mail.smtp`, and the queue from a shell.

telecentre-hub --config hub.yaml mail test lea@…    # sent now; the server's answer printed
telecentre-hub --config hub.yaml mail list          # what waits, and what was given up
"""

from __future__ import annotations

import argparse
import socket
import sys

from hub.cli.accounts import Database
from hub.config import HubConfig
from hub.mail import queue


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    mail = commands.add_parser("mail", help="e-mail: send a test, list the queue")
    verbs = mail.add_subparsers(dest="verb", required=True)
    test = verbs.add_parser("test", help="send one e-mail now through mail.smtp")
    test.add_argument("address")
    verbs.add_parser("list", help="e-mails waiting or given up, oldest first")


def run(args: argparse.Namespace, config: HubConfig, database: Database) -> int:
    if args.verb == "test":
        return _test(config, args.address)
    with database() as session:
        listed = queue.recent(session, per_page=1000)
    for message in reversed(listed.messages):
        if message.state == "sent":
            continue
        error = f"\t{message.last_error}" if message.last_error else ""
        print(
            f"{message.state}\t{message.created_at.isoformat()}\t{message.to_address}\t"
            f"{message.attempts} tries\t{message.subject}{error}"
        )
    print(f"{listed.waiting} waiting, {listed.failed} given up", file=sys.stderr)
    return 1 if listed.failed else 0


def _test(config: HubConfig, address: str) -> int:
    # Jinja2 and Babel, imported by the e-mail test only: every other command skips them.
    from hub.mail.render import TEST_TEMPLATES
    from hub.mail.smtp import Connection, Refused, build

    smtp = config.mail.smtp
    if smtp is None:
        print("telecentre-hub: no mail.smtp in the config: nothing to test", file=sys.stderr)
        return 2
    subject, body = TEST_TEMPLATES.render("test.txt", host=socket.getfqdn())
    try:
        with Connection(smtp) as connection:
            connection.send(build(smtp, 0, address, subject, body))
    except Refused as refused:
        print(f"telecentre-hub: not sent: {refused}", file=sys.stderr)
        return 1
    print(f"sent to {address} through {smtp.host}:{smtp.port} ({smtp.security})")
    return 0
