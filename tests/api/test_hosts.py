"""Issuers come from configuration, never from a caller's Host header (issue #11)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from starlette.testclient import TestClient

from keyrotor.config import Settings
from keyrotor.http import create_app
from keyrotor.service import KeyService
from tests.conftest import ADMIN_TOKEN, TEST_KEK
from tests.support import assert_okta_error

UNKNOWN_HOST = (
    "Not found: this server does not answer for that host "
    "(its public URL, loopback, or --allowed-host)"
)
PATHS = [
    ("GET", "/oauth2/default/v1/keys"),
    ("GET", "/oauth2/default/.well-known/openid-configuration"),
    ("GET", "/.well-known/oauth-authorization-server"),
    ("GET", "/api/v1/authorizationServers"),
    ("POST", "/oauth2/default/v1/token"),
    ("GET", "/oauth2/v1/keys"),
]


def app_client(service: KeyService, **settings: object) -> TestClient:
    service.create_token("admin", ("okta.authorizationServers.manage",), ADMIN_TOKEN)
    made = Settings(database_url="memory://", kek=TEST_KEK, **settings)  # type: ignore[arg-type]
    headers = {"Authorization": f"SSWS {ADMIN_TOKEN}"}
    return TestClient(create_app(service, made, sweep=False), headers=headers)


@pytest.mark.parametrize("public_url", [None, "https://keys.example.com"])
@pytest.mark.parametrize(("method", "path"), PATHS)
def test_a_host_not_allowed_is_refused(
    service: KeyService, public_url: str | None, method: str, path: str
) -> None:
    client = app_client(service, public_url=public_url)
    response = client.request(method, path, headers={"Host": "evil.example"})
    assert_okta_error(response, 404, "E0000007", UNKNOWN_HOST)
    assert response.headers["x-okta-request-id"]


def test_the_public_url_decides_issuer_and_links_whatever_the_host(service: KeyService) -> None:
    client = app_client(service, public_url="https://keys.example.com")
    for host in ("keys.example.com", "127.0.0.1:8080", "localhost"):
        found = client.get(
            "/oauth2/default/.well-known/openid-configuration", headers={"Host": host}
        )
        assert found.status_code == 200
        assert found.json()["issuer"] == "https://keys.example.com/oauth2/default"
        forwarded = client.get(
            "/api/v1/authorizationServers/default",
            headers={"Host": host, "X-Forwarded-Proto": "http", "X-Forwarded-Host": "evil"},
        )
        assert forwarded.json()["issuer"] == "https://keys.example.com/oauth2/default"


def test_an_allowed_host_without_a_public_url(service: KeyService) -> None:
    client = app_client(service, allowed_hosts=("keys.internal",))
    found = client.get(
        "/oauth2/default/.well-known/openid-configuration", headers={"Host": "keys.internal:8443"}
    )
    assert found.status_code == 200
    assert found.json()["issuer"] == "http://keys.internal:8443/oauth2/default"
    assert client.get("/oauth2/default/v1/keys", headers={"Host": "other"}).status_code == 404


@pytest.mark.parametrize("host", ["evil.example", "a@b", "x:notaport", ""])
def test_probes_answer_any_host(service: KeyService, host: str) -> None:
    client = app_client(service)
    assert client.get("/healthz", headers={"Host": host}).status_code == 200
    assert client.get("/readyz", headers={"Host": host}).status_code == 200


def test_a_trailing_slash_is_the_same_resource_never_a_redirect(
    service: KeyService, make_service: Callable[..., KeyService]
) -> None:
    client = app_client(service, public_url="https://keys.example.com")
    plain = client.get("/api/v1/authorizationServers", follow_redirects=False)
    slashed = client.get("/api/v1/authorizationServers/", follow_redirects=False)
    assert slashed.status_code == 200 and "location" not in slashed.headers
    assert slashed.json() == plain.json()
    keys = client.get("/oauth2/default/v1/keys/", follow_redirects=False)
    assert keys.status_code == 200


def test_discovery_is_cacheable_and_says_what_it_varies_on(service: KeyService) -> None:
    """Tied to the key schedule like the JWKS; it varies with the Host only without a
    public URL."""
    own = app_client(service)
    answer = own.get("/oauth2/default/.well-known/openid-configuration")
    jwks = own.get("/oauth2/default/v1/keys")
    assert answer.headers["cache-control"] == jwks.headers["cache-control"]
    assert answer.headers["vary"] == "Host"
    org = own.get("/.well-known/openid-configuration")
    assert org.headers["cache-control"].startswith("max-age=")
    assert org.headers["vary"] == "Host"
    public = app_client(service, public_url="https://keys.example.com")
    fixed = public.get("/oauth2/default/.well-known/openid-configuration")
    assert "vary" not in fixed.headers
    assert fixed.headers["cache-control"] == jwks.headers["cache-control"]
