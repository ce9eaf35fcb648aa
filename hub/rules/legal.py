"""What an invoice must say of its issuer and its customer (CGI art. 242 nonies A, Code de
commerce L441-9; docs/rules.md, Invoices): the checks of a SIRET and a French VAT number, what
an issuer still lacks, and a postal address as Factur-X wants it (lines, postcode, town).

A SIRET is the SIREN (9 digits) and the establishment's number (5 digits); INSEE makes both
pass the Luhn check (La Poste's establishments are an exception this code ignores: none of
them runs a télécentre):

>>> siret_problem("21150138200017") is None
True
>>> siret_problem("21150138200019")
'is not a SIRET: its last digit is wrong (Luhn key)'
>>> vat_number_problem("FR95211501382", siret="21150138200017") is None
True
>>> postal_parts("4 rue du Lac\\n15300 Murat")
PostalParts(lines=('4 rue du Lac',), postcode='15300', town='Murat')
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

#: What an issuer must have for its invoices to be issued, in the order a form asks for them:
#: keys of the sites file's `invoicing`.
IDENTITY = ("issuer", "address", "postcode", "town", "siret")

_SIRET = re.compile(r"[0-9]{14}")
_VAT = re.compile(r"FR([0-9A-Z]{2})([0-9]{9})")
_POSTCODE = re.compile(r"[0-9]{5}")
#: The last line of a French address: "15300 Murat", or "4 rue du Lac, 15300 Murat".
_TOWN_LINE = re.compile(r"(?:(?P<street>.*\S)\s*,\s*)?(?P<postcode>[0-9]{5})\s+(?P<town>\S.*)")


def luhn(digits: str) -> bool:
    """The Luhn check INSEE's numbers pass: every second digit from the right doubled."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char) * (2 if position % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def siret_problem(siret: str) -> str | None:
    """Why `siret` is not a SIRET, None when it is one."""
    if not _SIRET.fullmatch(siret):
        return "is not 14 digits"
    if not luhn(siret[:9]):
        return "is not a SIRET: its first 9 digits are no SIREN (wrong Luhn key)"
    if not luhn(siret):
        return "is not a SIRET: its last digit is wrong (Luhn key)"
    return None


def vat_key(siren: str) -> str:
    """The two digits of a French VAT number before the SIREN."""
    return f"{(12 + 3 * (int(siren) % 97)) % 97:02d}"


def vat_number_problem(vat_number: str, *, siret: str | None = None) -> str | None:
    """Why `vat_number` is not a French intra-community VAT number (FR, a 2-character key,
    the SIREN; with a `siret`, the issuer's own SIREN), None when it is one."""
    match = _VAT.fullmatch(vat_number)
    if match is None:
        return "is not FR followed by 11 characters (2 for the key, then the SIREN)"
    key, siren = match.groups()
    if not luhn(siren):
        return f"is not a VAT number: {siren} is no SIREN (wrong Luhn key)"
    if key.isdigit() and key != vat_key(siren):
        return f"is not a VAT number: its key {key} does not match its SIREN {siren}"
    if siret is not None and _SIRET.fullmatch(siret) and siret[:9] != siren:
        return f"is not this issuer's VAT number: its SIREN {siren} is not the SIRET's {siret[:9]}"
    return None


def postcode_problem(postcode: str) -> str | None:
    return None if _POSTCODE.fullmatch(postcode) else "is not a French postcode (5 digits)"


def missing_identity(invoicing: Mapping[str, object]) -> list[str]:
    """The keys of `IDENTITY` an issuer's `invoicing` lacks (empty: its invoices may be
    issued). The legal name is asked for even though the site's name stands in for it on
    the page: a télécentre's name is seldom the name of the commune or association that
    bills."""
    return [key for key in IDENTITY if not str(invoicing.get(key) or "").strip()]


@dataclass(frozen=True)
class PostalParts:
    """An address as Factur-X's PostalTradeAddress has it: street lines, postcode, town."""

    lines: tuple[str, ...]
    postcode: str | None
    town: str | None

    @property
    def printed(self) -> list[str]:
        """The address as a letter has it: its lines, then "15300 Murat"."""
        last = " ".join(part for part in (self.postcode, self.town) if part)
        return [*self.lines, *([last] if last else [])]


def postal_parts(
    address: str | None, postcode: str | None = None, town: str | None = None
) -> PostalParts:
    """The parts of an address; without `postcode` and `town`, read from its last line when
    it reads "15300 Murat" (a member's address is one text, as the members file has it)."""
    lines = [line.strip() for line in (address or "").splitlines() if line.strip()]
    if postcode or town or not lines:
        return PostalParts(tuple(lines), postcode or None, town or None)
    found = _TOWN_LINE.fullmatch(lines[-1])
    if found is None:
        return PostalParts(tuple(lines), None, None)
    street = [found["street"]] if found["street"] else []
    return PostalParts((*lines[:-1], *street), found["postcode"], found["town"])
