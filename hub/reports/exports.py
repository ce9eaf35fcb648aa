"""Files people open in a spreadsheet (CSV, Excel) never carry a live formula.

A device's status, a member's name or a site's name come from outside: a text such as
`=cmd|' /C calc'!A0` or `@SUM(…)` would run when someone opens the export. Every text cell
of every export goes through `no_formula`, which prefixes a `'` to a text a spreadsheet would
read as a formula, so it shows as typed. Numbers the hub wrote itself (`-2.50`) stay numbers.

>>> no_formula("=cmd|' /C calc'!A0")
"'=cmd|' /C calc'!A0"
>>> no_formula("-2.50"), no_formula("Durand")
('-2.50', 'Durand')
>>> no_formula("0.1;=cmd|' /C calc'!A0")
"0.1;'=cmd|' /C calc'!A0"
"""

from __future__ import annotations

import re

#: What a spreadsheet (Excel, LibreOffice, Google Sheets) reads as the start of a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER_RE = re.compile(r"[+-]?\d+(\.\d+)?")


#: What a spreadsheet may split a cell on when it opens a file: the comma, the semicolon
#: (French Excel's separator), the tab, the pipe, line breaks. A text cell is written whole
#: in our files, but opened with another separator each piece becomes a cell of its own.
_SEPARATOR_RE = re.compile(r"([,;\t|\r\n])")


def _inert(piece: str) -> str:
    start = piece.lstrip(" ")
    if start.startswith(FORMULA_STARTS) and not _NUMBER_RE.fullmatch(start):
        return "'" + piece
    return piece


def no_formula(text: str) -> str:
    """`text` as a spreadsheet shows it and never evaluates it (OWASP's CSV injection fix),
    whichever separator the spreadsheet splits it on: every piece after a separator that
    would start a formula is made inert too (`0.1;=cmd` → `0.1;'=cmd`)."""
    if text.startswith(FORMULA_STARTS) and not _NUMBER_RE.fullmatch(text):
        text = "'" + text
    parts = _SEPARATOR_RE.split(text)
    # Even places hold the pieces, odd ones the separators; the first piece is done above.
    return "".join(
        _inert(part) if index and index % 2 == 0 else part for index, part in enumerate(parts)
    )
