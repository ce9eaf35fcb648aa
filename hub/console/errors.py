"""403, 404, 429 and 500 in the console's look (the API keeps its JSON errors)."""

from __future__ import annotations

from flask import render_template
from werkzeug.exceptions import HTTPException

from hub.console.i18n import gettext as _
from hub.web.text_gate import UnprintableText


def error_page(error: HTTPException) -> tuple[str, int]:
    code = error.code or 500
    titles = {
        400: _("This request could not be understood"),
        401: _("Please sign in"),
        403: _("You may not open this page"),
        404: _("This page does not exist"),
        405: _("This page does not answer that way"),
        413: _("This file is too large"),
        429: _("Too many requests"),
    }
    texts = {
        400: _("The form was incomplete or has expired. Go back, reload the page and try again."),
        403: _(
            "Your account does not give access to this page. Ask an administrator if you need it."
        ),
        404: _("The address may be mistyped, or the page is not among those you can see."),
        429: _("Wait a minute, then try again."),
    }
    title = titles.get(code, _("Something went wrong on the hub"))
    text = texts.get(code, _("The hub could not answer. Try again in a moment; its log says why."))
    if isinstance(error, UnprintableText):
        text = _(
            "What was sent holds a character the hub refuses (a NUL or another control "
            "character). Retype it rather than pasting it, and try again."
        )
    return render_template("console/errors/error.html", code=code, title=title, text=text), code
