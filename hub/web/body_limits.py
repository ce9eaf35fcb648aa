"""How large a request body each route takes: small (`SMALL_BODY_BYTES`, a form or nothing)
unless the view says more with `@takes_body(n)` (the imports; a console upload form).

`apply_body_limit` runs before every request: a declared `Content-Length` over the route's
limit is refused (413) before anything is read or authenticated, and a body sent without one
is cut at the limit as it is read (Flask's per-request `max_content_length`).

>>> @bp.post("/members/import")                                 # doctest: +SKIP
... @takes_body(16 * 1024 * 1024)
... def members(): ...
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from flask import Flask, current_app, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

SMALL_BODY_BYTES = 64 * 1024
#: The largest body any route takes (the events import): the HTTP server refuses more
#: before the app sees it.
LARGEST_BODY_BYTES = 64 * 1024 * 1024
_ATTRIBUTE = "max_body_bytes"

View = TypeVar("View", bound=Callable[..., object])


def takes_body(max_bytes: int) -> Callable[[View], View]:
    def mark(view: View) -> View:
        setattr(view, _ATTRIBUTE, max_bytes)
        return view

    return mark


def reads_raw_body() -> bool:
    """Whether the current request's view reads its body itself (`@takes_body`: the
    imports), so that nothing else may parse it as a form or JSON first."""
    return hasattr(current_app.view_functions.get(request.endpoint or ""), _ATTRIBUTE)


def limit_for(app: Flask, method: str, path: str) -> int:
    """The body limit of the route `method path` would reach (the small one for a path no
    route answers), for the HTTP server to refuse a body from its `Content-Length`."""
    try:
        endpoint, _ = app.url_map.bind("hub").match(path, method)
    except HTTPException:  # no such route, another method, a redirect
        return SMALL_BODY_BYTES
    limit: int = getattr(app.view_functions.get(str(endpoint)), _ATTRIBUTE, SMALL_BODY_BYTES)
    return limit


def apply_body_limit() -> None:
    view = current_app.view_functions.get(request.endpoint or "")
    limit: int = getattr(view, _ATTRIBUTE, SMALL_BODY_BYTES)
    request.max_content_length = limit
    if request.content_length is not None and request.content_length > limit:
        raise RequestEntityTooLarge()
