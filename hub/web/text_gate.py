"""One gate for the text of every request, before any view reads it: the path, the query
string, form fields (and uploaded files' names) and a JSON body. Text holding a NUL or
another character `telecentre.text.unprintable` refuses is answered 400, with a sentence
naming where and which character, rather than reaching a query (PostgreSQL refuses NUL in
text: a 500) or a page.

Form values may span lines (a text area: tabs and line breaks pass); paths, query strings
and names may not. A JSON body is read with `telecentre.text.strict_json` (no NaN, bounded
integers). Import bodies (CSV, YAML, JSON Lines: the views marked `@takes_body`) are left to
their readers, which check them line by line, naming the line.

`create_app` runs `refuse_unprintable` before every request, after the body limit.
"""

from __future__ import annotations

from flask import request
from werkzeug.exceptions import BadRequest

from hub.web.body_limits import reads_raw_body
from telecentre.text import strict_json, unprintable

FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")


class UnprintableText(BadRequest):
    """A request refused for the characters it holds (a 400); `where` names the part."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where} holds {problem}: such characters are refused")
        self.where = where


def _check(where: str, text: str, *, lines: bool = False) -> None:
    problem = unprintable(text, lines=lines)
    if problem is not None:
        raise UnprintableText(where, problem)


def _name(name: str) -> str:
    return repr(name) if unprintable(name) is None and len(name) <= 40 else "a field"


def refuse_unprintable() -> None:
    _check("the address", request.path)
    for name, value in request.args.items(multi=True):
        _check("a parameter's name", name)
        _check(f"parameter {_name(name)}", value)
    if reads_raw_body():
        # An import: its reader checks each line (and `curl --data-binary` labels a file
        # as a form, which must not be parsed as one).
        return
    if request.mimetype in FORMS:
        for name, value in request.form.items(multi=True):
            _check("a form field's name", name)
            _check(f"form field {_name(name)}", value, lines=True)
        for name, upload in request.files.items(multi=True):
            _check("a form field's name", name)
            _check(f"the name of the file in {_name(name)}", upload.filename or "")
    elif request.is_json and (body := request.get_data(cache=True)):
        try:
            strict_json(body)
        except ValueError as exc:
            raise BadRequest(f"the body is not JSON this hub accepts: {exc}") from None
