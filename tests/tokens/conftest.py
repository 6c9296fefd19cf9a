"""Fixtures of the token tests: an anonymous client on the app, a registered OAuth client,
a custom scope, and a ``PyJWKClient`` that fetches through the in-process app."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest
from jwt import PyJWKClient
from starlette.testclient import TestClient

SCOPE = "things:read"
TOKEN = "/oauth2/{}/v1/token"
CLIENTS = "/oauth2/v1/clients"
SCOPES = "/api/v1/authorizationServers/{}/scopes"


@pytest.fixture
def public(client: TestClient) -> TestClient:
    """The same app, with no Authorization header preset."""
    return TestClient(client.app)


@pytest.fixture
def registered(client: TestClient) -> dict[str, Any]:
    """A client registered with RFC 7591 (client_secret_basic): its full registration answer."""
    response = client.post(CLIENTS, json={"client_name": "billing-service"})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture
def scoped(client: TestClient) -> dict[str, Any]:
    """The scope ``things:read`` on the ``default`` server."""
    response = client.post(SCOPES.format("default"), json={"name": SCOPE})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def basic(client_id: str, secret: str) -> dict[str, str]:
    raw = f"{client_id}:{secret}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def request_token(
    public: TestClient,
    creds: dict[str, Any],
    scope: str | None = SCOPE,
    server: str = "default",
    **form: str,
) -> httpx.Response:
    """A client_credentials request with client_secret_basic."""
    data = {"grant_type": "client_credentials", **form}
    if scope is not None:
        data["scope"] = scope
    url = "/oauth2/v1/token" if server == "org" else TOKEN.format(server)
    return public.post(url, data=data, headers=basic(creds["client_id"], creds["client_secret"]))


def mint(public: TestClient, creds: dict[str, Any], **kwargs: Any) -> str:
    response = request_token(public, creds, **kwargs)
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


class AppJWKClient(PyJWKClient):
    """PyJWT's JWKS client (its cache, its refetch on an unknown kid), over the test client."""

    def __init__(self, app_client: TestClient, uri: str) -> None:
        super().__init__(uri, cache_keys=True)
        self.app_client = app_client
        self.fetches = 0

    def fetch_data(self) -> Any:
        self.fetches += 1
        data = self.app_client.get(self.uri).json()
        if self.jwk_set_cache is not None:
            self.jwk_set_cache.put(data)
        return data
