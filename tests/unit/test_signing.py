"""Signed access lists (telecentre/signing.py) and the edge's rules for applying one
(edge/access.py): only a trusted key's signature, only a newer and bounded version."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from edge.access import MAX_VERSION_AHEAD, AccessRules, Decision, check_version
from edge.config import EdgeConfig
from telecentre import wire
from telecentre.config import ConfigError, load_config
from telecentre.signing import SigningKey, TrustedKeys
from tests.keys import FORGER_KEY, HUB_KEY, TRUSTED, signed

SITE = "murat"
MEMBER, FOREIGN = "04A2B3C4", "0F0F0F0F"
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
NOW_MS = int(NOW.timestamp() * 1000)
DAY_MS = 24 * 3600 * 1000


def payload(version: int, badges: list[str] = [MEMBER], site: str = SITE) -> dict[str, Any]:  # noqa: B006
    return {
        "v": 1,
        "site": site,
        "version": version,
        "issued": "2026-11-23T10:00:00+01:00",
        "badges": [{"badge": badge, "hours": "always"} for badge in badges],
    }


@pytest.fixture
def rules(tmp_path: Path) -> AccessRules:
    rules = AccessRules(tmp_path / "access.json", TRUSTED)
    assert rules.apply(signed(payload(NOW_MS)), SITE, now=NOW) == "applied"
    return rules


def refused(rules: AccessRules, body: bytes, match: str, clock_synced: bool = True) -> None:
    with pytest.raises(wire.ProtocolError, match=match):
        rules.apply(body, SITE, now=NOW, clock_synced=clock_synced)
    assert rules.version == NOW_MS
    assert rules.decide(FOREIGN, NOW) == Decision(False, "unknown")
    assert rules.decide(MEMBER, NOW) == Decision(True)


def test_a_list_signed_by_the_hub_is_applied(rules: AccessRules) -> None:
    assert rules.apply(signed(payload(NOW_MS + 1, [FOREIGN])), SITE, now=NOW) == "applied"
    assert rules.decide(FOREIGN, NOW) == Decision(True)
    assert rules.decide(MEMBER, NOW) == Decision(False, "revoked")


def test_an_unsigned_list_is_refused(rules: AccessRules) -> None:
    unsigned = json.dumps(payload(NOW_MS + 1, [FOREIGN])).encode()
    refused(rules, unsigned, "field 'sig': the list is not signed")


def test_a_list_changed_after_signing_is_refused(rules: AccessRules) -> None:
    data = json.loads(signed(payload(NOW_MS + 1)))
    data["badges"].append({"badge": FOREIGN, "hours": "always"})
    refused(rules, json.dumps(data).encode(), "the signature does not hold for key")


def test_a_signature_copied_onto_another_list_is_refused(rules: AccessRules) -> None:
    genuine = json.loads(signed(payload(NOW_MS + 1)))
    forged = payload(NOW_MS + 2, [FOREIGN]) | {"key_id": genuine["key_id"], "sig": genuine["sig"]}
    refused(rules, json.dumps(forged).encode(), "the signature does not hold")


def test_a_list_signed_by_a_key_the_edge_does_not_trust_is_refused(rules: AccessRules) -> None:
    forged = signed(payload(NOW_MS + 1, [FOREIGN]), key=FORGER_KEY)
    refused(rules, forged, f"signed by key '{FORGER_KEY.key_id}', which this edge does not trust")


def test_a_forger_naming_the_hub_key_id_is_refused(rules: AccessRules) -> None:
    data = json.loads(signed(payload(NOW_MS + 1, [FOREIGN]), key=FORGER_KEY))
    data["key_id"] = HUB_KEY.key_id  # the signature was made over the forger's key id
    refused(rules, json.dumps(data).encode(), "the signature does not hold")


@pytest.mark.parametrize("sig", ["", "not base64!", "AAAA", 12])
def test_a_garbled_signature_is_refused(rules: AccessRules, sig: object) -> None:
    data = json.loads(signed(payload(NOW_MS + 1, [FOREIGN])))
    data["sig"] = sig
    refused(rules, json.dumps(data).encode(), "sig")


def test_a_list_for_another_site_is_refused_even_signed(rules: AccessRules) -> None:
    other = signed(payload(NOW_MS + 1, [FOREIGN], site="ydes"))
    refused(rules, other, "field 'site': list for 'ydes', this is 'murat'")


@pytest.mark.parametrize("version", [2**63 + 5, 2**53, -1, 1.5e12, "99"])
def test_an_absurd_version_is_refused_by_the_wire(rules: AccessRules, version: object) -> None:
    refused(rules, signed(payload(0) | {"version": version}), "field 'version'")


def test_a_version_more_than_a_day_ahead_is_refused_and_revocation_still_works(
    rules: AccessRules,
) -> None:
    ahead = NOW_MS + DAY_MS + 1
    refused(rules, signed(payload(ahead, [MEMBER, FOREIGN])), "more than 1 day ahead")
    # The hub's next list, a revocation of MEMBER, is newer than the one in force: applied.
    assert rules.apply(signed(payload(NOW_MS + 5, [])), SITE, now=NOW) == "applied"
    assert rules.decide(MEMBER, NOW) == Decision(False, "revoked")


def test_a_version_within_a_day_ahead_is_applied(rules: AccessRules) -> None:
    ahead = NOW_MS + DAY_MS - 1000  # a hub clock some hours ahead is tolerated
    assert rules.apply(signed(payload(ahead)), SITE, now=NOW) == "applied"


def test_a_clock_gone_back_still_takes_the_next_lists_counted_from_the_one_in_force(
    rules: AccessRules,
) -> None:
    """A Pi booted at 1970 (no RTC, NTP not answering yet) with a list in force."""
    booted = datetime(1970, 1, 1, 0, 5, tzinfo=UTC)
    body = signed(payload(NOW_MS + DAY_MS - 1))
    assert rules.apply(body, SITE, now=booted, clock_synced=False) == "applied"
    too_far = signed(payload(NOW_MS + 2 * DAY_MS))
    with pytest.raises(wire.ProtocolError, match=r"1970-01-01 00:05 UTC, not synchronised"):
        rules.apply(too_far, SITE, now=booted, clock_synced=False)


@pytest.mark.parametrize(
    ("version", "floor", "in_force", "synced", "outcome"),
    [
        (NOW_MS, None, None, True, "newer"),
        (NOW_MS, NOW_MS - 1, NOW_MS - 1, True, "newer"),
        (NOW_MS, NOW_MS, NOW_MS, True, "stale"),  # the list in force, again
        (NOW_MS - 1, NOW_MS, NOW_MS, True, "stale"),  # an older one: never back
        # The floor is the door's, not the list's: after a reset below the list in force ...
        (NOW_MS - 5, NOW_MS - 10, NOW_MS + 3600, True, "newer"),
        (NOW_MS - 11, NOW_MS - 10, NOW_MS + 3600, True, "stale"),
        # ... or a power cut between raising the floor and saving that list.
        (NOW_MS, NOW_MS, NOW_MS - 1, True, "newer"),
        (NOW_MS + DAY_MS, NOW_MS, NOW_MS, True, "newer"),
        (NOW_MS + DAY_MS + 1, NOW_MS, NOW_MS, True, "refused"),
        (NOW_MS + DAY_MS + 1, None, None, True, "refused"),
        # A Pi at 1970 with no floor: nothing to judge by, the list waits for the clock.
        (NOW_MS, None, None, False, "held"),
        (1, None, None, False, "held"),
        (NOW_MS + DAY_MS + 1, NOW_MS, NOW_MS, False, "refused"),
        # A synchronised clock is the bound, even below a floor a little ahead ...
        (NOW_MS + DAY_MS + 2, NOW_MS + DAY_MS, NOW_MS + DAY_MS, True, "refused"),
        # ... one that is not: the later of it and the floor.
        (NOW_MS + 3 * DAY_MS, NOW_MS + 2 * DAY_MS, None, False, "newer"),
        (NOW_MS + 3 * DAY_MS + 1, NOW_MS + 2 * DAY_MS, None, False, "refused"),
        (1, None, None, True, "newer"),  # lists numbered 1, 2, … by an older hub
    ],
)
def test_version_rules(
    version: int, floor: int | None, in_force: int | None, synced: bool, outcome: str
) -> None:
    def check() -> str:
        return check_version(version, floor, now=NOW, clock_synced=synced, in_force=in_force)

    if outcome == "refused":
        with pytest.raises(wire.ProtocolError, match="day ahead of this edge's clock"):
            check()
    else:
        assert check() == outcome
    assert timedelta(days=1) == MAX_VERSION_AHEAD


def test_during_a_key_rotation_lists_signed_by_either_key_are_applied(tmp_path: Path) -> None:
    new_key = SigningKey.generate()
    trusted = TrustedKeys.from_texts([HUB_KEY.public_text, new_key.public_text])
    rules = AccessRules(tmp_path / "access.json", trusted)
    assert rules.apply(signed(payload(NOW_MS)), SITE, now=NOW) == "applied"
    assert rules.apply(signed(payload(NOW_MS + 1), key=new_key), SITE, now=NOW) == "applied"
    assert rules.apply(signed(payload(NOW_MS + 2), key=HUB_KEY), SITE, now=NOW) == "applied"


def test_a_reset_lets_the_next_lists_in_and_never_an_older_one(
    rules: AccessRules, tmp_path: Path
) -> None:
    """The reset after a hub clock that ran ahead: the door had accepted a version (within a
    day) that the corrected hub's lists are below. Lists issued before the reset, genuine
    and signed (one still grants a badge revoked since), stay refused."""
    captured = signed(payload(NOW_MS + 10, [MEMBER, FOREIGN]))  # FOREIGN, revoked since
    assert rules.apply(signed(payload(NOW_MS + DAY_MS // 2)), SITE, now=NOW) == "applied"
    corrected = signed(payload(NOW_MS + 20, [MEMBER]))
    assert rules.apply(corrected, SITE, now=NOW) == "stale"
    rules.reset_floor(NOW_MS + 15)  # the reset, at NOW + 15 ms
    assert rules.decide(MEMBER, NOW) == Decision(True)  # the list in force still decides
    with pytest.raises(wire.ProtocolError):  # a forged list is still refused
        rules.apply(signed(payload(NOW_MS + 30, [FOREIGN]), key=FORGER_KEY), SITE, now=NOW)
    after_restart = AccessRules(rules.path, TRUSTED)
    assert after_restart.floor == NOW_MS + 15
    assert after_restart.decide(MEMBER, NOW) == Decision(True)
    assert after_restart.apply(captured, SITE, now=NOW) == "stale"
    assert after_restart.apply(corrected, SITE, now=NOW) == "applied"
    assert after_restart.decide(FOREIGN, NOW) == Decision(False, "unknown")
    # Once applied, the floor is that list's: the captured one never gets in.
    assert after_restart.floor == NOW_MS + 20
    assert after_restart.apply(signed(payload(NOW_MS + 19)), SITE, now=NOW) == "stale"
    assert AccessRules(rules.path, TRUSTED).apply(captured, SITE, now=NOW) == "stale"
    assert AccessRules(rules.path, TRUSTED).apply(corrected, SITE, now=NOW) == "stale"


def test_a_fresh_pi_with_an_unsynced_clock_holds_the_list_until_it_is_or_an_operator_says(
    tmp_path: Path,
) -> None:
    booted = datetime(1970, 1, 1, 0, 5, tzinfo=UTC)
    rules = AccessRules(tmp_path / "access.json", TRUSTED)
    body = signed(payload(NOW_MS))
    assert rules.apply(body, SITE, now=booted, clock_synced=False) == "held"
    assert rules.held == body and rules.version is None
    assert rules.decide(MEMBER, booted) == Decision(False, "unknown")
    assert rules.apply(body, SITE, now=NOW, clock_synced=True) == "applied"  # NTP answered
    assert rules.held is None and rules.version == NOW_MS
    # The operator's confirmation instead: a floor, then lists from it on are judged by it.
    other = AccessRules(tmp_path / "other" / "access.json", TRUSTED)
    other.reset_floor(NOW_MS)
    assert other.apply(signed(payload(NOW_MS - 1)), SITE, now=booted, clock_synced=False) == (
        "stale"
    )
    assert other.apply(body, SITE, now=booted, clock_synced=False) == "applied"


def test_a_list_changed_on_disk_is_refused_at_start(rules: AccessRules, tmp_path: Path) -> None:
    saved = json.loads(rules.path.read_bytes())
    saved["list"]["badges"].append({"badge": FOREIGN, "hours": "always"})
    rules.path.write_text(json.dumps(saved))
    again = AccessRules(rules.path, TRUSTED)
    assert again.version is None
    assert again.decide(FOREIGN, NOW) == Decision(False, "unknown")
    assert again.floor == NOW_MS  # the floor file still holds: no list below it gets in
    assert again.apply(signed(payload(NOW_MS - 1)), SITE, now=NOW) == "stale"


def test_the_edge_writes_its_list_and_floor_for_its_owner_only(tmp_path: Path) -> None:
    rules = AccessRules(tmp_path / "state" / "access.json", TRUSTED)
    assert rules.apply(signed(payload(NOW_MS)), SITE, now=NOW) == "applied"
    for path in (rules.path, rules.floor_path, rules.path.parent):
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path


def test_an_edge_with_no_trusted_key_refuses_every_list(tmp_path: Path) -> None:
    rules = AccessRules(tmp_path / "access.json", TrustedKeys.from_texts([]))
    with pytest.raises(wire.ProtocolError, match=r"does not trust \(trusted: none\)"):
        rules.apply(signed(payload(NOW_MS)), SITE, now=NOW)
    assert rules.version is None


def test_what_is_signed_does_not_depend_on_key_order_or_spacing() -> None:
    body = json.loads(signed(payload(NOW_MS)))
    shuffled = json.dumps(dict(reversed(list(body.items()))), indent=2, ensure_ascii=True)
    assert TRUSTED.check(json.loads(shuffled)) == HUB_KEY.key_id
    assert wire.signed_bytes(body) == wire.signed_bytes(json.loads(shuffled))
    assert b'"sig"' not in wire.signed_bytes(body) and b'"key_id"' in wire.signed_bytes(body)


def test_the_hub_signs_the_list_model_as_the_edge_reads_it(tmp_path: Path) -> None:
    access = wire.parse_access_list(json.dumps(payload(NOW_MS) | {"opening": {"mon": []}}))
    body = HUB_KEY.sign_access_list(access)
    assert TRUSTED.check(json.loads(body)) == HUB_KEY.key_id
    assert wire.parse_access_list(body).key_id == HUB_KEY.key_id


def test_a_list_signed_over_badges_written_once_is_the_list_the_edge_checks(
    tmp_path: Path,
) -> None:
    """The hub writes a network's badges once and signs each site's list over those bytes
    (`hub.doors.access_lists.Holders`): the edge, which re-writes what it parses, must find
    the same signed bytes, an until date, a non-ASCII field and a later version's extra field
    (written before the badges) included."""
    entries = [
        {"badge": MEMBER, "hours": "always", "until": "2027-06-30"},
        {"badge": FOREIGN, "hours": "opening"},
    ]
    closed = {"closed": ["2026-12-25"], "opening": {"mon": ["08:30-12:00"]}}
    for extra in ({}, {"aaa": "é"}, {"zzz": [1, 2]}):
        data = payload(NOW_MS) | closed | extra | {"badges": entries, "timezone": "Europe/Paris"}
        access = wire.parse_access_list(json.dumps(data))
        badges_json = wire.canonical_json(entries)
        body = HUB_KEY.sign_access_list(access, badges_json=badges_json)
        assert body == HUB_KEY.sign_access_list(access)
        parsed = json.loads(body)
        assert TRUSTED.check(parsed) == HUB_KEY.key_id
        assert wire.signed_bytes(parsed) == wire.signed_bytes(HUB_KEY.sign(data))
        rules = AccessRules(tmp_path / f"access{len(extra)}{sorted(extra)}.json", TRUSTED)
        assert rules.apply(body, SITE, now=NOW) == "applied"
        assert rules.decide(FOREIGN, NOW) == Decision(True)
    forged = body.replace(FOREIGN.encode(), b"0F0F0F0E")
    with pytest.raises(wire.ProtocolError):
        TRUSTED.check(json.loads(forged))


def test_the_private_key_file_is_the_owners_alone_and_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "state" / "access-list.key"
    key = SigningKey.load_or_create(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert SigningKey.load_or_create(path).key_id == key.key_id
    assert SigningKey.load(path).public_text == key.public_text
    with pytest.raises(FileExistsError):
        SigningKey.generate().save(path)
    assert SigningKey.load(path).key_id == key.key_id
    path.chmod(0o640)  # for a group: allowed
    assert SigningKey.load(path).key_id == key.key_id
    path.chmod(0o644)
    with pytest.raises(ValueError, match=r"open to every user of this machine \(mode 644\)"):
        SigningKey.load_or_create(path)


def test_the_edge_config_takes_keys_inline_and_from_a_file(tmp_path: Path) -> None:
    other = SigningKey.generate()
    keys_file = tmp_path / "hub-keys"
    keys_file.write_text(f"# the hub's keys\n{other.public_text}  # new since 2026-11\n\n")
    config_path = tmp_path / "edge.yaml"
    config_path.write_text(
        "site: murat\ndevice: murat-door\n"
        f"access:\n  hub_public_keys: ['{HUB_KEY.public_text}']\n"
        f"  hub_public_keys_file: {keys_file}\n"
    )
    config = load_config(EdgeConfig, config_path, environ={})
    assert set(config.access.trusted.keys) == {HUB_KEY.key_id, other.key_id}


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ("['not a key']", "is not base64"),
        ("['AAAA']", "an Ed25519 public key is 32 bytes"),
    ],
)
def test_a_bad_public_key_stops_the_edge_at_start(tmp_path: Path, keys: str, message: str) -> None:
    config_path = tmp_path / "edge.yaml"
    config_path.write_text(f"site: murat\ndevice: murat-door\naccess:\n  hub_public_keys: {keys}\n")
    with pytest.raises(ConfigError, match=message):
        load_config(EdgeConfig, config_path, environ={})


def test_a_bad_line_in_the_keys_file_is_named(tmp_path: Path) -> None:
    keys_file = tmp_path / "hub-keys"
    keys_file.write_text(f"{HUB_KEY.public_text}\nAAAA\n")
    config_path = tmp_path / "edge.yaml"
    config_path.write_text(
        f"site: murat\ndevice: murat-door\naccess:\n  hub_public_keys_file: {keys_file}\n"
    )
    with pytest.raises(ConfigError, match=r"hub-keys: line 2: an Ed25519 public key is 32"):
        load_config(EdgeConfig, config_path, environ={})
