"""The edge's command gate (edge/commands.py) when the wall clock is stepped: an obeyed
command's id is kept for its validity on the monotonic clock, so no NTP step, forward or
back, lets its replay through; past it, the signed expiry refuses it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from edge.commands import CommandGate, CommandRefused
from tests.keys import TRUSTED, signed_command

SITE, DEVICE = "murat", "murat-door"
T = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)  # the true time the hub issued the command at


class Monotonic:
    """Seconds since boot, set by the test (NTP never steps it)."""

    def __init__(self) -> None:
        self.seconds = 1000.0

    def __call__(self) -> float:
        return self.seconds


def _admit(gate: CommandGate, payload: bytes, wall: datetime) -> str:
    try:
        gate.admit(payload, retained=False, now=wall, clock_synced=True)
    except CommandRefused as refused:
        return str(refused)
    return "obeyed"


def test_a_wall_clock_stepped_back_reopens_no_replay_window() -> None:
    """Obeyed at T; the wall clock jumps 40 s ahead while another command comes (a gate
    forgetting ids by the wall clock forgot the first one then); NTP steps it back to the
    true time, where the first command's signed expiry is still to come: its replay is
    refused as long as it could pass that expiry, then as expired."""
    monotonic = Monotonic()
    gate = CommandGate(TRUSTED, SITE, DEVICE, monotonic=monotonic)
    monotonic.seconds += 1  # the agent started a second before
    first = signed_command(SITE, DEVICE, issued=T, command_id="c-1")  # valid 30 s
    assert _admit(gate, first, T) == "obeyed"
    monotonic.seconds += 5
    other = signed_command(SITE, DEVICE, issued=T + timedelta(seconds=35), command_id="c-2")
    assert _admit(gate, other, T + timedelta(seconds=40)) == "obeyed"
    monotonic.seconds += 5
    stepped = T + timedelta(seconds=10)  # 10 s on (the agent started 11 s ago), stepped back
    assert _admit(gate, first, stepped) == "command c-1 was obeyed already: a replay"
    monotonic.seconds += 30  # 40 s after it was obeyed: its validity is over on any clock
    wall = T + timedelta(seconds=40)
    assert _admit(gate, first, wall) == f"expired at {(T + timedelta(seconds=30)).isoformat()}"


def test_an_id_is_forgotten_once_its_validity_is_over_on_the_monotonic_clock() -> None:
    """Ids do not pile up: past its validity (and the clocks' skew), an id is dropped; a
    command whose signed expiry has passed stays refused."""
    monotonic = Monotonic()
    gate = CommandGate(TRUSTED, SITE, DEVICE, monotonic=monotonic)
    monotonic.seconds += 1
    assert _admit(gate, signed_command(SITE, DEVICE, issued=T, command_id="a"), T) == "obeyed"
    monotonic.seconds += 41
    later = T + timedelta(seconds=41)
    fresh = signed_command(SITE, DEVICE, issued=later, command_id="b")
    assert _admit(gate, fresh, later) == "obeyed"
    assert list(gate._seen) == ["b"]
    stale = signed_command(SITE, DEVICE, issued=T, command_id="a")
    assert _admit(gate, stale, later).startswith("expired at")
