"""Headers on every answer of the hub (`protect`, run after every request by `create_app`).

Every answer holds personal data or leads to it: no cache may keep it (`no-store`), no
browser may guess its type (`nosniff`), and no page may run what the hub did not serve
itself, nor be framed by another site (Content-Security-Policy, `frame-ancestors 'none'`).

The console follows `PAGE_POLICY`: its scripts, styles, images and fonts are files under
`/static` (no inline `<script>`, `style=` attribute, `on…=` handler or `javascript:` URL),
forms post to the hub itself. Its own static files may be cached; nothing else may.
"""

from __future__ import annotations

from flask import Response, request

from hub.api import PREFIX

PAGE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
#: The API answers data, never a page: nothing in it may run or be framed.
API_POLICY = "default-src 'none'; frame-ancestors 'none'; sandbox"
STATIC = "/static/"


def is_api() -> bool:
    return request.path == PREFIX or request.path.startswith(PREFIX + "/")


def protect(response: Response) -> Response:
    response.headers["X-Content-Type-Options"] = "nosniff"
    if is_api():
        response.headers["Cache-Control"] = "no-store"
        response.headers["Content-Security-Policy"] = API_POLICY
        return response
    if not request.path.startswith(STATIC) or response.status_code >= 400:
        # Only the console's own files may be cached; a 404 under /static may not.
        response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Security-Policy"] = PAGE_POLICY
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    return response
