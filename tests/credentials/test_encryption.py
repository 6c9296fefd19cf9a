"""Access-token encryption: a server's resource-server encryption keys
(``/api/v1/authorizationServers/{id}/resourceservercredentials/keys``) with Okta's shapes and
rules, the server's ``accessTokenEncryptedResponseAlgorithm`` and ``jwks``, the audit record,
the CLI, every backend, migration 0010, and tokens nested in a JWE: decrypted with the
test's own private key (joserfc) and verified against the server's JWKS (PyJWT's
``PyJWKClient``), in-process and from a real ``keyrotor serve``."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc import jwe
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey
from sqlalchemy import insert, inspect
from starlette.testclient import TestClient

from keyrotor import audit
from keyrotor.audit import EventQuery
from keyrotor.cli import main
from keyrotor.crypto import thumbprint
from keyrotor.encryption import KeySpec
from keyrotor.errors import NotFound, ValidationFailed
from keyrotor.servers import ServerSpec, ServerStatus
from keyrotor.service import KeyService
from keyrotor.storage.sql import SqlStore
from keyrotor.storage.tables import encryption_keys, metadata, servers
from tests.conftest import ADMIN_TOKEN, READ_TOKEN, ServerProcess
from tests.okta_spec import OktaSpec
from tests.support import assert_okta_error, migrate_to

SPEC = OktaSpec.load()
SERVERS = "/api/v1/authorizationServers"
KEYS = SERVERS + "/{}/resourceservercredentials/keys"
FAILED = "Api validation failed: JsonWebKey"
ALGS = ["RSA-OAEP-256", "A256GCM"]
ENABLE = "accessTokenEncryptedResponseAlgorithm"
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def new_key() -> RSAKey:
    return RSAKey.generate_key(2048, private=True)


def public(key: RSAKey, kid: str | None = "enc-1", **extra: Any) -> dict[str, Any]:
    """The public JWK a resource server registers: RSA, ``use`` enc."""
    body: dict[str, Any] = {"kty": "RSA", "use": "enc", **key.as_dict(private=False), **extra}
    body.pop("kid", None)
    if kid is not None:
        body["kid"] = kid
    return body


def add(client: TestClient, server: str, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(KEYS.format(server), json=body)
    SPEC.check(response, "addOAuth2ResourceServerJsonWebKey", 201)
    made: dict[str, Any] = response.json()
    return made


def lifecycle(client: TestClient, server: str, key_id: str, step: str) -> httpx.Response:
    return client.post(f"{KEYS.format(server)}/{key_id}/lifecycle/{step}")


def set_encryption(client: TestClient, server: str, algorithm: str | None) -> httpx.Response:
    body = client.get(f"{SERVERS}/{server}").json()
    body[ENABLE] = algorithm
    return client.put(f"{SERVERS}/{server}", json=body)


def basic(creds: dict[str, Any]) -> dict[str, str]:
    raw = f"{creds['client_id']}:{creds['client_secret']}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def header(token: str) -> dict[str, Any]:
    first = token.split(".")[0]
    found: dict[str, Any] = json.loads(base64.urlsafe_b64decode(first + "=" * (-len(first) % 4)))
    return found


def decrypted(token: str, key: RSAKey) -> str:
    """The signed JWT inside the JWE, opened with the resource server's private key."""
    opened = jwe.decrypt_compact(token, key, algorithms=ALGS)
    assert opened.plaintext is not None
    return opened.plaintext.decode()


@pytest.fixture
def creds(client: TestClient) -> dict[str, Any]:
    """A client_credentials client and the scope ``orders:read`` on ``default``."""
    made = client.post(SERVERS + "/default/scopes", json={"name": "orders:read"})
    assert made.status_code == 201, made.text
    registered = client.post("/oauth2/v1/clients", json={"client_name": "orders"})
    assert registered.status_code == 201, registered.text
    found: dict[str, Any] = registered.json()
    return found


def token(client: TestClient, creds: dict[str, Any], server: str = "default") -> str:
    response = TestClient(client.app).post(
        f"/oauth2/{server}/v1/token",
        data={"grant_type": "client_credentials", "scope": "orders:read"},
        headers=basic(creds),
    )
    assert response.status_code == 200, response.text
    value: str = response.json()["access_token"]
    return value


# -- the operations and their shapes ----------------------------------------------------------


def test_every_operation_answers_okta_shapes(client: TestClient) -> None:
    key = new_key()
    made = add(client, "default", public(key))
    assert list(made) == [
        *("id", "kid", "kty", "use", "e", "n", "status", "created", "lastUpdated", "_links")
    ]
    assert made["id"].startswith("apk") and len(made["id"]) == 20
    assert (made["kid"], made["status"], made["use"]) == ("enc-1", "INACTIVE", "enc")
    assert made["n"] == key.as_dict(private=False)["n"]
    href = f"http://testserver{KEYS.format('default')}/{made['id']}"
    assert made["_links"]["activate"]["href"] == href + "/lifecycle/activate"
    assert made["_links"]["delete"] == {"href": href, "hints": {"allow": ["DELETE"]}}
    ids = {"authServerId": "default", "keyId": made["id"]}
    listed = SPEC.check(
        client.get(KEYS.format("default")), "listOAuth2ResourceServerJsonWebKeys", 200
    )
    assert listed == [made]
    got = client.get(f"{KEYS.format('default')}/{ids['keyId']}")
    assert SPEC.check(got, "getOAuth2ResourceServerJsonWebKey", 200) == made
    active = SPEC.check(
        lifecycle(client, "default", made["id"], "activate"),
        "activateOAuth2ResourceServerJsonWebKey",
        200,
    )
    assert active["status"] == "ACTIVE" and set(active["_links"]) == {"self", "deactivate"}
    inactive = SPEC.check(
        lifecycle(client, "default", made["id"], "deactivate"),
        "deactivateOAuth2ResourceServerJsonWebKey",
        200,
    )
    assert inactive["status"] == "INACTIVE"
    gone = client.delete(f"{KEYS.format('default')}/{made['id']}")
    assert gone.status_code == 204 and gone.content == b""
    assert client.get(KEYS.format("default")).json() == []


def test_the_kid_defaults_to_the_rfc7638_thumbprint(client: TestClient) -> None:
    body = public(new_key(), kid=None)
    made = add(client, "default", body)
    assert made["kid"] == thumbprint(body["n"], body["e"])


def test_activating_a_key_deactivates_the_active_one(client: TestClient) -> None:
    first = add(client, "default", public(new_key(), "k1"))
    second = add(client, "default", public(new_key(), "k2"))
    assert lifecycle(client, "default", first["id"], "activate").json()["status"] == "ACTIVE"
    assert lifecycle(client, "default", second["id"], "activate").json()["status"] == "ACTIVE"
    statuses = {k["kid"]: k["status"] for k in client.get(KEYS.format("default")).json()}
    assert statuses == {"k1": "INACTIVE", "k2": "ACTIVE"}
    again = lifecycle(client, "default", second["id"], "activate")  # already ACTIVE: as it is
    assert again.status_code == 200 and again.json()["lastUpdated"] == second["lastUpdated"]


@pytest.mark.parametrize(
    ("change", "causes"),
    [
        (
            {"status": "ACTIVE"},
            [
                "Keys cannot be created with an 'ACTIVE' status. Create an 'INACTIVE' key and then "
                "activate it."
            ],
        ),
        ({"use": "sig"}, ["use: Must be enc."]),
        ({"use": None}, ["use: Must be enc."]),
        ({"kty": "EC"}, ["kty: Must be RSA."]),
        ({"status": "NEXT"}, ["status: Must be one of ACTIVE, INACTIVE."]),
        ({"kid": ""}, ["kid: Must be 1 to 255 printable characters."]),
        ({"n": "not base64!"}, ["n, e: Must be the base64url modulus and exponent of an RSA key."]),
        (
            {"alg": "RSA-OAEP-256"},
            ["alg: Not a member of Okta's OAuth2ResourceServerJsonWebKeyRequestBody."],
        ),
        (
            {"d": "secret"},
            [
                "d: A private key member. Send the public key only: the resource server keeps its "
                "private key."
            ],
        ),
    ],
)
def test_a_bad_key_is_refused_by_name(
    client: TestClient, change: dict[str, Any], causes: list[str]
) -> None:
    body = {**public(new_key()), **change}
    response = client.post(KEYS.format("default"), json=body)
    assert_okta_error(response, 400, "E0000001", FAILED, causes)
    SPEC.check(response, "addOAuth2ResourceServerJsonWebKey", 400)
    assert client.get(KEYS.format("default")).json() == []


def test_private_key_material_is_refused_and_never_stored(client: TestClient) -> None:
    key = new_key()
    response = client.post(KEYS.format("default"), json={**key.as_dict(private=True), "use": "enc"})
    assert response.status_code == 400 and response.json()["errorSummary"] == FAILED
    members = {c["errorSummary"].split(":")[0] for c in response.json()["errorCauses"]}
    assert members == {"d", "p", "q", "dp", "dq", "qi"}
    assert str(key.as_dict(private=True)["d"]) not in response.text
    assert client.get(KEYS.format("default")).json() == []


def test_a_short_key_is_refused_in_oktas_words(client: TestClient) -> None:
    numbers = rsa.generate_private_key(65537, 1024).public_key().public_numbers()
    n = base64.urlsafe_b64encode(numbers.n.to_bytes(128, "big")).rstrip(b"=").decode()
    body = {"kty": "RSA", "use": "enc", "kid": "short", "e": "AQAB", "n": n}
    response = client.post(KEYS.format("default"), json=body)
    example = SPEC.response_examples("addOAuth2ResourceServerJsonWebKey", 400)
    wanted = example["ErrorJsonWebKeyKidLengthTooShort"]["errorCauses"]
    assert_okta_error(response, 400, "E0000001", FAILED, [c["errorSummary"] for c in wanted])


def test_a_duplicate_kid_and_a_sixth_key_are_refused(client: TestClient) -> None:
    add(client, "default", public(new_key(), "same"))
    response = client.post(KEYS.format("default"), json=public(new_key(), "same"))
    assert_okta_error(response, 400, "E0000001", FAILED, ["Each key must have a unique 'kid'."])
    for index in range(4):
        add(client, "default", public(new_key(), f"k{index}"))
    response = client.post(KEYS.format("default"), json=public(new_key(), "k5"))
    example = SPEC.response_examples("addOAuth2ResourceServerJsonWebKey", 400)
    wanted = example["ErrorJsonWebKeyTooManyKids"]["errorCauses"]
    assert_okta_error(response, 400, "E0000001", FAILED, [c["errorSummary"] for c in wanted])
    assert len(client.get(KEYS.format("default")).json()) == 5


def test_an_active_key_is_not_deleted_nor_deactivated_while_encrypting(
    client: TestClient,
) -> None:
    made = add(client, "default", public(new_key()))
    lifecycle(client, "default", made["id"], "activate")
    response = client.delete(f"{KEYS.format('default')}/{made['id']}")
    assert_okta_error(
        response,
        400,
        "E0000001",
        FAILED,
        ["'ACTIVE' keys cannot be deleted. Activate another key before deleting this one."],
    )
    assert set_encryption(client, "default", "RSA-OAEP-256").status_code == 200
    response = lifecycle(client, "default", made["id"], "deactivate")
    example = SPEC.response_examples("deactivateOAuth2ResourceServerJsonWebKey", 400)
    wanted = example["ErrorDeactivateActiveKey"]["errorCauses"]
    assert_okta_error(response, 400, "E0000001", FAILED, [c["errorSummary"] for c in wanted])
    assert client.get(f"{KEYS.format('default')}/{made['id']}").json()["status"] == "ACTIVE"


def test_unknown_servers_and_keys_are_404(client: TestClient) -> None:
    for server in ("nosuch", "org"):
        response = client.get(KEYS.format(server))
        summary = f"Not found: Resource not found: {server} (AuthorizationServer)"
        assert_okta_error(response, 404, "E0000007", summary)
        response = client.post(KEYS.format(server), json=public(new_key()))
        assert_okta_error(response, 404, "E0000007", summary)
    summary = "Not found: Resource not found: apkNope (OAuth2ResourceServerJsonWebKey)"
    for call in (
        lambda: client.get(f"{KEYS.format('default')}/apkNope"),
        lambda: client.delete(f"{KEYS.format('default')}/apkNope"),
        lambda: lifecycle(client, "default", "apkNope", "activate"),
        lambda: lifecycle(client, "default", "apkNope", "deactivate"),
    ):
        assert_okta_error(call(), 404, "E0000007", summary)


def test_reading_needs_read_and_writing_needs_manage(client: TestClient) -> None:
    made = add(client, "default", public(new_key()))
    reader = TestClient(client.app, headers={"Authorization": f"SSWS {READ_TOKEN}"})
    assert reader.get(KEYS.format("default")).status_code == 200
    assert reader.get(f"{KEYS.format('default')}/{made['id']}").status_code == 200
    for response in (
        reader.post(KEYS.format("default"), json=public(new_key(), "k2")),
        lifecycle(reader, "default", made["id"], "activate"),
        lifecycle(reader, "default", made["id"], "deactivate"),
        reader.delete(f"{KEYS.format('default')}/{made['id']}"),
    ):
        assert response.status_code == 403, response.text
        assert response.json()["errorCode"] == "E0000006"
    anonymous = TestClient(client.app)
    assert anonymous.get(KEYS.format("default")).status_code == 401


# -- the server's members ---------------------------------------------------------------


def test_the_server_answers_its_keys_and_algorithm(client: TestClient) -> None:
    made = add(client, "default", public(new_key()))
    lifecycle(client, "default", made["id"], "activate")
    enabled = set_encryption(client, "default", "RSA-OAEP-256")
    assert enabled.status_code == 200, enabled.text
    for shown in (
        enabled.json(),
        client.get(f"{SERVERS}/default").json(),
        next(s for s in client.get(SERVERS).json() if s["id"] == "default"),
    ):
        SPEC.validate(SPEC.component("AuthorizationServer"), shown, "server")
        assert shown[ENABLE] == "RSA-OAEP-256"
        assert shown["jwks"] == {
            "keys": [
                {
                    "kty": "RSA",
                    "id": made["id"],
                    "status": "ACTIVE",
                    "kid": made["kid"],
                    "use": "enc",
                    "e": made["e"],
                    "n": made["n"],
                }
            ]
        }
    again = client.put(f"{SERVERS}/default", json=client.get(f"{SERVERS}/default").json())
    assert again.status_code == 200 and again.json() == enabled.json() | {
        "lastUpdated": again.json()["lastUpdated"]
    }
    off = set_encryption(client, "default", None)
    assert ENABLE not in off.json() and off.json()["jwks"]["keys"][0]["id"] == made["id"]


def test_a_replace_rotates_through_jwks(client: TestClient) -> None:
    """``jwks`` on a replace sets the keys: a new ACTIVE key, the old one kept INACTIVE,
    a key left out deleted; the operations see the same keys."""
    old = add(client, "default", public(new_key(), "old"))
    dropped = add(client, "default", public(new_key(), "dropped"))
    lifecycle(client, "default", old["id"], "activate")
    new = public(new_key(), "new", status="ACTIVE")
    body = client.get(f"{SERVERS}/default").json()
    body[ENABLE] = "RSA-OAEP-256"
    body["jwks"] = {"keys": [{**body["jwks"]["keys"][0], "status": "INACTIVE"}, new]}
    assert body["jwks"]["keys"][0]["kid"] == "old"
    replaced = client.put(f"{SERVERS}/default", json=body)
    assert replaced.status_code == 200, replaced.text
    keys = client.get(KEYS.format("default")).json()
    assert [(k["kid"], k["status"]) for k in keys] == [("old", "INACTIVE"), ("new", "ACTIVE")]
    assert keys[0]["id"] == old["id"]
    assert dropped["id"] not in {k["id"] for k in keys}


@pytest.mark.parametrize(
    ("jwks", "cause"),
    [
        (
            lambda a, b: {"keys": [{**a, "status": "ACTIVE"}, {**b, "status": "ACTIVE"}]},
            "jwks.keys: Only one key in the 'jwks' can be ACTIVE.",
        ),
        (
            lambda a, b: {"keys": [a, {**b, "kid": a["kid"]}]},
            "jwks.keys: Each key must have a unique 'kid'.",
        ),
        (lambda a, b: {"keys": [{**a, "use": "sig"}]}, "jwks.keys[0].use: Must be enc."),
        (
            lambda a, b: {"keys": [a], "extra": 1},
            "jwks.extra: Not a member of Okta's ResourceServerJsonWebKeys.",
        ),
        (lambda a, b: [a], "jwks: Must be an object with a 'keys' array."),
    ],
)
def test_a_bad_jwks_is_refused_by_name_and_changes_nothing(
    client: TestClient, jwks: Callable[[dict[str, Any], dict[str, Any]], Any], cause: str
) -> None:
    add(client, "default", public(new_key(), "kept"))
    before = client.get(f"{SERVERS}/default").json()
    body = {**before, "jwks": jwks(public(new_key(), "a"), public(new_key(), "b"))}
    response = client.put(f"{SERVERS}/default", json=body)
    assert_okta_error(
        response, 400, "E0000001", "Api validation failed: authorizationServer", [cause]
    )
    assert client.get(f"{SERVERS}/default").json() == before


def test_a_kid_the_server_has_must_name_the_same_key(client: TestClient) -> None:
    add(client, "default", public(new_key(), "kept"))
    body = client.get(f"{SERVERS}/default").json()
    body["jwks"] = {"keys": [public(new_key(), "kept")]}
    response = client.put(f"{SERVERS}/default", json=body)
    assert response.status_code == 400
    assert "another key with kid 'kept'" in response.json()["errorCauses"][0]["errorSummary"]


# -- tokens ---------------------------------------------------------------------------------


def test_tokens_are_nested_jwes_while_encrypting_and_plain_jws_otherwise(
    client: TestClient, creds: dict[str, Any]
) -> None:
    plain = token(client, creds)
    assert header(plain)["alg"] == "RS256" and plain.count(".") == 2
    key = new_key()
    made = add(client, "default", public(key, "rs-1"))
    lifecycle(client, "default", made["id"], "activate")
    assert header(token(client, creds))["alg"] == "RS256"  # a key alone does not encrypt
    assert set_encryption(client, "default", "RSA-OAEP-256").status_code == 200
    sealed = token(client, creds)
    assert sealed.count(".") == 4
    assert header(sealed) == {"alg": "RSA-OAEP-256", "enc": "A256GCM", "kid": "rs-1", "cty": "JWT"}
    inner = decrypted(sealed, key)
    jwks = jwt.PyJWKSet.from_dict(client.get("/oauth2/default/v1/keys").json())
    signing = next(k for k in jwks.keys if k.key_id == header(inner)["kid"])
    claims = jwt.decode(  # the manual clock's instant: the signature and claims, not time
        inner,
        signing.key,
        algorithms=["RS256"],
        audience="api://default",
        options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},
    )
    assert claims["cid"] == creds["client_id"] and claims["scp"] == ["orders:read"]
    with pytest.raises(JoseError):  # another private key does not open it
        decrypted(sealed, new_key())
    assert set_encryption(client, "default", None).status_code == 200
    assert header(token(client, creds))["alg"] == "RS256"


def test_every_change_is_recorded(client: TestClient, service: KeyService) -> None:
    made = add(client, "default", public(new_key()))
    other = add(client, "default", public(new_key(), "k2"))
    lifecycle(client, "default", made["id"], "activate")
    lifecycle(client, "default", other["id"], "activate")
    lifecycle(client, "default", other["id"], "deactivate")
    client.delete(f"{KEYS.format('default')}/{made['id']}")
    events = [e for _, e in service.events(EventQuery(limit=1000))]
    mine = [
        (e.event_type, e.target.id, e.details["status"])
        for e in events
        if e.event_type.startswith("keyrotor.as.encryption_key.")
    ]
    assert mine == [
        (audit.ENCRYPTION_KEY_ADDED, made["id"], "INACTIVE"),
        (audit.ENCRYPTION_KEY_ADDED, other["id"], "INACTIVE"),
        (audit.ENCRYPTION_KEY_ACTIVATED, made["id"], "ACTIVE"),
        (audit.ENCRYPTION_KEY_DEACTIVATED, made["id"], "INACTIVE"),
        (audit.ENCRYPTION_KEY_ACTIVATED, other["id"], "ACTIVE"),
        (audit.ENCRYPTION_KEY_DEACTIVATED, other["id"], "INACTIVE"),
        (audit.ENCRYPTION_KEY_DELETED, made["id"], "INACTIVE"),
    ]
    assert all(e.actor.type == "ApiToken" and e.server_id == "default" for e in events[-7:])
    assert made["n"] not in json.dumps([audit.summary(e) for e in events])
    set_encryption(client, "default", None)  # unchanged: off already, no update recorded
    lifecycle(client, "default", other["id"], "activate")
    set_encryption(client, "default", "RSA-OAEP-256")
    [updated] = [
        e for _, e in service.events(EventQuery(event_type=audit.SERVER_UPDATED, limit=1000))
    ][-1:]
    assert updated.details["to"] == {ENABLE: "RSA-OAEP-256"}


# -- every backend --------------------------------------------------------------------------


def test_the_use_cases_on_every_backend(
    database_url: str, make_service: Callable[..., KeyService]
) -> None:
    service = make_service(database_url)
    body = public(new_key())
    spec = KeySpec(body["kid"], body["n"], body["e"])
    made = service.encryption.add_key("default", spec)
    with pytest.raises(ValidationFailed):
        service.encryption.add_key("default", spec)
    second = service.encryption.add_key("default", KeySpec("k2", body["n"], body["e"]))
    service.encryption.activate_key("default", made.id)
    service.encryption.activate_key("default", second.id)
    service.encryption.set_algorithm("default", "RSA-OAEP-256")
    found = service.snapshot("default")
    assert found.encrypter is not None and found.encrypter.kid == "k2"
    assert [(k.kid, k.status.value) for k in service.encryption.list_keys("default")] == [
        ("enc-1", "INACTIVE"),
        ("k2", "ACTIVE"),
    ]
    with pytest.raises(ValidationFailed):
        service.encryption.deactivate_key("default", second.id)
    service.encryption.delete_key("default", made.id)
    with pytest.raises(NotFound):
        service.encryption.get_key("default", made.id)
    service.encryption.set_algorithm("default", None)
    service.encryption.deactivate_key("default", second.id)
    assert service.snapshot("default").encrypter is None
    # deleting the server deletes its keys
    other = service.create_server(ServerSpec(name="other", audiences=("api://other",)))
    service.encryption.add_key(other.id, spec)
    service.set_status(other.id, ServerStatus.INACTIVE)
    service.delete_server(other.id)
    with service.store.transaction() as tx:
        assert tx.encryption_keys(other.id) == []


def test_migration_0010_up_and_down(sql_url: str, make_service: Callable[..., KeyService]) -> None:
    """0010 adds the table and the column (as ``tables.py`` says) and takes them away again;
    servers and their keys stay."""
    store = SqlStore(sql_url)
    try:
        migrate_to(store, "0009")
        assert "encryption_keys" not in inspect(store.engine).get_table_names()
        migrate_to(store, "0010")
        found = inspect(store.engine)
        assert {c["name"] for c in found.get_columns("encryption_keys")} == {
            c.name for c in encryption_keys.columns
        }
        assert "token_encryption" in {c["name"] for c in found.get_columns("auth_servers")}
        names = {i["name"] for i in found.get_indexes("encryption_keys")}
        assert "ux_encryption_keys_one_active" in names
        with store.engine.begin() as conn:
            conn.execute(
                insert(servers).values(
                    id="aus1",
                    name="s",
                    audiences="[]",
                    issuer_mode="ORG_URL",
                    status="ACTIVE",
                    rotation_mode="MANUAL",
                    kid="k",
                    last_rotated=NOW,
                    created=NOW,
                    last_updated=NOW,
                    token_encryption="RSA-OAEP-256",
                )
            )
        migrate_to(store, "0009", down=True)
        found = inspect(store.engine)
        assert "encryption_keys" not in found.get_table_names()
        assert "token_encryption" not in {c["name"] for c in found.get_columns("auth_servers")}
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT id FROM auth_servers").scalars().all() == ["aus1"]
        store.migrate()
        with store.engine.connect() as conn:  # what the migrations make is what tables.py says
            diff = compare_metadata(MigrationContext.configure(conn), metadata)
        assert [d for d in diff if "encryption" in repr(d)] == []
    finally:
        store.close()


# -- the CLI --------------------------------------------------------------------------------


def test_the_cli_manages_keys_and_switches_encryption(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'cli.db'}"
    runner = CliRunner()
    assert runner.invoke(main, ["init", "--database", database]).exit_code == 0
    jwk = tmp_path / "enc.json"
    jwk.write_text(json.dumps(public(new_key(), "cli-1")))
    cli = ["servers", "encryption-keys"]
    added = runner.invoke(
        main, [*cli, "add", "default", str(jwk), "--database", database, "--json"]
    )
    assert added.exit_code == 0, added.output
    made = json.loads(added.output)
    assert made["status"] == "INACTIVE" and made["kid"] == "cli-1"
    refused = runner.invoke(main, [*cli, "enable", "default", "--database", database])
    assert refused.exit_code == 1 and refused.output.startswith("Error: ")
    assert len(refused.output.strip().splitlines()) == 1
    steps = (["activate", "default", made["id"]], ["enable", "default"])
    for step in steps:
        done = runner.invoke(main, [*cli, *step, "--database", database])
        assert done.exit_code == 0, done.output
    listed = runner.invoke(main, [*cli, "list", "default", "--database", database])
    assert "cli-1" in listed.output and "ACTIVE" in listed.output
    refused = runner.invoke(main, [*cli, "delete", "default", made["id"], "--database", database])
    assert refused.exit_code == 1 and "'ACTIVE' keys cannot be deleted" in refused.output
    for step in (["disable", "default"], ["deactivate", "default", made["id"]]):
        assert runner.invoke(main, [*cli, *step, "--database", database]).exit_code == 0
    done = runner.invoke(main, [*cli, "delete", "default", made["id"], "--database", database])
    assert done.exit_code == 0, done.output
    private = tmp_path / "private.json"
    private.write_text(json.dumps({**new_key().as_dict(private=True), "use": "enc"}))
    refused = runner.invoke(main, [*cli, "add", "default", str(private), "--database", database])
    assert refused.exit_code == 1 and "A private key member" in refused.output


# -- end to end -----------------------------------------------------------------------------


def test_encrypted_tokens_from_a_real_server_rotate_between_keys(
    start_server: Callable[..., ServerProcess],
) -> None:
    """A real server, real HTTP: a resource server's key pair made here, its public key
    added and activated, encryption on; each token is a JWE for the ACTIVE key, decrypted
    with joserfc and its inner JWS verified with PyJWT's PyJWKClient. Then K2 is added and
    activated (K1 deactivated): new tokens name K2; off again, tokens are plain JWS."""
    live = start_server()
    api = httpx.Client(base_url=live.url, headers={"Authorization": f"SSWS {ADMIN_TOKEN}"})
    with api:
        _rotate_encryption_keys(live, api)


def _rotate_encryption_keys(live: ServerProcess, api: httpx.Client) -> None:
    made = api.post(SERVERS, json={"name": "orders", "audiences": ["api://orders"]})
    assert made.status_code == 201, made.text
    server = made.json()["id"]
    api.post(f"{SERVERS}/{server}/scopes", json={"name": "orders:read"}).raise_for_status()
    creds = api.post("/oauth2/v1/clients", json={"client_name": "orders-app"}).json()
    k1, k2 = new_key(), new_key()
    first = api.post(KEYS.format(server), json=public(k1, "k1")).json()
    api.post(f"{KEYS.format(server)}/{first['id']}/lifecycle/activate").raise_for_status()
    body = api.get(f"{SERVERS}/{server}").json()
    api.put(f"{SERVERS}/{server}", json={**body, ENABLE: "RSA-OAEP-256"}).raise_for_status()
    verifier = jwt.PyJWKClient(f"{live.url}/oauth2/{server}/v1/keys")

    def fresh() -> str:
        answer = httpx.post(
            f"{live.url}/oauth2/{server}/v1/token",
            data={"grant_type": "client_credentials", "scope": "orders:read"},
            headers=basic(creds),
        )
        assert answer.status_code == 200, answer.text
        value: str = answer.json()["access_token"]
        return value

    def verified(inner: str) -> dict[str, Any]:
        signing = verifier.get_signing_key_from_jwt(inner)
        found: dict[str, Any] = jwt.decode(
            inner,
            signing.key,
            algorithms=["RS256"],
            audience="api://orders",
            issuer=f"{live.url}/oauth2/{server}",
        )
        return found

    for _ in range(2):  # the second from the caches (the hot path)
        sealed = fresh()
        assert header(sealed)["kid"] == "k1" and header(sealed)["cty"] == "JWT"
        assert verified(decrypted(sealed, k1))["cid"] == creds["client_id"]
    second = api.post(KEYS.format(server), json=public(k2, "k2")).json()
    api.post(f"{KEYS.format(server)}/{second['id']}/lifecycle/activate").raise_for_status()
    done = api.post(f"{KEYS.format(server)}/{first['id']}/lifecycle/deactivate")
    assert done.status_code == 200 and done.json()["status"] == "INACTIVE"
    for _ in range(2):
        sealed = fresh()
        assert header(sealed)["kid"] == "k2"
        assert verified(decrypted(sealed, k2))["scp"] == ["orders:read"]
    assert api.delete(f"{KEYS.format(server)}/{first['id']}").status_code == 204
    body = api.get(f"{SERVERS}/{server}").json()
    assert [k["kid"] for k in body["jwks"]["keys"]] == ["k2"]
    api.put(f"{SERVERS}/{server}", json={**body, ENABLE: None}).raise_for_status()
    plain = fresh()
    assert header(plain)["alg"] == "RS256" and verified(plain)["cid"] == creds["client_id"]
