"""Deciding taps on the edge from the last applied access list (edge/access.py)."""

from __future__ import annotations

import errno
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from edge.access import AccessRules, Decision
from telecentre import wire
from tests.keys import TRUSTED, signed

PARIS = ZoneInfo("Europe/Paris")
SITE = "murat"
ALWAYS = "04A2B3C4D5E6F7"  # hours: always
OPENING = "0A1B2C3D"  # hours: opening
OPENING_HOURS = {"mon": ["08:30-12:00", "13:30-17:00"], "sat": ["00:00-24:00"]}
GRANTED = Decision(True, None)


def paris(text: str) -> datetime:
    """Paris wall-clock time; 2026-11-23 is a Monday (winter: UTC+1)."""
    return datetime.fromisoformat(text).replace(tzinfo=PARIS)


MONDAY_10 = paris("2026-11-23 10:00")


def denied(reason: str) -> Decision:
    return Decision(False, reason)  # type: ignore[arg-type]


def access_list(
    version: int = 1,
    badges: list[dict[str, Any]] | None = None,
    site: str = SITE,
    **extra: Any,
) -> bytes:
    if badges is None:
        badges = [
            {"badge": ALWAYS, "until": None, "hours": "always"},
            {"badge": OPENING, "until": None, "hours": "opening"},
        ]
    payload = {
        "v": 1,
        "site": site,
        "version": version,
        "issued": "2026-11-22T08:00:00+01:00",
        "opening": OPENING_HOURS,
        "badges": badges,
    } | extra
    return signed(payload)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "access.json"


@pytest.fixture
def rules(path: Path) -> AccessRules:
    rules = AccessRules(path, TRUSTED)
    assert rules.apply(access_list(), SITE) == "applied"
    return rules


def test_without_a_list_every_badge_is_denied_as_unknown(path: Path) -> None:
    rules = AccessRules(path, TRUSTED)
    assert rules.version is None
    assert rules.decide(ALWAYS, MONDAY_10) == denied("unknown")
    assert not path.exists()


def test_unknown_badge_is_denied(rules: AccessRules) -> None:
    assert rules.decide("DEADBEEF", MONDAY_10) == denied("unknown")


@pytest.mark.parametrize(
    "when",
    [
        MONDAY_10,
        paris("2026-11-23 03:00"),  # night
        paris("2026-11-24 10:00"),  # Tuesday: closed
        paris("2026-11-22 12:00"),  # Sunday
        datetime(2026, 11, 23, 12, 45, tzinfo=UTC),  # lunch break
    ],
)
def test_always_badge_is_granted_at_any_hour(rules: AccessRules, when: datetime) -> None:
    assert rules.decide(ALWAYS, when) == GRANTED


@pytest.mark.parametrize(
    ("when", "open_"),
    [
        (paris("2026-11-23 08:29"), False),
        (paris("2026-11-23 08:30"), True),  # start included
        (MONDAY_10, True),
        (paris("2026-11-23 11:59:59"), True),
        (paris("2026-11-23 12:00"), False),  # end excluded
        (paris("2026-11-23 12:30"), False),  # lunch break
        (paris("2026-11-23 13:30"), True),
        (paris("2026-11-23 16:59"), True),
        (paris("2026-11-23 17:00"), False),
        (paris("2026-11-23 22:00"), False),
        (paris("2026-11-24 10:00"), False),  # Tuesday: not listed, closed
        (paris("2026-11-28 00:00"), True),  # Saturday 00:00-24:00
        (paris("2026-11-28 23:59:59.999"), True),
    ],
)
def test_opening_badge_is_granted_only_inside_opening_hours(
    rules: AccessRules, when: datetime, open_: bool
) -> None:
    expected = GRANTED if open_ else denied("outside_hours")
    assert rules.decide(OPENING, when) == expected


def test_opening_hours_are_site_local_time_whatever_the_zone_of_the_tap(
    rules: AccessRules,
) -> None:
    # 07:45 UTC is 08:45 in Paris in November: open; 16:30 UTC is 17:30 in Paris: closed.
    assert rules.decide(OPENING, datetime(2026, 11, 23, 7, 45, tzinfo=UTC)) == GRANTED
    assert rules.decide(OPENING, datetime(2026, 11, 23, 16, 30, tzinfo=UTC)) == denied(
        "outside_hours"
    )
    # Summer time: 2026-06-01 is a Monday, Paris is UTC+2; 06:45 UTC is 08:45 there.
    assert rules.decide(OPENING, datetime(2026, 6, 1, 6, 45, tzinfo=UTC)) == GRANTED
    assert rules.decide(OPENING, datetime(2026, 6, 1, 6, 15, tzinfo=UTC)) == denied("outside_hours")


def test_list_time_zone_extension_is_used(path: Path) -> None:
    rules = AccessRules(path, TRUSTED)
    rules.apply(access_list(timezone="America/Cayenne"), SITE)  # UTC-3
    # Monday 10:00 in Paris is 06:00 in Cayenne: closed; Monday 14:00 UTC is 11:00 there.
    assert rules.decide(OPENING, MONDAY_10) == denied("outside_hours")
    assert rules.decide(OPENING, datetime(2026, 11, 23, 14, 0, tzinfo=UTC)) == GRANTED


def test_unknown_time_zone_is_a_protocol_error_and_the_old_list_stays(
    rules: AccessRules,
) -> None:
    with pytest.raises(wire.ProtocolError, match="field 'timezone'"):
        rules.apply(access_list(version=2, badges=[], timezone="Europe/Atlantis"), SITE)
    assert rules.version == 1
    assert rules.decide(OPENING, MONDAY_10) == GRANTED


def test_closed_day_denies_opening_badges_but_not_always_badges(path: Path) -> None:
    rules = AccessRules(path, TRUSTED)
    rules.apply(access_list(closed=["2026-11-23", "2026-12-25"]), SITE)
    assert rules.decide(OPENING, MONDAY_10) == denied("outside_hours")
    assert rules.decide(ALWAYS, MONDAY_10) == GRANTED
    # The next Monday is open again.
    assert rules.decide(OPENING, paris("2026-11-30 10:00")) == GRANTED


def test_until_is_the_last_valid_day_inclusive(path: Path) -> None:
    rules = AccessRules(path, TRUSTED)
    rules.apply(
        access_list(
            badges=[
                {"badge": ALWAYS, "until": "2026-11-23", "hours": "always"},
                {"badge": OPENING, "until": "2026-11-23", "hours": "opening"},
            ]
        ),
        SITE,
    )
    assert rules.decide(ALWAYS, paris("2026-11-23 00:00")) == GRANTED
    assert rules.decide(ALWAYS, paris("2026-11-23 23:59:59")) == GRANTED
    assert rules.decide(OPENING, MONDAY_10) == GRANTED
    assert rules.decide(ALWAYS, paris("2026-11-24 00:00")) == denied("expired")
    assert rules.decide(ALWAYS, paris("2026-12-30 10:00")) == denied("expired")
    # The local date counts: 23:30 UTC on the 23rd is already the 24th in Paris.
    assert rules.decide(ALWAYS, datetime(2026, 11, 23, 23, 30, tzinfo=UTC)) == denied("expired")
    # Expired beats outside hours: the member needs to renew, not to come back later.
    assert rules.decide(OPENING, paris("2026-11-24 22:00")) == denied("expired")


def test_badge_is_matched_in_any_spelling(rules: AccessRules) -> None:
    assert rules.decide("0a:1b:2c:3d", MONDAY_10) == GRANTED
    assert rules.decide("04a2b3c4d5e6f7", MONDAY_10) == GRANTED


def test_list_badges_are_normalised_too(path: Path) -> None:
    rules = AccessRules(path, TRUSTED)
    rules.apply(access_list(badges=[{"badge": "de:ad:be:ef", "hours": "always"}]), SITE)
    assert rules.decide("DEADBEEF", MONDAY_10) == GRANTED


def test_badge_removed_in_a_newer_version_is_revoked(rules: AccessRules) -> None:
    assert rules.apply(access_list(version=2, badges=[{"badge": ALWAYS, "hours": "always"}]), SITE)
    assert rules.version == 2
    assert rules.decide(OPENING, MONDAY_10) == denied("revoked")
    assert rules.decide(ALWAYS, MONDAY_10) == GRANTED
    assert rules.decide("DEADBEEF", MONDAY_10) == denied("unknown")
    # Still revoked two versions later, and granted again once the hub puts it back.
    rules.apply(access_list(version=3, badges=[{"badge": ALWAYS, "hours": "always"}]), SITE)
    assert rules.decide(OPENING, MONDAY_10) == denied("revoked")
    rules.apply(access_list(version=4), SITE)
    assert rules.decide(OPENING, MONDAY_10) == GRANTED


def test_stale_versions_are_not_applied(rules: AccessRules) -> None:
    newer = access_list(version=5, badges=[{"badge": ALWAYS, "hours": "always"}])
    assert rules.apply(newer, SITE) == "applied"
    assert rules.apply(newer, SITE) == "stale"  # the retained list again, at reconnect
    equal = access_list(version=5, badges=[{"badge": "DEADBEEF", "hours": "always"}])
    assert rules.apply(equal, SITE) == "stale"
    lower = access_list(version=4, badges=[{"badge": "CAFEBABE", "hours": "always"}])
    assert rules.apply(lower, SITE) == "stale"
    assert rules.version == 5
    assert rules.decide("DEADBEEF", MONDAY_10) == denied("unknown")
    assert rules.decide("CAFEBABE", MONDAY_10) == denied("unknown")
    assert rules.decide(ALWAYS, MONDAY_10) == GRANTED


def test_version_zero_is_applied_first(path: Path) -> None:
    rules = AccessRules(path, TRUSTED)
    assert rules.apply(access_list(version=0), SITE) == "applied"
    assert rules.version == 0


@pytest.mark.parametrize(
    "payload",
    [
        b"{not json",
        b"[]",
        access_list(version=-1),
        access_list(version=2, badges=[{"badge": "not-a-badge"}]),
        access_list(version=2, opening={"mon": ["18:00-17:00"]}),
        access_list(version=2, opening={"monday": ["08:00-17:00"]}),
    ],
)
def test_malformed_list_raises_and_the_old_list_stays(
    rules: AccessRules, path: Path, payload: bytes
) -> None:
    saved = path.read_bytes()
    with pytest.raises(wire.ProtocolError):
        rules.apply(payload, SITE)
    assert rules.version == 1
    assert rules.decide(OPENING, MONDAY_10) == GRANTED
    assert path.read_bytes() == saved
    assert AccessRules(path, TRUSTED).version == 1


def test_list_that_cannot_be_saved_raises_and_the_old_list_stays(
    rules: AccessRules, path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SD card full: the new list is not in force (after a restart it would not be either),
    and its half-written copy does not keep the space."""
    saved = path.read_bytes()

    def disk_full(_fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space left"):
        rules.apply(access_list(version=2, badges=[]), SITE)
    monkeypatch.undo()
    assert rules.version == 1
    assert rules.decide(ALWAYS, MONDAY_10) == GRANTED
    assert path.read_bytes() == saved
    assert not path.with_suffix(".tmp").exists()
    assert rules.apply(access_list(version=2, badges=[]), SITE) == "applied"
    assert rules.decide(ALWAYS, MONDAY_10) == denied("revoked")


def test_list_for_another_site_is_rejected(rules: AccessRules, path: Path) -> None:
    other = access_list(version=9, badges=[{"badge": "DEADBEEF", "hours": "always"}], site="sf")
    with pytest.raises(wire.ProtocolError) as caught:
        rules.apply(other, SITE)
    assert str(caught.value) == "field 'site': list for 'sf', this is 'murat'"
    assert rules.version == 1
    assert rules.decide("DEADBEEF", MONDAY_10) == denied("unknown")
    assert AccessRules(path, TRUSTED).version == 1


def test_a_new_instance_on_the_same_path_decides_the_same(rules: AccessRules, path: Path) -> None:
    rules.apply(
        access_list(
            version=7,
            badges=[{"badge": ALWAYS, "until": "2026-11-23", "hours": "always"}],
            closed=["2026-11-30"],
        ),
        SITE,
    )
    again = AccessRules(path, TRUSTED)
    assert again.version == 7
    cases = [
        (ALWAYS, MONDAY_10),
        (ALWAYS, paris("2026-11-24 10:00")),
        (OPENING, MONDAY_10),
        ("DEADBEEF", MONDAY_10),
    ]
    for badge, when in cases:
        assert again.decide(badge, when) == rules.decide(badge, when)
    assert again.decide(ALWAYS, MONDAY_10) == GRANTED
    assert again.decide(ALWAYS, paris("2026-11-24 10:00")) == denied("expired")
    assert again.decide(OPENING, MONDAY_10) == denied("revoked")  # remembered across restarts
    # ... and still revoked after the next list, applied by the new instance.
    assert again.apply(access_list(version=8, badges=[]), SITE) == "applied"
    assert again.decide(OPENING, MONDAY_10) == denied("revoked")
    assert again.decide(ALWAYS, MONDAY_10) == denied("revoked")
    assert again.apply(access_list(version=7), SITE) == "stale"


def test_unreadable_list_on_disk_denies_everything_until_a_list_arrives(path: Path) -> None:
    path.parent.mkdir(parents=True)
    path.write_bytes(b'{"list": {"v": 1, "site": "murat"')  # torn write (not our own: rename)
    rules = AccessRules(path, TRUSTED)
    assert rules.version is None
    assert rules.decide(ALWAYS, MONDAY_10) == denied("unknown")
    assert rules.apply(access_list(version=1), SITE) == "applied"
    assert rules.decide(ALWAYS, MONDAY_10) == GRANTED
    assert AccessRules(path, TRUSTED).version == 1


def test_saved_file_holds_the_list_and_the_revoked_badges(rules: AccessRules, path: Path) -> None:
    rules.apply(access_list(version=2, badges=[]), SITE)
    saved = json.loads(path.read_bytes())
    assert saved["list"]["version"] == 2
    assert saved["revoked"] == sorted([ALWAYS, OPENING])
    assert not path.with_suffix(".tmp").exists()


def test_a_100000_badge_list_applies_and_decides(path: Path) -> None:
    badges = [
        {"badge": f"{i:014X}", "until": "2026-12-31" if i % 2 else None, "hours": "always"}
        for i in range(100_000)
    ]
    badges[50_000] = {"badge": "CAFEBABE", "hours": "opening"}
    payload = access_list(version=3, badges=badges)
    assert len(payload) > 4 * 1024 * 1024
    rules = AccessRules(path, TRUSTED)
    assert rules.apply(payload, SITE) == "applied"
    assert rules.decide(f"{0:014X}", MONDAY_10) == GRANTED
    assert rules.decide(f"{99_999:014X}", MONDAY_10) == GRANTED
    assert rules.decide(f"{99_999:014X}", paris("2027-01-01 10:00")) == denied("expired")
    assert rules.decide(f"{99_998:014X}", paris("2027-01-01 10:00")) == GRANTED
    assert rules.decide("CAFEBABE", MONDAY_10) == GRANTED
    assert rules.decide("CAFEBABE", paris("2026-11-23 20:00")) == denied("outside_hours")
    assert rules.decide(f"{100_000:014X}", MONDAY_10) == denied("unknown")
    # The whole list is on disk and comes back after a restart.
    again = AccessRules(path, TRUSTED)
    assert again.version == 3
    assert again.decide(f"{77_777:014X}", MONDAY_10) == GRANTED
