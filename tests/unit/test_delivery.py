"""The hub's acknowledgement mark (hub/rules/delivery.py): the top of the run of seqs held
without a gap, from the device's floor, whatever the order they arrive in."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.rules.delivery import committed_mark


@pytest.mark.parametrize(
    ("mark", "floor", "held", "expected"),
    [
        (0, 0, [], 0),
        (0, 0, [1], 1),
        (0, 0, [2, 3], 0),  # seq 1 missing: nothing is acknowledged
        (0, 0, [3, 1, 2, 5], 3),
        (3, 0, [5, 4], 5),
        (3, 0, [1, 2, 3], 3),  # already under the mark: ignored
        (0, 0, [1, 1, 2, 2], 2),  # repeats (two ids with one seq) change nothing
        (0, 1, [1], 1),  # a floor of 1 says nothing: every seq starts at 1
        (0, 101, [], 100),  # the outbox dropped (or the hub acknowledged) 1 to 100
        (0, 101, [101, 102, 104], 102),
        (0, 101, [50, 102], 100),  # an old event come late does not fill the gap at 101
        (200, 101, [201], 201),  # a floor under the mark does not move it back
        (7, 0, [9], 7),
    ],
)
def test_the_mark_is_the_top_of_the_run_without_a_gap(
    mark: int, floor: int, held: list[int], expected: int
) -> None:
    assert committed_mark(mark, floor, held) == expected


@st.composite
def deliveries(draw: st.DrawFn) -> tuple[list[list[int]], list[int], set[int]]:
    """A device's seqs 1..n, some dropped by an overflow under its final floor, the rest
    arriving in any order, split into batches, with floors growing from status to status."""
    n = draw(st.integers(0, 60))
    final_floor = draw(st.integers(0, n + 1))
    dropped = draw(st.sets(st.integers(1, max(final_floor - 1, 1)))) if final_floor > 1 else set()
    lowest = max(final_floor, 1)
    lost = draw(st.sets(st.integers(lowest, n))) if n >= lowest else set()
    arriving = [s for s in range(1, n + 1) if s not in dropped and s not in lost]
    order = draw(st.permutations(arriving))
    cuts = sorted(draw(st.lists(st.integers(0, len(order)), max_size=8)))
    batches = [order[a:b] for a, b in zip([0, *cuts], [*cuts, len(order)], strict=True)]
    floors = sorted(
        draw(st.lists(st.integers(0, final_floor), min_size=len(batches), max_size=len(batches)))
    )
    floors[-1] = final_floor
    return batches, floors, lost


@given(deliveries())
def test_any_arrival_order_and_floors_give_the_highest_contiguous_seq_never_going_down(
    case: tuple[list[list[int]], list[int], set[int]],
) -> None:
    batches, floors, lost = case
    mark, held = 0, set()
    for batch, floor in zip(batches, floors, strict=True):
        held |= set(batch)
        new = committed_mark(mark, floor, [s for s in held if s > mark])
        assert new >= mark
        mark = new
        # Everything from the floor up to the mark is held; the next seq is not.
        assert all(s in held for s in range(max(floor, 1), mark + 1))
        assert mark + 1 < floor or mark + 1 not in held
    final_floor = floors[-1]
    expected = max(final_floor - 1, 0)
    while expected + 1 in held:
        expected += 1
    assert mark == expected
    assert all(s > mark for s in lost)  # an event the hub never got is never acknowledged
