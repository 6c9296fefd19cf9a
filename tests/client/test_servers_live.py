"""AuthorizationServerApi and the error paths against a real keyrotor server process."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest

import okta

pytestmark = pytest.mark.e2e


def client_for(live_server: Any, token: str | None = None) -> okta.ApiClient:
    configuration = okta.Configuration(host=live_server.url)
    if token is not None:
        configuration.api_key["apiToken"] = token
    return okta.ApiClient(configuration)


@pytest.fixture
def api_client(live_server: Any) -> Iterator[okta.ApiClient]:
    with client_for(live_server, live_server.token) as api_client:
        yield api_client


@pytest.fixture
def servers(api_client: okta.ApiClient) -> okta.AuthorizationServerApi:
    return okta.AuthorizationServerApi(api_client)


@pytest.fixture
def keys(api_client: okta.ApiClient) -> okta.AuthorizationServerKeysApi:
    return okta.AuthorizationServerKeysApi(api_client)


def unique(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


def create(
    servers: okta.AuthorizationServerApi, name: str, **members: Any
) -> okta.AuthorizationServer:
    server = okta.AuthorizationServer(
        name=name, description="client e2e", audiences=[f"api://{name}"], **members
    )
    return servers.create_authorization_server(server)


def test_create_get_replace_lifecycle_delete(
    servers: okta.AuthorizationServerApi, keys: okta.AuthorizationServerKeysApi
) -> None:
    """The whole life of a server through the client, with Okta's status codes."""
    name = unique("crud")
    response = servers.create_authorization_server_with_http_info(
        okta.AuthorizationServer(name=name, description="client e2e", audiences=[f"api://{name}"])
    )
    assert response.status_code == 201
    created = response.data
    assert created.id is not None and created.name == name
    assert created.status == okta.LifecycleStatus.ACTIVE
    assert created.audiences == [f"api://{name}"]
    assert created.issuer is not None and created.issuer.endswith(f"/oauth2/{created.id}")
    assert created.credentials is not None and created.credentials.signing is not None
    signing = created.credentials.signing
    assert signing.rotation_mode == okta.AuthorizationServerCredentialsRotationMode.AUTO
    server_keys = keys.list_authorization_server_keys(created.id)
    assert [k.kid for k in server_keys if k.status == "ACTIVE"] == [signing.kid]

    got = servers.get_authorization_server(created.id)
    assert (got.id, got.name, got.created) == (created.id, name, created.created)

    got.description = "replaced"
    got.audiences = [f"api://{name}", "api://other"]
    assert got.credentials is not None and got.credentials.signing is not None
    got.credentials.signing.rotation_mode = "MANUAL"
    replaced = servers.replace_authorization_server(created.id, got)
    assert replaced.description == "replaced"
    assert replaced.audiences == [f"api://{name}", "api://other"]
    assert replaced.credentials is not None and replaced.credentials.signing is not None
    assert replaced.credentials.signing.rotation_mode == "MANUAL"
    assert replaced.credentials.signing.next_rotation is None
    assert replaced.credentials.signing.kid == signing.kid

    assert servers.deactivate_authorization_server_with_http_info(created.id).status_code == 204
    inactive = servers.get_authorization_server(created.id)
    assert inactive.status == "INACTIVE"
    assert inactive.links is not None and inactive.links.activate is not None
    assert servers.activate_authorization_server_with_http_info(created.id).status_code == 204
    assert servers.get_authorization_server(created.id).status == "ACTIVE"

    with pytest.raises(okta.BadRequestException) as caught:
        servers.delete_authorization_server(created.id)
    assert caught.value.error_code == "E0000001"

    servers.deactivate_authorization_server(created.id)
    assert servers.delete_authorization_server_with_http_info(created.id).status_code == 204
    with pytest.raises(okta.NotFoundException) as missing:
        servers.get_authorization_server(created.id)
    assert missing.value.error_code == "E0000007"


def test_rotate_on_a_new_server(
    servers: okta.AuthorizationServerApi, keys: okta.AuthorizationServerKeysApi
) -> None:
    """Rotation answers the list after it and moves credentials.signing.kid."""
    created = create(servers, unique("rotate"))
    assert created.id is not None
    before = {k.status: k.kid for k in keys.list_authorization_server_keys(created.id)}
    after_list = keys.rotate_authorization_server_keys(created.id, okta.JwkUse())
    after = {k.kid: k.status for k in after_list}
    assert after[before["ACTIVE"]] == "EXPIRED" and after[before["NEXT"]] == "ACTIVE"
    server = servers.get_authorization_server(created.id)
    assert server.credentials is not None and server.credentials.signing is not None
    assert server.credentials.signing.kid == before["NEXT"]
    key = keys.get_authorization_server_key(created.id, str(before["NEXT"]))
    assert (key.kid, key.status) == (before["NEXT"], "ACTIVE")


def test_listing_pages_with_link_headers(servers: okta.AuthorizationServerApi) -> None:
    """limit=1 and q: every matching server arrives, one page per request, via rel=next."""
    prefix = unique("page")
    made = {create(servers, f"{prefix}-{i}").id for i in range(3)}
    first = servers.list_authorization_servers_with_http_info(q=prefix, limit=1)
    assert len(first.data) == 1 and 'rel="next"' in first.headers["link"]
    assert {s.id for s in servers.iter_authorization_servers(q=prefix, limit=1)} == made
    assert {s.id for s in servers.list_authorization_servers(q=prefix)} == made
    everything = [s.id for s in servers.iter_authorization_servers(limit=2)]
    assert made <= set(everything) and "default" in everything
    assert len(everything) == len(set(everything))


def test_unknown_server_and_key_are_404(keys: okta.AuthorizationServerKeysApi) -> None:
    """An unknown server or kid raises NotFoundException with Okta's E0000007 body."""
    with pytest.raises(okta.NotFoundException) as caught:
        keys.list_authorization_server_keys("ausNoSuchServer000000")
    error = caught.value
    assert (error.status, error.error_code) == (404, "E0000007")
    assert error.error_summary is not None and "ausNoSuchServer000000" in error.error_summary
    assert error.error_id and error.headers.get("x-okta-request-id")
    with pytest.raises(okta.NotFoundException):
        keys.get_authorization_server_key("default", "no-such-kid")
    with pytest.raises(okta.NotFoundException):
        keys.rotate_authorization_server_keys("ausNoSuchServer000000", okta.JwkUse())


def test_rotating_with_another_use_is_400(keys: okta.AuthorizationServerKeysApi) -> None:
    """{"use":"enc"} and {} draw 400 E0000001 with the cause; nothing rotates."""
    before = keys.list_authorization_server_keys("default")
    for use in (okta.JwkUse(use="enc"), okta.JwkUse(use=None)):
        with pytest.raises(okta.BadRequestException) as caught:
            keys.rotate_authorization_server_keys("default", use)
        assert caught.value.error_code == "E0000001"
        assert caught.value.error_causes == ["Invalid value specified for key 'use' parameter"]
    assert keys.list_authorization_server_keys("default") == before


@pytest.mark.parametrize("token", [None, "00not-a-real-token-0000000000000000000000"])
def test_missing_or_unknown_credentials_are_401(live_server: Any, token: str | None) -> None:
    """No token or an unknown one raises UnauthorizedException, E0000011."""
    with (
        client_for(live_server, token) as api_client,
        pytest.raises(okta.UnauthorizedException) as caught,
    ):
        okta.AuthorizationServerKeysApi(api_client).list_authorization_server_keys("default")
    assert caught.value.error_code == "E0000011"


def test_rate_limit_headers_are_exposed(keys: okta.AuthorizationServerKeysApi) -> None:
    """The management API's X-Rate-Limit-* headers reach the caller through ApiResponse."""
    response = keys.list_authorization_server_keys_with_http_info("default")
    for header in ("x-rate-limit-limit", "x-rate-limit-remaining", "x-rate-limit-reset", "date"):
        assert header in response.headers
