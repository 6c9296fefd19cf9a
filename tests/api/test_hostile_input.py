"""Hostile input at the edge (issue #11): no request gets a 500, whatever it holds.

NUL characters and lone UTF-16 surrogates in a path, a query, a header or a body; numbers
that are not ASCII digits; JSON nested 30,000 deep; bodies over the limit; values the
database cannot hold. Each is refused with Okta's error (RFC 6749's on the token
endpoints), on every store, and the answer carries Okta's headers like any other. The
in-process cases run on memory, SQLite and PostgreSQL (``database_url``); the end-to-end
ones on a real ``keyrotor serve`` over PostgreSQL, whose log must stay free of tracebacks.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from starlette.routing import Route
from starlette.testclient import TestClient

from keyrotor.apitokens import ALL_SCOPES
from keyrotor.config import MAX_BODY_BYTES, Settings
from keyrotor.crypto import encode_kek, new_kek
from keyrotor.errors import ValidationFailed
from keyrotor.http import create_app
from keyrotor.http.body import MAX_DEPTH, ascii_int, check_json
from keyrotor.service import KeyService
from keyrotor.storage.sql import SqlStore
from tests.conftest import ADMIN_TOKEN, TEST_KEK, ServerProcess

SERVERS = "/api/v1/authorizationServers"
JSON_HEADERS = {"Content-Type": "application/json"}
FORM_HEADERS = {"Content-Type": "application/x-www-form-urlencoded"}
SERVER = {"name": "hostile", "audiences": ["api://hostile"]}


def app_client(make_service: Callable[..., KeyService], database_url: str) -> TestClient:
    service = make_service(database_url)
    service.create_token("admin", ALL_SCOPES, ADMIN_TOKEN)
    settings = Settings(database_url=database_url, kek=TEST_KEK)
    app = create_app(service, settings, sweep=False)
    headers = {"Authorization": f"SSWS {ADMIN_TOKEN}"}
    return TestClient(app, headers=headers, raise_server_exceptions=False)


@pytest.fixture
def api(make_service: Callable[..., KeyService]) -> Iterator[TestClient]:
    """The app in-process on the memory store, server errors answered (not raised)."""
    with app_client(make_service, "memory://") as client:
        yield client


@pytest.fixture
def stored(database_url: str, make_service: Callable[..., KeyService]) -> Iterator[TestClient]:
    """The same on every store: memory, SQLite and PostgreSQL."""
    with app_client(make_service, database_url) as client:
        yield client


def okta_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """Okta's error body with ``status`` and ``code``, and Okta's headers."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    assert set(body) == {"errorCode", "errorSummary", "errorLink", "errorId", "errorCauses"}
    assert body["errorCode"] == code, body
    assert_okta_headers(response)
    return body


def oauth_error(response: httpx.Response, status: int, error: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"error", "error_description"}
    assert body["error"] == error, body
    assert response.headers["cache-control"] == "no-store"
    assert_okta_headers(response)
    return body


def assert_okta_headers(response: httpx.Response) -> None:
    assert response.headers.get("x-okta-request-id"), dict(response.headers)
    assert response.headers.get("date"), dict(response.headers)
    if response.request.url.path.startswith("/api/"):
        assert response.headers["cache-control"] == "no-cache, no-store"
        assert "x-rate-limit-limit" in response.headers


def count_servers(api: TestClient) -> int:
    return len(api.get(SERVERS).json())


# -- NUL and lone surrogates in the path ---------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/oauth2/default%00/v1/keys",
        "/oauth2/default%00/.well-known/openid-configuration",
        "/oauth2/default%00/.well-known/oauth-authorization-server",
        f"{SERVERS}/default%00",
        f"{SERVERS}/default%00/credentials/keys",
        f"{SERVERS}/default/credentials/keys/a%00",
        f"{SERVERS}/default%00/scopes",
        "/oauth2/v1/clients/a%00",
        "/api/v1/apps/a%00/grants",
        "/api/v1/api-tokens/a%00",
    ],
)
def test_a_nul_in_the_path_is_not_found(api: TestClient, path: str) -> None:
    body = okta_error(api.get(path), 404, "E0000007")
    assert "%00" in body["errorSummary"]  # shown as sent, never as a raw NUL


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
def test_a_nul_in_the_path_of_a_write_is_not_found_and_changes_nothing(
    api: TestClient, method: str
) -> None:
    before = count_servers(api)
    path = {"POST": f"{SERVERS}/default%00/lifecycle/deactivate"}.get(
        method, f"{SERVERS}/default%00"
    )
    okta_error(api.request(method, path, json=SERVER), 404, "E0000007")
    assert count_servers(api) == before
    assert api.get(f"{SERVERS}/default").json()["status"] == "ACTIVE"


def test_a_nul_in_the_path_of_a_token_request_is_okta_s_404(api: TestClient) -> None:
    form = "grant_type=client_credentials&client_id=a&client_secret=b"
    response = api.post("/oauth2/default%00/v1/token", content=form, headers=FORM_HEADERS)
    okta_error(response, 404, "E0000007")


def test_a_lone_surrogate_in_the_path_is_not_found(api: TestClient) -> None:
    # uvicorn decodes paths with errors="replace"; another ASGI server may pass one on
    app = api.app
    seen: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        seen.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/oauth2/a\ud800/v1/keys",
        "raw_path": b"/oauth2/a%ED%A0%80/v1/keys",
        "query_string": b"",
        "headers": [(b"host", b"testserver")],
        "client": ("127.0.0.1", 1),
        "server": ("testserver", 80),
    }
    api.portal.call(app, scope, receive, send)
    start = seen[0]
    assert start["status"] == 404
    names = {name.lower() for name, _ in start["headers"]}
    assert {b"x-okta-request-id", b"date"} <= names
    body = json.loads(b"".join(m.get("body", b"") for m in seen[1:]))
    assert body["errorCode"] == "E0000007"
    assert "%ED%A0%80" in body["errorSummary"]


# -- NUL in the query and headers ------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "named"),
    [
        (f"{SERVERS}?q=a%00b", "q"),
        (f"{SERVERS}?after=a%00b", "after"),
        (f"{SERVERS}?limit=1&q=%00&after=%00", "after, q"),
        (f"{SERVERS}?a%00=1", "(a name)"),
        ("/oauth2/default/v1/keys?x=%00", "x"),
        ("/oauth2/default/.well-known/openid-configuration?x=%00&client_id=a", "x"),
        ("/oauth2/v1/clients?q=%00", "q"),
    ],
)
def test_a_nul_in_the_query_is_refused_by_name(api: TestClient, path: str, named: str) -> None:
    body = okta_error(api.get(path), 400, "E0000001")
    assert body["errorSummary"] == f"Api validation failed: {named}"


@pytest.mark.parametrize(
    "path",
    [
        "/oauth2/default/.well-known/openid-configuration?client_id=a%00",
        "/oauth2/default/.well-known/oauth-authorization-server?client_id=a%00",
        "/.well-known/openid-configuration?client_id=%00",
    ],
)
def test_a_nul_in_discovery_s_client_id_is_okta_s_invalid_client(
    api: TestClient, path: str
) -> None:
    okta_error(api.get(path), 400, "invalid_client")


def test_an_escaped_percent_is_no_nul(api: TestClient) -> None:
    assert api.get(f"{SERVERS}?q=%2500").status_code == 200


def test_a_nul_in_the_query_of_a_token_request_is_invalid_request(api: TestClient) -> None:
    form = "grant_type=client_credentials&client_id=a&client_secret=b"
    response = api.post("/oauth2/default/v1/token?a=%00", content=form, headers=FORM_HEADERS)
    oauth_error(response, 400, "invalid_request")


@pytest.mark.parametrize("header", ["X-Anything", "Authorization", "Host", "DPoP"])
def test_a_nul_in_a_header_is_refused(api: TestClient, header: str) -> None:
    response = api.get(f"{SERVERS}/default", headers={header: "a\x00b"})
    okta_error(response, 400, "E0000001")


def test_a_nul_in_a_header_of_a_token_request_is_invalid_request(api: TestClient) -> None:
    form = "grant_type=client_credentials"
    headers = {**FORM_HEADERS, "Authorization": "Basic a\x00"}
    oauth_error(api.post("/oauth2/v1/token", content=form, headers=headers), 400, "invalid_request")


# -- numbers in queries: ASCII digits only ---------------------------------------------------


@pytest.mark.parametrize(
    "limit", ["%C2%B2", "%D9%A3", "%EF%BC%95", "9" * 5000, "-1", "0", "1e3", "", "+1", " 1"]
)
def test_a_limit_that_is_not_ascii_digits_is_refused(api: TestClient, limit: str) -> None:
    body = okta_error(api.get(f"{SERVERS}?limit={limit}"), 400, "E0000001")
    assert body["errorSummary"] == "Api validation failed: limit"


@pytest.mark.parametrize("query", ["limit=%C2%B2", "limit=", "after=%C2%B2", "limit=%D9%A3"])
def test_numbers_of_the_system_log_are_ascii_digits_too(api: TestClient, query: str) -> None:
    okta_error(api.get(f"/api/v1/logs?{query}"), 400, "E0000001")


def test_ascii_int_takes_ascii_digits_only() -> None:
    assert ascii_int("42") == 42
    assert ascii_int("0") == 0
    for raw in ("\u00b2", "\u0663", "\uff15", "", " 1", "1 ", "+1", "-1", "1_000", "1" * 10):
        assert ascii_int(raw) is None, raw


# -- bodies: depth, NUL and surrogates, size -------------------------------------------------


@pytest.mark.parametrize(
    ("body", "parsed"),
    [
        (b"[" * 30_000, False),  # the reviewed body: past the parser's recursion limit
        (b"[" * 20_000 + b"]" * 20_000, False),  # well-formed, and as deep
        (b'{"a":' * 6_000 + b"1" + b"}" * 6_000, False),
        (b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1), True),  # just past keyrotor's limit
        (b'{"name":"a","audiences":' + b"[" * MAX_DEPTH + b"]" * MAX_DEPTH + b"}", True),
    ],
)
def test_too_deep_json_is_not_well_formed(api: TestClient, body: bytes, parsed: bool) -> None:
    before = count_servers(api)
    response = api.post(SERVERS, content=body, headers=JSON_HEADERS)
    error = okta_error(response, 400, "E0000003")
    if parsed:  # the parser took it; keyrotor's own limit refused it
        assert error["errorCauses"] == [
            {"errorSummary": f"The body nests deeper than {MAX_DEPTH} levels."}
        ]
    assert count_servers(api) == before


def test_too_deep_json_in_a_registration_is_invalid_client_metadata(api: TestClient) -> None:
    response = api.post("/oauth2/v1/clients", content=b"[" * 30_000, headers=JSON_HEADERS)
    oauth_error(response, 400, "invalid_client_metadata")


def test_json_as_deep_as_allowed_is_read() -> None:
    nested: Any = "x"
    for _ in range(MAX_DEPTH):
        nested = [nested]
    check_json(nested)  # no error


@pytest.mark.parametrize(
    ("body", "where"),
    [
        (b'{"name":"a\\u0000","audiences":["x"]}', "name"),
        (b'{"name":"a\\ud800","audiences":["x"]}', "name"),
        (b'{"name":"a","audiences":["x","\\udfff"]}', "audiences[1]"),
        (b'{"name":"a","audiences":["x"],"description":"\\u0000"}', "description"),
        (b'{"name":"a","audiences":["x"],"\\u0000":1}', "body"),
        (b'{"name":"a","audiences":["x"],"credentials":{"signing":{"kid":"\\ud83d"}}}', "kid"),
    ],
)
def test_nul_or_a_lone_surrogate_in_a_json_body_is_refused(
    api: TestClient, body: bytes, where: str
) -> None:
    before = count_servers(api)
    response = api.post(SERVERS, content=body, headers=JSON_HEADERS)
    error = okta_error(response, 400, "E0000001")
    assert where in error["errorCauses"][0]["errorSummary"], error
    assert count_servers(api) == before


def test_a_surrogate_pair_is_text_like_any_other(api: TestClient) -> None:
    body = b'{"name":"emoji \\ud83d\\ude00","audiences":["x"]}'
    response = api.post(SERVERS, content=body, headers=JSON_HEADERS)
    assert response.status_code == 201, response.text
    assert response.json()["name"] == "emoji \U0001f600"


def test_encoded_surrogates_in_raw_utf8_are_not_well_formed(api: TestClient) -> None:
    body = b'{"name":"a\xed\xa0\x80","audiences":["x"]}'  # UTF-8 has no surrogates
    okta_error(api.post(SERVERS, content=body, headers=JSON_HEADERS), 400, "E0000003")


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (f"{SERVERS}/default/scopes", {"name": "a\x00b"}),
        (f"{SERVERS}/default/scopes", {"name": "x", "description": "\ud800"}),
        ("/api/v1/apps/a/grants", {"issuer": "\x00", "scopeId": "okta.x"}),
        (f"{SERVERS}/default/credentials/lifecycle/keyRotate", {"use": "sig\x00"}),
    ],
)
def test_nul_or_surrogates_in_other_bodies_are_refused(
    api: TestClient, path: str, body: dict[str, Any]
) -> None:
    raw = json.dumps(body).encode()  # json.dumps escapes both as \u0000 / \ud800
    okta_error(api.post(path, content=raw, headers=JSON_HEADERS), 400, "E0000001")


def test_nul_in_client_metadata_is_invalid_client_metadata(api: TestClient) -> None:
    raw = json.dumps({"client_name": "a\x00", "grant_types": ["client_credentials"]}).encode()
    response = api.post("/oauth2/v1/clients", content=raw, headers=JSON_HEADERS)
    oauth_error(response, 400, "invalid_client_metadata")
    assert api.get("/oauth2/v1/clients").json() == []


@pytest.mark.parametrize(
    "form",
    [
        "grant_type=client_credentials&client_id=a%00&client_secret=b",
        "grant_type=client_credentials&client_id=a&client_secret=b%00",
        "grant_type=client_credentials%00&client_id=a&client_secret=b",
        "grant_type=client_credentials&client_id=a&client_secret=b&scope=%00",
    ],
)
@pytest.mark.parametrize("path", ["/oauth2/v1/token", "/oauth2/default/v1/token"])
def test_nul_in_a_token_form_is_invalid_request(api: TestClient, form: str, path: str) -> None:
    oauth_error(api.post(path, content=form, headers=FORM_HEADERS), 400, "invalid_request")


def test_nul_in_basic_credentials_is_invalid_client(api: TestClient) -> None:
    headers = {**FORM_HEADERS, "Authorization": "Basic YQBiOmM="}  # "a\0b:c"
    response = api.post(
        "/oauth2/default/v1/token", content="grant_type=client_credentials", headers=headers
    )
    oauth_error(response, 401, "invalid_client")


def test_an_oversized_body_is_413_in_okta_s_shape(api: TestClient) -> None:
    before = count_servers(api)
    raw = json.dumps({**SERVER, "description": "x" * MAX_BODY_BYTES}).encode()
    body = okta_error(api.post(SERVERS, content=raw, headers=JSON_HEADERS), 413, "E0000001")
    assert str(MAX_BODY_BYTES) in body["errorCauses"][0]["errorSummary"]
    assert count_servers(api) == before


def test_an_oversized_streamed_body_is_413_too(api: TestClient) -> None:
    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit is found while reading
        yield b'{"name":"a","description":"'
        for _ in range(MAX_BODY_BYTES // 1024 + 1):
            yield b"x" * 1024
        yield b'"}'

    response = api.post(SERVERS, content=chunks(), headers=JSON_HEADERS)
    okta_error(response, 413, "E0000001")


@pytest.mark.parametrize("path", ["/oauth2/v1/token", "/oauth2/default/v1/token"])
def test_an_oversized_token_request_is_413_invalid_request(api: TestClient, path: str) -> None:
    form = "grant_type=client_credentials&scope=" + "x" * MAX_BODY_BYTES
    oauth_error(api.post(path, content=form, headers=FORM_HEADERS), 413, "invalid_request")


def test_an_oversized_registration_is_413(api: TestClient) -> None:
    raw = json.dumps({"client_name": "x" * MAX_BODY_BYTES}).encode()
    okta_error(api.post("/oauth2/v1/clients", content=raw, headers=JSON_HEADERS), 413, "E0000001")


# -- every store: nothing hostile reaches it -------------------------------------------------


def test_on_every_store_hostile_input_is_refused_before_it(stored: TestClient) -> None:
    """The cases that reached the store (and answered 500 on PostgreSQL) before."""
    before = stored.get(SERVERS).json()
    for path in (
        "/oauth2/default%00/v1/keys",
        "/oauth2/default%00/.well-known/openid-configuration",
        f"{SERVERS}/default%00",
        f"{SERVERS}/default%00/scopes",
        "/oauth2/v1/clients/a%00",
        "/api/v1/apps/a%00/grants",
        "/api/v1/api-tokens/a%00",
    ):
        okta_error(stored.get(path), 404, "E0000007")
    for query in ("q=a%00", "after=a%00", "limit=%C2%B2", "limit=" + "9" * 5000, "limit=%00"):
        okta_error(stored.get(f"{SERVERS}?{query}"), 400, "E0000001")
    okta_error(stored.post(SERVERS, content=b"[" * 30_000, headers=JSON_HEADERS), 400, "E0000003")
    for name in ("a\x00", "a\ud800"):
        raw = json.dumps({"name": name, "audiences": ["x"]}).encode()
        okta_error(stored.post(SERVERS, content=raw, headers=JSON_HEADERS), 400, "E0000001")
        raw = json.dumps({"name": name}).encode()
        scopes = f"{SERVERS}/default/scopes"
        okta_error(stored.post(scopes, content=raw, headers=JSON_HEADERS), 400, "E0000001")
        raw = json.dumps({"client_name": name, "grant_types": ["client_credentials"]}).encode()
        response = stored.post("/oauth2/v1/clients", content=raw, headers=JSON_HEADERS)
        oauth_error(response, 400, "invalid_client_metadata")
    for path in ("/oauth2/v1/token", "/oauth2/default/v1/token"):
        form = "grant_type=client_credentials&client_id=a%00&client_secret=b"
        response = stored.post(path, content=form, headers=FORM_HEADERS)
        oauth_error(response, 400, "invalid_request")
    assert stored.get(SERVERS).json() == before
    assert stored.get("/oauth2/v1/clients").json() == []


# -- the store: data errors are the caller's -------------------------------------------------


def test_a_value_the_database_cannot_hold_is_a_400_not_a_500(sql_url: str) -> None:
    store = SqlStore(sql_url)
    try:
        store.migrate()
        for value in ("a\x00", "a\ud800"):
            try:
                with store.transaction() as tx:
                    tx.get_server(value)
            except ValidationFailed as exc:
                assert exc.status == 400
    finally:
        store.close()


# -- 500s keep Okta's headers, and log one line ----------------------------------------------


def test_an_unexpected_error_answers_okta_s_500_with_okta_s_headers(
    service: KeyService, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(request: Any) -> Any:
        raise RuntimeError("a bug")

    routes = [Route("/api/v1/broken", broken), Route("/broken", broken)]
    app = create_app(service, settings, sweep=False, extra_routes=routes)
    with TestClient(app, raise_server_exceptions=False) as client, caplog.at_level(logging.INFO):
        for path in ("/api/v1/broken", "/broken"):
            response = client.get(path)
            okta_error(response, 500, "E0000009")
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 2  # one line a request, no traceback
    assert all(r.exc_info is None for r in errors)


def test_a_failure_on_a_hot_path_answers_okta_s_500_with_okta_s_headers(
    api: TestClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The fast path hands a request it fails on to the routed handler; when that fails
    too, the 500 is still Okta's, with Okta's headers, and the log holds lines, not
    tracebacks."""
    service = api.app.state.service  # type: ignore[attr-defined]

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(service, "peek", broken)
    monkeypatch.setattr(service, "jwks", broken)
    monkeypatch.setattr(service, "snapshot", broken)
    with caplog.at_level(logging.INFO):
        okta_error(api.get("/oauth2/default/v1/keys"), 500, "E0000009")
        okta_error(api.get(f"{SERVERS}/default/credentials/keys"), 500, "E0000009")
    assert caplog.records
    assert all(r.exc_info is None for r in caplog.records if r.levelno >= logging.INFO)


def test_routing_errors_carry_okta_s_headers(api: TestClient) -> None:
    okta_error(api.get("/nowhere"), 404, "E0000007")
    refused = api.patch(f"{SERVERS}/default")
    okta_error(refused, 405, "E0000022")
    assert refused.headers["allow"] == "DELETE, GET, HEAD, PUT"  # every route of the path
    okta_error(api.get(f"{SERVERS}/default", headers={"Accept": "text/html"}), 400, "E0000021")


# -- end to end: PostgreSQL behind a real server ---------------------------------------------


@pytest.fixture
def pg_server(postgres_url: str, start_server: Callable[..., ServerProcess]) -> ServerProcess:
    return start_server(postgres_url, "--migrate", KEYROTOR_KEK=encode_kek(new_kek()))


@pytest.mark.e2e
def test_unauthenticated_nul_in_a_path_on_postgresql_is_a_quiet_404(
    pg_server: ServerProcess,
) -> None:
    """The reviewed case: a 500 and a 6.8 KB traceback per request, before."""
    auth = {"Authorization": f"SSWS {pg_server.token}"}
    with httpx.Client(base_url=pg_server.url, timeout=10) as http:
        for _ in range(3):
            okta_error(http.get("/oauth2/default%00/v1/keys"), 404, "E0000007")
        okta_error(http.get(f"{SERVERS}?q=a%00", headers=auth), 400, "E0000001")
        okta_error(http.get(f"{SERVERS}?limit=%C2%B2", headers=auth), 400, "E0000001")
        okta_error(http.post(SERVERS, content=b"[" * 30_000, headers=auth), 400, "E0000003")
        name = json.dumps({"name": "a\ud800", "audiences": ["x"]}).encode()
        okta_error(
            http.post(SERVERS, content=name, headers={**auth, **JSON_HEADERS}), 400, "E0000001"
        )
        form = b"grant_type=client_credentials&client_id=a%00&client_secret=b"
        oauth_error(
            http.post("/oauth2/v1/token", content=form, headers=FORM_HEADERS),
            400,
            "invalid_request",
        )
        big = b"x" * (MAX_BODY_BYTES + 1)
        okta_error(
            http.post(SERVERS, content=big, headers={**auth, **JSON_HEADERS}), 413, "E0000001"
        )
    log = pg_server.output()
    assert "Traceback" not in log
    assert not re.search(r'HTTP/1\.1" 5\d\d', log), log
