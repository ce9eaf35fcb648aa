"""The French e-mails of an incident: when it starts, "toujours en cours" while it stands,
and "retour à la normale" once, when it ends, with how long it lasted. Doors and devices are
named as the console names them (`hub.people.names`), their id only when the sites file
gives them no name.

E-mails are written in French, the language of every animator and of the department; the
console's catalog (Flask-Babel) belongs to the pages, not to this thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
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
#: How each kind ends, said in the "retour à la normale" e-mail.
ENDED = {
    "door_forced": "L'alarme a été prise en compte sur le tableau de bord",
    "door_held_open": "L'alarme a été prise en compte sur le tableau de bord",
    "door_offline": "Le boîtier joint de nouveau le serveur",
    "outbox_overflow": "L'alarme a été prise en compte sur le tableau de bord",
    "access_list_behind": "La porte décide de nouveau avec la liste d'accès à jour",
    #: A door held open that closed again (its alarm still stands on the board).
    "door_closed": (
        "La porte est refermée (l'alarme reste à prendre en compte sur le tableau de bord)"
    ),
}
#: "Porte :" or "Boîtier :": what `subject` names for each kind.
DOOR_KINDS = frozenset({"door_forced", "door_held_open"})


@dataclass(frozen=True)
class About:
    """What an e-mail says of its incident."""

    kind: str
    #: The site as people read it: "La Cocotte Numérique (Murat)".
    site: str
    timezone: str
    #: The door (door alarms) or the device: its id.
    subject: str
    #: Its name from the sites file ("Porte d'entrée", "Boîtier de l'entrée"), if any.
    subject_name: str | None
    began_at: datetime
    #: Alarms standing for it (door alarms, lost events); 0 for the others.
    alarms: int


def alert(about: About, board_url: str | None) -> tuple[str, str]:
    return _render("incident.txt", about, board_url, reminder=False, now=about.began_at)


def reminder(about: About, board_url: str | None, now: datetime) -> tuple[str, str]:
    return _render("incident.txt", about, board_url, reminder=True, now=now)


def resolved(
    about: About, board_url: str | None, now: datetime, why: str | None = None
) -> tuple[str, str]:
    """The incident is over (at `now`): what ended it (`why`, a key of ENDED: its kind's
    end unless said otherwise) and how long it lasted."""
    return _render(
        "resolved.txt",
        about,
        board_url,
        reminder=False,
        now=now,
        ended=ENDED.get(why or about.kind, "L'incident a pris fin"),
        duration=duration(now - about.began_at),
    )


def duration(length: timedelta) -> str:
    """'moins d'une minute', '12 min', '2 h 05 min', '3 j 4 h': how long, to the minute (to
    the hour beyond a day)."""
    minutes = max(int(length.total_seconds()) // 60, 0)
    if minutes < 1:
        return "moins d'une minute"
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days} j {hours} h" if hours else f"{days} j"
    if hours:
        return f"{hours} h {minutes:02d} min" if minutes else f"{hours} h"
    return f"{minutes} min"


def _render(
    template: str,
    about: About,
    board_url: str | None,
    *,
    reminder: bool,
    now: datetime,
    **more: str,
) -> tuple[str, str]:
    return TEMPLATES.render(
        template,
        reminder=reminder,
        title=TITLES.get(about.kind, about.kind),
        advice=ADVICE.get(about.kind, ""),
        site=about.site,
        what="Porte" if about.kind in DOOR_KINDS else "Boîtier",
        named=about.subject_name or about.subject,
        about=about,
        now=now,
        board_url=board_url,
        **more,
    )
