"""The token endpoint: the answer, the token's header and claims, and every error, exactly."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any

import httpx
import jwt
import pytest
from starlette.testclient import TestClient

from keyrotor.clock import ManualClock
from keyrotor.service import KeyService
from tests.support import assert_okta_error
from tests.tokens.conftest import (
    SCOPE,
    SCOPES,
    TOKEN,
    AppJWKClient,
    basic,
    mint,
    request_token,
)

pytestmark = pytest.mark.usefixtures("scoped")
BAD_CLIENT = (
    "Client authentication failed. Either the client or the client credentials are invalid."
)


def _decode(part: str) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return value


def _parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    header, claims, _ = token.split(".")
    return _decode(header), _decode(claims)


def assert_oauth_error(response: httpx.Response, status: int, error: str, description: str) -> None:
    """The exact OAuth error: the body, JSON, and never cached."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"
    assert response.json() == {"error": error, "error_description": description}


def test_answer_is_oktas_shape_and_never_cached(
    public: TestClient, registered: dict[str, Any]
) -> None:
    response = request_token(public, registered)
    assert response.status_code == 200
    body = response.json()
    assert list(body) == ["token_type", "expires_in", "access_token", "scope"]
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["scope"] == SCOPE
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"
    assert response.headers["content-type"] == "application/json"


def test_token_is_signed_with_the_active_key_and_carries_oktas_claims(
    client: TestClient, public: TestClient, registered: dict[str, Any], clock: ManualClock
) -> None:
    token = mint(public, registered)
    header, claims = _parts(token)
    active = client.get("/api/v1/authorizationServers/default").json()
    assert header == {"typ": "JWT", "alg": "RS256", "kid": active["credentials"]["signing"]["kid"]}
    now = int(clock().timestamp())
    assert claims["ver"] == 1
    assert claims["jti"].startswith("AT.") and len(claims["jti"]) > 20
    assert claims["iss"] == "http://testserver/oauth2/default"
    assert claims["aud"] == "api://default"
    assert (claims["iat"], claims["exp"]) == (now, now + 3600)
    assert claims["cid"] == claims["sub"] == registered["client_id"]
    assert claims["scp"] == [SCOPE]
    assert list(claims) == ["ver", "jti", "iss", "aud", "iat", "exp", "cid", "sub", "scp"]
    assert _parts(mint(public, registered))[1]["jti"] != claims["jti"]


def test_token_verifies_with_pyjwt_against_the_jwks(
    public: TestClient, registered: dict[str, Any], clock: ManualClock
) -> None:
    token = mint(public, registered)
    key = AppJWKClient(public, "http://testserver/oauth2/default/v1/keys")
    claims = jwt.decode(
        token,
        key.get_signing_key_from_jwt(token).key,
        algorithms=["RS256"],
        audience="api://default",
        issuer="http://testserver/oauth2/default",
        options={"verify_exp": False, "verify_iat": False},  # the test clock is not the wall clock
    )
    assert claims["sub"] == registered["client_id"]


def test_several_audiences_become_a_list(
    client: TestClient, public: TestClient, registered: dict[str, Any]
) -> None:
    created = client.post(
        "/api/v1/authorizationServers", json={"name": "multi", "audiences": ["api://a", "api://b"]}
    ).json()
    client.post(SCOPES.format(created["id"]), json={"name": SCOPE})
    claims = _parts(mint(public, registered, server=created["id"]))[1]
    assert claims["aud"] == ["api://a", "api://b"]
    assert claims["iss"] == f"http://testserver/oauth2/{created['id']}"


def test_client_secret_post_and_repeated_scopes(client: TestClient, public: TestClient) -> None:
    body = {"client_name": "poster", "token_endpoint_auth_method": "client_secret_post"}
    creds = client.post("/oauth2/v1/clients", json=body).json()
    client.post(SCOPES.format("default"), json={"name": "things:write"})
    form = {
        "grant_type": "client_credentials",
        "client_id": creds["client_id"],
        "client_secret": creds["client_secret"],
        "scope": f"{SCOPE} things:write {SCOPE}",
    }
    response = public.post(TOKEN.format("default"), data=form)
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == f"{SCOPE} things:write"
    assert _parts(response.json()["access_token"])[1]["scp"] == [SCOPE, "things:write"]


def test_lifetime_is_configurable(registered: dict[str, Any], client: TestClient) -> None:
    client.app.state.oauth.token_lifetime = timedelta(minutes=5)
    response = request_token(TestClient(client.app), registered)
    claims = _parts(response.json()["access_token"])[1]
    assert response.json()["expires_in"] == 300
    assert claims["exp"] - claims["iat"] == 300


# -- errors ------------------------------------------------------------------------------


def test_unknown_server_is_oktas_404(public: TestClient, registered: dict[str, Any]) -> None:
    response = request_token(public, registered, server="ausNope")
    assert_okta_error(
        response, 404, "E0000007", "Not found: Resource not found: ausNope (AuthorizationServer)"
    )


def test_inactive_server_is_oktas_404(
    client: TestClient, public: TestClient, registered: dict[str, Any]
) -> None:
    client.post("/api/v1/authorizationServers/default/lifecycle/deactivate")
    response = request_token(public, registered)
    assert_okta_error(
        response, 404, "E0000007", "Not found: Resource not found: default (AuthorizationServer)"
    )


def test_org_id_is_not_a_custom_server(public: TestClient, registered: dict[str, Any]) -> None:
    response = public.post(TOKEN.format("org"), data={"grant_type": "client_credentials"})
    assert_okta_error(
        response, 404, "E0000007", "Not found: Resource not found: org (AuthorizationServer)"
    )


@pytest.mark.parametrize(
    ("content", "headers"),
    [
        (json.dumps({"grant_type": "client_credentials"}), {"Content-Type": "application/json"}),
        ("grant_type=client_credentials", {"Content-Type": "text/plain"}),
        ("grant_type=client_credentials", {}),
    ],
)
def test_a_body_that_is_not_a_form(
    public: TestClient, registered: dict[str, Any], content: str, headers: dict[str, str]
) -> None:
    creds = basic(registered["client_id"], registered["client_secret"])
    response = public.post(TOKEN.format("default"), content=content, headers={**creds, **headers})
    assert_oauth_error(
        response,
        400,
        "invalid_request",
        "The token request must be sent as application/x-www-form-urlencoded.",
    )


def test_repeated_parameter(public: TestClient, registered: dict[str, Any]) -> None:
    content = "grant_type=client_credentials&scope=a&scope=b"
    response = public.post(
        TOKEN.format("default"),
        content=content,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            **basic(registered["client_id"], registered["client_secret"]),
        },
    )
    assert_oauth_error(
        response, 400, "invalid_request", "The 'scope' parameter must not be repeated."
    )


def test_body_too_large(public: TestClient, registered: dict[str, Any]) -> None:
    response = request_token(public, registered, pad="x" * 70_000)
    assert_oauth_error(
        response, 413, "invalid_request", "The request body is larger than 65536 bytes."
    )


def test_body_not_utf8(public: TestClient, registered: dict[str, Any]) -> None:
    response = public.post(
        TOKEN.format("default"),
        content=b"grant_type=\xff\xfe",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert_oauth_error(
        response, 400, "invalid_request", "The request body is not a well-formed form."
    )


def test_missing_grant_type(public: TestClient, registered: dict[str, Any]) -> None:
    response = public.post(
        TOKEN.format("default"),
        data={"scope": SCOPE},
        headers=basic(registered["client_id"], registered["client_secret"]),
    )
    assert_oauth_error(response, 400, "invalid_request", "The 'grant_type' parameter is required.")


@pytest.mark.parametrize("grant", ["authorization_code", "password", "refresh_token", "implicit"])
def test_unsupported_grant_type(public: TestClient, registered: dict[str, Any], grant: str) -> None:
    response = request_token(public, registered, grant_type=grant)
    assert_oauth_error(
        response, 400, "unsupported_grant_type", f"The grant type '{grant}' is not supported."
    )


def test_no_client_authentication(public: TestClient) -> None:
    response = public.post(
        TOKEN.format("default"), data={"grant_type": "client_credentials", "scope": SCOPE}
    )
    assert_oauth_error(
        response,
        401,
        "invalid_client",
        "Client authentication is required (client_secret_basic or client_secret_post).",
    )
    assert "www-authenticate" not in response.headers


def test_wrong_secret_with_basic_asks_for_basic(
    public: TestClient, registered: dict[str, Any]
) -> None:
    response = request_token(public, {**registered, "client_secret": "wrong"})
    assert_oauth_error(response, 401, "invalid_client", BAD_CLIENT)
    assert response.headers["www-authenticate"] == 'Basic realm="keyrotor"'


def test_unknown_client(public: TestClient, registered: dict[str, Any]) -> None:
    response = request_token(public, {**registered, "client_id": "0oaNope"})
    assert_oauth_error(response, 401, "invalid_client", BAD_CLIENT)
    assert response.headers["www-authenticate"] == 'Basic realm="keyrotor"'


@pytest.mark.parametrize("value", ["!!!notbase64", base64.b64encode(b"no-colon").decode(), ""])
def test_malformed_basic_header(public: TestClient, value: str) -> None:
    response = public.post(
        TOKEN.format("default"),
        data={"grant_type": "client_credentials", "scope": SCOPE},
        headers={"Authorization": f"Basic {value}"},
    )
    assert_oauth_error(
        response, 401, "invalid_client", "The Authorization header is not valid HTTP Basic."
    )
    assert response.headers["www-authenticate"] == 'Basic realm="keyrotor"'


def test_other_authorization_scheme(public: TestClient) -> None:
    response = public.post(
        TOKEN.format("default"),
        data={"grant_type": "client_credentials", "scope": SCOPE},
        headers={"Authorization": "Bearer something"},
    )
    assert_oauth_error(response, 401, "invalid_client", BAD_CLIENT)
    assert "www-authenticate" not in response.headers


def test_two_authentication_methods(public: TestClient, registered: dict[str, Any]) -> None:
    response = request_token(public, registered, client_secret=registered["client_secret"])
    assert_oauth_error(
        response, 400, "invalid_request", "Use one client authentication method, not two."
    )


def test_client_id_that_contradicts_basic(public: TestClient, registered: dict[str, Any]) -> None:
    response = request_token(public, registered, client_id="0oaSomeoneElse")
    assert_oauth_error(
        response,
        400,
        "invalid_request",
        "The 'client_id' parameter does not match the Authorization header.",
    )


def test_post_without_secret(public: TestClient, registered: dict[str, Any]) -> None:
    response = public.post(
        TOKEN.format("default"),
        data={"grant_type": "client_credentials", "scope": SCOPE, "client_id": "0oaX"},
    )
    assert_oauth_error(
        response, 401, "invalid_client", "The 'client_secret' parameter is required."
    )


def test_method_other_than_registered(public: TestClient, registered: dict[str, Any]) -> None:
    form = {
        "grant_type": "client_credentials",
        "scope": SCOPE,
        "client_id": registered["client_id"],
        "client_secret": registered["client_secret"],
    }
    response = public.post(TOKEN.format("default"), data=form)
    assert_oauth_error(
        response,
        401,
        "invalid_client",
        "The client is registered to authenticate with client_secret_basic.",
    )
    assert "www-authenticate" not in response.headers


def test_deleted_client(client: TestClient, public: TestClient, registered: dict[str, Any]) -> None:
    assert client.delete(f"/oauth2/v1/clients/{registered['client_id']}").status_code == 204
    assert_oauth_error(request_token(public, registered), 401, "invalid_client", BAD_CLIENT)


@pytest.mark.parametrize("scope", [None, "", "   "])
def test_missing_scope(public: TestClient, registered: dict[str, Any], scope: str | None) -> None:
    response = request_token(public, registered, scope=scope)
    assert_oauth_error(response, 400, "invalid_scope", "The 'scope' parameter is required.")


@pytest.mark.parametrize("scope", [f"{SCOPE}  other", 'bad"quote', "back\\slash", "tab\there"])
def test_malformed_scope(public: TestClient, registered: dict[str, Any], scope: str) -> None:
    response = request_token(public, registered, scope=scope)
    assert_oauth_error(response, 400, "invalid_scope", "The 'scope' parameter is malformed.")


@pytest.mark.parametrize("scope", ["unknown", f"{SCOPE} unknown", "okta.authorizationServers.read"])
def test_scope_the_server_does_not_define(
    public: TestClient, registered: dict[str, Any], scope: str
) -> None:
    response = request_token(public, registered, scope=scope)
    assert_oauth_error(
        response,
        400,
        "invalid_scope",
        "One or more scopes are not configured for the authorization server.",
    )


def test_scope_of_another_server(
    client: TestClient, public: TestClient, registered: dict[str, Any]
) -> None:
    other = client.post(
        "/api/v1/authorizationServers", json={"name": "other", "audiences": ["api://other"]}
    ).json()
    response = request_token(public, registered, server=other["id"])
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"


def test_get_is_not_allowed(public: TestClient) -> None:
    response = public.get(TOKEN.format("default"))
    assert_okta_error(
        response, 405, "E0000022", "The endpoint does not support the provided HTTP method"
    )


def test_secrets_are_never_in_the_store_in_clear(
    service: KeyService, registered: dict[str, Any]
) -> None:
    with service.store.transaction() as tx:
        stored = tx.get_client(registered["client_id"])
    assert stored is not None
    assert registered["client_secret"] not in repr(stored)
    assert [s.digest for s in stored.secrets] != [registered["client_secret"]]
    assert stored.secret_matches(registered["client_secret"])
