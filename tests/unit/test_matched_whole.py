"""Identifiers, dates and ranges are matched whole: a `$` alone lets a trailing newline
through, which in a broker ACL starts a new rule (and stops Mosquitto)."""

from __future__ import annotations

import pytest

from hub.people.imports import MEMBER_ID_RE
from telecentre import broker, wire


@pytest.mark.parametrize(
    "pair",
    [("murat\n", "murat-door"), ("murat", "murat-door\n"), ("murat", "murat-door\ntopic #")],
)
def test_the_broker_acl_refuses_an_id_with_a_trailing_newline(pair: tuple[str, str]) -> None:
    with pytest.raises(ValueError, match="is not a site or device id"):
        broker.with_device(broker.dynsec_config(), *pair, "secret")


def test_the_broker_acl_refuses_a_hub_account_with_a_newline() -> None:
    with pytest.raises(ValueError, match="is not a site or device id"):
        broker.acl(["hub", "hub\n"])


@pytest.mark.parametrize("text", ["2026-10-01\n", "2026-10-01 ", "\n2026-10-01"])
def test_a_date_with_anything_around_it_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="is not a date"):
        wire.parse_date(text)


def test_a_time_range_with_a_trailing_newline_is_refused() -> None:
    with pytest.raises(ValueError, match="is not a time range"):
        wire.parse_time_range("08:30-17:00\n")


@pytest.mark.parametrize("text", ["murat\n", "Murat", "+", "#"])
def test_a_topic_segment_is_an_id_only_when_whole(text: str) -> None:
    assert wire.site_of_topic(f"telecentre/{text}/access") is None


def test_a_member_id_is_matched_whole() -> None:
    assert MEMBER_ID_RE.fullmatch("M001")
    assert not MEMBER_ID_RE.fullmatch("M001\n")
