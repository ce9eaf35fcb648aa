"""The sites page's form ↔ a sites-file entry (hub.console.forms.sites): what a person types
becomes what the sites file would say, and a refusal finds its field."""

from __future__ import annotations

from werkzeug.datastructures import MultiDict

from hub.console.forms.sites import entry_from_form, field_of, form_values, message
from hub.people.imports import FieldProblem, InvalidSite, check_site


def test_french_ways_of_writing_become_the_sites_file_s() -> None:
    form = MultiDict(
        {
            "name": " La Cocotte ",
            "zrr": "on",
            "annual_cost_eur": "9 500,50",
            "rounding_min": "15",
            "spaces-0-id": "plateau",
            "spaces-0-kind": "open_space",
            "spaces-0-positions": "6",
            "spaces-1-id": "",
            "spaces-1-kind": "office",
            "spaces-1-positions": "",
            "opening-mon": "8h30-12h, 13h30 - 17h",
            "opening-tue": "",
            "closed": "24/12/2026\n\n2026-12-31\n",
            "tariffs-public-hourly": "3,5",
            "tariffs-pass-monthly_cap": "100",
            "invoicing-issuer": " Commune de Murat ",
            "invoicing-address": "Place de l'Hôtel de Ville",
            "invoicing-postcode": "15300",
            "invoicing-town": "Murat",
            "invoicing-siret": "211 513 809 00015",
            "invoicing-vat_number": "",
        }
    )
    entry = entry_from_form(form, "murat")
    assert entry == {
        "id": "murat",
        "name": "La Cocotte",
        "commune": None,
        "zrr": True,
        "timezone": "Europe/Paris",
        "open_on_public_holidays": False,
        "annual_cost_eur": 9500.5,
        "rounding_min": 15,
        "spaces": [{"id": "plateau", "kind": "open_space", "positions": 6}],
        "opening": {"mon": ["08:30-12:00", "13:30-17:00"]},
        "closed": ["2026-12-24", "2026-12-31"],
        "tariffs": {"public": {"hourly": 3.5}, "pass": {"monthly_cap": 100}},
        "invoicing": {
            "issuer": "Commune de Murat",
            "address": "Place de l'Hôtel de Ville",
            "postcode": "15300",
            "town": "Murat",
            "siret": "211 513 809 00015",
            "vat_number": None,
        },
    }
    spec = check_site(entry)  # the sites file's rules take it as it is
    assert spec.tariffs.pass_.monthly_cap == 100 and spec.tariffs.pass_.hourly == 0
    assert spec.invoicing.siret == "21151380900015"  # spaces as people copy it, dropped
    values = form_values(entry)
    assert values["annual_cost_eur"] == "9500,50"
    assert values["opening-mon"] == "08:30-12:00, 13:30-17:00"
    assert entry_from_form(MultiDict(values), "murat") == entry


def test_what_cannot_be_a_number_is_left_for_the_rules_to_refuse() -> None:
    entry = entry_from_form(MultiDict({"annual_cost_eur": "beaucoup"}), "murat")
    assert entry["annual_cost_eur"] == "beaucoup"


def test_each_refusal_finds_its_field() -> None:
    def field(path: str) -> str:
        return field_of(FieldProblem(path, "value_error", "…"))

    assert field("opening.mon.1") == "opening-mon"
    assert field("opening.mon") == "opening-mon"
    assert field("closed.2") == "closed"
    assert field("spaces.1.positions") == "spaces-1-positions"
    assert field("spaces") == "spaces"
    assert field("tariffs.pass.hourly") == "tariffs-pass-hourly"
    assert field("annual_cost_eur") == "annual_cost_eur"
    assert field("invoicing.siret") == "invoicing-siret"


def test_a_wrong_siret_is_said_beside_its_field_in_words() -> None:
    entry = entry_from_form(
        MultiDict({"name": "Murat", "invoicing-siret": "21151380900019"}), "murat"
    )
    try:
        check_site(entry)
    except InvalidSite as invalid:
        (problem,) = invalid.problems
    else:
        raise AssertionError("a SIRET with a wrong Luhn key was taken")
    assert field_of(problem) == "invoicing-siret"
    assert "Luhn" in problem.message and "Luhn" in message(problem)
