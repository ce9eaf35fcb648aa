"""The French e-mails of an incident: the subject says what and where, the body when (in
the site's time), what to do and where to act; no gap where a part is left out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hub.alerts import messages
from hub.rules.alerts import KINDS

NIGHT = datetime(2026, 12, 8, 2, 12, tzinfo=UTC)


def about(kind: str, alarms: int = 1, name: str | None = None) -> messages.About:
    return messages.About(kind, "Télécentre de la médiathèque (Mauriac)", "Europe/Paris",
                          "mauriac-door", name, NIGHT, alarms)  # fmt: skip


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_has_a_french_title_and_advice(kind: str) -> None:
    subject, body = messages.alert(about(kind), "https://hub.cybercantal.fr/")
    assert subject == f"{messages.TITLES[kind]} – Télécentre de la médiathèque (Mauriac)"
    assert f"{messages.TITLES[kind]} le mardi 8 décembre 2026 à 03:12." in body
    assert messages.ADVICE[kind] in body
    assert "Tableau de bord : https://hub.cybercantal.fr/" in body
    assert "\n\n\n" not in body


def test_a_reminder_says_since_when_and_that_more_may_follow() -> None:
    subject, body = messages.reminder(about("door_offline", 0), None, NIGHT)
    assert (
        subject == "Toujours en cours : Porte hors ligne – Télécentre de la médiathèque (Mauriac)"
    )
    assert body.startswith("Toujours en cours : porte hors ligne depuis le mardi 8 décembre")
    assert "Boîtier : mauriac-door" in body
    assert "Alarmes en attente" not in body and "Tableau de bord" not in body
    assert "D'autres rappels suivront" in body
    assert "\n\n\n" not in body


def test_the_door_is_named_as_the_sites_file_names_it() -> None:
    subject, body = messages.alert(about("door_forced", name="Porte d'entrée"), None)
    assert subject == "Porte forcée : Porte d'entrée – Télécentre de la médiathèque (Mauriac)"
    assert "Porte : Porte d'entrée" in body and "mauriac-door" not in body


@pytest.mark.parametrize("kind", KINDS)
def test_the_end_of_every_kind_says_what_ended_it_and_how_long_it_lasted(kind: str) -> None:
    subject, body = messages.resolved(
        about(kind, name="Boîtier de l'entrée"), None, NIGHT + timedelta(hours=26, minutes=3)
    )
    assert subject == (
        f"Retour à la normale : {messages.TITLES[kind]} : Boîtier de l'entrée – "
        "Télécentre de la médiathèque (Mauriac)"
    )
    assert body.startswith(f"{messages.ENDED[kind]} le mercredi 9 décembre 2026 à 05:15.")
    assert "Durée : 1 j 2 h." in body
    assert "\n\n\n" not in body


@pytest.mark.parametrize(
    ("length", "text"),
    [
        (timedelta(seconds=59), "moins d'une minute"),
        (timedelta(minutes=12, seconds=40), "12 min"),
        (timedelta(hours=2, minutes=5), "2 h 05 min"),
        (timedelta(hours=3), "3 h"),
        (timedelta(days=3, hours=4, minutes=59), "3 j 4 h"),
        (timedelta(days=2), "2 j"),
        (timedelta(seconds=-5), "moins d'une minute"),  # an edge's clock ahead of the hub's
    ],
)
def test_durations_read_the_french_way(length: timedelta, text: str) -> None:
    assert messages.duration(length) == text
