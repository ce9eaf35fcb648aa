"""Every panel of dashboards/telecentres.json, run against the real InfluxDB 1.6 over demo data
written by the hub's `TimeSeries` (Grafana itself is not available here: dashboards/README.md).

Grafana's macros are substituted as Grafana does for InfluxQL: `$timeFilter` becomes
`time >= <from>ms and time <= <to>ms`, `$__interval` the group-by interval, and a multi-value
`$site` a regex alternation of the (regex-escaped) values.
"""

from __future__ import annotations

import json
import re
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml

from hub.config import InfluxDb
from hub.intake.timeseries import EventKey, TimeSeries
from tests.servers import REPO, influxql

pytestmark = pytest.mark.influxdb

DASHBOARD = REPO / "dashboards" / "telecentres.json"
Series = list[dict[str, Any]]

#: The demo data sits in the last hours (a panel without a time filter reads up to now).
T0 = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=70)
T0 = T0.replace(minute=T0.minute - T0.minute % 10)
START, END = T0 - timedelta(minutes=30), T0 + timedelta(minutes=50)
INTERVAL = "10m"


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def write_demo(series: TimeSeries) -> None:
    series.occupancy("murat", present=5, positions=8, at=at(-120))  # before the time range
    for minute, site, present, positions in [
        (0, "murat", 1, 8),
        (5, "ydes", 1, 4),
        (12, "murat", 3, 8),
        (25, "murat", 2, 8),
        (31, "ydes", 0, 4),
    ]:
        series.occupancy(site, present=present, positions=positions, at=at(minute))
    forced, held = "door_forced", "door_held_open"
    for minute, counts in [
        (1, {EventKey("murat", "badge", "granted"): 2, EventKey("murat", "door"): 2}),
        (14, {EventKey("murat", "badge", "denied"): 1, EventKey("murat", "alarm", kind=forced): 1}),
        (22, {EventKey("ydes", "badge", "granted"): 1, EventKey("ydes", "alarm", kind=held): 1}),
        (33, {EventKey("murat", "alarm", kind=forced): 1, EventKey("ydes", "exit_request"): 1}),
        (45, {EventKey("ydes", "badge", "denied"): 2}),
    ]:
        series.events(counts, at=at(minute))


def regex_escape(value: str) -> str:
    return re.sub(r"([\\^$.|?*+()\[\]{}/])", r"\\\1", value)


def render(query: str, sites: list[str]) -> str:
    """The query as Grafana sends it for the demo time range and the chosen sites."""
    values = [regex_escape(site) for site in sites]
    rendered = (
        query.replace("$timeFilter", f"time >= {ms(START)}ms and time <= {ms(END)}ms")
        .replace("$__interval", INTERVAL)
        .replace("$site", values[0] if len(values) == 1 else f"({'|'.join(values)})")
    )
    assert "$" not in rendered.replace("$/", ""), f"a macro left in {rendered!r}"
    return rendered


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def minute_of(epoch_s: int) -> int:
    return (epoch_s - int(T0.timestamp())) // 60


def by_tags(series: Series, *tags: str) -> dict[tuple[str, ...], dict[int, Any]]:
    """{tag values: {minute from T0: value}} of a time series result (first value column)."""
    return {
        tuple(s["tags"][tag] for tag in tags): {minute_of(row[0]): row[1] for row in s["values"]}
        for s in series
    }


def nonzero(values: dict[int, Any]) -> dict[int, Any]:
    return {minute: value for minute, value in values.items() if value}


# What each panel shows over the demo data, by title, with all sites chosen.


def occupancy_per_site(series: Series) -> None:
    assert by_tags(series, "site") == {
        ("murat",): {-30: None, -20: None, -10: None, 0: 1, 10: 3, 20: 2, 30: 2, 40: 2, 50: 2},
        ("ydes",): {-30: None, -20: None, -10: None, 0: 1, 10: 1, 20: 1, 30: 0, 40: 0, 50: 0},
    }


def present_now(series: Series) -> None:
    assert {s["tags"]["site"]: (s["columns"], s["values"]) for s in series} == {
        "murat": (["time", "present", "positions", "rate"], [[0, 2, 8, 0.25]]),
        "ydes": (["time", "present", "positions", "rate"], [[0, 0, 4, 0.0]]),
    }


def events_per_type(series: Series) -> None:
    got = {key: nonzero(values) for key, values in by_tags(series, "type").items()}
    assert got == {
        ("alarm",): {10: 1, 20: 1, 30: 1},
        ("badge",): {0: 2, 10: 1, 20: 1, 40: 2},
        ("door",): {0: 2},
        ("exit_request",): {30: 1},
    }


def alarms(series: Series) -> None:
    got = {key: nonzero(values) for key, values in by_tags(series, "site", "kind").items()}
    assert got == {("murat", "door_forced"): {10: 1, 30: 1}, ("ydes", "door_held_open"): {20: 1}}


def alarms_over_the_period(series: Series) -> None:
    got = {(s["tags"]["site"], s["tags"]["kind"]): s["values"][0][1] for s in series}
    assert got == {("murat", "door_forced"): 2, ("ydes", "door_held_open"): 1}


def denied_badges(series: Series) -> None:
    got = {key: nonzero(values) for key, values in by_tags(series, "site").items()}
    assert got == {("murat",): {10: 1}, ("ydes",): {40: 2}}


EXPECTED: dict[str, Callable[[Series], None]] = {
    "Occupation par site": occupancy_per_site,
    "Présents maintenant": present_now,
    "Événements par type": events_per_type,
    "Alarmes": alarms,
    "Alarmes sur la période": alarms_over_the_period,
    "Badges refusés": denied_badges,
}


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return data


@pytest.fixture
def demo(influxdb_config: InfluxDb) -> Iterator[InfluxDb]:
    with TimeSeries.from_config(influxdb_config) as series:
        write_demo(series)
        assert series.flush()
        assert series.dropped == 0
    yield influxdb_config


def targets(dashboard: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (panel["title"], target) for panel in dashboard["panels"] for target in panel["targets"]
    ]


def test_every_panel_has_an_expectation_and_raw_influxql_targets(dashboard: dict[str, Any]) -> None:
    assert sorted(panel["title"] for panel in dashboard["panels"]) == sorted(EXPECTED)
    assert len({panel["id"] for panel in dashboard["panels"]}) == len(dashboard["panels"])
    for title, target in targets(dashboard):
        assert target["rawQuery"] is True, title
        assert target["datasource"] == {"type": "influxdb", "uid": "${datasource}"}, title


def test_every_panel_query_returns_the_expected_series(
    dashboard: dict[str, Any], demo: InfluxDb
) -> None:
    checked = set()
    for title, target in targets(dashboard):
        series = influxql(demo.url, render(target["query"], ["murat", "ydes"]), demo.bucket)
        EXPECTED[title](series)
        checked.add(title)
    assert checked == set(EXPECTED)


def test_the_site_variable_lists_the_sites_and_filters_the_panels(
    dashboard: dict[str, Any], demo: InfluxDb
) -> None:
    (variable,) = [v for v in dashboard["templating"]["list"] if v["name"] == "site"]
    listed = influxql(demo.url, variable["query"], demo.bucket)
    assert [value for _, value in listed[0]["values"]] == ["murat", "ydes"]

    for title, target in targets(dashboard):
        series = influxql(demo.url, render(target["query"], ["ydes"]), demo.bucket)
        sites = {s["tags"]["site"] for s in series if "site" in s.get("tags", {})}
        assert sites <= {"ydes"}, title
    query = {title: target["query"] for title, target in targets(dashboard)}
    series = influxql(demo.url, render(query["Occupation par site"], ["murat"]), demo.bucket)
    assert list(by_tags(series, "site")) == [("murat",)]
    series = influxql(demo.url, render(query["Événements par type"], ["ydes"]), demo.bucket)
    assert {key: nonzero(values) for key, values in by_tags(series, "type").items()} == {
        ("alarm",): {20: 1},
        ("badge",): {20: 1, 40: 2},
        ("exit_request",): {30: 1},
    }


PROVISIONING = REPO / "dashboards" / "provisioning"


def influxql_get(base_url: str, query: str, database: str) -> Series:
    """The query as Grafana's InfluxDB data source sends it with `httpMode: GET`."""
    fields = urllib.parse.urlencode({"q": query, "db": database, "epoch": "ms"})
    with urllib.request.urlopen(f"{base_url}/query?{fields}", timeout=10) as response:
        result = json.load(response)["results"][0]
    assert "error" not in result, (query, result)
    return list(result.get("series", []))


def test_the_provisioned_data_source_runs_every_panel_and_each_returns_points(
    dashboard: dict[str, Any], demo: InfluxDb
) -> None:
    (source,) = yaml.safe_load((PROVISIONING / "datasources" / "telecentres.yaml").read_text())[
        "datasources"
    ]
    assert source["type"] == "influxdb" and source["isDefault"] is True
    assert source["jsonData"]["httpMode"] == "GET" and "version" not in source["jsonData"]
    (variable,) = [v for v in dashboard["templating"]["list"] if v["name"] == "datasource"]
    assert variable["query"] == source["type"]  # the variable offers the provisioned one
    for title, target in targets(dashboard):
        # The provisioned `database` is the hub's bucket; here, the test InfluxDB's.
        series = influxql_get(demo.url, render(target["query"], ["murat", "ydes"]), demo.bucket)
        points = [value for s in series for row in s["values"] for value in row[1:]]
        assert any(value not in (None, 0) for value in points), f"{title}: no points"


def test_the_dashboards_provider_serves_every_dashboard_of_the_folder() -> None:
    (provider,) = yaml.safe_load((PROVISIONING / "dashboards" / "telecentres.yaml").read_text())[
        "providers"
    ]
    assert provider["type"] == "file" and provider["allowUiUpdates"] is False
    path = provider["options"]["path"]
    assert f"cp dashboards/*.json {path}/" in (REPO / "dashboards" / "README.md").read_text()
    uids = [json.loads(file.read_text())["uid"] for file in (REPO / "dashboards").glob("*.json")]
    assert uids and len(set(uids)) == len(uids)
