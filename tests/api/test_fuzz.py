"""No request, however malformed, gets a 500 or a stack trace (contract section 5).

Hypothesis sends random methods, paths built from every route with odd segments, headers
and bodies to the whole app; every answer is below 500 and every error is Okta-shaped
(or OAuth-shaped on the token endpoints).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from tests.conftest import ADMIN_TOKEN, READ_TOKEN

SEGMENTS = st.one_of(
    st.sampled_from(["default", "org", "ausNope", "..", ".", "%00", "%2F", "a" * 300, "é"]),
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12),
)
TEMPLATES = [
    "/api/v1/authorizationServers",
    "/api/v1/authorizationServers/{}",
    "/api/v1/authorizationServers/{}/lifecycle/activate",
    "/api/v1/authorizationServers/{}/lifecycle/deactivate",
    "/api/v1/authorizationServers/{}/credentials/keys",
    "/api/v1/authorizationServers/{}/credentials/keys/{}",
    "/api/v1/authorizationServers/{}/credentials/lifecycle/keyRotate",
    "/api/v1/authorizationServers/{}/scopes",
    "/api/v1/authorizationServers/{}/scopes/{}",
    "/oauth2/{}/v1/keys",
    "/oauth2/{}/v1/token",
    "/oauth2/{}/.well-known/openid-configuration",
    "/oauth2/v1/clients",
    "/oauth2/v1/clients/{}",
    "/oauth2/v1/token",
    "/{}",
]
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
BODIES = st.one_of(
    st.none(),
    st.binary(max_size=200),
    JSON_VALUES.map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries(
        {
            "use": st.sampled_from(["sig", "enc", None]),
            "name": st.text(max_size=5),
            "audiences": st.lists(st.text(max_size=5), max_size=2),
        }
    ).map(lambda v: json.dumps(v).encode()),
    st.sampled_from([b"grant_type=client_credentials&scope=x", b"scope=%%%", b"a=b&a=c"]),
)
HEADERS = st.fixed_dictionaries(
    {},
    optional={
        "Authorization": st.sampled_from(
            [
                f"SSWS {ADMIN_TOKEN}",
                f"SSWS{READ_TOKEN}",
                "Bearer x.y.z",
                "Basic Og==",
                "Basic ####",
                "SSWS",
                "Bearer",
            ]
        ),
        "Content-Type": st.sampled_from(
            [
                "application/json",
                "application/x-www-form-urlencoded",
                "text/plain",
                "application/json; charset=latin-1",
                "multipart/form-data",
                "",
            ]
        ),
        "Accept": st.sampled_from(["*/*", "application/json", "text/html", ""]),
        "If-None-Match": st.sampled_from(['"x"', "*", ""]),
    },
)


@pytest.fixture
def app_client(client: TestClient) -> Iterator[TestClient]:
    client.headers.pop("Authorization")
    with TestClient(client.app, raise_server_exceptions=False) as raw:
        yield raw


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]),
    template=st.sampled_from(TEMPLATES),
    segments=st.lists(SEGMENTS, min_size=2, max_size=2),
    query=st.sampled_from(["", "?limit=0", "?limit=2&after=1", "?q=%25", "?after=-1", "?q="]),
    headers=HEADERS,
    body=BODIES,
)
def test_no_request_gets_a_500(
    app_client: TestClient,
    method: str,
    template: str,
    segments: list[str],
    query: str,
    headers: dict[str, str],
    body: bytes | None,
) -> None:
    path = template.format(*(quote(s, safe="%.") for s in segments)) + query
    response = app_client.request(method, path, headers=headers, content=body)
    assert response.status_code < 500, (method, path, response.text)
    assert "Traceback" not in response.text
    if response.status_code >= 400 and method != "HEAD":
        error = response.json()
        assert "errorCode" in error or "error" in error, error
