"""What an invoice must say of its issuer and customer (hub.rules.legal): INSEE's Luhn key on
SIRENs and SIRETs, the French VAT number's key, what an issuer lacks, an address's parts."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.rules.legal import (
    PostalParts,
    luhn,
    missing_identity,
    postal_parts,
    postcode_problem,
    siret_problem,
    vat_key,
    vat_number_problem,
)


@pytest.mark.parametrize(
    ("siret", "why"),
    [
        ("21151380900015", None),
        ("78395320100010", None),
        ("21151380900019", "last digit is wrong"),
        ("21151380000015", "no SIREN"),  # the SIREN's own key broken, the whole one kept
        ("2115138090001", "14 digits"),
        ("2115138090001A", "14 digits"),
        ("", "14 digits"),
    ],
)
def test_a_siret_is_fourteen_digits_passing_the_luhn_key_twice(siret: str, why: str | None) -> None:
    problem = siret_problem(siret)
    assert problem is None if why is None else why in (problem or "")


@given(st.text(alphabet="0123456789", min_size=13, max_size=13), st.integers(0, 12))
def test_changing_one_digit_of_a_good_siret_always_breaks_it(stem: str, at: int) -> None:
    siret = next(stem + d for d in "0123456789" if luhn(stem + d))
    wrong = siret[:at] + str((int(siret[at]) + 1) % 10) + siret[at + 1 :]
    assert siret_problem(wrong) is not None


@pytest.mark.parametrize(
    ("number", "siret", "why"),
    [
        ("FR95211501382", None, None),
        ("FR40783953201", "78395320100010", None),
        ("FRAB783953201", None, None),  # a key of letters (new numbers) is not computed
        ("FR41783953201", None, "does not match"),
        ("FR40783953201", "21151380900015", "not the SIRET's"),
        ("FR40783953202", None, "no SIREN"),
        ("DE123456789", None, "FR followed by 11"),
        ("FR4078395320", None, "FR followed by 11"),
    ],
)
def test_a_vat_number_is_fr_its_key_and_the_issuers_siren(
    number: str, siret: str | None, why: str | None
) -> None:
    problem = vat_number_problem(number, siret=siret)
    assert problem is None if why is None else why in (problem or "")


def test_the_vat_key_is_insees_formula() -> None:
    # FR 40 303 265 045: the example the tax administration gives.
    assert vat_key("303265045") == "40"


def test_a_postcode_is_five_digits() -> None:
    assert postcode_problem("15300") is None
    assert postcode_problem("1530") and postcode_problem("15 300") and postcode_problem("F1530")


def test_an_issuer_lacks_what_it_has_not_given() -> None:
    whole = {
        "issuer": "Commune de Murat",
        "address": "Place de l'Hôtel de Ville",
        "postcode": "15300",
        "town": "Murat",
        "siret": "21151380900015",
    }
    assert missing_identity(whole) == []
    assert missing_identity({}) == ["issuer", "address", "postcode", "town", "siret"]
    assert missing_identity({**whole, "address": "  ", "siret": None}) == ["address", "siret"]


@pytest.mark.parametrize(
    ("address", "parts"),
    [
        ("4 rue du Lac\n15300 Murat", PostalParts(("4 rue du Lac",), "15300", "Murat")),
        ("4 rue du Lac, 15300 Murat", PostalParts(("4 rue du Lac",), "15300", "Murat")),
        ("Le Bourg\n\n 15120  Montsalvy ", PostalParts(("Le Bourg",), "15120", "Montsalvy")),
        ("4 rue du Lac\nMurat", PostalParts(("4 rue du Lac", "Murat"), None, None)),
        (None, PostalParts((), None, None)),
    ],
)
def test_an_address_in_one_text_gives_its_postcode_and_town_from_its_last_line(
    address: str | None, parts: PostalParts
) -> None:
    assert postal_parts(address) == parts


def test_an_address_with_its_own_postcode_and_town_is_taken_as_it_is() -> None:
    parts = postal_parts("Maison des Services\n2 rue de la Mairie", "15210", "Ydes")
    assert parts.printed == ["Maison des Services", "2 rue de la Mairie", "15210 Ydes"]
