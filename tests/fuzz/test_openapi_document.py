"""``GET /openapi.json`` cannot drift: the document shipped in the package is what
``openapi_build.py`` makes from Okta's description, it is valid OpenAPI 3.1, every route of
the app is one of its operations and every operation a route, and each operation asks for
the scope its route checks."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from schemathesis.specs.openapi.definitions import OPENAPI_31
from starlette.routing import Route
from starlette.testclient import TestClient

from keyrotor.apitokens import SCOPE_MANAGE, SCOPE_READ
from keyrotor.http.openapi import PATH, document
from tests.conftest import READ_TOKEN
from tests.fuzz.openapi_build import SHIPPED, build, render

METHODS = ("get", "put", "post", "delete", "patch")


def _shape(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", path)


def _operations(doc: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method.upper(), _shape(path)): operation
        for path, item in doc["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    }


def test_the_shipped_document_is_the_build_of_okta_s_description() -> None:
    stale = "openapi.json is stale: run `.venv/bin/python -m tests.fuzz.openapi_build`"
    assert SHIPPED.read_text() == render(build()), stale


def test_the_document_is_valid_openapi_3_1() -> None:
    doc = document()
    assert doc["openapi"] == "3.1.0"
    errors = list(Draft202012Validator(OPENAPI_31).iter_errors(doc))
    assert not errors, [f"{list(e.absolute_path)}: {e.message[:200]}" for e in errors]
    for schema in doc["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)
    assert "nullable" not in json.dumps(doc["components"]["schemas"])
    ids = [op["operationId"] for op in _operations(doc).values()]
    assert len(ids) == len(set(ids))


def test_every_route_is_an_operation_and_every_operation_a_route(client: TestClient) -> None:
    routes = {
        (method, _shape(route.path))
        for route in client.app.routes  # type: ignore[attr-defined]
        if isinstance(route, Route)
        for method in route.methods or ()
        if method != "HEAD"  # Starlette answers HEAD wherever GET is; not documented
    }
    documented = set(_operations(document()))
    assert routes - documented == set(), "routes the document does not describe"
    assert documented - routes == set(), "operations the app does not serve"


def test_openapi_json_is_served_unauthenticated_with_okta_s_headers(client: TestClient) -> None:
    client.headers.pop("Authorization")
    response = client.get(PATH)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == document()
    assert response.headers["cache-control"] == "public, max-age=3600"
    assert response.headers["x-okta-request-id"] and response.headers["date"]
    again = client.get(PATH, headers={"If-None-Match": response.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == response.headers["etag"]


def _url(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x", path.replace("{authServerId}", "default"))


def test_each_operation_asks_for_the_scope_its_route_checks(client: TestClient) -> None:
    """A read-only token is refused (403) exactly where the document asks for manage; no
    token at all is refused (401) exactly where the document asks for one."""
    for path, item in document()["paths"].items():
        for method, operation in item.items():
            security = operation.get("security")
            url = _url(path)
            anonymous = client.request(method, url, headers={"Authorization": ""}, json={})
            if security is None:
                assert anonymous.status_code != 401, (method, path, anonymous.text)
                continue
            if "apiToken" not in {name for requirement in security for name in requirement}:
                continue  # the token endpoints: client authentication (tests/tokens)
            assert anonymous.status_code == 401, (method, path, anonymous.text)
            scopes = {s for requirement in security for s in requirement.get("oauth2", [])}
            needs = scopes or {SCOPE_MANAGE}  # an API token alone: admin tokens only
            read = client.request(
                method, url, headers={"Authorization": f"SSWS {READ_TOKEN}"}, json={}
            )
            if needs == {SCOPE_READ}:
                assert read.status_code != 403, (method, path, read.text)
            else:
                assert needs == {SCOPE_MANAGE}, needs
                assert read.status_code == 403, (method, path, read.text)


@pytest.mark.parametrize(
    ("operation_id", "statuses"),
    [
        ("listAuthorizationServers", {"200", "400", "401", "403", "429", "503"}),
        ("createAuthorizationServer", {"201", "400", "401", "403", "413", "429", "503"}),
        ("oauthKeysCustomAS", {"200", "304", "400", "404", "429", "503"}),
        ("tokenCustomAS", {"200", "400", "401", "403", "404", "413", "429", "503"}),
    ],
)
def test_the_statuses_keyrotor_adds_are_documented(operation_id: str, statuses: set[str]) -> None:
    found = {op["operationId"]: op for op in _operations(document()).values()}
    assert set(found[operation_id]["responses"]) == statuses
