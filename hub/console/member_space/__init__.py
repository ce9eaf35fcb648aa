"""The members' own space (`/espace-membre/`): a member signs in without a password and sees
their own hours, invoices, Pass and badges, stops a lost badge, and gets their data.

It lives in the console's app (its catalog, formats, CSRF and style sheets) with a base
template of its own (`templates/member_space/base.html`, no staff menu), and a sign-in of
its own (`access.py`): a member's session never opens a staff page, nor a staff one a
member's. The operations are the capabilities' (`hub.people.member_access`,
`hub.alerts.lost_badges`, `hub.reports.my_page`, `hub.presence.retention`).
"""

from __future__ import annotations

from flask import Flask

from hub.console.member_space import codes, pages, signin
from hub.console.member_space.access import guard_staff_pages
from hub.console.member_space.guard import GUARD, MemberGuard
from hub.console.member_space.links import LINKS, LinkRequests, link_requests
from hub.console.services import EXTENSION, ConsoleServices

BLUEPRINTS = (signin.bp, pages.bp, codes.bp)


def init_member_space(app: Flask) -> None:
    app.extensions[GUARD] = MemberGuard()
    services: ConsoleServices = app.extensions[EXTENSION]
    app.extensions[LINKS] = LinkRequests(services.sessions)
    app.before_request(guard_staff_pages)
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)


def stop_member_space(app: Flask) -> None:
    """After the web server stopped: the links asked are written before the hub goes."""
    link_requests(app).stop()
