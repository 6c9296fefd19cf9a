"""The hot paths answered before routing send what the routed handlers send.

The first request for a server misses the cache and is routed; the next ones are answered
by ``http/fast.py``. Both must be the same answer, header for header."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from keyrotor.service import KeyService

VARYING = {"x-okta-request-id", "date", "x-rate-limit-remaining"}


def _same_shape(routed, fast) -> None:  # type: ignore[no-untyped-def]
    assert fast.status_code == routed.status_code
    assert set(fast.headers) == set(routed.headers)
    for name in set(routed.headers) - VARYING - {"cache-control"}:
        assert fast.headers[name] == routed.headers[name], name


@pytest.mark.parametrize(
    ("path", "cached"),
    [
        ("/oauth2/default/v1/keys", "default"),
        ("/oauth2/v1/keys", "org"),
        ("/oauth2/default/.well-known/openid-configuration", "default"),
        ("/oauth2/default/.well-known/oauth-authorization-server", "default"),
        ("/.well-known/openid-configuration", None),
    ],
)
def test_public_reads_are_the_same_from_the_cache(
    client: TestClient, service: KeyService, path: str, cached: str | None
) -> None:
    public = TestClient(client.app)
    service._snapshots.clear()
    routed = public.get(path)
    assert routed.status_code == 200
    assert cached is None or service.peek(cached) is not None
    fast = public.get(path)
    _same_shape(routed, fast)
    assert fast.content == routed.content
    etag = routed.headers.get("etag")
    if etag:
        assert public.get(path, headers={"If-None-Match": etag}).status_code == 304


def test_a_token_is_the_same_from_the_cache(client: TestClient, service: KeyService) -> None:
    assert client.post("/api/v1/authorizationServers/default/scopes", json={"name": "a"}).is_success
    made = client.post("/oauth2/v1/clients", json={"client_name": "c"}).json()
    public = TestClient(client.app)
    form = {"grant_type": "client_credentials", "scope": "a"}
    auth = (made["client_id"], made["client_secret"])
    service._snapshots.clear()  # the first request misses the cache: routed
    oauth = client.app.state.oauth  # type: ignore[attr-defined]
    oauth._clients.clear()
    routed = public.post("/oauth2/default/v1/token", data=form, auth=auth)
    assert oauth.issue_cached is not None and service.peek("default") is not None
    fast = public.post("/oauth2/default/v1/token", data=form, auth=auth)
    _same_shape(routed, fast)
    assert fast.json().keys() == routed.json().keys()
    assert fast.headers["cache-control"] == routed.headers["cache-control"] == "no-store"


def test_an_error_from_the_cache_is_the_routed_error(client: TestClient) -> None:
    """A wrong secret for a cached client: the routed handler reports it, as always."""
    assert client.post("/api/v1/authorizationServers/default/scopes", json={"name": "a"}).is_success
    made = client.post("/oauth2/v1/clients", json={"client_name": "c"}).json()
    public = TestClient(client.app)
    form = {"grant_type": "client_credentials", "scope": "a"}
    good = public.post(
        "/oauth2/default/v1/token", data=form, auth=(made["client_id"], made["client_secret"])
    )
    assert good.status_code == 200
    bad = public.post("/oauth2/default/v1/token", data=form, auth=(made["client_id"], "wrong"))
    assert bad.status_code == 401
    assert bad.json()["error"] == "invalid_client"
    assert bad.headers["www-authenticate"].startswith("Basic")


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/authorizationServers/default",
        "/api/v1/authorizationServers/default/credentials/keys",
        "/api/v1/authorizationServers",
        "/api/v1/authorizationServers?limit=1",
    ],
)
def test_management_reads_are_the_same_from_the_cache(
    client: TestClient, service: KeyService, path: str
) -> None:
    service._snapshots.clear()
    service._pages.clear()
    service.api_tokens._cache.clear()
    routed = client.get(path)
    assert routed.status_code == 200
    fast = client.get(path)
    _same_shape(routed, fast)
    assert fast.content == routed.content
    assert fast.headers["cache-control"] == "no-cache, no-store"
    remaining = [int(r.headers["x-rate-limit-remaining"]) for r in (routed, fast)]
    assert remaining[1] == remaining[0] - 1  # each counted once


def test_one_key_is_the_same_from_the_cache(client: TestClient, service: KeyService) -> None:
    kid = client.get("/api/v1/authorizationServers/default/credentials/keys").json()[0]["kid"]
    path = f"/api/v1/authorizationServers/default/credentials/keys/{kid}"
    service._snapshots.clear()
    routed = client.get(path)
    fast = client.get(path)
    _same_shape(routed, fast)
    assert fast.content == routed.content
    missing = client.get(path[:-3] + "xyz")
    assert missing.status_code == 404  # not in the snapshot: the routed handler says so


def test_the_rate_limit_counts_a_request_once_and_refuses_in_oktas_words(
    service: KeyService, settings
) -> None:  # type: ignore[no-untyped-def]
    import dataclasses

    from keyrotor.apitokens import ALL_SCOPES
    from keyrotor.http import create_app
    from tests.conftest import ADMIN_TOKEN

    service.create_token("admin", ALL_SCOPES, ADMIN_TOKEN)
    app = create_app(service, dataclasses.replace(settings, rate_limit=3), sweep=False)
    with TestClient(app, headers={"Authorization": f"SSWS {ADMIN_TOKEN}"}) as limited:
        answers = [limited.get("/api/v1/authorizationServers/default") for _ in range(5)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429, 429]
    assert [a.headers["x-rate-limit-remaining"] for a in answers] == ["2", "1", "0", "0", "0"]
    assert answers[3].json()["errorCode"] == "E0000047"


def test_a_token_without_the_read_scope_is_refused_by_the_routed_handler(
    client: TestClient,
) -> None:
    from tests.conftest import READ_TOKEN

    reader = TestClient(client.app, headers={"Authorization": f"SSWS {READ_TOKEN}"})
    assert reader.get("/api/v1/authorizationServers/default").status_code == 200
    assert reader.get("/api/v1/authorizationServers/default").status_code == 200
    nobody = TestClient(client.app, headers={"Authorization": "SSWS 00nope"})
    assert nobody.get("/api/v1/authorizationServers/default").status_code == 401


def test_a_bad_list_query_is_the_routed_400_and_logs_nothing(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    """A query the fast path cannot read goes to the routed handler quietly."""
    assert client.get("/api/v1/authorizationServers").status_code == 200  # warm the token
    with caplog.at_level("DEBUG", logger="keyrotor"):
        answer = client.get("/api/v1/authorizationServers?limit=abc")
    assert answer.status_code == 400
    assert answer.json()["errorCode"] == "E0000001"
    assert "fast path failed" not in caplog.text
