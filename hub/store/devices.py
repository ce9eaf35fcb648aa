"""Keeping the devices table in step with the statuses edges publish (and their last wills)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from hub.rules.replay import DEFAULT_FUTURE_TOLERANCE_S, arrival_quarantine
from hub.store.db import insert_ignoring_conflicts
from hub.store.models import Device
from telecentre import wire


def check_status_time(
    status: wire.Status,
    received_at: datetime,
    future_tolerance_s: float = DEFAULT_FUTURE_TOLERANCE_S,
) -> None:
    """`wire.ProtocolError` for a status stamped further ahead of its receipt than a tap may
    be (`hub.rules.replay.arrival_quarantine`): stored, a status dated 2999 would be the
    device's `last_seen` for good, and the board would never see it fall silent."""
    if arrival_quarantine(status.ts, received_at, future_tolerance_s=future_tolerance_s) == (
        "future"
    ):
        raise wire.ProtocolError(
            f"field 'ts': {status.ts.isoformat()} is more than {future_tolerance_s:.0f} s "
            f"after the hub received it ({received_at.isoformat()}): the device's clock is ahead"
        )


def record_status(session: Session, status: wire.Status, received_at: datetime) -> None:
    """The latest status wins, whatever its `ts`: a last will carries the time the device
    connected, older than the statuses it published since, yet it is the newest news.

    `last_seen` moves only on `online` statuses, by the device's own time stamp, so a
    retained status read again when the hub restarts does not make a dead device look alive.
    """
    # Two hub processes may see a new device at once: create it if missing, then lock it.
    session.execute(
        insert_ignoring_conflicts(session, Device).values(
            id=status.device, site=status.site, state=status.state
        )
    )
    device = session.get_one(Device, status.device, with_for_update=True, populate_existing=True)
    device.site = status.site
    device.state = status.state
    device.updated_at = received_at
    if status.state == "online":
        if device.last_seen is None or status.ts > device.last_seen:
            device.last_seen = status.ts
        device.queue = status.queue
        device.clock_synced = status.clock_synced
        device.version = status.version
        device.access_version = status.access_version
        device.readers = dict(status.readers)
        device.doors = dict(status.doors)
    session.flush()
