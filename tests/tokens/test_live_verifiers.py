"""Against a real ``keyrotor serve`` process: PyJWT's ``PyJWKClient``, ``okta-jwt-verifier``,
the example resource server and the ``okta`` client (with only an access token) keep working
across key rotations, since they fetch the JWKS over HTTP."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import pytest
from click.testing import CliRunner
from examples.resource_server import TokenVerifier, create_resource_server
from okta_jwt_verifier import AccessTokenVerifier
from okta_jwt_verifier.exceptions import JWTValidationException
from starlette.testclient import TestClient

from keyrotor.apitokens import SCOPE_MANAGE
from keyrotor.cli import main
from tests.conftest import ADMIN_TOKEN, ServerProcess

pytestmark = pytest.mark.e2e
SCOPE = "things:read"


@dataclass
class Live:
    """A running server with the scope ``things:read`` and a registered client."""

    server: ServerProcess
    creds: dict[str, Any]

    @property
    def issuer(self) -> str:
        return f"{self.server.url}/oauth2/default"

    def admin(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"SSWS {ADMIN_TOKEN}"}
        return httpx.request(method, self.server.url + path, headers=headers, **kwargs)

    def token(
        self, scope: str = SCOPE, path: str = "/oauth2/default/v1/token", **creds: str
    ) -> str:
        use = creds or self.creds
        response = httpx.post(
            self.server.url + path,
            data={"grant_type": "client_credentials", "scope": scope},
            auth=(use["client_id"], use["client_secret"]),
        )
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])

    def rotate(self) -> None:
        path = "/api/v1/authorizationServers/default/credentials/lifecycle/keyRotate"
        assert self.admin("POST", path, json={"use": "sig"}).status_code == 200


@pytest.fixture
def live(start_server: Callable[..., ServerProcess]) -> Live:
    server = start_server()
    live = Live(server, {})
    scopes = "/api/v1/authorizationServers/default/scopes"
    assert live.admin("POST", scopes, json={"name": SCOPE}).status_code == 201
    registered = live.admin("POST", "/oauth2/v1/clients", json={"client_name": "live"})
    live.creds = registered.json()
    return live


def kid(token: str) -> str:
    return str(jwt.get_unverified_header(token)["kid"])


def pyjwt_verify(jwks: jwt.PyJWKClient, token: str, issuer: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(
        token,
        jwks.get_signing_key_from_jwt(token).key,
        algorithms=["RS256"],
        audience="api://default",
        issuer=issuer,
    )
    return claims


def test_pyjwkclient_across_a_rotation_warm_and_cold(live: Live) -> None:
    """PyJWKClient as configured by default (300 s cache, 30 s refetch cooldown): the new
    ACTIVE key was published as NEXT, so a warm cache needs no refetch at all."""
    jwks_uri = httpx.get(f"{live.issuer}/.well-known/openid-configuration").json()["jwks_uri"]
    warm = jwt.PyJWKClient(jwks_uri)
    before = live.token()
    pyjwt_verify(warm, before, live.issuer)
    live.rotate()
    after = live.token()
    assert kid(after) != kid(before)
    for jwks in (warm, jwt.PyJWKClient(jwks_uri)):
        for token in (before, after):
            assert pyjwt_verify(jwks, token, live.issuer)["sub"] == live.creds["client_id"]


def test_pyjwkclient_across_rotations_in_quick_succession(live: Live) -> None:
    """Several rotations within seconds: every token verifies, for a client that may refetch
    on an unknown kid (PyJWT's default 30 s cooldown would make a warm cache wait)."""
    jwks_uri = f"{live.issuer}/v1/keys"
    warm = jwt.PyJWKClient(jwks_uri, cooldown_duration=0)
    tokens = [live.token()]
    pyjwt_verify(warm, tokens[0], live.issuer)
    for _ in range(3):
        live.rotate()
        tokens.append(live.token())
        assert kid(tokens[-1]) != kid(tokens[-2])
        cold = jwt.PyJWKClient(jwks_uri)
        for token in tokens:
            for jwks in (warm, cold):
                assert pyjwt_verify(jwks, token, live.issuer)["sub"] == live.creds["client_id"]


def okta_verifier(issuer: str) -> AccessTokenVerifier:
    """okta-jwt-verifier refuses http issuers when constructed: set it afterwards."""
    verifier = AccessTokenVerifier(issuer="https://placeholder.example", audience="api://default")
    verifier._jwt_verifier.issuer = issuer
    return verifier


def test_okta_jwt_verifier_across_rotations(live: Live) -> None:
    async def scenario() -> None:
        verifier = okta_verifier(live.issuer)
        before = live.token()
        await verifier.verify(before)  # caches the JWKS
        live.rotate()
        after = live.token()
        assert kid(after) != kid(before)
        await verifier.verify(before)  # warm cache
        await verifier.verify(after)
        verifier._jwt_verifier._clear_requests_cache()
        await verifier.verify(before)  # cold cache
        await verifier.verify(after)
        wrong = okta_verifier(f"{live.server.url}/oauth2/elsewhere")
        with pytest.raises(JWTValidationException):
            await wrong.verify(after)

    asyncio.run(scenario())


def test_okta_jwt_verifier_refuses_a_signature_that_is_not_its_kids(live: Live) -> None:
    token = live.token()
    live.rotate()
    other = live.token()
    header, _, _ = other.split(".")
    _, claims, signature = token.split(".")
    forged = f"{header}.{claims}.{signature}"  # the new kid, the old key's signature

    async def scenario() -> None:
        with pytest.raises(JWTValidationException):
            await okta_verifier(live.issuer).verify(forged)

    asyncio.run(scenario())


def test_example_resource_server(live: Live) -> None:
    verifier = TokenVerifier(live.issuer, "api://default")
    api = TestClient(create_resource_server(verifier))
    before = live.token()
    assert api.get("/things", headers={"Authorization": f"Bearer {before}"}).status_code == 200
    live.rotate()
    after = live.token()
    for token in (before, after):
        response = api.get("/whoami", headers={"Authorization": f"Bearer {token}"})
        assert response.json() == {"client": live.creds["client_id"], "scopes": [SCOPE]}
    assert api.get("/things").status_code == 401
    forged = after[:-8] + "AAAAAAAA"
    assert api.get("/things", headers={"Authorization": f"Bearer {forged}"}).status_code == 401
    elsewhere = TestClient(create_resource_server(TokenVerifier(live.issuer, "api://other")))
    response = elsewhere.get("/things", headers={"Authorization": f"Bearer {after}"})
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"


def test_the_seed_example_with_only_an_access_token(live: Live) -> None:
    """``configuration.access_token`` (no API key): an org-server token with the manage scope."""
    import okta
    from okta.models.jwk_use import JwkUse

    database = live.server.database
    made = CliRunner().invoke(
        main,
        ["clients", "create", "ops", "--org-scope", SCOPE_MANAGE, "--database", database, "--json"],
    )
    assert made.exit_code == 0, made.output
    ops = json.loads(made.output)
    token = live.token(SCOPE_MANAGE, "/oauth2/v1/token", **ops)

    configuration = okta.Configuration(host=live.server.url)
    configuration.access_token = token
    with okta.ApiClient(configuration) as api_client:
        api_instance = okta.AuthorizationServerKeysApi(api_client)
        keys = api_instance.list_authorization_server_keys("default")
        active = next(k for k in keys if k.status == "ACTIVE")
        assert api_instance.get_authorization_server_key("default", active.kid).kid == active.kid
        rotated = api_instance.rotate_authorization_server_keys("default", JwkUse())
        statuses = {k.kid: k.status for k in rotated}
        assert statuses[active.kid] == "EXPIRED"
    # the org server's own JWKS verifies the token for anyone else
    org = jwt.PyJWKClient(f"{live.server.url}/oauth2/v1/keys")
    claims = jwt.decode(
        token,
        org.get_signing_key_from_jwt(token).key,
        algorithms=["RS256"],
        audience=live.server.url,
        issuer=live.server.url,
    )
    assert claims["scp"] == [SCOPE_MANAGE]
