"""Files people open in a spreadsheet (CSV, Excel) never carry a live formula.

A device's status, a member's name or a site's name come from outside: a text such as
`=cmd|' /C calc'!A0` or `@SUM(…)` would run when someone opens the export. Every text cell
of every export goes through `no_formula`, which prefixes a `'` to a text a spreadsheet would
read as a formula, so it shows as typed. Numbers the hub wrote itself (`-2.50`) stay numbers.

>>> no_formula("=cmd|' /C calc'!A0")
"'=cmd|' /C calc'!A0"
>>> no_formula("-2.50"), no_formula("Durand")
('-2.50', 'Durand')
"""

from __future__ import annotations

import re

#: What a spreadsheet (Excel, LibreOffice, Google Sheets) reads as the start of a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER_RE = re.compile(r"[+-]?\d+(\.\d+)?")


def no_formula(text: str) -> str:
    """`text` as a spreadsheet shows it and never evaluates it (OWASP's CSV injection fix)."""
    if text.startswith(FORMULA_STARTS) and not _NUMBER_RE.fullmatch(text):
        return "'" + text
    return text
