"""The API's OpenAPI document (hub/api/openapi.yaml, served at /api/v1/openapi.json) is valid,
names exactly the app's routes and each call's query parameters, and describes what a real
hub on PostgreSQL answers: Schemathesis posts what the document allows (and odd values)
to every call with each role's token, and no answer is a 500 or strays from its schema."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, settings
from openapi_spec_validator import validate
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy.orm import Session, sessionmaker

from hub.api.openapi import DOCUMENT, document
from hub.config import Http, HubConfig
from hub.people.imports import import_members, import_sites
from hub.store import make_engine, make_sessionmaker, migrate
from hub.web.app import create_app
from hub.web.body_limits import LARGEST_BODY_BYTES
from hub.web.server import WebServer
from tests.servers import REPO, Postgres, free_port

DEMO = REPO / "deploy" / "demo"
TOKENS: dict[str, Any] = {
    "department-token-0001": "department",
    "admin-token-00000001": "admin",
    "animator-murat-token-01": "animator:murat",
}
#: Examples per operation (each sent with every role's token): enough to meet the odd
#: values, short enough for the whole suite's time on CI.
EXAMPLES = 15

schemathesis.serializer.alias("application/x-ndjson", "text/plain")
schema = schemathesis.openapi.from_path(DOCUMENT)


def app_for(sessions: sessionmaker[Session]) -> Flask:
    return create_app(HubConfig(api_tokens=TOKENS), sessionmaker=sessions, mqtt_up=lambda: True)


def test_the_document_is_valid_openapi_and_is_what_the_hub_serves(
    sessions: sessionmaker[Session],
) -> None:
    validate(document())
    answer = app_for(sessions).test_client().get("/api/v1/openapi.json")
    assert answer.status_code == 200
    assert answer.get_json() == document()


def _path(rule: str) -> str:
    """A Flask rule as OpenAPI writes it: `<int:session_id>` → `{session_id}`."""
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.removeprefix("/api/v1"))


def test_the_document_names_exactly_the_apps_routes(sessions: sessionmaker[Session]) -> None:
    app = app_for(sessions)
    served = {
        (method.lower(), _path(rule.rule))
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/v1/")
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
    }
    documented = {
        (method, path) for path, operations in document()["paths"].items() for method in operations
    }
    assert documented == served


def _query_names(operation: dict[str, Any]) -> set[str]:
    names = set()
    for parameter in operation.get("parameters", []):
        if "$ref" in parameter:
            parameter = document()["components"]["parameters"][parameter["$ref"].split("/")[-1]]
        if parameter["in"] == "query":
            names.add(parameter["name"])
    return names


@pytest.mark.parametrize(
    ("method", "path"),
    [
        (method, path)
        for path, operations in document()["paths"].items()
        for method in operations
        if "{" not in path and path != "/health" and not (path == "/sessions" and method == "post")
    ],
)
def test_each_call_takes_exactly_the_query_parameters_documented(
    sessions: sessionmaker[Session], method: str, path: str
) -> None:
    """Each call names what it takes when it refuses an unknown parameter: that list is the
    document's."""
    answer = (
        app_for(sessions)
        .test_client()
        .open(
            f"/api/v1{path}?not-a-parameter=1",
            method=method.upper(),
            headers={"Authorization": "Bearer department-token-0001"},
        )
    )
    assert answer.status_code == 400, answer.text
    taken = re.search(r"this call takes (.*)\)$", answer.get_json()["error"])
    assert taken is not None, answer.get_json()
    assert set(taken.group(1).split(", ")) - {""} == _query_names(
        document()["paths"][path][method]
    ) | {"format"}


@pytest.fixture(scope="module")
def live_hub(postgres: Postgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The hub's app on waitress and a PostgreSQL database holding the demo's sites and
    members: its API's base URL."""
    url = postgres.create_database()
    migrate(url)
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    with sessions.begin() as session:
        import_sites(session, (DEMO / "sites.yaml").read_text(encoding="utf-8"))
        import_members(session, (DEMO / "members.csv").read_text(encoding="utf-8"))
    http = Http(port=free_port(), threads=4)
    web = WebServer(
        create_app(HubConfig(api_tokens=TOKENS, http=http), sessionmaker=sessions),
        http,
        max_body_bytes=LARGEST_BODY_BYTES,
    )
    web.start()
    yield f"{web.url}/api/v1"
    web.stop()
    engine.dispose()
    postgres.drop_database(url)


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_answer_matches_the_document_with_every_role(case: Any, live_hub: str) -> None:
    for token in TOKENS:
        case.call_and_validate(
            base_url=live_hub,
            headers={"Authorization": f"Bearer {token}"},
            checks=[
                not_a_server_error,
                status_code_conformance,
                content_type_conformance,
                response_schema_conformance,
            ],
        )
