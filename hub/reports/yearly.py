"""The yearly evaluation as the department presents it: the figures of a period and of the
one before it (`hub.rules.evaluation.previous_period`), the change, the FNADT subsidy
estimate and the series of the charts, from each period's months summed up
(`hub.reports.months`).

The console's evaluation page, its files (French CSV, Excel, PDF) and the API's Excel file
all start from `yearly()`, so a figure is the same wherever it is read, and so is whether
there is anything to compare with (`Yearly.previous_empty`, `Yearly.records_since`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.orm import Session

from hub.people.sites import load_sites
from hub.reports.months import period_tallies
from hub.reports.queries import EvaluationReport, load_roster
from hub.reports.years import first_stay_day
from hub.rules import model
from hub.rules.evaluation import Subsidy, evaluate, previous_period, subsidy_estimate
from hub.rules.patterns import Patterns, patterns


@dataclass(frozen=True)
class Yearly:
    current: EvaluationReport
    previous: EvaluationReport
    subsidy: Subsidy
    patterns: Patterns
    #: Site id → in a ZRR, for the sites of the report, in id order.
    zrr: Mapping[str, bool]
    #: When the figures were computed (the "date of the figures" of the printed evaluation).
    computed_at: datetime
    #: The report is the whole network's (its totals and every Pass member).
    network: bool
    #: No stay at all in the previous period (a network's or a site's first year): its
    #: zeros are no record, not a collapse, so no comparison is made with them.
    previous_empty: bool
    #: The local day of the first stay at the report's sites (None: none yet): a period
    #: before it was not recorded, which is not the same as nobody coming.
    records_since: date | None


def no_stay(figures: model.Figures) -> bool:
    """Nobody came and no hour was used: a stay still open makes its member a user."""
    return figures.users == 0 and figures.hours == 0


def _report(result: model.Evaluation, split: bool) -> EvaluationReport:
    return EvaluationReport(
        result.first_day,
        result.last_day,
        result.total,
        dict(result.by_site),
        result.zrr if split else None,
        result.non_zrr if split else None,
    )


def yearly(
    session: Session,
    first: date,
    last: date,
    now: datetime,
    *,
    sites: Collection[str] | None = None,
) -> Yearly:
    """The evaluation of [first, last] for `sites` (None: the whole network)."""
    loaded = load_sites(session, sites)
    rules = {site_id: loaded[site_id] for site_id in sorted(loaded)}
    members = load_roster(session)
    network = sites is None
    split = len(rules) > 1
    before_first, before_last = previous_period(first, last)
    # The network's charts need no one's months: its whole years are read stored as such.
    tallies = period_tallies(session, rules, first, last, every_site=network, years=network)
    current = evaluate(rules.values(), members, tallies, first, last, network=network)
    previous = evaluate(
        rules.values(),
        members,
        period_tallies(
            session,
            rules,
            before_first,
            before_last,
            every_site=network,
            slots=False,
            years=True,
        ),
        before_first,
        before_last,
        network=network,
    )
    return Yearly(
        current=_report(current, split),
        previous=_report(previous, split),
        subsidy=subsidy_estimate(rules.values(), current.by_site),
        patterns=patterns(rules.values(), members, tallies, first, last, network=network),
        zrr={site_id: site.zrr for site_id, site in rules.items()},
        computed_at=now,
        network=network,
        previous_empty=no_stay(previous.total),
        records_since=first_stay_day(session, sites),
    )
