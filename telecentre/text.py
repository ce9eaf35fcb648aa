"""Text from outside (a form, a URL, a file, an MQTT payload): which characters it may hold,
and JSON read with bounds. The hub's web gate, its importers and the wire protocol all ask
here, so one rule holds wherever text comes in.

No text of this project has a use for a NUL, a control character other than a tab or a line
break (and those only where several lines make sense), a lone surrogate (it cannot even be
written as UTF-8: PostgreSQL refuses it), a non-character, or a bidirectional override (it
makes `evil<script>` show as something else). Such text is refused where it enters, with a
sentence naming the character, rather than failing in a database driver later.

>>> unprintable("M0001")
>>> unprintable("x\\x00")
'U+0000 (a control character) at position 2'
>>> strict_json('{"n": NaN}')
Traceback (most recent call last):
...
ValueError: NaN is not a number JSON allows
"""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Any

#: Line breaks and tabs: allowed in text that may span several lines (a reason, a note).
LINE_CHARACTERS = frozenset("\t\n\r")
#: Embeddings, overrides and isolates: they reorder what a reader sees.
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
#: JSON integers longer than this are refused: Python would refuse past 4,300 digits with a
#: ValueError nobody expects, and no count, id or version of the protocol needs more than 19.
MAX_INT_DIGITS = 30
#: The deepest JSON any payload of this project needs (an access list is 4 levels deep).
MAX_JSON_DEPTH = 32


def _kind(character: str) -> str:
    category = unicodedata.category(character)
    if category == "Cc":
        return "a control character"
    if category == "Cs":
        return "a lone surrogate"
    if character in BIDI_CONTROLS:
        return "a bidirectional override"
    return "a non-character"


def _class(characters: str) -> str:
    return "".join(re.escape(character) for character in characters)


_NONCHARACTERS = "".join(
    chr(plane + last) for plane in range(0, 0x110000, 0x10000) for last in (0xFFFE, 0xFFFF)
) + "".join(map(chr, range(0xFDD0, 0xFDF0)))
_ALWAYS_BAD = "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff" + _class(
    "".join(sorted(BIDI_CONTROLS)) + _NONCHARACTERS
)
#: A regular expression finds the first bad character at C speed: an 8 MiB access list is
#: read on a Raspberry Pi too.
_BAD = re.compile(f"[{_ALWAYS_BAD}\t\n\r]")
_BAD_IN_LINES = re.compile(f"[{_ALWAYS_BAD}]")
#: The same for ASCII text, ten times faster: the class above, with its characters beyond
#: the Basic Multilingual Plane, is slow to test for each character.
_ASCII_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\t\n\r]")
_ASCII_BAD_IN_LINES = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _first_bad(text: str, lines: bool) -> re.Match[str] | None:
    if text.isascii():
        return (_ASCII_BAD_IN_LINES if lines else _ASCII_BAD).search(text)
    return (_BAD_IN_LINES if lines else _BAD).search(text)


def unprintable(text: str, *, lines: bool = False) -> str | None:
    """What is wrong with `text` (its first bad character and where), or None if nothing.

    `lines`: tabs and line breaks are allowed (a text area); elsewhere they are refused too.
    """
    found = _first_bad(text, lines)
    if found is None:
        return None
    character = found.group()
    return f"U+{ord(character):04X} ({_kind(character)}) at position {found.start() + 1}"


def unprintable_in(value: object, *, lines: bool = True) -> str | None:
    """`unprintable` for every key and string of parsed JSON (dicts, lists, scalars)."""
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            return f"nested more than {MAX_JSON_DEPTH} levels deep"
        if isinstance(item, str):
            problem = unprintable(item, lines=lines)
            if problem is not None:
                return f"{problem} of {_shown(item)}"
        elif isinstance(item, dict):
            for key, child in item.items():
                stack.append((key, depth + 1))
                stack.append((child, depth + 1))
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
    return None


def _shown(text: str) -> str:
    shown = ascii(text[:40])
    return shown + ("…" if len(text) > 40 else "")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def _bounded_int(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_INT_DIGITS:
        raise ValueError(f"an integer of {len(digits)} digits is longer than {MAX_INT_DIGITS}")
    return int(digits)


def _finite_float(text: str) -> float:
    number = float(text)
    if number in (float("inf"), float("-inf")):
        raise ValueError(f"{text[:40]} is too large a number")
    return number


#: Made once: `json.loads` with hooks builds a decoder at every call.
_DECODER = json.JSONDecoder(
    parse_constant=_no_constant, parse_int=_bounded_int, parse_float=_finite_float
)


def plainly_fine(text: str) -> bool:
    """Whether no string of the JSON `text` can hold a character `unprintable` refuses, nor
    sit deeper than `MAX_JSON_DEPTH`, seen from the text alone (a C-speed scan): without
    escapes, every string is a piece of the text, which holds no bad character (a raw line
    break or tab can only be white space between tokens: JSON refuses them in strings);
    and fewer brackets than the limit nest no deeper than it. The walk over the parsed
    value is for the rest (an import reads tens of thousands of events)."""
    return (
        "\\" not in text
        and _first_bad(text, lines=True) is None
        and text.count("{") + text.count("[") <= MAX_JSON_DEPTH
    )


def strict_json(text: str | bytes, *, lines: bool = True) -> Any:
    """`json.loads`, refusing what JSON does not define or nothing here needs: NaN and
    Infinity, integers of more than `MAX_INT_DIGITS` digits, numbers that overflow to
    infinity, nesting deeper than `MAX_JSON_DEPTH`, and strings (or keys) with characters
    `unprintable` refuses. Raises ValueError (json.JSONDecodeError for bad syntax) with a
    sentence."""
    # What `json.loads` does before decoding: bytes in UTF-8, -16 or -32, no BOM in text.
    if not isinstance(text, str):
        text = text.decode(json.detect_encoding(text), "surrogatepass")
    elif text.startswith("\ufeff"):
        raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
    try:
        value = _DECODER.decode(text)
    except RecursionError:
        raise ValueError("nested too deeply") from None
    if plainly_fine(text):
        return value
    problem = unprintable_in(value, lines=lines)
    if problem is not None:
        raise ValueError(problem)
    return value
