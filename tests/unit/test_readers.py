"""Badge readers (edge/readers.py): presentations, the MFRC522 poller, the stdin reader."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from typing import IO

import pytest

import edge.readers
from edge.config import Reader as ReaderConfig
from edge.readers import Mfrc522Reader, Presentations, Reader, StdinReader
from telecentre import wire
from tests.waiting import wait_until

# --- Presentations ------------------------------------------------------------------------


def test_a_card_left_on_the_reader_is_one_presentation() -> None:
    presentations = Presentations(absent_polls=3)
    polls = [presentations.poll("04A2B3C4") for _ in range(100)]
    assert polls == ["04A2B3C4"] + [None] * 99


def test_card_taken_away_for_absent_polls_then_back_is_a_new_presentation() -> None:
    presentations = Presentations(absent_polls=3)
    assert presentations.poll("04A2B3C4") == "04A2B3C4"
    assert [presentations.poll(None) for _ in range(3)] == [None, None, None]
    assert presentations.poll("04A2B3C4") == "04A2B3C4"


def test_flicker_shorter_than_absent_polls_is_still_one_presentation() -> None:
    presentations = Presentations(absent_polls=3)
    sequence = ["04A2B3C4", None, None, "04A2B3C4", None, "04A2B3C4", None, None, "04A2B3C4"]
    assert [presentations.poll(uid) for uid in sequence] == ["04A2B3C4"] + [None] * 8


def test_another_card_is_a_new_presentation_at_once() -> None:
    presentations = Presentations(absent_polls=3)
    assert presentations.poll("04A2B3C4") == "04A2B3C4"
    assert presentations.poll("0A1B2C3D") == "0A1B2C3D"
    assert presentations.poll("0A1B2C3D") is None
    # ... and the first card again, straight after, is new too.
    assert presentations.poll("04A2B3C4") == "04A2B3C4"


def test_absent_polls_of_one_makes_any_gap_a_new_presentation() -> None:
    presentations = Presentations(absent_polls=1)
    sequence = ["04A2B3C4", "04A2B3C4", None, "04A2B3C4"]
    assert [presentations.poll(uid) for uid in sequence] == ["04A2B3C4", None, None, "04A2B3C4"]


def test_empty_reader_presents_nothing() -> None:
    presentations = Presentations(absent_polls=3)
    assert [presentations.poll(None) for _ in range(10)] == [None] * 10


# --- MFRC522 with a simulated chip --------------------------------------------------------


class SimulatedChip:
    """Stands in for the `mfrc522` package's MFRC522 class on the SPI bus.

    `card`: the UID bytes of the card in the field (None: no card); `unplugged`: every SPI
    access fails; `version`: what the version register reads (0x92: an MFRC522 v2).
    """

    PICC_REQALL = 0x52
    MI_OK = 0
    MI_NOTAGERR = 1

    def __init__(self) -> None:
        self.card: bytes | None = None
        self.unplugged = False
        self.version = 0x92
        self.requests = 0
        self._lock = threading.Lock()

    def _spi(self) -> None:
        if self.unplugged:
            raise OSError(5, "Input/output error")

    def Read_MFRC522(self, address: int) -> int:
        self._spi()
        assert address == edge.readers.VERSION_REGISTER
        return self.version

    def MFRC522_Request(self, mode: int) -> tuple[int, int]:
        self._spi()
        assert mode == self.PICC_REQALL
        with self._lock:
            self.requests += 1
        return (self.MI_OK, 0x10) if self.card is not None else (self.MI_NOTAGERR, 0)

    def MFRC522_Anticoll(self) -> tuple[int, list[int]]:
        self._spi()
        if self.card is None:
            return self.MI_NOTAGERR, []
        check = 0
        for byte in self.card:
            check ^= byte
        return self.MI_OK, [*self.card, check]

    def polls_from_now(self, count: int) -> None:
        """Wait until the reader has polled `count` more times."""
        target = self.requests + count
        wait_until(lambda: self.requests >= target, message=f"reader did not poll {count} times")


class Taps:
    """Collects `when_badge` calls."""

    def __init__(self) -> None:
        self.uids: list[str] = []
        self.readers: list[str] = []

    def __call__(self, reader: Reader, uid: str) -> None:
        self.readers.append(reader.id)
        self.uids.append(uid)


def state_of(reader: Reader) -> str:
    """The reader's state now (a call, so that type checkers do not narrow it)."""
    return reader.state


def mfrc522_config(**overrides: object) -> ReaderConfig:
    return ReaderConfig.model_validate(
        {"id": "entrance", "type": "mfrc522", "poll_s": 0.001, "absent_polls": 3} | overrides
    )


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(edge.readers, "RETRY_S", (0.001, 0.002, 0.005))


@pytest.fixture
def readers() -> Iterator[list[Reader]]:
    """Readers to stop (and whose threads must end) after the test."""
    started: list[Reader] = []
    yield started
    for reader in started:
        reader.stop()
    for reader in started:
        thread = reader._thread
        wait_until(lambda: not thread.is_alive(), message=f"{reader.id} did not stop")  # noqa: B023


def start_mfrc522(
    readers: list[Reader], chip: SimulatedChip, taps: Taps
) -> tuple[Mfrc522Reader, list[int]]:
    made: list[int] = []

    def make_chip() -> SimulatedChip:
        made.append(1)
        return chip

    reader = Mfrc522Reader(mfrc522_config(), make_chip)
    reader.when_badge = taps
    readers.append(reader)
    reader.start()
    return reader, made


def test_card_held_for_30_polls_is_one_badge(readers: list[Reader]) -> None:
    chip, taps = SimulatedChip(), Taps()
    reader, _ = start_mfrc522(readers, chip, taps)
    chip.polls_from_now(3)
    assert taps.uids == []
    chip.card = bytes.fromhex("04a2b3c4")
    wait_until(lambda: taps.uids == ["04A2B3C4"])
    chip.polls_from_now(30)
    assert taps.uids == ["04A2B3C4"]
    assert taps.readers == ["entrance"]
    assert reader.state == "ok"


def test_card_taken_away_and_back_is_a_second_badge(readers: list[Reader]) -> None:
    chip, taps = SimulatedChip(), Taps()
    start_mfrc522(readers, chip, taps)
    chip.card = bytes.fromhex("04a2b3c4")
    wait_until(lambda: len(taps.uids) == 1)
    chip.card = None
    chip.polls_from_now(5)  # more than absent_polls
    chip.card = bytes.fromhex("04a2b3c4")
    wait_until(lambda: len(taps.uids) == 2)
    chip.card = bytes.fromhex("0a1b2c3d")
    wait_until(lambda: len(taps.uids) == 3)
    chip.polls_from_now(10)
    assert taps.uids == ["04A2B3C4", "04A2B3C4", "0A1B2C3D"]


def test_unplugged_chip_sets_error_then_recovers(readers: list[Reader]) -> None:
    chip, taps = SimulatedChip(), Taps()
    reader, made = start_mfrc522(readers, chip, taps)
    chip.polls_from_now(2)
    assert state_of(reader) == "ok"
    chip.unplugged = True
    wait_until(lambda: reader.state == "error")
    wait_until(lambda: len(made) >= 3)  # the reader keeps trying to reopen the chip
    assert state_of(reader) == "error"
    assert taps.uids == []
    chip.unplugged = False
    wait_until(lambda: reader.state == "ok")
    chip.card = bytes.fromhex("0a1b2c3d")
    wait_until(lambda: taps.uids == ["0A1B2C3D"])
    chip.polls_from_now(10)
    assert taps.uids == ["0A1B2C3D"]
    assert reader.state == "ok"


def test_chip_answering_version_zero_is_an_error(readers: list[Reader]) -> None:
    chip, taps = SimulatedChip(), Taps()
    chip.version = 0x00
    chip.card = bytes.fromhex("04a2b3c4")
    reader, made = start_mfrc522(readers, chip, taps)
    wait_until(lambda: reader.state == "error")
    wait_until(lambda: len(made) >= 3)
    assert chip.requests == 0  # never polled for cards: the chip is not there
    assert taps.uids == []
    chip.version = 0x92
    wait_until(lambda: taps.uids == ["04A2B3C4"])
    assert reader.state == "ok"


def test_chip_going_silent_is_caught_by_the_health_check(
    readers: list[Reader], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(edge.readers, "HEALTH_CHECK_POLLS", 5)
    chip, taps = SimulatedChip(), Taps()
    reader, _ = start_mfrc522(readers, chip, taps)
    chip.polls_from_now(2)
    chip.version = 0xFF  # the module reads all ones once its SPI lines float
    wait_until(lambda: reader.state == "error")
    chip.version = 0x92
    wait_until(lambda: reader.state == "ok")


def test_failing_reader_does_not_call_when_badge(readers: list[Reader]) -> None:
    chip, taps = SimulatedChip(), Taps()
    chip.unplugged = True
    reader, made = start_mfrc522(readers, chip, taps)
    wait_until(lambda: len(made) >= 5)
    assert reader.state == "error"
    assert taps.uids == []


def test_seven_byte_uid_is_read_whole(readers: list[Reader]) -> None:
    chip, taps = SimulatedChip(), Taps()
    start_mfrc522(readers, chip, taps)
    chip.card = bytes.fromhex("04a2b3c4d5e6f7")
    wait_until(lambda: taps.uids == ["04A2B3C4D5E6F7"])


# --- stdin --------------------------------------------------------------------------------


@pytest.fixture
def pipe() -> Iterator[tuple[IO[str], IO[str]]]:
    """(read end, write end) of an OS pipe, as text streams."""
    read_fd, write_fd = os.pipe()
    reading = os.fdopen(read_fd, "r", encoding="utf-8")
    writing = os.fdopen(write_fd, "w", encoding="utf-8")
    yield reading, writing
    for stream in (writing, reading):
        if not stream.closed:
            stream.close()


def start_stdin(readers: list[Reader], stream: IO[str], taps: Taps) -> StdinReader:
    reader = StdinReader(ReaderConfig(id="keyboard", type="stdin"), stream)
    reader.when_badge = taps
    readers.append(reader)
    reader.start()
    return reader


def test_stdin_lines_are_normalised_uids(
    readers: list[Reader], pipe: tuple[IO[str], IO[str]]
) -> None:
    reading, writing = pipe
    taps = Taps()
    reader = start_stdin(readers, reading, taps)
    writing.write("04:a2:b3:c4\n\n   \n0a1b2c3d\r\n 04a2b3c4d5e6f7 \n")
    writing.flush()
    wait_until(lambda: len(taps.uids) == 3)
    assert taps.uids == ["04A2B3C4", "0A1B2C3D", "04A2B3C4D5E6F7"]
    assert taps.readers == ["keyboard"] * 3
    # The same card twice on stdin is two taps (each line is one presentation).
    writing.write("0a1b2c3d\n0a1b2c3d\n")
    writing.flush()
    wait_until(lambda: len(taps.uids) == 5)
    assert taps.uids[3:] == ["0A1B2C3D", "0A1B2C3D"]
    assert reader.state == "ok"


def test_stdin_lines_that_are_not_uids_are_ignored(
    readers: list[Reader], pipe: tuple[IO[str], IO[str]]
) -> None:
    reading, writing = pipe
    taps = Taps()
    start_stdin(readers, reading, taps)
    writing.write("hello\n04A2\nzz:zz:zz:zz\n0a1b2c3d\n")
    writing.flush()
    wait_until(lambda: len(taps.uids) >= 1)
    writing.close()
    wait_until(lambda: not readers[0]._thread.is_alive())
    assert taps.uids == ["0A1B2C3D"]


def test_stdin_eof_ends_the_thread_without_error(
    readers: list[Reader], pipe: tuple[IO[str], IO[str]]
) -> None:
    reading, writing = pipe
    taps = Taps()
    reader = start_stdin(readers, reading, taps)
    writing.write("0a1b2c3d\ndeadbeef")  # the last line has no newline: still a tap
    writing.close()
    wait_until(lambda: not reader._thread.is_alive())
    assert taps.uids == ["0A1B2C3D", "DEADBEEF"]
    assert reader.state == "ok"


def test_stdin_reader_without_callback_just_reads(
    readers: list[Reader], pipe: tuple[IO[str], IO[str]]
) -> None:
    reading, writing = pipe
    reader = StdinReader(ReaderConfig(id="keyboard", type="stdin"), reading)
    readers.append(reader)
    reader.start()
    writing.write("0a1b2c3d\n")
    writing.close()
    wait_until(lambda: not reader._thread.is_alive())
    assert reader.state == "ok"


def test_stop_ends_the_mfrc522_thread(readers: list[Reader]) -> None:
    chip, taps = SimulatedChip(), Taps()
    reader, _ = start_mfrc522(readers, chip, taps)
    chip.polls_from_now(2)
    reader.stop()
    wait_until(lambda: not reader._thread.is_alive())
    assert reader.state == "ok"
    assert taps.uids == []


# --- badge UIDs as readers deliver them (telecentre.wire.parse_badge) ----------------------


@pytest.mark.parametrize(
    ("raw", "uid"),
    [
        ("04a2b3c4", "04A2B3C4"),
        ("04:A2:b3:C4", "04A2B3C4"),
        (" 04-a2-b3-c4\r\n", "04A2B3C4"),
        ("04 a2 b3 c4 d5 e6 f7", "04A2B3C4D5E6F7"),
        ("0" * 20, "0" * 20),
    ],
)
def test_parse_badge_normalises_a_uid(raw: str, uid: str) -> None:
    assert wire.parse_badge(raw) == uid


@pytest.mark.parametrize(
    "raw", ["", " : ", "04A2B3C", "0" * 21, "zz:zz:zz:zz", "04A2B3C4!", "hello"]
)
def test_parse_badge_rejects_what_is_not_a_uid(raw: str) -> None:
    with pytest.raises(wire.ProtocolError) as caught:
        wire.parse_badge(raw)
    assert str(caught.value).startswith(f"{raw!r} is not a badge UID (8 to 20 hex digits")


def test_a_line_that_is_not_a_uid_is_logged_and_ignored(
    readers: list[Reader], pipe: tuple[IO[str], IO[str]], caplog: pytest.LogCaptureFixture
) -> None:
    reading, writing = pipe
    taps = Taps()
    reader = start_stdin(readers, reading, taps)
    writing.write("04A2\n0a1b2c3d\n")
    writing.close()
    wait_until(lambda: not reader._thread.is_alive())
    assert taps.uids == ["0A1B2C3D"]
    (warning,) = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert warning.getMessage().startswith("reader keyboard: '04A2' is not a badge UID (")
    assert warning.getMessage().endswith("): ignored")
