"""The French e-mails of an incident: when it starts, and "toujours en cours" while it stands.

E-mails are written in French, the language of every animator and of the department; the
console's catalog (Flask-Babel) belongs to the pages, not to this thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from hub.mail.render import Templates

TEMPLATES = Templates(Path(__file__).resolve().parent / "templates")

#: What each kind is called in a subject line.
TITLES = {
    "door_forced": "Porte forcée",
    "door_held_open": "Porte restée ouverte",
    "door_offline": "Porte hors ligne",
    "outbox_overflow": "Passages perdus par un boîtier",
    "access_list_behind": "Porte avec une ancienne liste d'accès",
}
#: What it means and what to do, in a sentence or two.
ADVICE = {
    "door_forced": (
        "La porte s'est ouverte sans badge accepté ni bouton de sortie. Vérifiez sur place "
        "(ou faites vérifier), puis prenez l'alarme en compte sur le tableau de bord."
    ),
    "door_held_open": (
        "La porte est restée ouverte plus longtemps que prévu. Faites-la fermer, puis prenez "
        "l'alarme en compte sur le tableau de bord."
    ),
    "door_offline": (
        "Le boîtier de la porte ne joint plus le serveur : vérifiez son alimentation et sa "
        "connexion à internet. En attendant, la porte décide seule avec sa dernière liste "
        "d'accès et garde les passages en mémoire."
    ),
    "outbox_overflow": (
        "Le boîtier est resté si longtemps sans joindre le serveur que sa mémoire a débordé : "
        "les plus anciens passages non envoyés sont perdus. Vérifiez sa connexion, puis prenez "
        "l'alarme en compte sur le tableau de bord."
    ),
    "access_list_behind": (
        "La porte décide avec une liste d'accès plus ancienne que celle du serveur : un badge "
        "retiré depuis peut encore l'ouvrir. Vérifiez la connexion du boîtier."
    ),
}
#: "Porte :" or "Boîtier :": what `subject` names for each kind.
DOOR_KINDS = frozenset({"door_forced", "door_held_open"})


@dataclass(frozen=True)
class About:
    """What an e-mail says of its incident."""

    kind: str
    site_name: str
    commune: str | None
    timezone: str
    #: The door (door alarms) or the device.
    subject: str
    began_at: datetime
    #: Alarms standing for it (door alarms, lost events); 0 for the others.
    alarms: int


def alert(about: About, board_url: str | None) -> tuple[str, str]:
    return _render(about, board_url, reminder=False, now=about.began_at)


def reminder(about: About, board_url: str | None, now: datetime) -> tuple[str, str]:
    return _render(about, board_url, reminder=True, now=now)


def _render(
    about: About, board_url: str | None, *, reminder: bool, now: datetime
) -> tuple[str, str]:
    site = f"{about.site_name} ({about.commune})" if about.commune else about.site_name
    return TEMPLATES.render(
        "incident.txt",
        reminder=reminder,
        title=TITLES.get(about.kind, about.kind),
        advice=ADVICE.get(about.kind, ""),
        site=site,
        what="Porte" if about.kind in DOOR_KINDS else "Boîtier",
        about=about,
        now=now,
        board_url=board_url,
    )
