"""A device's health as staff see it, from its last status and what the hub sent its site.

A door that decides from an older access list than its site's latest still lets in a badge
revoked since: staff must see it. A list takes a moment to reach a door (the broker, a door
reconnecting), so a list counts only once it is `ACCESS_LIST_GRACE` old.

>>> health(access_version=1795400000000, settled_version=1795400000000)
'ok'
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

#: How long a door may take to apply a new list before it counts as behind.
ACCESS_LIST_GRACE = timedelta(minutes=10)

Health = Literal["ok", "access_list_behind"]


def health(*, access_version: int | None, settled_version: int | None) -> Health:
    """`settled_version`: the latest list of the device's site issued at least
    `ACCESS_LIST_GRACE` ago (None: none yet); `access_version`: the one the device reports."""
    if settled_version is None:
        return "ok"
    if access_version is None or access_version < settled_version:
        return "access_list_behind"
    return "ok"
