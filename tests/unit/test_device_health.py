"""A door's health from the access list it reports and its site's settled latest list."""

from __future__ import annotations

import pytest

from hub.rules.devices import health


@pytest.mark.parametrize(
    ("access_version", "settled_version", "expected"),
    [
        (None, None, "ok"),  # no list issued (or none old enough): nothing to be behind
        (5, None, "ok"),
        (5, 5, "ok"),
        (6, 5, "ok"),  # a newer one than settled: it got the list issued a moment ago
        (4, 5, "access_list_behind"),
        (None, 5, "access_list_behind"),  # a door with no list while its site has one
    ],
)
def test_health(access_version: int | None, settled_version: int | None, expected: str) -> None:
    assert health(access_version=access_version, settled_version=settled_version) == expected
