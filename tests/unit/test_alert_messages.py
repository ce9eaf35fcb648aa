"""The French e-mails of an incident: the subject says what and where, the body when (in
the site's time), what to do and where to act; no gap where a part is left out."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hub.alerts import messages
from hub.rules.alerts import KINDS

NIGHT = datetime(2026, 12, 8, 2, 12, tzinfo=UTC)


def about(kind: str, alarms: int = 1) -> messages.About:
    return messages.About(kind, "Télécentre de la médiathèque", "Mauriac", "Europe/Paris",
                          "mauriac-door", NIGHT, alarms)  # fmt: skip


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
