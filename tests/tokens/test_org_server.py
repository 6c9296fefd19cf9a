"""The org authorization server: its tokens open the management API as ``Bearer``; it is
hidden from the management API; its keys rotate like any server's."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import jwt
import pytest
from starlette.testclient import TestClient

from keyrotor.apitokens import SCOPE_MANAGE, SCOPE_READ
from keyrotor.clients import ClientSpec
from keyrotor.clock import ManualClock
from keyrotor.oauth import OAuthService
from tests.support import assert_okta_error
from tests.tokens.conftest import AppJWKClient, mint, request_token

KEYS = "/api/v1/authorizationServers/default/credentials/keys"
ROTATE = "/api/v1/authorizationServers/default/credentials/lifecycle/keyRotate"
Grant = Callable[..., dict[str, Any]]
UNKNOWN = "One or more scopes are not configured for the authorization server."


@pytest.fixture
def grant(client: TestClient) -> Grant:
    """Register a client granted org scopes (what ``keyrotor clients create --org-scope`` does)."""

    def make(*scopes: str) -> dict[str, Any]:
        oauth: OAuthService = client.app.state.oauth
        made, secret = oauth.register_client(ClientSpec(name="ops", org_scopes=scopes))
        return {"client_id": made.client_id, "client_secret": secret}

    return make


def bearer(public: TestClient, token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_org_token_claims(public: TestClient, grant: Grant) -> None:
    creds = grant(SCOPE_MANAGE)
    response = request_token(public, creds, scope=SCOPE_MANAGE, server="org")
    assert response.status_code == 200
    assert response.json()["scope"] == SCOPE_MANAGE
    claims = jwt.decode(response.json()["access_token"], options={"verify_signature": False})
    assert claims["iss"] == claims["aud"] == "http://testserver"
    assert claims["scp"] == [SCOPE_MANAGE]
    assert claims["cid"] == claims["sub"] == creds["client_id"]


def test_org_token_verifies_against_the_org_jwks(public: TestClient, grant: Grant) -> None:
    token = mint(public, grant(SCOPE_READ), scope=SCOPE_READ, server="org")
    key = AppJWKClient(public, "http://testserver/oauth2/v1/keys").get_signing_key_from_jwt(token)
    claims = jwt.decode(
        token,
        key.key,
        algorithms=["RS256"],
        audience="http://testserver",
        issuer="http://testserver",
        options={"verify_exp": False, "verify_iat": False},
    )
    assert claims["scp"] == [SCOPE_READ]


def test_manage_token_opens_the_management_api(public: TestClient, grant: Grant) -> None:
    token = mint(public, grant(SCOPE_MANAGE), scope=SCOPE_MANAGE, server="org")
    assert public.get(KEYS, headers=bearer(public, token)).status_code == 200
    rotated = public.post(ROTATE, json={"use": "sig"}, headers=bearer(public, token))
    assert rotated.status_code == 200
    assert "x-rate-limit-limit" in rotated.headers


def test_manage_grant_implies_read(public: TestClient, grant: Grant) -> None:
    token = mint(public, grant(SCOPE_MANAGE), scope=SCOPE_READ, server="org")
    assert public.get(KEYS, headers=bearer(public, token)).status_code == 200


def test_read_token_cannot_rotate(public: TestClient, grant: Grant) -> None:
    token = mint(public, grant(SCOPE_READ), scope=SCOPE_READ, server="org")
    assert public.get(KEYS, headers=bearer(public, token)).status_code == 200
    assert_okta_error(
        public.post(ROTATE, json={"use": "sig"}, headers=bearer(public, token)),
        403,
        "E0000006",
        "You do not have permission to perform the requested action",
    )


def test_org_scopes_must_be_granted_explicitly(
    public: TestClient, registered: dict[str, Any], grant: Grant
) -> None:
    for creds, scope in ((registered, SCOPE_READ), (grant(SCOPE_READ), SCOPE_MANAGE)):
        response = request_token(public, creds, scope=scope, server="org")
        assert response.status_code == 400
        assert response.json() == {"error": "invalid_scope", "error_description": UNKNOWN}


def test_expired_token_is_refused_after_the_clock_skew(
    public: TestClient, grant: Grant, clock: ManualClock
) -> None:
    token = mint(public, grant(SCOPE_READ), scope=SCOPE_READ, server="org")
    clock.advance(timedelta(hours=1, minutes=4))
    assert public.get(KEYS, headers=bearer(public, token)).status_code == 200
    clock.advance(timedelta(minutes=1))
    assert_okta_error(
        public.get(KEYS, headers=bearer(public, token)), 401, "E0000011", "Invalid token provided"
    )


def _with_header(token: str, **changes: Any) -> str:
    _, claims, signature = token.split(".")
    header = dict(jwt.get_unverified_header(token), **changes)
    encoded = base64.urlsafe_b64encode(json.dumps(header).encode()).rstrip(b"=").decode()
    return f"{encoded}.{claims}.{signature}"


def _other_org_kid(public: TestClient, token: str) -> str:
    keys = public.get("/oauth2/v1/keys").json()["keys"]
    return next(k["kid"] for k in keys if k["kid"] != jwt.get_unverified_header(token)["kid"])


def test_forged_tokens_are_refused(
    public: TestClient, grant: Grant, registered: dict[str, Any]
) -> None:
    token = mint(public, grant(SCOPE_MANAGE), scope=SCOPE_MANAGE, server="org")
    custom = TestClient(public.app)
    forged = [
        _with_header(token, kid=_other_org_kid(public, token)),  # signature of another kid
        _with_header(token, alg="none"),
        _with_header(token, alg="HS256"),
        token[:-6] + "AAAAAA",
        "not.a.token",
        "x" * 9000,
    ]
    for value in forged:
        response = custom.get(KEYS, headers=bearer(public, value))
        assert_okta_error(response, 401, "E0000011", "Invalid token provided")


def test_custom_server_tokens_do_not_open_the_management_api(
    client: TestClient, public: TestClient, registered: dict[str, Any]
) -> None:
    client.post("/api/v1/authorizationServers/default/scopes", json={"name": "things:read"})
    token = mint(public, registered)
    assert_okta_error(
        public.get(KEYS, headers=bearer(public, token)), 401, "E0000011", "Invalid token provided"
    )


def test_deleted_client_token_is_refused(
    client: TestClient, public: TestClient, grant: Grant
) -> None:
    creds = grant(SCOPE_READ)
    token = mint(public, creds, scope=SCOPE_READ, server="org")
    assert client.delete(f"/oauth2/v1/clients/{creds['client_id']}").status_code == 204
    assert public.get(KEYS, headers=bearer(public, token)).status_code == 401


def test_org_server_is_hidden_from_the_management_api(
    client: TestClient, public: TestClient, grant: Grant
) -> None:
    mint(public, grant(SCOPE_READ), scope=SCOPE_READ, server="org")  # the org server exists now
    missing = "Not found: Resource not found: org (AuthorizationServer)"
    base = "/api/v1/authorizationServers/org"
    for method, path in [
        ("GET", base),
        ("PUT", base),
        ("DELETE", base),
        ("POST", base + "/lifecycle/deactivate"),
        ("GET", base + "/credentials/keys"),
        ("POST", base + "/credentials/lifecycle/keyRotate"),
        ("GET", base + "/scopes"),
        ("POST", base + "/scopes"),
    ]:
        body: dict[str, object] = {"name": "x", "audiences": ["y"]}
        if path.endswith(("keyRotate", "scopes")):
            body = {"use": "sig"} if path.endswith("keyRotate") else {"name": "x"}
        response = client.request(method, path, json=body)
        assert_okta_error(response, 404, "E0000007", missing)
    for path in ("/oauth2/org/v1/keys", "/oauth2/org/.well-known/openid-configuration"):
        assert_okta_error(public.get(path), 404, "E0000007", missing)
    listed = client.get("/api/v1/authorizationServers").json()
    assert [s["id"] for s in listed] == ["default"]
    page = client.get("/api/v1/authorizationServers?limit=1")
    assert [s["id"] for s in page.json()] == ["default"]
    assert 'rel="next"' not in page.headers["link"]


def test_org_discovery_lists_what_exists(public: TestClient) -> None:
    for name in ("oauth-authorization-server", "openid-configuration"):
        document = public.get(f"/.well-known/{name}").json()
        assert document == {
            "issuer": "http://testserver",
            "jwks_uri": "http://testserver/oauth2/v1/keys",
            "token_endpoint": "http://testserver/oauth2/v1/token",
            "registration_endpoint": "http://testserver/oauth2/v1/clients",
            "scopes_supported": [SCOPE_READ, SCOPE_MANAGE],
            "response_types_supported": [],
            "grant_types_supported": ["client_credentials"],
            "token_endpoint_auth_methods_supported": [
                "client_secret_basic",
                "client_secret_post",
                "private_key_jwt",
            ],
            "token_endpoint_auth_signing_alg_values_supported": ["RS256", "ES256"],
            "dpop_signing_alg_values_supported": ["RS256", "ES256"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "request_parameter_supported": False,
        }


def test_org_keys_rotate_automatically_and_bearer_survives(
    public: TestClient, grant: Grant, clock: ManualClock
) -> None:
    creds = grant(SCOPE_MANAGE)
    before = mint(public, creds, scope=SCOPE_MANAGE, server="org")
    response = public.get("/oauth2/v1/keys")
    assert response.headers["cache-control"].endswith("must-revalidate")
    clock.advance(timedelta(days=91))
    after = mint(public, creds, scope=SCOPE_MANAGE, server="org")
    assert jwt.get_unverified_header(after)["kid"] != jwt.get_unverified_header(before)["kid"]
    assert public.get(KEYS, headers=bearer(public, after)).status_code == 200


def test_no_request_makes_the_org_server_or_its_keys(
    client: TestClient, public: TestClient
) -> None:
    """The org server exists from start, like default; concurrent first requests to its
    public endpoints generate nothing."""
    service = client.app.state.service  # type: ignore[attr-defined]
    with service.store.transaction() as tx:
        before = [k.kid for k in tx.keys("org")]
    assert len(before) == 2  # ACTIVE and NEXT, made at start
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: public.get("/oauth2/v1/keys"), range(40)))
    assert {a.status_code for a in answers} == {200}
    with service.store.transaction() as tx:
        assert [k.kid for k in tx.keys("org")] == before
