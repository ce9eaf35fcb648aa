"""The board's publish/subscribe: numbered changes per site, listeners woken."""

from __future__ import annotations

from hub.intake.live import Changes


def test_a_board_gets_the_sites_changed_since_the_number_it_saw() -> None:
    changes = Changes()
    assert changes.changed_since(0, {"murat"}) == set()
    first = changes.publish({"murat"})
    second = changes.publish({"ydes", "mauriac"})
    assert changes.changed_since(0, {"murat", "ydes"}) == {"murat", "ydes"}
    assert changes.changed_since(first, {"murat", "ydes"}) == {"ydes"}
    assert changes.changed_since(second, {"murat", "ydes"}) == set()
    assert changes.seq == second
    assert changes.publish(set()) == second  # nothing changed: no new number


def test_listeners_are_woken_by_each_change_and_by_closing() -> None:
    changes = Changes()
    woken: list[int] = []
    changes.listen(lambda: woken.append(changes.seq))
    changes.publish(set())  # nothing changed: nobody woken
    changes.publish({"murat"})
    changes.publish({"ydes"})
    assert woken == [1, 2]
    changes.close()
    assert woken == [1, 2, 2] and changes.closed
