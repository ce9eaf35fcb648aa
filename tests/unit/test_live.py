"""The board's publish/subscribe: numbered changes per site, waiting boards woken."""

from __future__ import annotations

import threading

from hub.intake.live import Changes


def test_a_board_gets_the_sites_changed_since_the_number_it_saw() -> None:
    changes = Changes()
    assert changes.wait(0, {"murat"}, timeout=0) == (0, set())
    first = changes.publish({"murat"})
    second = changes.publish({"ydes", "mauriac"})
    assert changes.wait(0, {"murat", "ydes"}, timeout=0) == (second, {"murat", "ydes"})
    assert changes.wait(first, {"murat", "ydes"}, timeout=0) == (second, {"ydes"})
    assert changes.wait(second, {"murat", "ydes"}, timeout=0) == (second, set())
    assert changes.publish(set()) == second  # nothing changed: no new number


def test_a_waiting_board_wakes_for_its_sites_only() -> None:
    changes = Changes()
    woke: list[tuple[int, set[str]]] = []
    board = threading.Thread(target=lambda: woke.append(changes.wait(0, {"murat"}, 30)))
    board.start()
    changes.publish({"ydes"})  # not this board's site: it keeps waiting
    board.join(0.2)
    assert board.is_alive()
    changes.publish({"murat"})
    board.join(5)
    assert woke == [(2, {"murat"})]


def test_closing_releases_every_waiting_board() -> None:
    changes = Changes()
    board = threading.Thread(target=lambda: changes.wait(0, {"murat"}, 30))
    board.start()
    changes.close()
    board.join(5)
    assert not board.is_alive() and changes.closed
