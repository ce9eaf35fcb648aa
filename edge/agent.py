"""The edge agent: a site's readers and doors, decided locally, reported durably.

Everything the agent sees becomes a wire event that goes into the outbox first; the uplink
sends the outbox on when (and if) the broker is there. Taps are decided from the access list
on disk, so the door works the same with the network down. Events stamped while the clock is
not synchronised wait for it, to go out with their true time (edge/clock_hold.py).

>>> agent = Agent(config, build_hardware(config))
>>> agent.start()   # readers, doors and uplink run in their own threads
>>> agent.stop()
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Literal

from edge.access import AccessRules
from edge.clock import Clock, Reading
from edge.clock_hold import ClockHold
from edge.commands import CommandGate, CommandRefused
from edge.config import EdgeConfig
from edge.door import Door, DoorState
from edge.hardware import Hardware
from edge.outbox import Outbox
from edge.readers import Reader
from edge.uplink import Uplink
from telecentre import __version__, wire

log = logging.getLogger(__name__)

#: How often a list held for the clock (a fresh Pi not yet synchronised) is tried again.
HELD_LIST_CHECK_S = 5.0


def masked_badge(uid: str) -> str:
    """Enough of a badge UID to tell taps apart in the logs, not to identify the badge."""
    return f"…{uid[-4:]}"


class Agent:
    def __init__(
        self,
        config: EdgeConfig,
        hardware: Hardware,
        clock: Clock | None = None,
    ) -> None:
        self.config = config
        self.site, self.device = config.site, config.device
        if clock is None:
            clock = Clock(synced=lambda: True) if config.clock.assume_synced else Clock()
        self.clock = clock
        self.readers = hardware.readers
        self.feedback = hardware.feedback
        state = config.state_dir
        self._recording_overflow = threading.local()
        self.outbox = Outbox(state / "outbox.db", config.outbox.max_events, self._overflowed)
        self.access = AccessRules(state / "access.json", config.access.trusted)
        self.commands = CommandGate(
            config.access.trusted,
            self.site,
            self.device,
            monotonic=lambda: self.clock.monotonic_ns() / 1e9,
        )
        self._stopping = threading.Event()
        self._held_list = threading.Thread(
            target=self._apply_held_list, name="held-list", daemon=True
        )
        self.clock_hold = ClockHold(self.clock, self.outbox, config.clock.hold_unsynced_s)
        self.doors = {
            door_id: Door(door_config, *parts, events=self)
            for (door_id, parts), door_config in zip(
                hardware.doors.items(), config.doors, strict=True
            )
        }
        self.uplink = Uplink(
            config.mqtt,
            self.site,
            self.device,
            self.outbox,
            status=self.status,
            on_access_list=self.apply_access_list,
            on_command=self.run_command,
            status_interval_s=config.status_interval_s,
            sendable_below=self.clock_hold.sendable_below,
        )
        for reader in self.readers:
            reader.when_badge = self.badge_presented

    def _apply_held_list(self) -> None:
        """A list held for the clock (`AccessRules.held`) is applied once it is synchronised."""
        while not self._stopping.wait(HELD_LIST_CHECK_S):
            held = self.access.held
            if held is not None and self.clock.synced():
                log.info("the clock is synchronised: applying the access list held for it")
                self.apply_access_list(held)

    def start(self) -> None:
        log.info(
            "agent %s of site %s starting (version %s, %d events waiting in the outbox)",
            self.device,
            self.site,
            __version__,
            self.outbox.depth(),
        )
        if not self.clock.synced():
            log.warning(
                "the clock is not synchronised (NTP) yet: events will wait for it, then go out "
                "with their time worked out from the boot's monotonic clock"
            )
        self.uplink.start()
        self._held_list.start()
        for reader in self.readers:
            reader.start()

    def stop(self) -> None:
        self._stopping.set()
        for reader in self.readers:
            reader.stop()
        self.uplink.stop()
        for door in self.doors.values():
            door.close()
        self.feedback.close()
        self.outbox.close()
        log.info("agent %s stopped", self.device)

    # --- decisions -------------------------------------------------------------------------

    def badge_presented(self, reader: Reader, uid: str) -> None:
        """Decide, act, then record: the strike never waits for the disk or the network."""
        decision = self.access.decide(uid, self.clock.wall())
        door = self._door_for(reader)
        if decision.granted:
            if door is not None:
                door.unlock()
            self.feedback.granted()
        else:
            self.feedback.denied()
        # journald keeps logs longer than a badge UID may be kept (CNIL): a masked UID at INFO,
        # the full one only when debugging.
        reading = self.clock.read()
        log.debug("badge %s is %s", masked_badge(uid), uid)
        log.info(
            "badge %s on reader %s: %s%s",
            masked_badge(uid),
            reader.id,
            "granted" if decision.granted else "denied",
            f" ({decision.reason})" if decision.reason else "",
        )
        self._record(
            wire.badge_event(
                site=self.site,
                device=self.device,
                badge=uid,
                reader=reader.id,
                direction=reader.config.direction,
                access="granted" if decision.granted else "denied",
                reason=decision.reason,
                clock_synced=reading.synced,
            ),
            reading,
        )

    def _door_for(self, reader: Reader) -> Door | None:
        if reader.config.door is not None:
            return self.doors[reader.config.door]
        return next(iter(self.doors.values()), None)

    # --- what the doors report (edge.door.DoorEvents) ---------------------------------------

    def door_changed(self, door: str, state: DoorState) -> None:
        reading = self.clock.read()
        self._record(
            wire.door_event(
                site=self.site,
                device=self.device,
                door=door,
                state=state,
                clock_synced=reading.synced,
            ),
            reading,
        )

    def alarm(self, door: str, kind: Literal["door_forced", "door_held_open"]) -> None:
        reading = self.clock.read()
        self._record(
            wire.alarm_event(
                site=self.site,
                device=self.device,
                kind=kind,
                door=door,
                clock_synced=reading.synced,
            ),
            reading,
        )

    def exit_requested(self, door: str) -> None:
        reading = self.clock.read()
        self._record(
            wire.exit_request_event(
                site=self.site, device=self.device, door=door, clock_synced=reading.synced
            ),
            reading,
        )

    def _overflowed(self, dropped: int) -> None:
        log.error(
            "outbox full (%d events): dropped the %d oldest unsent events",
            self.outbox.max_events,
            dropped,
        )
        if getattr(self._recording_overflow, "active", False):
            # Storing the alarm pushed out more events (an outbox too small to hold both): an
            # alarm about that one would push out this one, and so on without end.
            return
        self._recording_overflow.active = True
        reading = self.clock.read()
        try:
            self._record(
                wire.alarm_event(
                    site=self.site,
                    device=self.device,
                    kind="outbox_overflow",
                    dropped=dropped,
                    clock_synced=reading.synced,
                ),
                reading,
            )
        finally:
            self._recording_overflow.active = False

    def _record(self, event: dict[str, Any], reading: Reading) -> None:
        """Store the event stamped with `reading`: its wall time as `ts`, and if the clock is
        not synchronised, its monotonic stamp too, so that its true time can be worked out."""
        stamped = event | {"ts": reading.ts}
        stored = self.outbox.append(stamped, unsynced=None if reading.synced else reading)
        self.uplink.notify()
        log.info("event %s seq %d stored: %s", stored["type"], stored["seq"], stored["id"])

    # --- what the hub sends ----------------------------------------------------------------

    def apply_access_list(self, payload: bytes) -> None:
        try:
            outcome = self.access.apply(
                payload, self.site, now=self.clock.wall(), clock_synced=self.clock.synced()
            )
        except wire.ProtocolError as exc:
            log.error(
                "access list rejected, the one in force (version %s) stays: %s",
                self.access.version,
                exc,
            )
            return
        except OSError as exc:
            # Not on disk, so not in force either: after a restart the agent would decide from
            # the old list again. The broker keeps the new one and sends it at the next connection.
            log.error(
                "access list not saved to %s, the one in force (version %s) stays: %s",
                self.access.path,
                self.access.version,
                exc,
            )
            return
        if outcome == "stale":
            log.info(
                "access list not newer than version %s in force (floor %s): ignored",
                self.access.version,
                self.access.floor,
            )
        elif outcome == "held":
            log.warning(
                "access list held: this door has no list yet and its clock is not "
                "synchronised (NTP), so it cannot tell a current list from an old one; it "
                "applies it once the clock is, or after `telecentre-edge reset-access-list "
                "--version N`"
            )
        elif self.uplink.connected.is_set():
            self.uplink.publish_status()  # the hub and the animators see the new version now

    def run_command(self, payload: bytes, retained: bool = False) -> None:
        """Obey a door command from the hub if `edge.commands.CommandGate` admits it."""
        try:
            command = self.commands.admit(
                payload, retained=retained, now=self.clock.wall(), clock_synced=self.clock.synced()
            )
        except CommandRefused as exc:
            log.warning("command ignored: %s", exc)
            if exc.command is not None:
                self._answer(exc.command, f"refused: {exc}"[:200])
            return
        except wire.ProtocolError as exc:
            log.warning("command ignored: %s", exc)
            return
        door = self.doors.get(command.door)
        if door is None:
            log.warning("command %s ignored: no door %r on this device", command.id, command.door)
            self._answer(command, f"no door {command.door!r} on this device")
            return
        log.info("command %s: unlock door %s for %s s", command.id, door.id, command.seconds)
        door.unlock(command.seconds)
        self._answer(command)

    def _answer(self, command: wire.UnlockCommand, error: str | None = None) -> None:
        """Tell the hub (and the animator who asked) what became of `command`."""
        self.uplink.publish_command_result(
            wire.CommandResult(
                v=wire.VERSION,
                id=command.id,
                site=self.site,
                device=self.device,
                ts=self.clock.wall().astimezone(),
                ok=error is None,
                error=error,
            )
        )

    def status(self, state: Literal["online", "offline"]) -> wire.Status:
        return wire.Status(
            v=1,
            device=self.device,
            site=self.site,
            state=state,
            ts=self.clock.wall().astimezone(),
            version=__version__,
            queue=self.outbox.depth(),
            clock_synced=self.clock.synced(),
            held=self.clock_hold.held(),
            readers={reader.id: reader.state for reader in self.readers},
            doors={
                door_id: door.state
                for door_id, door in self.doors.items()
                if door.sensor is not None
            },
            access_version=self.access.version,
            outbox_floor=self.outbox.floor(),
        )
