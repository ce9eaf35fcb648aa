"""Sessions keep their identity (issue 13), on both databases: a session closed by a tap, or
made again by a late tap, keeps the id an API client or a console form knows it by; a
correction about a session that changed meanwhile answers 409 with what it is now, the
person's reason kept, never 404."""

from __future__ import annotations

import re

from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker

from hub.presence.engine import Presence
from tests.console import add_user, client_sign_in, csrf_token
from tests.integration.test_console_french import visible
from tests.integration.test_final_sessions import (
    _ids,
    api,
    badge,
    client_for,
    days_ago,
    ingest,
    presence,
    rows,
    store,
)

__all__ = ["presence", "store"]  # fixtures


def test_a_session_keeps_its_id_when_taps_close_it_or_arrive_late(
    store: sessionmaker[Session], presence: Presence
) -> None:
    ingest(store, presence, badge("M001", days_ago(1, "09:00"), "in"))
    (opened,) = _ids(store, "M001")
    ingest(store, presence, badge("M001", days_ago(1, "12:00"), "out"))
    assert _ids(store, "M001") == [opened]
    # A late tap out at 10:00 (the edge was offline): the same session ends earlier...
    ingest(store, presence, badge("M001", days_ago(1, "10:00"), "out"))
    assert _ids(store, "M001") == [opened]
    assert rows(store, "M001")[0][1:3] == (days_ago(1, "09:00"), days_ago(1, "10:00"))
    # ...and one seen at Ydes at 09:30 cuts it there: still the same session.
    ingest(store, presence, badge("M001", days_ago(1, "09:30"), "in", site="ydes"))
    murat = [r for r in rows(store, "M001") if r[0] == "murat"]
    assert murat[0][2] == days_ago(1, "09:30") and murat[0][4] == "elsewhere"
    assert opened in _ids(store, "M001")


def test_an_api_correction_of_a_session_that_changed_answers_409_with_what_it_is(
    store: sessionmaker[Session], presence: Presence
) -> None:
    ingest(store, presence, badge("M001", days_ago(1, "09:00"), "in"))
    (opened,) = _ids(store, "M001")
    client = client_for(store, presence)
    fix = {"start": days_ago(1, "08:30").isoformat(), "reason": "arrivée plus tôt"}
    status, seen = api(client, "PATCH", f"sessions/{opened}", json=fix | {"end": None})
    assert status == 200 and seen["end"] is None
    ingest(store, presence, badge("M001", days_ago(1, "12:00"), "out"))  # closes it
    out = {"at": days_ago(1, "11:00").isoformat(), "reason": "oubli"}
    status, answer = api(client, "POST", f"sessions/{opened}/check-out", json=out)
    assert status == 409, answer
    assert answer["session"]["id"] == opened and answer["session"]["end_reason"] == "tap"
    stale = fix | {"seen": seen["version"], "end": days_ago(1, "11:00").isoformat()}
    status, answer = api(client, "PATCH", f"sessions/{opened}", json=stale)
    assert status == 409 and answer["session"]["end"] is not None
    fresh = stale | {"seen": answer["session"]["version"]}
    status, answer = api(client, "PATCH", f"sessions/{opened}", json=fresh)
    assert status == 200 and answer["end_reason"] == "manual"


def test_a_stale_check_out_form_gets_409_with_the_session_now_and_the_reason_kept(
    store: sessionmaker[Session], presence: Presence
) -> None:
    ingest(store, presence, badge("M001", days_ago(1, "09:00"), "in"))
    (opened,) = _ids(store, "M001")
    add_user(store, "lea", "animator", ["murat"])
    client: FlaskClient = client_for(store, presence)
    assert client_sign_in(client, "lea") == 302
    path = f"/sessions/{opened}/check-out"
    form = client.get(path).text
    seen = re.search(r'name="seen" type="hidden" value="([^"]*)"', form) or re.search(
        r'type="hidden" name="seen" value="([^"]*)"', form
    )
    assert seen is not None and seen.group(1)
    ingest(store, presence, badge("M001", days_ago(1, "12:00"), "out"))  # meanwhile
    sent = {
        "csrf_token": csrf_token(form),
        "seen": seen.group(1),
        "at": days_ago(1, "11:00").strftime("%Y-%m-%dT%H:%M"),
        "reason": "Parti sans badger, vu par l'animatrice",
    }
    answer = client.post(path, data=sent)
    assert answer.status_code == 409
    text = visible(answer.text)
    assert "La présence a changé" in text and "(badge)" in text
    assert "Parti sans badger, vu par l&#39;animatrice" in answer.text or (
        "Parti sans badger, vu par l'animatrice" in answer.text
    )
    assert rows(store, "M001")[0][4] == "tap"  # nothing written
