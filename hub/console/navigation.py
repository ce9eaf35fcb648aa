"""The console's menu: one entry per page, shown to the roles that may open it.

console-pages adds its entries here (members, sessions, sites, reports), in menu order.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app, request, url_for
from flask_babel import LazyString
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from hub.console.labels import LABELS

ALL = ("admin", "department", "animator")


@dataclass(frozen=True)
class Entry:
    endpoint: str
    label: LazyString
    roles: tuple[str, ...] = ALL


MENU: list[Entry] = [
    Entry("board.index", _l("Board")),
    Entry("members.index", _l("Members")),
    Entry("sessions.index", _l("Sessions")),
    Entry("reports.evaluation", _l("Reports")),
    Entry("sites.index", _l("Sites"), ("admin", "department")),
    Entry("audit.index", _l("Audit log")),
    Entry("admin.users", _l("Users"), ("admin",)),
    Entry("admin.tokens", _l("API tokens"), ("admin",)),
    Entry("quarantine.index", _l("Quarantine"), ("admin",)),
]

ROLE_LABELS = {
    "admin": _l("administrator"),
    "department": _l("department"),
    "animator": _l("animator"),
}


@dataclass(frozen=True)
class Link:
    url: str
    label: str
    current: bool


def navigation() -> list[Link]:
    role = getattr(current_user, "role", None)
    endpoint = request.endpoint or ""
    shown = []
    for entry in MENU:
        if role not in entry.roles or entry.endpoint not in current_app.view_functions:
            continue
        shown.append(entry)
    # The page's own entry; else, on a page under an entry (a user's form), its area's first.
    current = next((e for e in shown if e.endpoint == endpoint), None) or next(
        (e for e in shown if e.endpoint.partition(".")[0] == endpoint.partition(".")[0]), None
    )
    return [Link(url_for(e.endpoint), str(e.label), e is current) for e in shown]


def role_label(role: str) -> str:
    label = ROLE_LABELS.get(role)
    return str(label) if label is not None else role


def init_navigation(app: Flask) -> None:
    from flask_babel import get_locale

    @app.context_processor
    def helpers() -> dict[str, object]:
        return {
            **LABELS,
            "navigation": navigation,
            "role_label": role_label,
            "current_language": lambda: str(get_locale() or "fr"),
        }
