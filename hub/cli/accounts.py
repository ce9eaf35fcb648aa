"""`telecentre-hub user …` and `telecentre-hub token …`: console users and API tokens from a
shell, through the same functions as the console's admin pages (`hub.people.users`,
`hub.people.api_tokens`). The first admin is made here; no account ever has a default password.

    telecentre-hub --config hub.yaml user add marie --role admin      # password from stdin
    telecentre-hub --config hub.yaml user add paul --role animator --site murat --site ydes
    telecentre-hub --config hub.yaml user add lea --role animator --site murat --email lea@…
    telecentre-hub --config hub.yaml user email lea lea.martin@…     # "" removes it
    telecentre-hub --config hub.yaml user list | user disable paul | user password paul
    telecentre-hub --config hub.yaml token add compta --role department   # printed once
    telecentre-hub --config hub.yaml token list | token revoke compta
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TextIO

from sqlalchemy.orm import Session

from hub.people import api_tokens, users


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    user = commands.add_parser(
        "user", help="console users: add, list, disable, enable, password, email"
    )
    verbs = user.add_subparsers(dest="verb", required=True)
    add = verbs.add_parser("add", help="create a user (password read from standard input)")
    add.add_argument("login")
    add.add_argument("--role", required=True, choices=users.ROLES)
    add.add_argument("--site", action="append", default=[], help="a site an animator runs")
    add.add_argument("--name", help="the name shown in the console (default: the login)")
    add.add_argument("--email", help="where the user's alerts go (none by default)")
    verbs.add_parser("list", help="every user, role, sites and last sign-in")
    email = verbs.add_parser("email", help="set where a user's alerts go")
    email.add_argument("login")
    email.add_argument("address", help='an e-mail address; "" removes it')
    for verb in ("disable", "enable", "password"):
        verbs.add_parser(verb, help=f"{verb} a user").add_argument("login")
    token = commands.add_parser("token", help="API tokens: add, list, revoke")
    token_verbs = token.add_subparsers(dest="verb", required=True)
    token_add = token_verbs.add_parser("add", help="make a token (printed once)")
    token_add.add_argument("name")
    token_add.add_argument("--role", required=True, help="department, admin or animator:<site>")
    token_verbs.add_parser("list", help="every token, its role and last use")
    token_verbs.add_parser("revoke", help="revoke a token at once").add_argument("name")


def read_password(stdin: TextIO = sys.stdin, ask: Callable[[str], str] = getpass.getpass) -> str:
    """Twice on a terminal (a typo would lock the user out); one line from a pipe."""
    if stdin.isatty():
        first = ask("password: ")
        if ask("password again: ") != first:
            raise users.Invalid("password", "the two passwords differ")
        return first
    return stdin.readline().rstrip("\r\n")


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


#: Opens one transaction on the migrated database, committed if the job succeeds.
Database = Callable[[], AbstractContextManager[Session]]


def run(args: argparse.Namespace, database: Database) -> int:
    try:
        if args.command == "user":
            return _user(args, database)
        return _token(args, database)
    except users.Invalid as refused:
        print(f"telecentre-hub: {refused}", file=sys.stderr)
        return 1


def _user(args: argparse.Namespace, database: Database) -> int:
    if args.verb == "list":
        with database() as session:
            for account in users.accounts(session):
                sites = ",".join(account.sites) if not account.all_sites else "*"
                state = "active" if account.active else "disabled"
                last = account.last_login_at.isoformat() if account.last_login_at else "never"
                print(f"{account.login}\t{account.role}\t{sites}\t{state}\t{last}")
        return 0
    if args.verb == "email":
        with database() as session:
            changed = users.set_email(session, args.login, args.address, actor=_actor())
        print(f"user {changed.login}: e-mail {changed.email or 'removed'}")
        return 0
    if args.verb in ("disable", "enable"):
        with database() as session:
            users.set_active(session, args.login, args.verb == "enable", actor=_actor())
        print(f"user {args.login} {args.verb}d")
        return 0
    password = read_password()
    with database() as session:
        if args.verb == "password":
            users.set_password(session, args.login, password, actor=_actor())
            print(f"user {args.login}: new password set")
            return 0
        made = users.create_user(
            session,
            login=args.login,
            display_name=args.name or args.login,
            role=args.role,
            sites=args.site,
            password=password,
            actor=_actor(),
            email=args.email,
        )
    sites = f": {', '.join(made.sites)}" if made.sites else ""
    print(f"user {made.login} created ({made.role}{sites})")
    return 0


def _token(args: argparse.Namespace, database: Database) -> int:
    with database() as session:
        if args.verb == "add":
            made = api_tokens.add_token(session, args.name, args.role, actor=_actor())
            print(made.secret)
            print(f"token {made.name} ({made.role}): shown once, keep it now", file=sys.stderr)
        elif args.verb == "revoke":
            api_tokens.revoke_token(session, args.name, actor=_actor())
            print(f"token {args.name} revoked")
        else:
            for token in api_tokens.tokens(session):
                used = token.last_used_at.isoformat() if token.last_used_at else "never"
                state = "revoked" if token.revoked_at else "active"
                print(
                    f"{token.name}\t{token.role}\t{state}\tlast used {used}\tby {token.created_by}"
                )
    return 0
