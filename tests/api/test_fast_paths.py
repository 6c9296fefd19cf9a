"""The hot paths answered before routing send what the routed handlers send.

The first request for a server misses the cache and is routed; the next ones are answered
by ``http/fast.py``. Both must be the same answer, header for header."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from keyrotor.service import KeyService

VARYING = {"x-okta-request-id", "date"}


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
