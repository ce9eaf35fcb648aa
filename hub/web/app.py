"""The hub's web application: `create_app` builds it from the hub config, as Flask's
tutorial does, with what the running service shares with it passed in rather than global.

>>> app = create_app(config, mqtt_up=ingest.subscribed.is_set,      # doctest: +SKIP
...                  presence_hooks=[engine.on_batch], after_import=publish_access_lists)
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Collection, Sequence
from datetime import datetime, timedelta

from flask import Flask, Response
from sqlalchemy import orm
from werkzeug.exceptions import HTTPException, SecurityError
from werkzeug.routing import IntegerConverter, Map

from hub.api import PREFIX, api
from hub.api.errors import http_error
from hub.api.services import EXTENSION, AfterImport, Services
from hub.config import HubConfig
from hub.console import STATIC_FOLDER, TEMPLATE_FOLDER, init_console
from hub.console.board_streams import MAX_HEARTBEAT_S
from hub.console.errors import error_page
from hub.console.services import ConsoleServices
from hub.doors.commands import DoorOpener
from hub.intake.live import Changes
from hub.store import make_engine, make_sessionmaker
from hub.store.events import OnBatch
from hub.store.models import utcnow
from hub.web.body_limits import SMALL_BODY_BYTES, apply_body_limit
from hub.web.headers import is_api, protect
from hub.web.text_gate import refuse_unprintable


def _http_error(error: HTTPException) -> tuple[Response | str, int]:
    """JSON errors under the API's prefix, pages in the console's look elsewhere. A request
    for a host the hub does not know gets the JSON error too: no page of the console (its
    links are built for the host asked) is served under another site's name."""
    if is_api() or isinstance(error, SecurityError):
        return http_error(error)
    return error_page(error)


class StoredInt(IntegerConverter):
    """`<int:…>` in every route, bounded to what the stores hold (ids are 32-bit integers):
    a 12-digit id in a URL is "no such thing" (404), not an overflow of the database driver
    (PostgreSQL's "integer out of range": a 500)."""

    def __init__(self, map: Map, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("max", 2**31 - 1)
        super().__init__(map, *args, **kwargs)  # type: ignore[arg-type]


def create_app(
    config: HubConfig,
    *,
    sessionmaker: orm.sessionmaker[orm.Session] | None = None,
    mqtt_up: Callable[[], bool] | None = None,
    presence_hooks: Sequence[OnBatch] = (),
    after_import: AfterImport | None = None,
    clock: Callable[[], datetime] = utcnow,
    changes: Changes | None = None,
    doors: DoorOpener | None = None,
    secret_key: bytes | None = None,
    publish_access_lists: Callable[[Collection[str]], None] | None = None,
) -> Flask:
    """The app for `config`.

    - `sessionmaker`: the service's own (one engine per process); None opens
      `config.database_url`. The schema must already be migrated.
    - `mqtt_up`: whether the hub's MQTT client is connected, for `/health`; None: "down".
    - `presence_hooks`: run in an events import's transaction, as on MQTT batches, so that
      imported events update the sessions. Also reachable, for wiring after the app exists,
      as `app.extensions["telecentre.api"].presence_hooks`.
    - `after_import`: called after a sites or members import committed, with the sites
      whose access list changed (never with an empty set).
    - `clock`: "now" for the occupancy (who is still present); tests fix it.
    - `changes`: what the live board waits on (the service notifies it after each commit);
      None: a board that only changes when reloaded.
    - `doors`: sends the console's door commands on the hub's MQTT connection; None: every
      door shows as offline.
    - `secret_key`: signs the console's session cookies (the service keeps one in
      `state_dir`); None: a new one for this process, so sessions end when it stops.
    - `publish_access_lists`: sends fresh access lists for the given sites, for the console's
      badge and member changes; None: they go out with the next lists (daily, at start).
    """
    app = Flask(__name__, static_folder=STATIC_FOLDER, template_folder=TEMPLATE_FOLDER)
    app.url_map.converters["int"] = StoredInt
    # A request for another host is refused (400): nothing the hub answers or hands out
    # depends on a Host header that its client chose (`HubConfig.known_hosts`).
    app.config.from_mapping(
        HUB_CONFIG=config,
        MAX_CONTENT_LENGTH=SMALL_BODY_BYTES,
        TRUSTED_HOSTS=config.known_hosts,
    )
    app.json.sort_keys = False  # type: ignore[attr-defined]
    if sessionmaker is None:
        sessionmaker = make_sessionmaker(make_engine(config.database_url))
    services = Services(
        sessionmaker,
        config.bootstrap_tokens(),
        presence_hooks=list(presence_hooks),
        after_import=after_import,
        clock=clock,
        max_session_h=config.rules.max_session_h,
    )
    if mqtt_up is not None:
        services.mqtt_up = mqtt_up
    app.extensions[EXTENSION] = services
    # Before the console's own checks (CSRF reads the form): the body's size first, then
    # the characters of everything the request says.
    app.before_request(apply_body_limit)
    app.before_request(refuse_unprintable)
    init_console(
        app,
        ConsoleServices(
            sessionmaker,
            changes=changes or Changes(),
            doors=doors,
            clock=clock,
            publish_access_lists=publish_access_lists,
            max_session_h=config.rules.max_session_h,
            sessions_retention_years=config.retention.sessions_retention_years,
            heartbeat_s=min(MAX_HEARTBEAT_S, config.http.channel_timeout_s / 3),
            streams_per_account=config.console.streams_per_account,
        ),
        secret_key=secret_key or secrets.token_bytes(32),
        idle_timeout=timedelta(minutes=config.console.idle_timeout_min),
        secure_cookies=config.console.secure_cookies,
        api_prefix=PREFIX,
    )
    app.register_blueprint(api)
    app.register_error_handler(HTTPException, _http_error)
    app.after_request(protect)
    # The client's address behind a proxy is waitress's to find (`hub.web.server`).
    return app
