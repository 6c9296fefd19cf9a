"""Rate limits on every endpoint (issue #11): per IP for what needs no credentials, per
client at the token endpoints, per token on the management API; 429 with Retry-After."""

from __future__ import annotations

import base64

import pytest
from starlette.testclient import TestClient

from keyrotor.clients import ClientSpec
from keyrotor.config import Settings
from keyrotor.http import create_app
from keyrotor.oauth import OAuthService
from keyrotor.service import KeyService
from tests.conftest import ADMIN_TOKEN, TEST_KEK
from tests.support import assert_okta_error

LIMITED = "API call exceeded rate limit due to too many requests."


def limited(service: KeyService, **limits: int) -> TestClient:
    service.create_token("admin", ("okta.authorizationServers.manage",), ADMIN_TOKEN)
    settings = Settings(database_url="memory://", kek=TEST_KEK, **limits)  # type: ignore[arg-type]
    return TestClient(create_app(service, settings, sweep=False))


def assert_limited(response, limit: int) -> None:  # type: ignore[no-untyped-def]
    assert_okta_error(response, 429, "E0000047", LIMITED)
    assert response.headers["x-rate-limit-limit"] == str(limit)
    assert response.headers["x-rate-limit-remaining"] == "0"
    assert 1 <= int(response.headers["retry-after"]) <= 60
    assert response.headers["x-okta-request-id"]


@pytest.mark.parametrize(
    "path",
    [
        "/oauth2/default/v1/keys",
        "/oauth2/v1/keys",
        "/oauth2/default/.well-known/openid-configuration",
        "/.well-known/openid-configuration",
    ],
)
def test_public_endpoints_are_limited_per_ip(service: KeyService, path: str) -> None:
    client = limited(service, public_rate_limit=3)
    for left in (2, 1, 0):
        answer = client.get(path)
        assert answer.status_code == 200
        assert answer.headers["x-rate-limit-remaining"] == str(left)
    assert_limited(client.get(path), 3)
    assert client.get("/healthz").status_code == 200  # probes are not counted


def test_forwarded_for_does_not_change_the_address(service: KeyService) -> None:
    """Only uvicorn, told which proxies to trust, may change the client address."""
    client = limited(service, public_rate_limit=2)
    for ip in ("198.51.100.1", "198.51.100.2"):
        client.get("/oauth2/v1/keys", headers={"X-Forwarded-For": ip})
    assert_limited(client.get("/oauth2/v1/keys", headers={"X-Forwarded-For": "1.2.3.4"}), 2)


def test_token_endpoint_is_limited_per_client(service: KeyService) -> None:
    client = limited(service, token_rate_limit=2)
    oauth = OAuthService(service)
    one, secret_one = oauth.register_client(ClientSpec(name="one"))
    two, secret_two = oauth.register_client(ClientSpec(name="two"))
    oauth.grant(one.client_id, "okta.authorizationServers.read", "", "test")
    oauth.grant(two.client_id, "okta.authorizationServers.read", "", "test")

    def ask(client_id: str, secret: str | None):  # type: ignore[no-untyped-def]
        basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
        form = {"grant_type": "client_credentials", "scope": "okta.authorizationServers.read"}
        return client.post(
            "/oauth2/v1/token", data=form, headers={"Authorization": f"Basic {basic}"}
        )

    assert ask(one.client_id, secret_one).status_code == 200
    assert ask(one.client_id, secret_one).headers["x-rate-limit-remaining"] == "0"
    assert_limited(ask(one.client_id, secret_one), 2)
    assert ask(two.client_id, secret_two).status_code == 200  # another client's own quota


def test_management_429_carries_retry_after(service: KeyService) -> None:
    client = limited(service, rate_limit=1)
    headers = {"Authorization": f"SSWS {ADMIN_TOKEN}"}
    assert client.get("/api/v1/authorizationServers", headers=headers).status_code == 200
    assert_limited(client.get("/api/v1/authorizationServers", headers=headers), 1)
