"""AuthorizationServerKeysApi over a mock transport: the requests sent, the models returned."""

from __future__ import annotations

import json

import pytest

import okta
from okta.models.authorization_server_json_web_key import AuthorizationServerJsonWebKey
from okta.models.jwk_use import JwkUse

from .conftest import HOST, TOKEN, MockServer, fixture, json_response

KEYS_URL = f"{HOST}/api/v1/authorizationServers/default/credentials/keys"
ROTATE_URL = f"{HOST}/api/v1/authorizationServers/default/credentials/lifecycle/keyRotate"


def test_list_sends_get_with_ssws_token(
    keys_api: okta.AuthorizationServerKeysApi, server: MockServer
) -> None:
    """Listing is a GET with the API token, Accept JSON, our User-Agent and no body."""
    server.queue(json_response(200, fixture("keys")))
    keys_api.list_authorization_server_keys("default")
    request = server.request
    assert (request.method, str(request.url)) == ("GET", KEYS_URL)
    assert request.headers["Authorization"] == f"SSWS {TOKEN}"
    assert request.headers["Accept"] == "application/json"
    assert request.headers["User-Agent"].startswith("keyrotor-okta-client/")
    assert "Content-Type" not in request.headers
    assert request.content == b""


def test_list_returns_the_keys_as_models(
    keys_api: okta.AuthorizationServerKeysApi, server: MockServer
) -> None:
    """The JSON array becomes a list of AuthorizationServerJsonWebKey, members typed."""
    server.queue(json_response(200, fixture("keys")))
    keys = keys_api.list_authorization_server_keys("default")
    assert all(isinstance(key, AuthorizationServerJsonWebKey) for key in keys)
    assert [key.status for key in keys] == ["ACTIVE", "NEXT"]
    assert keys[0].kid == "1I1uPSZKV5y1R_KaUOf24H_h813upj4fzZ-eCfAreN8"
    assert (keys[0].kty, keys[0].alg, keys[0].use, keys[0].e) == ("RSA", "RS256", "sig", "AQAB")
    assert keys[0].links is not None and keys[0].links.var_self is not None
    assert keys[0].links.var_self.href.endswith("/keys/" + keys[0].kid)


def test_list_with_http_info(keys_api: okta.AuthorizationServerKeysApi, server: MockServer) -> None:
    """The _with_http_info variant also gives the status, headers and raw body."""
    server.queue(json_response(200, fixture("keys"), X_Rate_Limit_Remaining="99"))
    response = keys_api.list_authorization_server_keys_with_http_info("default")
    assert response.status_code == 200
    assert response.headers["x-rate-limit-remaining"] == "99"
    assert json.loads(response.raw_data) == fixture("keys")
    assert len(response.data) == 2


def test_path_parameters_are_escaped(
    keys_api: okta.AuthorizationServerKeysApi, server: MockServer
) -> None:
    """An id cannot smuggle another path: slashes and '?' are percent-encoded."""
    server.queue(json_response(200, fixture("key")))
    keys_api.get_authorization_server_key("a/b?c", "k/../x")
    assert server.request.url.raw_path == (
        b"/api/v1/authorizationServers/a%2Fb%3Fc/credentials/keys/k%2F..%2Fx"
    )


@pytest.mark.parametrize(("value", "segment"), [(".", b"%2E"), ("..", b"%2E%2E")])
def test_dot_segments_are_not_resolved(
    keys_api: okta.AuthorizationServerKeysApi, server: MockServer, value: str, segment: bytes
) -> None:
    """An id of '.' or '..' stays an id; it cannot climb to another endpoint."""
    server.queue(json_response(200, fixture("keys")))
    keys_api.list_authorization_server_keys(value)
    assert server.request.url.raw_path == (
        b"/api/v1/authorizationServers/" + segment + b"/credentials/keys"
    )


def test_get_key(keys_api: okta.AuthorizationServerKeysApi, server: MockServer) -> None:
    """Getting a key is GET …/credentials/keys/{kid}, answered by one key."""
    kid = fixture("key")["kid"]
    server.queue(json_response(200, fixture("key")))
    key = keys_api.get_authorization_server_key("default", kid)
    assert (server.request.method, str(server.request.url)) == ("GET", f"{KEYS_URL}/{kid}")
    assert isinstance(key, AuthorizationServerJsonWebKey)
    assert (key.kid, key.status) == (kid, "ACTIVE")


def test_get_key_with_http_info(
    keys_api: okta.AuthorizationServerKeysApi, server: MockServer
) -> None:
    """The _with_http_info variant of get."""
    server.queue(json_response(200, fixture("key")))
    response = keys_api.get_authorization_server_key_with_http_info("default", "kid1")
    assert response.status_code == 200
    assert response.data.kid == fixture("key")["kid"]


def test_rotate_posts_use_sig(
    keys_api: okta.AuthorizationServerKeysApi, server: MockServer
) -> None:
    """The seed's JwkUse() rotates: the body is exactly {"use":"sig"}, as JSON."""
    server.queue(json_response(200, fixture("keys_rotated")))
    keys = keys_api.rotate_authorization_server_keys("default", okta.JwkUse())
    request = server.request
    assert (request.method, str(request.url)) == ("POST", ROTATE_URL)
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Authorization"] == f"SSWS {TOKEN}"
    assert request.content == b'{"use":"sig"}'
    assert [key.status for key in keys] == ["EXPIRED", "ACTIVE", "NEXT"]


@pytest.mark.parametrize(
    ("use", "body"),
    [
        (None, b'{"use":"sig"}'),
        (JwkUse(use="sig"), b'{"use":"sig"}'),
        (JwkUse(use=okta.JwkUseType.SIG), b'{"use":"sig"}'),
        (JwkUse(use=None), b"{}"),
        (JwkUse(use="enc"), b'{"use":"enc"}'),
    ],
)
def test_rotate_bodies(
    keys_api: okta.AuthorizationServerKeysApi,
    server: MockServer,
    use: JwkUse | None,
    body: bytes,
) -> None:
    """No use means JwkUse(); other values are sent as given (the server judges them)."""
    server.queue(json_response(200, fixture("keys_rotated")))
    keys_api.rotate_authorization_server_keys("default", use)
    assert server.request.content == body


def test_rotate_with_http_info(
    keys_api: okta.AuthorizationServerKeysApi, server: MockServer
) -> None:
    """The _with_http_info variant of rotate."""
    server.queue(json_response(200, fixture("keys_rotated")))
    response = keys_api.rotate_authorization_server_keys_with_http_info("default", okta.JwkUse())
    assert response.status_code == 200
    assert [key.status for key in response.data] == ["EXPIRED", "ACTIVE", "NEXT"]


@pytest.mark.parametrize("bad", ["", None])
def test_missing_ids_are_refused_before_sending(
    keys_api: okta.AuthorizationServerKeysApi, server: MockServer, bad: str | None
) -> None:
    """An empty or missing id raises ApiValueError and sends nothing."""
    with pytest.raises(okta.ApiValueError, match="auth_server_id"):
        keys_api.list_authorization_server_keys(bad)  # type: ignore[arg-type]
    with pytest.raises(okta.ApiValueError, match="key_id"):
        keys_api.get_authorization_server_key("default", bad)  # type: ignore[arg-type]
    assert server.requests == []
