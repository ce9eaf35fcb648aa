"""Incidents and the e-mails they queue, scan by scan at chosen moments, on SQLite and
PostgreSQL: who hears of what, quiet hours, hourly reminders, incidents that end."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hub.alerts.incidents import AlertScanner
from hub.config import Alerts
from hub.people import users
from hub.people.imports import import_sites
from hub.store.models import (
    AccessListVersion,
    Alarm,
    AlertIncident,
    Device,
    Event,
    MailMessage,
)
from tests.console import add_user
from tests.servers import REPO

#: A Tuesday, 03:12 in Murat (UTC+1 in December).
NIGHT = datetime(2026, 12, 8, 2, 12, tzinfo=UTC)
BOARD = "https://hub.example"
#: The door as the sites file names it, and its site with its town.
FORCED = "Porte forcée : Porte d'entrée – La Cocotte Numérique (Murat)"


@pytest.fixture
def store(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    with sessions.begin() as session:
        import_sites(session, (REPO / "deploy" / "demo" / "sites.yaml").read_text("utf-8"))
    add_user(sessions, "lea", "animator", ["murat"], email="lea@murat.example")
    add_user(sessions, "marc", "animator", ["mauriac"], email="marc@mauriac.example")
    add_user(sessions, "dina", "department", email="dina@cantal.example")
    return sessions


def scanner(store: sessionmaker[Session], **settings: object) -> AlertScanner:
    return AlertScanner(store, Alerts.model_validate(settings), BOARD)


def alarm(
    store: sessionmaker[Session],
    at: datetime,
    door: str = "main",
    n: int = 0,
    kind: str = "door_forced",
) -> None:
    with store.begin() as session:
        session.add(
            Alarm(
                event_id=f"e-{door}-{at.isoformat()}-{n}",
                site_id="murat",
                device="murat-door",
                door=door,
                kind=kind,
                at=at,
                received_at=at,
            )
        )


def door_closed(store: sessionmaker[Session], at: datetime, door: str = "main") -> None:
    """The door's own event, as the ingest stores it."""
    with store.begin() as session:
        session.add(
            Event(
                id=f"closed-{door}-{at.isoformat()}", site="murat", device="murat-door", seq=9,
                type="door", ts=at, ts_offset_min=60, clock_synced=True, door=door,
                state="closed", payload="{}",
            )
        )  # fmt: skip


def queued(store: sessionmaker[Session]) -> list[tuple[str, str, datetime]]:
    with store() as session:
        rows = session.scalars(select(MailMessage).order_by(MailMessage.id))
        return [(m.to_address, m.subject, m.next_attempt_at) for m in rows]


def deliver_all(store: sessionmaker[Session], at: datetime) -> None:
    """As the mail thread would: every waiting message handed to the server."""
    with store.begin() as session:
        for message in session.scalars(select(MailMessage).where(MailMessage.sent_at.is_(None))):
            message.sent_at = at


def test_one_incident_tells_the_sites_animator_once_however_many_alarms(
    store: sessionmaker[Session],
) -> None:
    scan = scanner(store)
    for n in range(10):
        alarm(store, NIGHT + timedelta(seconds=5 * n), n=n)
        scan(NIGHT + timedelta(seconds=5 * n + 1))
    assert queued(store) == [
        (
            "lea@murat.example",
            FORCED,
            NIGHT + timedelta(seconds=1),
        )
    ]


def test_department_users_hear_only_of_what_they_chose_and_animators_can_opt_out(
    store: sessionmaker[Session],
) -> None:
    with store.begin() as session:
        dina = users.account_by_login(session, "dina")
        lea = users.account_by_login(session, "lea")
        assert dina is not None and lea is not None and dina.alert_kinds == ()
        assert "door_forced" in lea.alert_kinds
        users.set_alert_choices(
            session, dina.id, kinds=["door_forced"], quiet_start=None, quiet_end=None
        )
        users.set_alert_choices(
            session, lea.id, kinds=["door_offline"], quiet_start=None, quiet_end=None
        )
    alarm(store, NIGHT)
    scanner(store, department_email="alertes@cantal.example")(NIGHT)
    assert sorted(to for to, _, _ in queued(store)) == [
        "alertes@cantal.example",
        "dina@cantal.example",
    ]


def test_quiet_hours_hold_a_message_until_they_end(store: sessionmaker[Session]) -> None:
    with store.begin() as session:
        lea = users.account_by_login(session, "lea")
        assert lea is not None
        users.set_alert_choices(
            session,
            lea.id,
            kinds=["door_forced"],
            quiet_start=time(22, 0),
            quiet_end=time(7, 30),
        )
    alarm(store, NIGHT)
    scanner(store, department_email="alertes@cantal.example")(NIGHT)
    release = datetime(2026, 12, 8, 6, 30, tzinfo=UTC)  # 07:30 in Murat
    assert sorted(queued(store)) == [
        ("alertes@cantal.example", FORCED, NIGHT),
        ("lea@murat.example", FORCED, release),
    ]
    # The department's message leaves; an hour later, still going on: the department is
    # reminded, Léa, whose first message still waits for the end of her quiet hours, is not.
    with store.begin() as session:
        sent = session.scalars(
            select(MailMessage).where(MailMessage.to_address == "alertes@cantal.example")
        ).one()
        sent.sent_at = NIGHT + timedelta(seconds=1)
    scanner(store, department_email="alertes@cantal.example")(NIGHT + timedelta(minutes=61))
    subjects = [(to, subject) for to, subject, _ in queued(store)]
    assert (
        subjects.count(
            (
                "alertes@cantal.example",
                "Toujours en cours : " + FORCED,
            )
        )
        == 1
    )
    assert [to for to, _ in subjects].count("lea@murat.example") == 1


def test_reminders_at_most_hourly_while_it_stands_and_none_once_acknowledged(
    store: sessionmaker[Session],
) -> None:
    scan = scanner(store)
    alarm(store, NIGHT)
    for minutes in (0, 30, 59, 60, 61, 90, 119, 120):
        scan(NIGHT + timedelta(minutes=minutes))
        deliver_all(store, NIGHT + timedelta(minutes=minutes))
    subjects = [subject for _, subject, _ in queued(store)]
    assert subjects == [
        FORCED,
        "Toujours en cours : " + FORCED,
        "Toujours en cours : " + FORCED,
    ]
    with store.begin() as session:
        for row in session.scalars(select(Alarm)):
            row.acknowledged_at = NIGHT + timedelta(minutes=121)
    scan(NIGHT + timedelta(minutes=122))
    scan(NIGHT + timedelta(minutes=300))
    # No more reminders: one "retour à la normale", once.
    assert [subject for _, subject, _ in queued(store)][3:] == ["Retour à la normale : " + FORCED]
    with store() as session:
        incident = session.scalars(select(AlertIncident)).one()
        assert incident.resolved_at is not None and incident.open_key is None
        assert incident.reminders == 2
    # A new alarm afterwards is a new incident, told again.
    alarm(store, NIGHT + timedelta(minutes=301))
    scan(NIGHT + timedelta(minutes=302))
    assert len(queued(store)) == 5


def test_a_door_offline_longer_than_the_limit_is_an_alert(store: sessionmaker[Session]) -> None:
    with store.begin() as session:
        session.add(Device(id="murat-door", site="murat", state="offline", last_seen=NIGHT))
    scan = scanner(store, door_offline_min=20)
    scan(NIGHT + timedelta(minutes=19))
    assert queued(store) == []
    scan(NIGHT + timedelta(minutes=20))
    [(to, subject, _)] = queued(store)
    assert (to, subject) == (
        "lea@murat.example",
        "Porte hors ligne : Boîtier de l'entrée – La Cocotte Numérique (Murat)",
    )
    with store.begin() as session:
        device = session.get(Device, "murat-door")
        assert device is not None
        device.state = "online"
    scan(NIGHT + timedelta(minutes=21))
    with store() as session:
        assert session.scalars(select(AlertIncident.resolved_at)).one() is not None


def test_the_message_says_what_where_since_when_and_where_to_act(
    store: sessionmaker[Session],
) -> None:
    alarm(store, NIGHT)
    alarm(store, NIGHT + timedelta(seconds=20), n=1)
    scanner(store)(NIGHT + timedelta(seconds=30))
    with store() as session:
        body = session.scalars(select(MailMessage.body)).one()
    assert "Porte forcée le mardi 8 décembre 2026 à 03:12." in body
    assert "Site : La Cocotte Numérique (Murat)" in body
    assert "Alarmes en attente : 2" in body
    assert f"Tableau de bord : {BOARD}/" in body


def test_a_door_behind_on_its_access_list_is_an_alert_unless_it_is_offline(
    store: sessionmaker[Session],
) -> None:
    with store.begin() as session:
        session.add(
            AccessListVersion(site_id="murat", version=200, issued=NIGHT - timedelta(hours=1))
        )
        session.add(Device(id="murat-door", site="murat", state="online", last_seen=NIGHT,
                           access_version=100))  # fmt: skip
        session.add(Device(id="murat-back", site="murat", state="offline",
                           last_seen=NIGHT - timedelta(hours=2), access_version=100))  # fmt: skip
    scanner(store)(NIGHT)
    assert sorted(subject for _, subject, _ in queued(store)) == [
        "Porte avec une ancienne liste d'accès : Boîtier de l'entrée – "
        "La Cocotte Numérique (Murat)",
        "Porte hors ligne – La Cocotte Numérique (Murat)",
    ]
    with store() as session:
        kinds = {(i.kind, i.subject) for i in session.scalars(select(AlertIncident))}
    assert kinds == {("access_list_behind", "murat-door"), ("door_offline", "murat-back")}


def test_a_door_back_online_is_told_once_with_how_long_it_was_offline(
    store: sessionmaker[Session],
) -> None:
    with store.begin() as session:
        session.add(Device(id="murat-door", site="murat", state="offline", last_seen=NIGHT))
    scan = scanner(store, door_offline_min=20, department_email="alertes@cantal.example")
    scan(NIGHT + timedelta(minutes=20))
    with store.begin() as session:
        device = session.get(Device, "murat-door")
        assert device is not None
        device.state = "online"
    back = NIGHT + timedelta(hours=2, minutes=5)
    for minutes in (0, 1, 90):
        scan(back + timedelta(minutes=minutes))
    subject = (
        "Retour à la normale : Porte hors ligne : Boîtier de l'entrée – "
        "La Cocotte Numérique (Murat)"
    )
    assert sorted((to, s, at) for to, s, at in queued(store) if s.startswith("Retour")) == [
        ("alertes@cantal.example", subject, back),
        ("lea@murat.example", subject, back),
    ]
    with store() as session:
        body = session.scalars(
            select(MailMessage.body).where(MailMessage.subject == subject)
        ).first()
    assert body is not None
    assert body.startswith(
        "Le boîtier joint de nouveau le serveur le mardi 8 décembre 2026 à 05:17. Fin de "
        "l'incident « porte hors ligne » commencé le mardi 8 décembre 2026 à 03:12."
    )
    assert "Durée : 2 h 05 min." in body
    assert "Boîtier : Boîtier de l'entrée" in body and "murat-door" not in body
    assert "Site : La Cocotte Numérique (Murat)" in body


def test_the_end_reaches_someone_in_quiet_hours_after_the_alert_they_still_wait_for(
    store: sessionmaker[Session],
) -> None:
    with store.begin() as session:
        lea = users.account_by_login(session, "lea")
        assert lea is not None
        users.set_alert_choices(
            session, lea.id, kinds=["door_forced"], quiet_start=time(22, 0), quiet_end=time(7, 30)
        )
    alarm(store, NIGHT)
    scan = scanner(store)
    scan(NIGHT)
    with store.begin() as session:
        for row in session.scalars(select(Alarm)):
            row.acknowledged_at = NIGHT + timedelta(minutes=10)
    scan(NIGHT + timedelta(minutes=11))
    release = datetime(2026, 12, 8, 6, 30, tzinfo=UTC)  # 07:30 in Murat
    assert queued(store) == [
        ("lea@murat.example", FORCED, release),
        ("lea@murat.example", "Retour à la normale : " + FORCED, release),
    ]


def test_a_door_the_sites_file_does_not_name_is_named_by_its_id(
    store: sessionmaker[Session],
) -> None:
    alarm(store, NIGHT, door="back")
    scanner(store)(NIGHT)
    with store() as session:
        [message] = session.scalars(select(MailMessage)).all()
    assert message.subject == "Porte forcée – La Cocotte Numérique (Murat)"
    assert "Porte : back" in message.body


def test_a_door_held_open_that_closes_again_is_told_closed_while_its_alarm_stands(
    store: sessionmaker[Session],
) -> None:
    alarm(store, NIGHT, kind="door_held_open")
    scan = scanner(store)
    scan(NIGHT)
    door_closed(store, NIGHT - timedelta(minutes=1))  # an earlier close ends nothing
    scan(NIGHT + timedelta(minutes=1))
    door_closed(store, NIGHT + timedelta(minutes=7))
    scan(NIGHT + timedelta(minutes=7, seconds=5))
    scan(NIGHT + timedelta(minutes=90))  # no reminder: it is over
    held = "Porte restée ouverte : Porte d'entrée – La Cocotte Numérique (Murat)"
    assert [subject for _, subject, _ in queued(store)] == [held, "Retour à la normale : " + held]
    with store() as session:
        body = session.scalars(select(MailMessage.body).order_by(MailMessage.id.desc())).first()
        standing = session.scalars(select(Alarm.acknowledged_at)).all()
    assert body is not None and body.startswith(
        "La porte est refermée (l'alarme reste à prendre en compte sur le tableau de bord) le "
        "mardi 8 décembre 2026 à 03:19."
    )
    assert "Durée : 7 min." in body
    assert standing == [None]  # still on the board, for someone to acknowledge
    # Held open again: a new alarm, a new incident.
    alarm(store, NIGHT + timedelta(minutes=100), kind="door_held_open")
    scan(NIGHT + timedelta(minutes=100))
    assert len(queued(store)) == 3


def test_a_door_held_open_acknowledged_before_it_closes_says_so(
    store: sessionmaker[Session],
) -> None:
    alarm(store, NIGHT, kind="door_held_open")
    scan = scanner(store)
    scan(NIGHT)
    with store.begin() as session:
        for row in session.scalars(select(Alarm)):
            row.acknowledged_at = NIGHT + timedelta(minutes=3)
    scan(NIGHT + timedelta(minutes=3))
    with store() as session:
        body = session.scalars(select(MailMessage.body).order_by(MailMessage.id.desc())).first()
    assert body is not None
    assert body.startswith("L'alarme a été prise en compte sur le tableau de bord le ")
