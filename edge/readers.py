"""Badge readers: each one a thread that turns card presentations into `when_badge(reader, uid)`.

Three kinds: the MFRC522 RFID module on SPI, USB keyboard-wedge readers (evdev, grabbed so
the UID never lands on a console), and `stdin` (one hex UID per line), which follows the
same path as a wedge reader and feeds the demo and the tests. A reader that fails (unplugged,
SPI error) reports `state == "error"`, waits, and tries again; the other readers and doors
carry on meanwhile.

>>> reader = StdinReader(config, sys.stdin)
>>> reader.when_badge = lambda reader, uid: print(reader.id, uid)
>>> reader.start()
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from typing import IO, Any, Literal, Protocol

from edge.config import Reader as ReaderConfig
from telecentre import wire

log = logging.getLogger(__name__)

ReaderState = Literal["ok", "error"]
RETRY_S = (1.0, 2.0, 5.0, 10.0, 30.0)


class ReaderGone(Exception):
    """The reader's source ended for good (stdin closed): stop without an error."""


class Reader:
    """A badge reader's thread: `_read()` blocks until the next presentation."""

    def __init__(self, config: ReaderConfig) -> None:
        self.id = config.id
        self.config = config
        self.state: ReaderState = "ok"
        self.when_badge: Callable[[Reader, str], None] | None = None
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"reader-{self.id}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()

    def _open(self) -> None:
        """Acquire the device; called again after every failure."""

    def _close(self) -> None:
        """Release the device after a failure or at stop."""

    def _read(self) -> str | None:
        """Block until a card is presented and return its UID (None: nothing, poll again)."""
        raise NotImplementedError

    def _run(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            try:
                self._open()
                while not self._stopping.is_set():
                    uid = self._read()
                    if self.state == "error":
                        log.info("reader %s: working again", self.id)
                        self.state = "ok"
                        failures = 0
                    if uid is not None:
                        self._present(uid)
            except ReaderGone:
                log.info("reader %s: input closed", self.id)
                return
            except Exception as exc:
                wait = RETRY_S[min(failures, len(RETRY_S) - 1)]
                failures += 1
                if self.state != "error":
                    log.error("reader %s failed: %s; retrying in %.0f s", self.id, exc, wait)
                self.state = "error"
                self._stopping.wait(wait)
            finally:
                self._close()

    def _present(self, raw: str) -> None:
        try:
            uid = wire.parse_badge(raw)
        except wire.ProtocolError as exc:
            # Not a UID (a typo on stdin, a misread): an event with it would be rejected by
            # the hub, so it is no tap at all.
            log.warning("reader %s: %s: ignored", self.id, exc)
            return
        if self.when_badge is not None:
            self.when_badge(self, uid)


class StdinReader(Reader):
    """One badge UID (hex) per line from a text stream: a terminal, a pipe, a test."""

    def __init__(self, config: ReaderConfig, stream: IO[str]) -> None:
        super().__init__(config)
        self.stream = stream

    def _read(self) -> str | None:
        line = self.stream.readline()
        if line == "":
            raise ReaderGone
        return line.strip() or None


# --- USB keyboard-wedge readers -------------------------------------------------------------

_KEY_CHARS = {f"KEY_{c}": c for c in "0123456789ABCDEF"}


class HidReader(Reader):
    """A USB reader that types the UID and Enter, read from its evdev device, grabbed."""

    def __init__(self, config: ReaderConfig) -> None:
        super().__init__(config)
        self._device: Any = None
        self._typed: list[str] = []

    def _open(self) -> None:
        import evdev  # only on the Pi ([pi] extra)

        self._device = evdev.InputDevice(str(self.config.device))
        self._device.grab()
        self._typed = []

    def _close(self) -> None:
        if self._device is not None:
            with contextlib.suppress(OSError):
                self._device.close()
            self._device = None

    def _read(self) -> str | None:
        import evdev

        for event in self._device.read_loop():
            if event.type != evdev.ecodes.EV_KEY or event.value != 1:  # key down only
                continue
            name = evdev.ecodes.KEY.get(event.code)
            if name in ("KEY_ENTER", "KEY_KPENTER"):
                uid, self._typed = "".join(self._typed), []
                return uid or None
            if isinstance(name, str) and name in _KEY_CHARS:
                self._typed.append(_KEY_CHARS[name])
        raise OSError("input device closed")


# --- MFRC522 over SPI -----------------------------------------------------------------------


class Chip(Protocol):
    """The part of the `mfrc522` package's low-level `MFRC522` class that we use."""

    PICC_REQALL: int
    MI_OK: int

    def Read_MFRC522(self, address: int) -> int: ...
    def MFRC522_Request(self, mode: int) -> tuple[int, int]: ...
    def MFRC522_Anticoll(self) -> tuple[int, list[int]]: ...


class Presentations:
    """Turns polls into presentations: a card left on the reader is one tap, not one per poll.

    A card counts as taken away after `absent_polls` polls without it (cards flicker in and
    out of the field at its edge).
    """

    def __init__(self, absent_polls: int) -> None:
        self.absent_polls = absent_polls
        self._present: str | None = None
        self._missed = 0

    def poll(self, uid: str | None) -> str | None:
        """The UID if this poll starts a new presentation, else None."""
        if uid is None:
            self._missed += 1
            if self._missed >= self.absent_polls:
                self._present = None
            return None
        self._missed = 0
        if uid == self._present:
            return None
        self._present = uid
        return uid


VERSION_REGISTER = 0x37
#: Polls between two checks that the chip still answers (an unplugged module reads 0x00/0xFF).
HEALTH_CHECK_POLLS = 50


class Mfrc522Reader(Reader):
    """Polls an MFRC522 chip every `poll_s` for a card's UID (the 4-byte anticollision UID,
    without its check byte)."""

    def __init__(self, config: ReaderConfig, make_chip: Callable[[], Chip]) -> None:
        super().__init__(config)
        self._make_chip = make_chip
        self._chip: Chip | None = None
        self._presentations = Presentations(config.absent_polls)
        self._polls = 0

    def _open(self) -> None:
        self._chip = self._make_chip()
        self._check_chip()

    def _check_chip(self) -> None:
        assert self._chip is not None
        version = self._chip.Read_MFRC522(VERSION_REGISTER)
        if version in (0x00, 0xFF):
            raise OSError(f"no MFRC522 answers on SPI (version register reads {version:#04x})")

    def _close(self) -> None:
        self._chip = None

    def _read(self) -> str | None:
        assert self._chip is not None
        self._stopping.wait(self.config.poll_s)
        self._polls += 1
        if self._polls % HEALTH_CHECK_POLLS == 0:
            self._check_chip()
        uid = None
        status, _ = self._chip.MFRC522_Request(self._chip.PICC_REQALL)
        if status == self._chip.MI_OK:
            status, raw = self._chip.MFRC522_Anticoll()
            if status == self._chip.MI_OK and len(raw) >= 5:
                uid = bytes(raw[:-1]).hex().upper()  # the last byte is the check byte
        return self._presentations.poll(uid)


def spi_chip(config: ReaderConfig) -> Chip:
    """The real chip on the Pi's SPI bus (`mfrc522` package, [pi] extra)."""
    from mfrc522 import MFRC522

    chip: Chip = MFRC522(
        bus=config.spi_bus,
        device=config.spi_device,
        pin_mode=11,  # BCM numbering, as everywhere in our config
        pin_rst=-1 if config.reset_pin is None else config.reset_pin,
    )
    return chip
