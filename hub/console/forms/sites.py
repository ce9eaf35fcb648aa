"""The sites page's form: a site as the sites file has it (hub/people/imports.py `SiteSpec`), laid
out as fields a person fills in. This module only moves values between the two shapes and
says each refusal in words; the rules are the sites file's (`hub.people.imports.check_site`).

Field names: `name`, `zrr`…; `spaces-<n>-id|kind|positions`; `opening-<day>` (ranges
separated by commas); `closed` (one day a line, `2026-12-24` or `24/12/2026`);
`tariffs-<public|pass>-<hourly|daily_cap|monthly_cap>`; `invoicing-<key>` (the issuer's
legal identity).
"""

from __future__ import annotations

import re
from typing import Any

from flask_babel import LazyString
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.datastructures import MultiDict

from hub.people.imports import FieldProblem
from hub.rules import legal
from telecentre import wire

#: Empty rows offered for new spaces.
SPARE_SPACES = 2
DAYS: dict[str, LazyString] = {
    "mon": _l("Monday"),
    "tue": _l("Tuesday"),
    "wed": _l("Wednesday"),
    "thu": _l("Thursday"),
    "fri": _l("Friday"),
    "sat": _l("Saturday"),
    "sun": _l("Sunday"),
}
KINDS: dict[str, LazyString] = {
    "office": _l("individual office"),
    "open_space": _l("open-space desks"),
    "meeting": _l("meeting room (not a position)"),
}
RATES: dict[str, LazyString] = {"public": _l("Public rate"), "pass": _l("Pass Actifs Mobiles rate")}
RATE_FIELDS: dict[str, LazyString] = {
    "hourly": _l("Per hour (€)"),
    "daily_cap": _l("At most per day (€)"),
    "monthly_cap": _l("At most per month (€)"),
}
#: The issuer's legal identity (the sites file's `invoicing`), in the order the form asks:
#: `invoicing-<key>`. The rest of `invoicing` (VAT rate, prefix, payment) is the file's only.
IDENTITY_FIELDS = (*legal.IDENTITY, "vat_number")
#: What an issuer may lack, as the sites and billing pages name it.
IDENTITY_LABELS: dict[str, LazyString] = {
    "issuer": _l("legal name"),
    "address": _l("street address"),
    "postcode": _l("postcode"),
    "town": _l("town"),
    "siret": _l("SIRET"),
}


def identity_words(missing: list[str]) -> str:
    """What an issuer lacks (`hub.rules.legal.missing_identity`), in words; empty when
    nothing."""
    return ", ".join(str(IDENTITY_LABELS[key]) for key in missing)


_FRENCH_DAY = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")
_FRENCH_TIME = re.compile(r"\b(\d{1,2})\s*[h:]\s*(\d{2})?")


def _number(text: str) -> object:
    """ "3,50" or "3.50" as a number; anything else as typed, for the rules to refuse."""
    cleaned = text.strip().replace("\u00a0", "").replace(" ", "").replace(",", ".")
    if not cleaned:
        return None
    try:
        value = float(cleaned)
    except ValueError:
        return text.strip()
    return int(value) if value.is_integer() and "." not in cleaned else value


def _day(text: str) -> str:
    match = _FRENCH_DAY.match(text)
    if match:
        day, month, year = match.groups()
        return f"{year}-{int(month):02d}-{int(day):02d}"
    return text


def _range(text: str) -> str:
    """ "8h30 - 12h" as the sites file writes it, "08:30-12:00"."""
    moments = _FRENCH_TIME.sub(lambda m: f"{int(m[1]):02d}:{m[2] or '00'}", text)
    return re.sub(r"\s*-\s*", "-", moments).strip()


def entry_from_form(form: MultiDict[str, str], site_id: str | None) -> dict[str, Any]:
    """The sites-file entry the fields describe (`site_id`: the site edited, whose id the
    form does not change)."""
    entry: dict[str, Any] = {
        "id": site_id if site_id is not None else form.get("id", "").strip(),
        "name": form.get("name", "").strip(),
        "commune": form.get("commune", "").strip() or None,
        "zrr": form.get("zrr") == "on",
        "timezone": form.get("timezone", "").strip() or "Europe/Paris",
        "open_on_public_holidays": form.get("open_on_public_holidays") == "on",
        "annual_cost_eur": _number(form.get("annual_cost_eur", "")),
    }
    rounding = _number(form.get("rounding_min", ""))
    if rounding is not None:
        entry["rounding_min"] = rounding
    spaces = []
    index = 0
    while f"spaces-{index}-id" in form:
        space_id = form.get(f"spaces-{index}-id", "").strip()
        positions = form.get(f"spaces-{index}-positions", "").strip()
        if space_id or positions:
            spaces.append(
                {
                    "id": space_id,
                    "kind": form.get(f"spaces-{index}-kind", ""),
                    "positions": _number(positions),
                }
            )
        index += 1
    entry["spaces"] = spaces
    opening = {}
    for day in wire.WEEKDAYS:
        ranges = [part.strip() for part in re.split(r"[,;]", form.get(f"opening-{day}", ""))]
        if any(ranges):
            opening[day] = [_range(part) for part in ranges if part]
    entry["opening"] = opening
    entry["closed"] = [_day(line.strip()) for line in form.get("closed", "").splitlines()]
    entry["closed"] = [day for day in entry["closed"] if day]
    tariffs: dict[str, dict[str, object]] = {}
    for rate in RATES:
        values = {key: _number(form.get(f"tariffs-{rate}-{key}", "")) for key in RATE_FIELDS}
        if any(value is not None for value in values.values()):
            tariffs[rate] = {key: value for key, value in values.items() if value is not None}
    entry["tariffs"] = tariffs
    # A text area's lines come as a browser sends them, CR LF.
    entry["invoicing"] = {
        key: "\n".join(line.strip() for line in form.get(f"invoicing-{key}", "").splitlines())
        or None
        for key in IDENTITY_FIELDS
    }
    return entry


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.2f}".replace(".", ",").removesuffix(",00")
    return str(value)


def form_values(entry: dict[str, Any]) -> dict[str, str]:
    """The fields' values for a stored site (a sites-file entry)."""
    values = {
        "id": entry["id"],
        "name": entry.get("name") or "",
        "commune": entry.get("commune") or "",
        "zrr": "on" if entry.get("zrr") else "",
        "timezone": entry.get("timezone") or "Europe/Paris",
        "open_on_public_holidays": "on" if entry.get("open_on_public_holidays") else "",
        "annual_cost_eur": _text(entry.get("annual_cost_eur")),
        "rounding_min": _text(entry.get("rounding_min", 15)),
        "closed": "\n".join(entry.get("closed") or []),
    }
    for index, space in enumerate(entry.get("spaces") or []):
        values[f"spaces-{index}-id"] = space["id"]
        values[f"spaces-{index}-kind"] = space["kind"]
        values[f"spaces-{index}-positions"] = _text(space["positions"])
    for day in wire.WEEKDAYS:
        values[f"opening-{day}"] = ", ".join((entry.get("opening") or {}).get(day, []))
    for rate, spec in (entry.get("tariffs") or {}).items():
        for key in RATE_FIELDS:
            values[f"tariffs-{rate}-{key}"] = _text((spec or {}).get(key))
    for key in IDENTITY_FIELDS:
        values[f"invoicing-{key}"] = _text((entry.get("invoicing") or {}).get(key))
    return values


def field_of(problem: FieldProblem) -> str:
    """The form field a problem of the sites file's rules belongs to."""
    parts = problem.field.split(".")
    if parts[0] in ("opening",) and len(parts) > 1:
        return f"opening-{parts[1]}"
    if parts[0] == "closed":
        return "closed"
    if parts[0] == "spaces" and len(parts) >= 3:
        return "-".join(parts[:3])
    if parts[0] == "spaces":
        return "spaces"
    if parts[0] == "tariffs" and len(parts) >= 3:
        return "-".join(parts[:3])
    if parts[0] == "invoicing" and len(parts) >= 2:
        return "-".join(parts[:2])
    return parts[0]


def message(problem: FieldProblem) -> str:
    """A problem in words, beside its field."""
    field = field_of(problem)
    kind = problem.kind
    if kind == "exists":
        return str(_("A site with this identifier already exists."))
    if kind == "repeated":
        return str(_("This space is listed twice."))
    if kind in ("missing", "string_too_short"):
        return str(_("This is required."))
    if kind == "string_too_long":
        return str(_("This is too long."))
    if field == "invoicing-siret":
        return str(
            _(
                "A SIRET is 14 digits, the last one a check digit (Luhn key): copy it from the "
                "INSEE notice or annuaire-entreprises.data.gouv.fr."
            )
        )
    if field == "invoicing-vat_number":
        return str(_("FR, a key of two characters, then the SIREN of the SIRET above."))
    if field == "invoicing-postcode":
        return str(_("5 digits, like 15300."))
    if kind == "string_pattern_mismatch":
        return str(_("Lower-case letters, digits and '-' only, starting with a letter or digit."))
    if kind in ("greater_than_equal", "greater_than"):
        return str(_("This must be zero or more."))
    if kind in ("less_than_equal", "less_than"):
        return str(_("This is too large."))
    if kind in ("float_parsing", "float_type", "int_parsing", "int_type", "int_from_float"):
        return str(_("This is not a number."))
    if kind == "literal_error":
        return str(_("Choose one of the list."))
    if kind.startswith("date") or field == "closed":
        return str(_("One day a line, like 24/12/2026."))
    if field.startswith("opening-"):
        return str(_("Hours like 08:30-12:00, 13:30-17:00, in order and not overlapping."))
    if field == "timezone":
        return str(_("This is not a time zone (like Europe/Paris)."))
    return str(_("This value is refused: %(why)s", why=problem.message))
