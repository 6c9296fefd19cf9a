"""Okta's service apps: registration bodies as Okta documents them, private_key_jwt (inline
keys and jwks_uri), replays, app grants, DPoP at the token endpoint and at the management
API, PUT and newSecret. Assertions and proofs are signed with PyJWT, not with the library
the server verifies with."""

from __future__ import annotations

import base64
import hashlib
import http.server
import json
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from starlette.testclient import TestClient

from keyrotor import client_keys
from keyrotor.apitokens import SCOPE_MANAGE, SCOPE_READ
from keyrotor.clock import ManualClock
from tests.support import assert_okta_error
from tests.tokens.conftest import CLIENTS

ORG_TOKEN = "http://testserver/oauth2/v1/token"
ASSERTION = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
SERVERS = "http://testserver/api/v1/authorizationServers"


class Signer:
    """A client's key pair: its public JWK to register, assertions and proofs it signs."""

    def __init__(self, kind: str = "RS256", kid: str | None = "k1") -> None:
        self.alg, self.kid = kind, kid
        if kind == "RS256":
            self.key: Any = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            self.jwk = json.loads(RSAAlgorithm.to_jwk(self.key.public_key()))
        else:
            self.key = ec.generate_private_key(ec.SECP256R1())
            self.jwk = json.loads(ECAlgorithm.to_jwk(self.key.public_key()))
        if kid:
            self.jwk["kid"] = kid

    def assertion(self, client_id: str, clock: ManualClock, **claims: Any) -> str:
        now = int(clock().timestamp())
        body = {
            "iss": client_id,
            "sub": client_id,
            "aud": ORG_TOKEN,
            "iat": now,
            "exp": now + 300,
            "jti": uuid.uuid4().hex,
            **claims,
        }
        body = {k: v for k, v in body.items() if v is not None}
        headers = {"kid": self.kid} if self.kid else {}
        return jwt.encode(body, self.key, algorithm=self.alg, headers=headers)

    def proof(self, clock: ManualClock, url: str, method: str = "POST", **claims: Any) -> str:
        public = {k: v for k, v in self.jwk.items() if k != "kid"}
        body = {
            "jti": uuid.uuid4().hex,
            "htm": method,
            "htu": url,
            "iat": int(clock().timestamp()),
            **claims,
        }
        headers = {"typ": "dpop+jwt", "jwk": public}
        return jwt.encode(body, self.key, algorithm=self.alg, headers=headers)


def register(client: TestClient, signer: Signer, **extra: Any) -> dict[str, Any]:
    body = {
        "client_name": "Example service client",
        "response_types": ["token"],
        "grant_types": ["client_credentials"],
        "token_endpoint_auth_method": "private_key_jwt",
        "application_type": "service",
        "jwks": {"keys": [signer.jwk]},
        **extra,
    }
    response = client.post(CLIENTS, json=body)
    assert response.status_code == 201, response.text
    made: dict[str, Any] = response.json()
    return made


def grant(client: TestClient, client_id: str, scope: str = SCOPE_MANAGE) -> dict[str, Any]:
    body = {"issuer": "http://testserver", "scopeId": scope}
    response = client.post(f"/api/v1/apps/{client_id}/grants", json=body)
    assert response.status_code == 201, response.text
    made: dict[str, Any] = response.json()
    return made


def org_token(
    public: TestClient, assertion: str, scope: str = SCOPE_MANAGE, **headers: str
) -> httpx.Response:
    form = {
        "grant_type": "client_credentials",
        "scope": scope,
        "client_assertion_type": ASSERTION,
        "client_assertion": assertion,
    }
    return public.post("/oauth2/v1/token", data=form, headers=headers)


def assert_invalid_client(response: httpx.Response, description: str) -> None:
    assert response.status_code == 401, response.text
    assert response.json() == {"error": "invalid_client", "error_description": description}


@pytest.fixture
def signer() -> Signer:
    return Signer()


@pytest.fixture
def app(client: TestClient, signer: Signer) -> dict[str, Any]:
    """A private_key_jwt service app granted okta.authorizationServers.manage."""
    made = register(client, signer)
    grant(client, made["client_id"])
    return made


# -- registration ---------------------------------------------------------------------------


def test_okta_service_body_registers_with_okta_shape(client: TestClient, signer: Signer) -> None:
    made = register(client, signer)
    assert list(made) == [
        "client_id",
        "client_id_issued_at",
        "client_name",
        "client_uri",
        "logo_uri",
        "application_type",
        "redirect_uris",
        "response_types",
        "grant_types",
        "token_endpoint_auth_method",
        "jwks",
        "dpop_bound_access_tokens",
    ]
    assert made["jwks"] == {"keys": [signer.jwk]}
    assert made["response_types"] == ["token"] and made["redirect_uris"] == []
    assert "client_secret" not in made
    assert client.get(f"{CLIENTS}/{made['client_id']}").json() == made


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_okta_service_body_with_a_secret(client: TestClient, method: str) -> None:
    body = {
        "client_name": "Example service client",
        "response_types": ["token"],
        "grant_types": ["client_credentials"],
        "token_endpoint_auth_method": method,
        "application_type": "service",
    }
    made = client.post(CLIENTS, json=body)
    assert made.status_code == 201, made.text
    assert made.json()["client_secret"] and made.json()["token_endpoint_auth_method"] == method


def test_jwks_uri_registers(client: TestClient) -> None:
    body = {
        "client_name": "Example service client",
        "token_endpoint_auth_method": "private_key_jwt",
        "application_type": "service",
        "jwks_uri": "https://www.example.com/oauth2/jwks-uri",
    }
    made = client.post(CLIENTS, json=body).json()
    assert made["jwks_uri"] == body["jwks_uri"] and "jwks" not in made


@pytest.mark.parametrize(
    ("change", "description"),
    [
        ({"jwks_uri": "http://www.example.com/jwks"}, "'jwks_uri' must be an https URL"),
        ({"jwks": {"keys": []}}, "'jwks' must hold between 1 and 50 keys."),
        ({"jwks": [1]}, "'jwks' must be a JSON Web Key Set"),
        ("private", "A key in 'jwks' holds private key material: register the public key only."),
        ("short", "A key in 'jwks' is not usable: An RSA key must have 2048 bits or more."),
        ("enc", "A key in 'jwks' must be a signing key ('use': 'sig')."),
        ("bad-n", "A key in 'jwks' is not usable: It is not a valid public key."),
        ("both", "exactly one of them."),
    ],
)
def test_bad_keys_are_refused(
    client: TestClient, signer: Signer, change: Any, description: str
) -> None:
    body: dict[str, Any] = {
        "client_name": "x",
        "token_endpoint_auth_method": "private_key_jwt",
        "jwks": {"keys": [signer.jwk]},
    }
    if change == "private":
        private = json.loads(RSAAlgorithm.to_jwk(signer.key))
        body["jwks"] = {"keys": [private]}
    elif change == "short":
        small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
        body["jwks"] = {"keys": [json.loads(RSAAlgorithm.to_jwk(small.public_key()))]}
    elif change == "enc":
        body["jwks"] = {"keys": [{**signer.jwk, "use": "enc"}]}
    elif change == "bad-n":
        body["jwks"] = {
            "keys": [{**signer.jwk, "n": "AJncrKuine49_CEVR4GPn.....zOrouIUCSMlRL0HU="}]
        }
    elif change == "both":
        body["jwks_uri"] = "https://x.example/jwks"
    else:
        body.pop("jwks")
        body.update(change)
    response = client.post(CLIENTS, json=body)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_client_metadata"
    assert description in response.json()["error_description"]
    assert "d" not in json.dumps(client.get(CLIENTS).json())  # nothing stored
    assert client.get(CLIENTS).json() == []


def test_put_replaces_and_keeps_id_secret_and_grants(client: TestClient) -> None:
    made = client.post(CLIENTS, json={"client_name": "before"}).json()
    grant(client, made["client_id"], SCOPE_READ)
    whole = {**made, "client_name": "after", "logo_uri": "https://x.example/logo.png"}
    for member in ("client_id_issued_at", "client_secret_expires_at"):
        whole.pop(member)
    replaced = client.put(f"{CLIENTS}/{made['client_id']}", json=whole)
    assert replaced.status_code == 200, replaced.text
    body = replaced.json()
    assert body["client_name"] == "after" and body["logo_uri"] == "https://x.example/logo.png"
    assert body["client_id_issued_at"] == made["client_id_issued_at"]
    assert "client_secret" not in body  # kept, and only its digest is stored
    token = client.post(
        "/oauth2/v1/token",
        data={"grant_type": "client_credentials", "scope": SCOPE_READ},
        auth=(made["client_id"], made["client_secret"]),
    )
    assert token.status_code == 200, token.text
    wrong = client.put(f"{CLIENTS}/{made['client_id']}", json={**whole, "client_secret": "x"})
    assert wrong.status_code == 400
    other = client.put(f"{CLIENTS}/{made['client_id']}", json={**whole, "client_id": "0oaOther"})
    assert other.json()["error_description"].startswith("'client_id' is assigned")
    missing = client.put(f"{CLIENTS}/0oaMissing", json={"client_name": "x"})
    assert_okta_error(
        missing, 404, "E0000007", "Not found: Resource not found: 0oaMissing (OAuth2Client)"
    )


def test_put_to_private_key_jwt_drops_the_secret(client: TestClient, signer: Signer) -> None:
    made = client.post(CLIENTS, json={"client_name": "moving"}).json()
    body = {
        "client_name": "moving",
        "token_endpoint_auth_method": "private_key_jwt",
        "jwks": {"keys": [signer.jwk]},
    }
    moved = client.put(f"{CLIENTS}/{made['client_id']}", json=body).json()
    assert moved["token_endpoint_auth_method"] == "private_key_jwt"
    token = client.post(
        "/oauth2/v1/token",
        data={"grant_type": "client_credentials", "scope": SCOPE_READ},
        auth=(made["client_id"], made["client_secret"]),
    )
    assert token.status_code == 401
    back = client.put(f"{CLIENTS}/{made['client_id']}", json={"client_name": "moving"}).json()
    assert back["client_secret"] and back["client_secret"] != made["client_secret"]


def test_new_secret_replaces_the_old_one(client: TestClient, public: TestClient) -> None:
    made = client.post(CLIENTS, json={"client_name": "x"}).json()
    grant(client, made["client_id"], SCOPE_READ)
    answer = client.post(f"{CLIENTS}/{made['client_id']}/lifecycle/newSecret")
    assert answer.status_code == 200, answer.text
    fresh = answer.json()["client_secret"]
    assert fresh != made["client_secret"]
    form = {"grant_type": "client_credentials", "scope": SCOPE_READ}
    old = public.post(
        "/oauth2/v1/token", data=form, auth=(made["client_id"], made["client_secret"])
    )
    assert old.status_code == 401
    new = public.post("/oauth2/v1/token", data=form, auth=(made["client_id"], fresh))
    assert new.status_code == 200


def test_new_secret_of_a_key_client_is_refused(client: TestClient, app: dict[str, Any]) -> None:
    answer = client.post(f"{CLIENTS}/{app['client_id']}/lifecycle/newSecret")
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_request"


# -- private_key_jwt ----------------------------------------------------------------------


def test_private_key_jwt_token_opens_the_management_api(
    public: TestClient, app: dict[str, Any], signer: Signer, clock: ManualClock
) -> None:
    answer = org_token(public, signer.assertion(app["client_id"], clock))
    assert answer.status_code == 200, answer.text
    assert answer.json()["token_type"] == "Bearer"
    bearer = {"Authorization": f"Bearer {answer.json()['access_token']}"}
    keys = public.get("/api/v1/authorizationServers/default/credentials/keys", headers=bearer)
    assert keys.status_code == 200


@pytest.mark.parametrize("kind", ["RS256", "ES256"])
def test_custom_server_token_with_either_algorithm(
    client: TestClient, public: TestClient, clock: ManualClock, kind: str
) -> None:
    signer = Signer(kind, kid=None)  # no kid: every registered key of the right type is tried
    made = register(client, signer)
    client.post("/api/v1/authorizationServers/default/scopes", json={"name": "things:read"})
    url = "http://testserver/oauth2/default/v1/token"
    form = {
        "grant_type": "client_credentials",
        "scope": "things:read",
        "client_assertion_type": ASSERTION,
        "client_assertion": signer.assertion(made["client_id"], clock, aud=url),
    }
    answer = public.post("/oauth2/default/v1/token", data=form)
    assert answer.status_code == 200, answer.text


@pytest.mark.parametrize(
    ("claims", "description"),
    [
        (
            {"aud": "http://testserver/oauth2/default/v1/token"},
            "The client_assertion's 'aud' must be http://testserver/oauth2/v1/token.",
        ),
        ({"sub": "someone"}, "The client_assertion's 'iss' and 'sub' must both be the client id."),
        ({"exp": None}, "The client_assertion must have an 'exp' claim."),
        ({"exp": 1}, "The client_assertion has expired."),
        ({"exp": "far"}, "The client_assertion's 'exp' is more than an hour ahead."),
        ({"jti": None}, "The client_assertion must have a 'jti' claim (at most 255 characters)."),
        ({"nbf": "future"}, "The client_assertion's 'nbf' is in the future."),
    ],
)
def test_bad_assertions_are_refused(
    public: TestClient,
    app: dict[str, Any],
    signer: Signer,
    clock: ManualClock,
    claims: dict[str, Any],
    description: str,
) -> None:
    now = int(clock().timestamp())
    times = {"far": now + 3 * 3600, "future": now + 3600}
    claims = {
        k: times.get(v, v) if isinstance(v, str) and v in times else v for k, v in claims.items()
    }
    response = org_token(public, signer.assertion(app["client_id"], clock, **claims))
    assert_invalid_client(response, description)


def test_a_replayed_assertion_is_refused(
    public: TestClient, app: dict[str, Any], signer: Signer, clock: ManualClock
) -> None:
    assertion = signer.assertion(app["client_id"], clock)
    assert org_token(public, assertion).status_code == 200
    replay = org_token(public, assertion)
    assert_invalid_client(replay, "The client_assertion token has already been used.")


def test_signature_by_another_key_is_refused(
    public: TestClient, app: dict[str, Any], clock: ManualClock
) -> None:
    stranger = Signer()  # same kid, another key
    response = org_token(public, stranger.assertion(app["client_id"], clock))
    assert_invalid_client(response, "The client_assertion's signature does not verify.")
    unknown = Signer(kid="k2")
    response = org_token(public, unknown.assertion(app["client_id"], clock))
    assert_invalid_client(
        response, "No registered key fits the client_assertion (kid 'k2', RS256)."
    )
    hs = jwt.encode(
        {"iss": app["client_id"]}, "secret-secret-secret-secret-32by", algorithm="HS256"
    )
    response = org_token(public, hs)
    assert_invalid_client(response, "The client_assertion must be signed with RS256 or ES256.")


def test_a_secret_client_cannot_send_an_assertion(
    client: TestClient, public: TestClient, signer: Signer, clock: ManualClock
) -> None:
    made = client.post(CLIENTS, json={"client_name": "x"}).json()
    response = org_token(public, signer.assertion(made["client_id"], clock))
    assert_invalid_client(
        response, "The client is registered to authenticate with client_secret_basic."
    )
    form = {"grant_type": "client_credentials", "scope": SCOPE_READ}
    mixed = public.post(
        "/oauth2/v1/token",
        data={**form, "client_assertion_type": ASSERTION, "client_assertion": "a.b.c"},
        auth=(made["client_id"], made["client_secret"]),
    )
    assert mixed.status_code == 400
    assert mixed.json()["error_description"] == "Use one client authentication method, not two."


@pytest.fixture
def jwks_server() -> Iterator[dict[str, Any]]:
    """A real HTTP server on loopback that serves ``state["keys"]`` and counts fetches."""
    state: dict[str, Any] = {"keys": [], "fetches": 0}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state["fetches"] += 1
            body = json.dumps({"keys": state["keys"]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state["url"] = f"http://127.0.0.1:{server.server_address[1]}/jwks"
    yield state
    server.shutdown()
    server.server_close()


def test_jwks_uri_is_fetched_cached_and_refetched_on_a_new_kid(
    client: TestClient,
    public: TestClient,
    clock: ManualClock,
    jwks_server: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(client_keys, "MIN_REFETCH", 0.5)
    first, second = Signer(kid="one"), Signer(kid="two")
    jwks_server["keys"] = [first.jwk]
    made = client.post(
        CLIENTS,
        json={
            "client_name": "by-uri",
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks_uri": jwks_server["url"],
        },
    ).json()
    grant(client, made["client_id"])
    assert org_token(public, first.assertion(made["client_id"], clock)).status_code == 200
    assert org_token(public, first.assertion(made["client_id"], clock)).status_code == 200
    assert jwks_server["fetches"] == 1  # cached
    jwks_server["keys"] = [first.jwk, second.jwk]  # the client rotates its own key
    early = org_token(public, second.assertion(made["client_id"], clock))
    assert early.status_code == 401  # refetches of an unknown kid: at most one per MIN_REFETCH
    assert jwks_server["fetches"] == 1
    time.sleep(0.6)
    answer = org_token(public, second.assertion(made["client_id"], clock))
    assert answer.status_code == 200, answer.text
    assert jwks_server["fetches"] == 2


def test_unreachable_jwks_uri_is_a_clear_refusal(
    client: TestClient, public: TestClient, signer: Signer, clock: ManualClock
) -> None:
    made = client.post(
        CLIENTS,
        json={
            "client_name": "gone",
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks_uri": "http://127.0.0.1:9/jwks",
        },
    ).json()
    response = org_token(public, signer.assertion(made["client_id"], clock))
    assert_invalid_client(response, "The client's jwks_uri could not be fetched (ConnectError).")


# -- app grants ---------------------------------------------------------------------------


def test_grants_list_get_revoke(
    client: TestClient, public: TestClient, signer: Signer, clock: ManualClock
) -> None:
    made = register(client, signer)
    created = grant(client, made["client_id"], SCOPE_READ)
    assert created["scopeId"] == SCOPE_READ and created["status"] == "ACTIVE"
    assert created["issuer"] == "http://testserver" and created["source"] == "ADMIN"
    assert created["clientId"] == made["client_id"] and created["id"].startswith("oag")
    base = f"/api/v1/apps/{made['client_id']}/grants"
    assert client.get(base).json() == [created]
    assert client.get(f"{base}/{created['id']}").json() == created
    token = org_token(public, signer.assertion(made["client_id"], clock), SCOPE_READ).json()
    bearer = {"Authorization": f"Bearer {token['access_token']}"}
    assert public.get("/api/v1/authorizationServers", headers=bearer).status_code == 200
    assert client.delete(f"{base}/{created['id']}").status_code == 204
    assert public.get("/api/v1/authorizationServers", headers=bearer).status_code == 403
    assert client.get(base).json() == []
    again = org_token(public, signer.assertion(made["client_id"], clock), SCOPE_READ)
    assert again.status_code == 400 and again.json()["error"] == "invalid_scope"


def test_grant_errors(client: TestClient, app: dict[str, Any]) -> None:
    base = f"/api/v1/apps/{app['client_id']}/grants"
    twice = client.post(base, json={"issuer": "http://testserver", "scopeId": SCOPE_MANAGE})
    assert_okta_error(
        twice,
        400,
        "E0000001",
        "Api validation failed: OAuth2ScopeConsentGrant",
        [f"scopeId: {SCOPE_MANAGE} is already granted to this app."],
    )
    other = client.post(base, json={"issuer": "http://testserver", "scopeId": "okta.users.read"})
    assert other.status_code == 400
    issuer = client.post(base, json={"issuer": "https://evil.example", "scopeId": SCOPE_READ})
    assert issuer.status_code == 400
    missing = client.get("/api/v1/apps/0oaMissing/grants")
    assert_okta_error(missing, 404, "E0000007", "Not found: Resource not found: 0oaMissing (App)")
    gone = client.delete(f"{base}/oagMissing")
    assert gone.status_code == 404


# -- DPoP -----------------------------------------------------------------------------------


def dpop_token(
    public: TestClient, made: dict[str, Any], signer: Signer, dpop: Signer, clock: ManualClock
) -> str:
    """The nonce dance: a first proof without a nonce is answered with one."""
    first = org_token(
        public, signer.assertion(made["client_id"], clock), DPoP=dpop.proof(clock, ORG_TOKEN)
    )
    assert first.status_code == 400, first.text
    assert first.json()["error"] == "use_dpop_nonce"
    nonce = first.headers["DPoP-Nonce"]
    second = org_token(
        public,
        signer.assertion(made["client_id"], clock),
        DPoP=dpop.proof(clock, ORG_TOKEN, nonce=nonce),
    )
    assert second.status_code == 200, second.text
    assert second.json()["token_type"] == "DPoP"
    token: str = second.json()["access_token"]
    return token


@pytest.fixture
def dpop_app(client: TestClient, signer: Signer) -> dict[str, Any]:
    made = register(client, signer, dpop_bound_access_tokens=True)
    grant(client, made["client_id"])
    assert made["dpop_bound_access_tokens"] is True
    return made


def test_dpop_bound_token_has_cnf_and_needs_a_proof(
    public: TestClient, dpop_app: dict[str, Any], signer: Signer, clock: ManualClock
) -> None:
    dpop = Signer("ES256")
    token = dpop_token(public, dpop_app, signer, dpop, clock)
    claims = jwt.decode(token, options={"verify_signature": False})
    thumb = dpop.jwk
    canonical = json.dumps({k: thumb[k] for k in ("crv", "kty", "x", "y")}, separators=(",", ":"))
    expected = base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=")
    assert claims["cnf"] == {"jkt": expected.decode()}
    url = f"{SERVERS}/default/credentials/keys"
    ath = base64.urlsafe_b64encode(hashlib.sha256(token.encode()).digest()).rstrip(b"=").decode()
    good = {"Authorization": f"DPoP {token}", "DPoP": dpop.proof(clock, url, "GET", ath=ath)}
    assert public.get(url, headers=good).status_code == 200
    replayed = public.get(url, headers=good)
    assert replayed.status_code == 401  # a proof is used once
    as_bearer = public.get(url, headers={"Authorization": f"Bearer {token}"})
    assert_okta_error(as_bearer, 401, "E0000011", "Invalid token provided")
    no_proof = public.get(url, headers={"Authorization": f"DPoP {token}"})
    assert no_proof.status_code == 401
    wrong_htu = {
        "Authorization": f"DPoP {token}",
        "DPoP": dpop.proof(clock, SERVERS, "GET", ath=ath),
    }
    assert public.get(url, headers=wrong_htu).status_code == 401
    no_ath = {"Authorization": f"DPoP {token}", "DPoP": dpop.proof(clock, url, "GET")}
    assert public.get(url, headers=no_ath).status_code == 401
    other_key = {
        "Authorization": f"DPoP {token}",
        "DPoP": Signer().proof(clock, url, "GET", ath=ath),
    }
    assert public.get(url, headers=other_key).status_code == 401
    rotate = f"{url.rsplit('/', 1)[0]}/lifecycle/keyRotate"
    post = {"Authorization": f"DPoP {token}", "DPoP": dpop.proof(clock, rotate, "POST", ath=ath)}
    assert public.post(rotate, json={"use": "sig"}, headers=post).status_code == 200


def test_dpop_client_without_a_proof_is_refused(
    public: TestClient, dpop_app: dict[str, Any], signer: Signer, clock: ManualClock
) -> None:
    response = org_token(public, signer.assertion(dpop_app["client_id"], clock))
    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_dpop_proof",
        "error_description": "DPoP proof JWT header is missing.",
    }


@pytest.mark.parametrize(
    ("change", "description"),
    [
        ({"htm": "GET"}, "The DPoP proof's 'htm' must be POST."),
        (
            {"htu": "http://testserver/oauth2/default/v1/token"},
            "The DPoP proof's 'htu' must be http://testserver/oauth2/v1/token.",
        ),
        ({"iat": 1}, "The DPoP proof's 'iat' is missing or too far from now."),
        ({"jti": None}, "The DPoP proof must have a 'jti' claim (at most 255 characters)."),
    ],
)
def test_bad_dpop_proofs(
    public: TestClient,
    dpop_app: dict[str, Any],
    signer: Signer,
    clock: ManualClock,
    change: dict[str, Any],
    description: str,
) -> None:
    dpop = Signer()
    proof = dpop.proof(clock, ORG_TOKEN, **change) if change.get("jti", 1) else None
    if proof is None:  # a proof without jti
        public_jwk = {k: v for k, v in dpop.jwk.items() if k != "kid"}
        body = {"htm": "POST", "htu": ORG_TOKEN, "iat": int(clock().timestamp())}
        proof = jwt.encode(
            body, dpop.key, algorithm="RS256", headers={"typ": "dpop+jwt", "jwk": public_jwk}
        )
    response = org_token(public, signer.assertion(dpop_app["client_id"], clock), DPoP=proof)
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_dpop_proof", "error_description": description}


def test_a_nonce_expires(
    public: TestClient, dpop_app: dict[str, Any], signer: Signer, clock: ManualClock
) -> None:
    dpop = Signer()
    dpop_token(public, dpop_app, signer, dpop, clock)
    first = org_token(
        public, signer.assertion(dpop_app["client_id"], clock), DPoP=dpop.proof(clock, ORG_TOKEN)
    )
    nonce = first.headers["DPoP-Nonce"]
    clock.advance(timedelta(minutes=11))
    stale = org_token(
        public,
        signer.assertion(dpop_app["client_id"], clock),
        DPoP=dpop.proof(clock, ORG_TOKEN, nonce=nonce),
    )
    assert stale.status_code == 400 and stale.json()["error"] == "use_dpop_nonce"
    assert stale.headers["DPoP-Nonce"] != nonce


def test_a_client_not_bound_gets_bearer_even_with_a_proof(
    public: TestClient, app: dict[str, Any], signer: Signer, clock: ManualClock
) -> None:
    answer = org_token(
        public, signer.assertion(app["client_id"], clock), DPoP=Signer().proof(clock, ORG_TOKEN)
    )
    assert answer.status_code == 200 and answer.json()["token_type"] == "Bearer"
