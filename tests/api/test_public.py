"""The public JWKS and discovery documents of each server (no authentication)."""

from __future__ import annotations

from datetime import timedelta

from starlette.testclient import TestClient

from keyrotor.clock import ManualClock
from tests.support import assert_okta_error

JWKS = "/oauth2/{}/v1/keys"
ROTATE = "/api/v1/authorizationServers/{}/credentials/lifecycle/keyRotate"
PUBLIC_MEMBERS = ["kty", "alg", "kid", "use", "e", "n"]


def anonymous(client: TestClient) -> TestClient:
    client.headers.pop("Authorization", None)
    return client


def test_jwks_holds_the_published_keys_with_public_members_only(client: TestClient) -> None:
    listed = client.get("/api/v1/authorizationServers/default/credentials/keys").json()
    response = anonymous(client).get(JWKS.format("default"))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    keys = response.json()["keys"]
    assert [list(k) for k in keys] == [PUBLIC_MEMBERS] * 2
    assert [k["kid"] for k in keys] == [k["kid"] for k in listed]


def test_jwks_follows_rotation_at_once(client: TestClient) -> None:
    after = client.post(ROTATE.format("default"), json={"use": "sig"}).json()
    keys = client.get(JWKS.format("default")).json()["keys"]
    assert [k["kid"] for k in keys] == [k["kid"] for k in after]


def test_jwks_etag_and_304(client: TestClient) -> None:
    first = client.get(JWKS.format("default"))
    etag = first.headers["etag"]
    assert etag.startswith('"') and etag.endswith('"')
    again = client.get(JWKS.format("default"), headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == etag
    client.post(ROTATE.format("default"), json={"use": "sig"})
    changed = client.get(JWKS.format("default"), headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag


def test_jwks_bytes_are_stable(client: TestClient) -> None:
    """The same keys render the same bytes (and so the same ETag) every time."""
    assert client.get(JWKS.format("default")).content == client.get(JWKS.format("default")).content


def test_max_age_never_runs_past_the_next_rotation(client: TestClient, clock: ManualClock) -> None:
    assert client.get(JWKS.format("default")).headers["cache-control"] == (
        "max-age=3600, must-revalidate"
    )
    clock.advance(timedelta(days=90) - timedelta(seconds=100))
    assert client.get(JWKS.format("default")).headers["cache-control"] == (
        "max-age=100, must-revalidate"
    )


def test_max_age_stops_when_a_retained_key_leaves(client: TestClient, clock: ManualClock) -> None:
    """Two rotations: the older EXPIRED key leaves when its retention (65 min) ends."""
    client.post(ROTATE.format("default"), json={"use": "sig"})
    clock.advance(timedelta(minutes=30))
    client.post(ROTATE.format("default"), json={"use": "sig"})
    response = client.get(JWKS.format("default"))
    assert len(response.json()["keys"]) == 4
    assert response.headers["cache-control"] == "max-age=2100, must-revalidate"
    clock.advance(timedelta(seconds=2100))
    assert len(client.get(JWKS.format("default")).json()["keys"]) == 3


def test_jwks_of_unknown_or_inactive_server_is_404(client: TestClient) -> None:
    assert_okta_error(
        client.get(JWKS.format("ausNope")),
        404,
        "E0000007",
        "Not found: Resource not found: ausNope (AuthorizationServer)",
    )
    client.post("/api/v1/authorizationServers/default/lifecycle/deactivate")
    assert client.get(JWKS.format("default")).status_code == 404
    assert client.get("/oauth2/default/.well-known/openid-configuration").status_code == 404


def test_discovery_documents(client: TestClient) -> None:
    for name in ("openid-configuration", "oauth-authorization-server"):
        response = anonymous(client).get(f"/oauth2/default/.well-known/{name}")
        assert response.status_code == 200
        document = response.json()
        assert document["issuer"] == "http://testserver/oauth2/default"
        assert document["jwks_uri"] == "http://testserver/oauth2/default/v1/keys"
        assert document["id_token_signing_alg_values_supported"] == ["RS256"]


def test_public_endpoints_need_no_token_and_carry_request_ids(client: TestClient) -> None:
    response = anonymous(client).get(JWKS.format("default"))
    assert response.status_code == 200
    assert response.headers["x-okta-request-id"]
    assert response.headers["x-rate-limit-limit"] == "6000"  # per IP (issue #11)
