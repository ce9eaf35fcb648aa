"""The replay plan (hub.rules.replay): final sessions, quarantine, outcomes, on tables, and
the property that retention and late taps never change the past."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from hub.rules.model import Session, SiteRules, Tap, utc
from hub.rules.presence import Outcome, Walked, walk
from hub.rules.replay import (
    MemberPlan,
    QuarantineReason,
    StoredSession,
    arrival_quarantine,
    floor_of,
    plan_member,
)
from tests.unit.test_presence import (
    DEBOUNCES,
    MON,
    NOWS,
    PROPERTY,
    SITE,
    at,
    auto,
    closed,
    tap,
    tap_lists,
)

LATER = datetime(2030, 1, 1, tzinfo=UTC)
RECEIVED = datetime(2026, 11, 17, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("ts", "expected"),
    [
        (RECEIVED, None),
        (RECEIVED + timedelta(seconds=300), None),
        (RECEIVED + timedelta(seconds=301), "future"),
        (datetime(2999, 1, 1, tzinfo=UTC), "future"),
        (RECEIVED - timedelta(days=90), None),
        (RECEIVED - timedelta(days=90, seconds=1), "too_old"),
        (datetime(1970, 1, 1, tzinfo=UTC), "too_old"),
    ],
)
def test_arrival_quarantine(ts: datetime, expected: QuarantineReason | None) -> None:
    assert arrival_quarantine(ts, RECEIVED, future_tolerance_s=300) == expected


def stored(id_: int, session: Session, **flags: object) -> StoredSession:
    return StoredSession(id_, session, **flags)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ([], None),
        ([stored(1, closed(f"{MON} 09:00", f"{MON} 10:00"))], None),
        (
            [
                stored(1, closed(f"{MON} 09:00", f"{MON} 10:00"), final=True, end_event_id="b"),
                stored(2, closed(f"{MON} 11:00", f"{MON} 12:00")),
            ],
            f"{MON} 10:00",
        ),
        (  # a manual check-in still open: from its start
            [stored(7, Session("m1", "murat", at(f"{MON} 09:00")), final=True)],
            f"{MON} 09:00",
        ),
    ],
)
def test_floor_of(rows: list[StoredSession], expected: str | None) -> None:
    assert floor_of(rows) == (None if expected is None else at(expected))


def test_walk_says_why_each_tap_was_ignored() -> None:
    taps = [
        tap("a", f"{MON} 09:00", "in"),
        tap("b", f"{MON} 09:00:30", "in"),  # 30 s later: the reader saw the card twice
        tap("c", f"{MON} 09:30", "in"),
        tap("d", f"{MON} 12:00", "out"),
        tap("e", f"{MON} 12:05", "out"),
    ]
    outcomes: dict[str, Outcome] = {
        "a": "counted",
        "b": "debounced",
        "c": "already_in",
        "d": "counted",
        "e": "no_open_session",
    }
    assert walk(taps, SITE, now=LATER).outcomes == outcomes


def test_a_tap_before_a_final_session_is_quarantined_and_moves_nothing() -> None:
    final = stored(1, closed(f"{MON} 09:00", f"{MON} 10:00"), final=True, end_event_id="b")
    late = tap("z", f"{MON} 09:30", "out")
    plan = plan_member([late], [final], [late], {}, SITE, now=LATER)
    assert plan == MemberPlan(quarantined={"z": "final_session"})


def test_a_manual_check_out_survives_a_late_tap() -> None:
    """Checked out by hand at 12:00; the member's forgotten tap out at 17:30 arrives later,
    and a tap at 11:00 (inside the corrected session) too."""
    manual = stored(1, closed(f"{MON} 09:00", f"{MON} 12:00"), final=True)
    late = [tap("y", f"{MON} 11:00", "out"), tap("z", f"{MON} 13:40", "toggle")]
    plan = plan_member(late, [manual], late, {}, SITE, now=LATER)
    assert plan.quarantined == {"y": "final_session"}
    assert plan.delete == [] and plan.update == []
    assert [w.session for w in plan.insert] == [
        Session("m1", "murat", at(f"{MON} 13:40"), at(f"{MON} 17:00"), True)
    ]
    assert plan.outcomes == {"z": "counted"}


def test_a_tap_out_closes_a_manual_check_in() -> None:
    manual = stored(4, Session("m1", "murat", at(f"{MON} 09:00")), final=True)
    out = tap("z", f"{MON} 11:00", "out")
    plan = plan_member([out], [manual], [out], {}, SITE, now=LATER)
    ((row_id, walked),) = plan.update
    assert (row_id, walked.session.end, walked.end_event_id) == (4, at(f"{MON} 11:00"), "z")
    assert plan.insert == [] and plan.delete == []


def test_a_late_tap_turns_a_counted_tap_into_a_debounced_one() -> None:
    first = [tap("b", f"{MON} 09:00:30", "toggle")]
    before = plan_member(first, [], first, {}, SITE, now=LATER)
    assert before.outcomes == {"b": "counted"}
    rows = [stored(1, w.session, start_event_id=w.start_event_id) for w in before.insert]
    late = tap("a", f"{MON} 09:00", "toggle")
    after = plan_member([late], rows, [late, *first], before.outcomes, SITE, now=LATER)
    assert after.outcomes == {"a": "counted", "b": "debounced"}
    assert after.delete == [1]
    assert [w.session.start for w in after.insert] == [at(f"{MON} 09:00")]


# --- The property: retention and late taps never change the past ------------------------------


YDES = SiteRules("ydes", opening=SITE.opening)
SITES = {"murat": SITE, "ydes": YDES}


@dataclass
class Store:
    """The engine's store for one member, as the plan sees it."""

    sessions: list[StoredSession] = field(default_factory=list)
    taps: list[Tap] = field(default_factory=list)
    outcomes: dict[str, str] = field(default_factory=dict)
    next_id: int = 1
    #: The last retention's cut: older taps arrive quarantined (`too_old`).
    horizon: datetime | None = None

    def arrive(self, new: list[Tap], *, now: datetime, debounce_s: int) -> None:
        self.taps += new
        if self.horizon is not None:
            old = [t for t in new if utc(t.ts) < self.horizon]
            self.outcomes |= {t.event_id: "quarantined" for t in old}
            new = [t for t in new if t not in old]
            if not new:
                return
        applied = [t for t in self.taps if self.outcomes.get(t.event_id) != "quarantined"]
        rows = sorted(self.sessions, key=lambda r: (utc(r.session.start), r.id))
        plan = plan_member(
            new, rows, applied, dict(self.outcomes), SITES, now=now, debounce_s=debounce_s
        )
        self.outcomes |= {i: "quarantined" for i in plan.quarantined} | plan.outcomes
        kept = [r for r in self.sessions if r.id not in plan.delete]
        updated = dict(plan.update)
        kept = [
            StoredSession(
                r.id,
                updated[r.id].session,
                r.final,
                r.start_event_id,
                updated[r.id].end_event_id,
                updated[r.id].end_reason,
            )
            if r.id in updated
            else r
            for r in kept
        ]
        for walked in plan.insert:
            row = StoredSession(
                self.next_id,
                walked.session,
                start_event_id=walked.start_event_id,
                end_event_id=walked.end_event_id,
                end_reason=walked.end_reason,
            )
            kept.append(row)
            self.next_id += 1
        self.sessions = kept

    def retention(self, horizon: datetime, debounce_s: int) -> None:
        """Mark final what starts before the horizon, then forget the taps before it but
        those that made no session within a debounce of it (`hub.presence.retention`)."""
        self.horizon = horizon
        self.sessions = [
            replace(r, final=True) if utc(r.session.start) < horizon else r for r in self.sessions
        ]
        memory = horizon - timedelta(seconds=debounce_s)
        self.taps = [
            t
            for t in self.taps
            if utc(t.ts) >= horizon
            or (
                self.outcomes.get(t.event_id) in ("no_open_session", "already_in")
                and utc(t.ts) >= memory
            )
        ]

    def stays(self) -> list[Session]:
        return sorted((r.session for r in self.sessions), key=lambda s: (utc(s.start), s.site))


def _at_sites(data: st.DataObject, taps: list[Tap]) -> list[Tap]:
    """The same taps, each at Murat or Ydes: one member going from one to the other."""
    sites = data.draw(st.lists(st.sampled_from(sorted(SITES)), min_size=len(taps)))
    return [replace(tap, site=site) for tap, site in zip(taps, sites, strict=False)]


def _batches(data: st.DataObject, order: list[Tap]) -> list[list[Tap]]:
    """`order` split into batches of 1 to 4 taps, as the ingest may commit them."""
    sizes = data.draw(st.lists(st.integers(min_value=1, max_value=4), max_size=len(order)))
    batches, start = [], 0
    for size in [*sizes, len(order)]:
        if order[start : start + size]:
            batches.append(order[start : start + size])
        start += size
    return batches


@settings(PROPERTY, max_examples=500)
@given(
    taps=tap_lists(),
    data=st.data(),
    now=NOWS,
    debounce_s=DEBOUNCES,
)
def test_after_retention_late_taps_never_change_the_past(
    taps: list[Tap], data: st.DataObject, now: datetime, debounce_s: int
) -> None:
    """For any order of arrival, any split into batches and any retention point: the
    sessions made final never change; a session still opened by the same tap after a
    replay keeps its id; while no late tap falls at or before a final session, the sessions
    equal a full recompute of every tap, and so does every outcome the store still holds."""
    taps = _at_sites(data, taps)
    batches = _batches(data, data.draw(st.permutations(taps)))
    cut = data.draw(st.integers(min_value=0, max_value=len(batches)))
    horizon = data.draw(st.sampled_from([t.ts for t in taps])) if taps else now
    store = Store()
    finals: list[StoredSession] = []
    for index, batch in enumerate([*batches, []]):
        if index == cut:
            store.retention(utc(horizon), debounce_s)
            finals = [r for r in store.sessions if r.final]
        if not batch:
            continue
        ids = {r.start_event_id: r.id for r in store.sessions}
        store.arrive(batch, now=now, debounce_s=debounce_s)
        for row in store.sessions:
            if row.start_event_id in ids:
                assert row.id == ids[row.start_event_id], "a session changed its id"
    if taps:
        # Final sessions: still there, never rewritten (an open one may only have been closed).
        for before in finals:
            (after,) = [r for r in store.sessions if r.id == before.id]
            assert after.final
            assert before.session.end is None or after.session == before.session
        full = walk(taps, SITES, now=now, debounce_s=debounce_s)
        event(f"final sessions: {min(len(finals), 2)}")
        if "quarantined" not in store.outcomes.values():
            event("compared with a full recompute")
            assert store.stays() == _stays(full.sessions)
            for kept in store.taps:
                assert store.outcomes[kept.event_id] == full.outcomes[kept.event_id]


@PROPERTY
@given(taps=tap_lists(), data=st.data(), now=NOWS, debounce_s=DEBOUNCES)
def test_without_finals_the_plan_is_a_full_recompute(
    taps: list[Tap], data: st.DataObject, now: datetime, debounce_s: int
) -> None:
    """Batches of any size, in any order, at two sites: outcomes included, as if all came at
    once."""
    taps = _at_sites(data, taps)
    store = Store()
    for batch in _batches(data, data.draw(st.permutations(taps))):
        ids = {r.start_event_id: r.id for r in store.sessions}
        store.arrive(batch, now=now, debounce_s=debounce_s)
        assert all(ids.get(r.start_event_id, r.id) == r.id for r in store.sessions)
    full = walk(taps, SITES, now=now, debounce_s=debounce_s)
    assert store.stays() == _stays(full.sessions)
    assert store.outcomes == full.outcomes


def _stays(walked: list[Walked]) -> list[Session]:
    return sorted((w.session for w in walked), key=lambda s: (utc(s.start), s.site))


def test_a_member_back_at_the_first_site_is_there_again() -> None:
    """Murat at 09:00, Ydes at 10:00, back at Murat at 11:00 (toggle readers): at Murat
    again from 11:00, whatever order the taps arrive in."""
    taps = [
        tap("a", f"{MON} 09:00"),
        replace(tap("b", f"{MON} 10:00"), site="ydes"),
        tap("c", f"{MON} 11:00"),
    ]
    expected = [
        (Session("m1", "murat", at(f"{MON} 09:00"), at(f"{MON} 10:00")), "elsewhere"),
        (Session("m1", "ydes", at(f"{MON} 10:00"), at(f"{MON} 11:00")), "elsewhere"),
        (Session("m1", "murat", at(f"{MON} 11:00"), at(f"{MON} 17:00"), True), "auto"),
    ]
    assert [(w.session, w.end_reason) for w in walk(taps, SITES, now=LATER).sessions] == expected
    for order in (taps, taps[::-1], [taps[2], taps[0], taps[1]]):
        store = Store()
        for one in order:
            store.arrive([one], now=LATER, debounce_s=60)
        assert store.stays() == [stay for stay, _ in expected]


def test_an_auto_close_forgets_the_last_counted_tap_before_a_late_one() -> None:
    """In at 16:59:00, again at 17:00:00 (closing time: already in), and a tap at 17:00:20
    that arrives last: the session auto-closed at 17:00, so it is a new gesture, counted."""
    first = [tap("a", f"{MON} 16:59:00", "in"), tap("b", f"{MON} 17:00:00", "in")]
    store = Store()
    store.arrive(first, now=LATER, debounce_s=60)
    assert store.outcomes == {"a": "counted", "b": "already_in"}
    store.arrive([tap("c", f"{MON} 17:00:20", "in")], now=LATER, debounce_s=60)
    full = walk([*first, tap("c", f"{MON} 17:00:20", "in")], SITE, now=LATER)
    assert store.outcomes == full.outcomes and full.outcomes["c"] == "counted"
    assert store.stays() == _stays(full.sessions)


def test_the_closing_tap_of_a_final_session_still_debounces_once_deleted() -> None:
    """Out at 12:00:00, a session the retention made final and whose taps it deleted; a tap
    at 12:00:30 arrives after: the reader saw the same card twice, debounced."""
    final = stored(
        1,
        closed(f"{MON} 09:00", f"{MON} 12:00"),
        final=True,
        start_event_id="a",
        end_event_id="b",
        end_reason="tap",
    )
    late = tap("c", f"{MON} 12:00:30", "in")
    plan = plan_member([late], [final], [late], {}, SITE, now=LATER)
    assert plan.outcomes == {"c": "debounced"} and plan.insert == []


def late_after(known: list[Tap], late: Tap) -> list[Session]:
    """What the hub stores once `known` arrived, then `late`."""
    store = Store()
    store.arrive(known, now=LATER, debounce_s=60)
    store.arrive([late], now=LATER, debounce_s=60)
    return store.stays()


def test_a_tap_after_an_auto_close_still_debounces_the_next() -> None:
    """The 17:00:30 out follows an auto-close yet is counted: it debounces the late 17:01
    toggle, which a replay forgetting it would wrongly count."""
    known = [
        tap("a", f"{MON} 16:58:30", "in"),
        tap("b", f"{MON} 16:59:30", "in"),
        tap("c", f"{MON} 17:00:30", "out"),
    ]
    late = tap("d", f"{MON} 17:01:00", "toggle")
    assert late_after(known, late) == [auto(f"{MON} 16:58:30", f"{MON} 17:00")]


def test_a_late_out_shortens_the_open_session() -> None:
    known = [tap("a", f"{MON} 09:00", "in"), tap("c", f"{MON} 14:00", "in")]
    late = tap("b", f"{MON} 11:00", "out")
    assert late_after(known, late) == [
        closed(f"{MON} 09:00", f"{MON} 11:00"),
        auto(f"{MON} 14:00", f"{MON} 17:00"),
    ]
