"""A client's public keys (Okta's ``/api/v1/apps/{appId}/credentials/jwks``): every
operation's answer held to Okta's schemas, each rule and refusal, 404s and scopes on the
in-process app; registration's ``jwks`` kept in step; the audit record; the store on every
backend; migration 0009 up and down with data on SQLite and PostgreSQL; and a key rotation
end to end against two real replicas sharing one store, assertions signed with PyJWT."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from sqlalchemy import insert, inspect, select, text
from starlette.testclient import TestClient

from keyrotor import audit, client_keys
from keyrotor.audit import EventQuery
from keyrotor.cli import main
from keyrotor.cli.common import service_at
from keyrotor.client_jwks import NON_UNIQUE_KID, ClientJwk, JwkStatus
from keyrotor.clients import AuthMethod, ClientSpec
from keyrotor.clock import ManualClock
from keyrotor.oauth import OAuthService
from keyrotor.service import KeyService
from keyrotor.storage import Conflict
from keyrotor.storage.sql import SqlStore, make_engine
from keyrotor.storage.tables import client_jwks, oauth_clients
from tests.conftest import READ_TOKEN, START
from tests.okta_spec import OktaSpec
from tests.replicas.cluster import Cluster, start_cluster
from tests.support import assert_okta_error, migrate_to
from tests.tokens.test_service_apps import Signer, assert_invalid_client, grant, org_token, register

SPEC = OktaSpec.load()
JWKS = "/api/v1/apps/{}/credentials/jwks"
WHAT = "Api validation failed: JsonWebKey"
PUBLIC = ("kty", "kid", "e", "n")


def jwks_url(app_id: str, key_id: str = "", action: str = "") -> str:
    url = JWKS.format(app_id) + (f"/{key_id}" if key_id else "")
    return url + (f"/lifecycle/{action}" if action else "")


def add(client: TestClient, app_id: str, body: Any, status: int = 201) -> dict[str, Any]:
    made: dict[str, Any] = SPEC.check(client.post(jwks_url(app_id), json=body), "addJwk", status)
    return made


def lifecycle(client: TestClient, app_id: str, key_id: str, action: str) -> httpx.Response:
    return client.post(jwks_url(app_id, key_id, action))


def assert_refused(response: httpx.Response, operation: str, cause: str) -> None:
    SPEC.check(response, operation, 400)
    assert_okta_error(response, 400, "E0000001", WHAT, [cause])


@pytest.fixture
def pkjwt(client: TestClient, signer: Signer) -> dict[str, Any]:
    """A private_key_jwt client registered with one key (kid k1), granted the org scope."""
    made = register(client, signer)
    grant(client, made["client_id"])
    return made


@pytest.fixture
def signer() -> Signer:
    return Signer(kid="k1")


@pytest.fixture
def public(client: TestClient) -> TestClient:
    """The same app, with no Authorization header preset."""
    return TestClient(client.app)


@pytest.fixture
def oauth(client: TestClient) -> OAuthService:
    found: OAuthService = client.app.state.oauth  # type: ignore[attr-defined]
    return found


# -- shapes -----------------------------------------------------------------------------------


def test_registered_keys_are_listed_active_in_okta_s_shape(
    client: TestClient, pkjwt: dict[str, Any], signer: Signer
) -> None:
    app_id = pkjwt["client_id"]
    [key] = SPEC.check(client.get(jwks_url(app_id)), "listJwk", 200)
    assert key["id"].startswith("pks") and len(key["id"]) == 20
    assert {m: key[m] for m in PUBLIC} == {m: signer.jwk[m] for m in PUBLIC}
    assert (key["use"], key["status"]) == ("sig", "ACTIVE")
    assert key["created"] == key["lastUpdated"] == "2026-01-01T12:00:00.000Z"
    href = f"http://testserver{jwks_url(app_id, key['id'])}"
    assert key["_links"] == {
        "deactivate": {"href": href + "/lifecycle/deactivate", "hints": {"allow": ["POST"]}}
    }
    found = SPEC.check(client.get(jwks_url(app_id, key["id"])), "getJwk", 200)
    assert found == key


def test_okta_s_request_example_adds_an_active_key(
    client: TestClient, pkjwt: dict[str, Any]
) -> None:
    """Okta's example with a real modulus; its `id` is read-only and ignored."""
    body = SPEC.request_examples("addJwk")["createOAuth2ClientJsonWebKeyRequestBody"]
    body["n"] = Signer().jwk["n"]
    made = add(client, pkjwt["client_id"], body)
    assert made["id"] != body["id"] and made["id"].startswith("pks")
    for member in ("kid", "kty", "alg", "use", "e", "n", "status"):
        assert made[member] == body[member], member
    assert set(made["_links"]) == {"deactivate"}


def test_an_inactive_key_has_activate_and_delete_links(
    client: TestClient, pkjwt: dict[str, Any]
) -> None:
    app_id = pkjwt["client_id"]
    made = add(client, app_id, {**Signer(kid="k2").jwk, "status": "INACTIVE"})
    href = f"http://testserver{jwks_url(app_id, made['id'])}"
    assert made["status"] == "INACTIVE"
    assert made["_links"] == {
        "activate": {"href": href + "/lifecycle/activate", "hints": {"allow": ["POST"]}},
        "delete": {"href": href, "hints": {"allow": ["DELETE"]}},
    }


def test_ec_keys_are_kept_and_answered(client: TestClient, pkjwt: dict[str, Any]) -> None:
    ec = Signer("ES256", kid="ec1")
    made = add(client, pkjwt["client_id"], {**ec.jwk, "alg": "ES256"})
    assert made["alg"] == "ES256" and made["kid"] == "ec1"
    assert (made["kty"], made["crv"], made["x"], made["y"]) == (
        "EC",
        "P-256",
        ec.jwk["x"],
        ec.jwk["y"],
    )


# -- the rotation, in process ---------------------------------------------------------------


def test_rotation_add_activate_deactivate_delete(
    client: TestClient,
    public: TestClient,
    pkjwt: dict[str, Any],
    signer: Signer,
    clock: ManualClock,
) -> None:
    app_id = pkjwt["client_id"]
    old = SPEC.check(client.get(jwks_url(app_id)), "listJwk", 200)[0]
    new = Signer(kid="k2")
    made = add(client, app_id, {**new.jwk, "status": "INACTIVE"})
    assert_invalid_client(
        org_token(public, new.assertion(app_id, clock)),
        "No registered key fits the client_assertion (kid 'k2', RS256).",
    )
    clock.advance(timedelta(seconds=1))
    active = SPEC.check(
        lifecycle(client, app_id, made["id"], "activate"), "activateOAuth2ClientJsonWebKey", 200
    )
    assert active["status"] == "ACTIVE" and active["lastUpdated"] > active["created"]
    for key in (signer, new):  # the overlap: both verify
        assert org_token(public, key.assertion(app_id, clock)).status_code == 200
    gone = SPEC.check(
        lifecycle(client, app_id, old["id"], "deactivate"),
        "deactivateOAuth2ClientJsonWebKey",
        200,
    )
    assert gone["status"] == "INACTIVE" and set(gone["_links"]) == {"activate", "delete"}
    assert_invalid_client(
        org_token(public, signer.assertion(app_id, clock)),
        "No registered key fits the client_assertion (kid 'k1', RS256).",
    )
    assert org_token(public, new.assertion(app_id, clock)).status_code == 200
    SPEC.check(client.delete(jwks_url(app_id, old["id"])), "deletejwk", 204)
    listed = SPEC.check(client.get(jwks_url(app_id)), "listJwk", 200)
    assert [k["id"] for k in listed] == [made["id"]]
    registration = client.get(f"/oauth2/v1/clients/{app_id}").json()
    assert registration["jwks"] == {"keys": [new.jwk]}


def test_activating_or_deactivating_twice_changes_nothing(
    client: TestClient, pkjwt: dict[str, Any]
) -> None:
    app_id = pkjwt["client_id"]
    [key] = client.get(jwks_url(app_id)).json()
    again = SPEC.check(
        lifecycle(client, app_id, key["id"], "activate"), "activateOAuth2ClientJsonWebKey", 200
    )
    assert again == key
    other = add(client, app_id, {**Signer(kid="k2").jwk, "status": "INACTIVE"})
    still = SPEC.check(
        lifecycle(client, app_id, other["id"], "deactivate"),
        "deactivateOAuth2ClientJsonWebKey",
        200,
    )
    assert still == other


def test_the_token_endpoint_parses_keys_once_per_set(
    client: TestClient,
    public: TestClient,
    pkjwt: dict[str, Any],
    signer: Signer,
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Keys are parsed when the client is loaded into the cache, not per request; a new
    ACTIVE set is parsed once more."""
    parsed: list[int] = []
    real = client_keys.parse_keys

    def counting(raw: list[Any]) -> Any:
        parsed.append(len(raw))
        return real(raw)

    monkeypatch.setattr(client_keys, "parse_keys", counting)
    app_id = pkjwt["client_id"]
    for _ in range(3):
        assert org_token(public, signer.assertion(app_id, clock)).status_code == 200
    assert parsed == [1]
    add(client, app_id, Signer(kid="k2").jwk)
    for _ in range(3):
        assert org_token(public, signer.assertion(app_id, clock)).status_code == 200
    assert parsed == [1, 2]


# -- refusals -------------------------------------------------------------------------------


def small_rsa() -> dict[str, Any]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    found: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    return {**found, "kid": "small"}


@pytest.mark.parametrize(
    ("body", "cause"),
    [
        ("duplicate", "All keys in the 'jwks' must have a unique `kid`."),
        ("no-kid", NON_UNIQUE_KID),
        ("private", "A key in 'jwks' holds private key material: register the public key only."),
        ("small", "A key in 'jwks' is not usable: An RSA key must have 2048 bits or more."),
        ("status", "status: The status must be ACTIVE or INACTIVE."),
        ("member", "A key in 'jwks' has an unsupported member 'x5c'."),
        ("oct", "A key in 'jwks' is not usable: It is neither an RSA key nor a P-256 EC key."),
        ([1], "The request body must be a JSON object."),
    ],
)
def test_bad_keys_are_refused_by_name(
    client: TestClient, pkjwt: dict[str, Any], signer: Signer, body: Any, cause: str
) -> None:
    fresh = Signer(kid="k2").jwk
    bodies: dict[str, Any] = {
        "duplicate": {**fresh, "kid": "k1"},
        "no-kid": {k: v for k, v in fresh.items() if k != "kid"},
        "private": {**fresh, "d": "AQAB"},
        "small": small_rsa(),
        "status": {**fresh, "status": "DELETED"},
        "member": {**fresh, "x5c": ["MII"]},
        "oct": {"kty": "oct", "kid": "k2"},
    }
    sent = bodies.get(body, body) if isinstance(body, str) else body
    response = client.post(jwks_url(pkjwt["client_id"]), json=sent)
    assert_refused(response, "addJwk", cause)
    assert len(client.get(jwks_url(pkjwt["client_id"])).json()) == 1


@pytest.mark.parametrize(
    "example",
    [
        "createOAuth2ClientJsonInactiveEncryptionKeyRequestBody",
        "createOAuth2ClientJsonActiveEncryptionKeyRequestBody",
    ],
)
def test_okta_s_encryption_key_examples_are_refused(
    client: TestClient, pkjwt: dict[str, Any], example: str
) -> None:
    """keyrotor issues no ID tokens, so it has nothing to encrypt with a client's key."""
    body = SPEC.request_examples("addJwk")[example]
    body["n"] = Signer().jwk["n"]
    response = client.post(jwks_url(pkjwt["client_id"]), json=body)
    assert_refused(
        response,
        "addJwk",
        "use: Encryption keys are not supported: keyrotor issues no ID tokens to encrypt. "
        "Add a signing key ('use': 'sig').",
    )


def test_at_most_fifty_keys(client: TestClient, pkjwt: dict[str, Any]) -> None:
    app_id = pkjwt["client_id"]
    jwk = Signer(kid="x").jwk
    for index in range(49):
        add(client, app_id, {**jwk, "kid": f"k{index + 2}", "status": "INACTIVE"})
    response = client.post(jwks_url(app_id), json={**jwk, "kid": "one-too-many"})
    assert_refused(
        response,
        "addJwk",
        "You can't create a new key. You have reached the maximum number of keys allowed "
        "(50). To add another key, you must first delete an existing one.",
    )


def test_an_active_key_is_not_deleted(client: TestClient, pkjwt: dict[str, Any]) -> None:
    [key] = client.get(jwks_url(pkjwt["client_id"])).json()
    response = client.delete(jwks_url(pkjwt["client_id"], key["id"]))
    assert_refused(
        response,
        "deletejwk",
        "You can't delete an active JSON Web Key. Deactivate the key before deleting it.",
    )


def test_the_last_active_key_is_not_deactivated(client: TestClient, pkjwt: dict[str, Any]) -> None:
    [key] = client.get(jwks_url(pkjwt["client_id"])).json()
    response = lifecycle(client, pkjwt["client_id"], key["id"], "deactivate")
    assert_refused(
        response,
        "deactivateOAuth2ClientJsonWebKey",
        "Can't deactivate the only active JSON Web Key when the value for "
        "`token_endpoint_auth_method` is `private_key_jwt`.",
    )
    example = SPEC.response_examples("deactivateOAuth2ClientJsonWebKey", 400)
    okta = example["ErrorDeactivateTheOnlyKeyWithPrivateKeyJwtAuthMethod"]["errorCauses"]
    assert response.json()["errorCauses"] == okta


def test_a_jwks_uri_client_has_no_keys_and_takes_none(client: TestClient) -> None:
    body = {
        "client_name": "uri",
        "token_endpoint_auth_method": "private_key_jwt",
        "jwks_uri": "https://www.example.com/oauth2/jwks-uri",
    }
    app_id = client.post("/oauth2/v1/clients", json=body).json()["client_id"]
    assert SPEC.check(client.get(jwks_url(app_id)), "listJwk", 200) == []
    response = client.post(jwks_url(app_id), json=Signer().jwk)
    assert_refused(
        response,
        "addJwk",
        "The client's keys are published at its 'jwks_uri': add the key there, or replace "
        "the client's 'jwks_uri' with 'jwks' (PUT /oauth2/v1/clients/{clientId}).",
    )


def test_a_secret_client_has_no_keys_and_takes_none(client: TestClient) -> None:
    app_id = client.post("/oauth2/v1/clients", json={"client_name": "s"}).json()["client_id"]
    assert SPEC.check(client.get(jwks_url(app_id)), "listJwk", 200) == []
    assert_refused(
        client.post(jwks_url(app_id), json=Signer().jwk),
        "addJwk",
        "The client authenticates with a client secret: only a client whose "
        "token_endpoint_auth_method is private_key_jwt has JSON Web Keys.",
    )


# -- 404s and scopes --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operation", "method", "action"),
    [
        ("listJwk", "GET", None),
        ("getJwk", "GET", ""),
        ("deletejwk", "DELETE", ""),
        ("activateOAuth2ClientJsonWebKey", "POST", "activate"),
        ("deactivateOAuth2ClientJsonWebKey", "POST", "deactivate"),
    ],
)
def test_unknown_app_and_key_are_404(
    client: TestClient, pkjwt: dict[str, Any], operation: str, method: str, action: str | None
) -> None:
    app_id = pkjwt["client_id"]
    url = jwks_url("0oaNoSuchApp", "pksNoSuchKey" if action is not None else "", action or "")
    response = client.request(method, url)
    SPEC.check(response, operation, 404)
    assert_okta_error(
        response, 404, "E0000007", "Not found: Resource not found: 0oaNoSuchApp (App)"
    )
    if action is None:
        return
    response = client.request(method, jwks_url(app_id, "pksNoSuchKey", action))
    SPEC.check(response, operation, 404)
    summary = "Not found: Resource not found: pksNoSuchKey (OAuth2ClientJsonWebKey)"
    assert_okta_error(response, 404, "E0000007", summary)


def test_adding_to_an_unknown_app_is_404(client: TestClient) -> None:
    response = client.post(jwks_url("0oaNoSuchApp"), json=Signer().jwk)
    # addJwk documents no 404, though Okta answers one for an app that does not exist
    SPEC.check_undocumented(response, "addJwk", 404, "Error", "an unknown app")
    assert response.json()["errorCode"] == "E0000007"


def test_a_read_token_reads_and_changes_nothing(
    client: TestClient, public: TestClient, pkjwt: dict[str, Any]
) -> None:
    app_id = pkjwt["client_id"]
    reader = {"Authorization": f"SSWS {READ_TOKEN}"}
    [key] = SPEC.check(public.get(jwks_url(app_id), headers=reader), "listJwk", 200)
    SPEC.check(public.get(jwks_url(app_id, key["id"]), headers=reader), "getJwk", 200)
    calls = [
        ("addJwk", public.post(jwks_url(app_id), json=Signer().jwk, headers=reader)),
        ("deletejwk", public.delete(jwks_url(app_id, key["id"]), headers=reader)),
        (
            "activateOAuth2ClientJsonWebKey",
            public.post(jwks_url(app_id, key["id"], "activate"), headers=reader),
        ),
        (
            "deactivateOAuth2ClientJsonWebKey",
            public.post(jwks_url(app_id, key["id"], "deactivate"), headers=reader),
        ),
    ]
    for operation, response in calls:
        SPEC.check(response, operation, 403)
    anonymous = public.get(jwks_url(app_id))
    assert_okta_error(anonymous, 401, "E0000011", "Invalid token provided")
    assert client.get(jwks_url(app_id)).json() == [key]


# -- registration keeps the same `jwks` -------------------------------------------------------


def test_registration_put_replaces_the_active_set_and_keeps_inactive_keys(
    client: TestClient, pkjwt: dict[str, Any], signer: Signer, clock: ManualClock
) -> None:
    app_id = pkjwt["client_id"]
    [first] = client.get(jwks_url(app_id)).json()
    clock.advance(timedelta(seconds=1))  # listed oldest first
    staged = Signer(kid="k2")
    waiting = add(client, app_id, {**staged.jwk, "status": "INACTIVE"})
    registration = client.get(f"/oauth2/v1/clients/{app_id}").json()
    assert registration["jwks"] == {"keys": [signer.jwk]}  # ACTIVE keys only
    body = {k: v for k, v in registration.items() if k != "client_id_issued_at"}
    same = client.put(f"/oauth2/v1/clients/{app_id}", json=body)
    assert same.status_code == 200, same.text
    assert [k["id"] for k in client.get(jwks_url(app_id)).json()] == [first["id"], waiting["id"]]
    body["jwks"] = {"keys": [staged.jwk]}  # the staged key, now the only ACTIVE one
    swapped = client.put(f"/oauth2/v1/clients/{app_id}", json=body)
    assert swapped.status_code == 200, swapped.text
    assert swapped.json()["jwks"] == {"keys": [staged.jwk]}
    [kept] = client.get(jwks_url(app_id)).json()
    assert (kept["id"], kept["status"]) == (waiting["id"], "ACTIVE")
    del body["jwks"]
    body["jwks_uri"] = "https://www.example.com/jwks"
    assert client.put(f"/oauth2/v1/clients/{app_id}", json=body).status_code == 200
    assert client.get(jwks_url(app_id)).json() == []


def test_registration_refuses_several_keys_without_kids(client: TestClient) -> None:
    keys = [{k: v for k, v in Signer().jwk.items() if k != "kid"} for _ in range(2)]
    body = {"client_name": "x", "token_endpoint_auth_method": "private_key_jwt"}
    response = client.post("/oauth2/v1/clients", json={**body, "jwks": {"keys": keys}})
    assert response.status_code == 400
    assert response.json()["error_description"] == "Each key in 'jwks' needs its own 'kid'."


def test_registered_keys_keep_their_order(client: TestClient) -> None:
    signers = [Signer(kid=f"key-{i}") for i in range(6)]
    made = register(client, signers[0], jwks={"keys": [s.jwk for s in signers]})
    assert made["jwks"]["keys"] == [s.jwk for s in signers]
    again = client.get(f"/oauth2/v1/clients/{made['client_id']}").json()
    assert again["jwks"]["keys"] == [s.jwk for s in signers]


# -- the audit record ---------------------------------------------------------------------------


def test_every_change_is_recorded_without_key_material(
    client: TestClient, pkjwt: dict[str, Any], oauth: OAuthService
) -> None:
    app_id = pkjwt["client_id"]
    [first] = client.get(jwks_url(app_id)).json()
    made = add(client, app_id, {**Signer(kid="k2").jwk, "status": "INACTIVE"})
    lifecycle(client, app_id, made["id"], "activate")
    lifecycle(client, app_id, first["id"], "deactivate")
    client.delete(jwks_url(app_id, first["id"]))
    with oauth.store.transaction() as tx:
        events = [e for _, e in tx.list_events(EventQuery(limit=1000))]
    mine = [e for e in events if e.target.type == "OAuth2ClientJsonWebKey"]
    assert [(e.event_type, e.target.id) for e in mine] == [
        (audit.CREDENTIAL_CREATED, first["id"]),  # at registration
        (audit.CREDENTIAL_CREATED, made["id"]),
        (audit.CREDENTIAL_ACTIVATED, made["id"]),
        (audit.CREDENTIAL_DEACTIVATED, first["id"]),
        (audit.CREDENTIAL_DELETED, first["id"]),
    ]
    assert {e.details["clientId"] for e in mine} == {app_id}
    assert mine[1].details["status"] == "INACTIVE" and mine[1].target.name == "k2"
    assert mine[1].actor.type == "ApiToken"
    text_of_record = json.dumps([audit.summary(e) for e in mine])
    assert first["n"] not in text_of_record and made["n"] not in text_of_record


# -- the store on every backend ---------------------------------------------------------------


def test_the_store_keeps_keys_on_every_backend(
    database_url: str, make_service: Callable[..., KeyService]
) -> None:
    oauth = OAuthService(make_service(database_url))
    jwk = Signer(kid="k1").jwk
    spec = ClientSpec(name="svc", metadata={"jwks": {"keys": [jwk]}})
    client, _ = oauth.register_client(spec)
    [key] = oauth.get_client(client.client_id).keys
    assert (key.kid, key.status, dict(key.jwk)) == ("k1", JwkStatus.ACTIVE, jwk)
    other = ClientJwk(
        "pks" + "b" * 17, client.client_id, {**jwk, "kid": "k1"}, JwkStatus.INACTIVE, START, START
    )
    with pytest.raises(Conflict), oauth.store.transaction(write=True) as tx:
        tx.insert_client_jwk(other)  # the same kid twice
    later = START + timedelta(minutes=1)
    with oauth.store.transaction(write=True) as tx:
        tx.insert_client_jwk(
            ClientJwk(
                other.id, other.client_id, {**jwk, "kid": "k2"}, JwkStatus.INACTIVE, later, later
            )
        )
        tx.update_client_jwk(key.with_status(JwkStatus.INACTIVE, later))
    with oauth.store.transaction() as tx:
        found = tx.list_client_jwks(client.client_id)
        assert [(k.kid, k.status) for k in found] == [
            ("k1", JwkStatus.INACTIVE),
            ("k2", JwkStatus.INACTIVE),
        ]
        assert found[0].last_updated == later and found[0].created == key.created
        assert [c.keys for c in tx.list_clients()] == [tuple(found)]
    with oauth.store.transaction(write=True) as tx:
        assert tx.delete_client_jwk(client.client_id, key.id)
        assert not tx.delete_client_jwk("0oaOther", other.id)
    oauth.delete_client(client.client_id)
    with oauth.store.transaction() as tx:
        assert tx.list_client_jwks(client.client_id) == []


# -- migration 0009 -----------------------------------------------------------------------------


def _client_row(store: SqlStore, client_id: str, metadata: dict[str, Any]) -> dict[str, Any]:
    """A row of ``oauth_clients`` as the schema before 0009 has it (0008's columns)."""
    columns = {c["name"] for c in inspect(store.engine).get_columns("oauth_clients")}
    row = {
        "client_id": client_id,
        "name": client_id,
        "secret_digest": "",
        "auth_method": "private_key_jwt",
        "grant_types": "client_credentials",
        "created": START,
        "metadata": json.dumps(metadata),
    }
    return {k: v for k, v in row.items() if k in columns}


def test_migration_0009_moves_inline_keys_and_back(sql_url: str) -> None:
    store = SqlStore(sql_url)
    try:
        migrate_to(store, "0008")
        assert "client_jwks" not in inspect(store.engine).get_table_names()
        keys = [Signer(kid=f"k{i}").jwk for i in range(3)]
        inline = {"application_type": "service", "jwks": {"keys": keys}}
        uri = {"application_type": "service", "jwks_uri": "https://x.example/jwks"}
        with store.engine.begin() as conn:
            conn.execute(insert(oauth_clients), [_client_row(store, "0oaInline", inline)])
            conn.execute(insert(oauth_clients), [_client_row(store, "0oaUri", uri)])
        migrate_to(store, "0009")
        fresh = make_engine(sql_url)  # an inspector of its own connections: the schema as made
        found = inspect(fresh)
        assert {c["name"] for c in found.get_columns("client_jwks")} == {
            c.name for c in client_jwks.columns
        }
        assert {i["name"] for i in found.get_indexes("client_jwks")} >= {"ix_client_jwks_client"}
        fresh.dispose()
        with store.transaction() as tx:
            moved = tx.get_client("0oaInline")
            assert moved is not None and "jwks" not in moved.metadata
            assert moved.jwks == keys  # in the order registered
            assert {k.status for k in moved.keys} == {JwkStatus.ACTIVE}
            assert all(k.id.startswith("pks") and k.created == START for k in moved.keys)
            by_uri = tx.get_client("0oaUri")
            assert by_uri is not None and by_uri.keys == () and by_uri.jwks_uri
        with store.transaction(write=True) as tx:  # an INACTIVE key has no place downgraded
            tx.update_client_jwk(moved.keys[2].with_status(JwkStatus.INACTIVE, START))
        migrate_to(store, "0008", down=True)
        assert "client_jwks" not in inspect(store.engine).get_table_names()
        with store.engine.connect() as conn:
            rows: dict[str, str] = dict(
                conn.execute(select(oauth_clients.c.client_id, text("metadata"))).all()
            )
        assert json.loads(rows["0oaInline"])["jwks"] == {"keys": keys[:2]}
        assert json.loads(rows["0oaUri"]) == uri
        store.migrate()
        with store.transaction() as tx:
            again = tx.get_client("0oaInline")
            assert again is not None and again.jwks == keys[:2]
    finally:
        store.close()


# -- end to end: two replicas, one store ----------------------------------------------------------

PUBLIC_URL = "https://keys.example"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ORG_SCOPE = "okta.authorizationServers.read"


@pytest.fixture
def replicas(tmp_path: Path) -> Iterator[Cluster]:
    made = start_cluster(
        f"sqlite:///{tmp_path / 'keyrotor.db'}", 2, tmp_path, "--public-url", PUBLIC_URL
    )
    yield made
    made.stop()


def _assertion(signer: Signer, client_id: str) -> str:
    now = int(time.time())
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": PUBLIC_URL + "/oauth2/v1/token",
        "iat": now,
        "exp": now + 300,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, signer.key, algorithm="RS256", headers={"kid": signer.kid})


def _token(url: str, signer: Signer, client_id: str) -> httpx.Response:
    form = {
        "grant_type": "client_credentials",
        "scope": ORG_SCOPE,
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": _assertion(signer, client_id),
    }
    return httpx.post(url + "/oauth2/v1/token", data=form, timeout=15)


def _refused_soon(url: str, signer: Signer, client_id: str, within: float = 2.0) -> httpx.Response:
    """The answer once refused (the other replica hears of the change within a poll)."""
    deadline = time.monotonic() + within
    while True:
        response = _token(url, signer, client_id)
        if response.status_code != 200 or time.monotonic() > deadline:
            return response
        time.sleep(0.05)


@pytest.mark.e2e
def test_key_rotation_end_to_end_on_two_replicas(replicas: Cluster) -> None:
    one, two = replicas.urls
    k1, k2 = Signer(kid="k1"), Signer(kid="k2")
    with replicas.client() as admin:
        body = {
            "client_name": "rotating",
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": {"keys": [k1.jwk]},
        }
        made = admin.post(one + "/oauth2/v1/clients", json=body)
        assert made.status_code == 201, made.text
        app_id = made.json()["client_id"]
        granted = admin.post(
            one + f"/api/v1/apps/{app_id}/grants", json={"issuer": PUBLIC_URL, "scopeId": ORG_SCOPE}
        )
        assert granted.status_code == 201, granted.text
        for url in (one, two):  # each replica caches the client with K1
            assert _token(url, k1, app_id).status_code == 200
        added = admin.post(one + jwks_url(app_id), json={**k2.jwk, "status": "INACTIVE"})
        new = SPEC.check(added, "addJwk", 201)
        assert _refused_soon(two, k2, app_id, within=0).status_code == 401
        activated = admin.post(one + jwks_url(app_id, new["id"], "activate"))
        SPEC.check(activated, "activateOAuth2ClientJsonWebKey", 200)
        for url in (one, two):  # the overlap: both keys verify, on both replicas
            deadline = time.monotonic() + 2
            while _token(url, k2, app_id).status_code != 200:
                assert time.monotonic() < deadline, "K2 not accepted after activation"
                time.sleep(0.05)
            assert _token(url, k1, app_id).status_code == 200
        [old] = [k for k in admin.get(two + jwks_url(app_id)).json() if k["kid"] == "k1"]
        deactivated = admin.post(two + jwks_url(app_id, old["id"], "deactivate"))
        SPEC.check(deactivated, "deactivateOAuth2ClientJsonWebKey", 200)
        refused = _token(two, k1, app_id)  # the replica that made the change: at once
        assert refused.status_code == 401, refused.text
        assert refused.json()["error"] == "invalid_client"
        elsewhere = _refused_soon(one, k1, app_id)  # the other replica: within a poll
        assert elsewhere.status_code == 401, elsewhere.text
        assert elsewhere.json()["error"] == "invalid_client"
        for url in (one, two):
            assert _token(url, k2, app_id).status_code == 200
        deleted = admin.delete(one + jwks_url(app_id, old["id"]))
        SPEC.check(deleted, "deletejwk", 204)
        listed = SPEC.check(admin.get(two + jwks_url(app_id)), "listJwk", 200)
        assert [(k["kid"], k["status"]) for k in listed] == [("k2", "ACTIVE")]


# -- the command line ---------------------------------------------------------------------------


def test_cli_rotates_a_client_s_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("KEYROTOR_KEK", "KEYROTOR_KEK_FILE", "KEYROTOR_PUBLIC_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KEYROTOR_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    runner = CliRunner()

    def run(*args: str) -> Any:
        return runner.invoke(main, list(args))

    assert run("init").exit_code == 0
    first, second = Signer(kid="k1"), Signer(kid="k2")
    service = OAuthService(service_at(os.environ["KEYROTOR_DATABASE_URL"]))
    spec = ClientSpec(
        name="svc",
        auth_method=AuthMethod.PRIVATE_KEY_JWT,
        metadata={"jwks": {"keys": [first.jwk]}},
    )
    made, _ = service.register_client(spec)
    app_id = made.client_id
    service.keys.store.close()
    key_file = tmp_path / "k2.json"
    key_file.write_text(json.dumps(second.jwk))
    added = run("clients", "keys", "add", app_id, str(key_file), "--inactive", "--json")
    assert added.exit_code == 0, added.output
    new = json.loads(added.output)
    SPEC.validate(SPEC.component("OAuth2ClientJsonSigningKeyResponse"), new, "cli add")
    assert (new["kid"], new["status"]) == ("k2", "INACTIVE")
    listed = run("clients", "keys", "list", app_id, "--json")
    old = next(k for k in json.loads(listed.output) if k["kid"] == "k1")
    refused = run("clients", "keys", "delete", app_id, old["id"])
    assert refused.exit_code == 1
    [line] = refused.output.strip().splitlines()  # one line, no traceback
    assert line.startswith("Error: ") and "Deactivate the key before deleting it" in line
    for action, key_id in (("activate", new["id"]), ("deactivate", old["id"])):
        done = run("clients", "keys", action, app_id, key_id)
        assert done.exit_code == 0, done.output
    assert run("clients", "keys", "delete", app_id, old["id"]).exit_code == 0
    table = run("clients", "keys", "list", app_id)
    assert new["id"] in table.output and old["id"] not in table.output
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    broken = run("clients", "keys", "add", app_id, str(bad))
    assert broken.exit_code == 1 and "is not a JSON Web Key: not JSON" in broken.output
    unknown = run("clients", "keys", "list", "0oaNoSuchApp")
    assert unknown.exit_code == 1 and "0oaNoSuchApp (App)" in unknown.output
