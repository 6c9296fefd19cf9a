"""Nothing silently dropped: every member of Okta's OAuth2Scope and AuthorizationServer is
stored and answered back, or refused with Okta's 400 naming it; discovery checks a
``client_id``. Okta's own examples come from its OpenAPI description."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import inspect, text
from starlette.testclient import TestClient

from keyrotor.apitokens import ALL_SCOPES
from keyrotor.config import Settings
from keyrotor.http import create_app
from keyrotor.service import KeyService
from keyrotor.storage import migrate
from keyrotor.storage.sql import SqlStore
from tests.conftest import ADMIN_TOKEN
from tests.okta_spec import SPEC_PATH
from tests.support import assert_okta_error

SPEC = SPEC_PATH
SERVERS = "/api/v1/authorizationServers"
SCOPES = f"{SERVERS}/default/scopes"
SCOPE_FAILED = "Api validation failed: scope"
SERVER_FAILED = "Api validation failed: authorizationServer"
NO_JWKS_URI = (
    "keyrotor does not fetch encryption keys from a URL; send them in 'jwks' or add them at "
    "resourceservercredentials/keys (or leave it out, or null)."
)
WELL_KNOWN = ["openid-configuration", "oauth-authorization-server"]


@cache
def _spec() -> dict[str, Any]:
    if not SPEC.exists():
        pytest.skip(f"Okta's OpenAPI description is not at {SPEC}")
    found: dict[str, Any] = json.loads(SPEC.read_text())
    return found


def example(name: str) -> Any:
    """The value of one of Okta's examples (``components.examples``)."""
    return copy.deepcopy(_spec()["components"]["examples"][name]["value"])


@pytest.fixture
def on_backend(
    database_url: str, make_service: Callable[..., KeyService], settings: Settings
) -> Iterator[TestClient]:
    """The app on memory, SQLite and PostgreSQL, with the admin token preset."""
    service = make_service(database_url)
    service.create_token("admin", ALL_SCOPES, ADMIN_TOKEN)
    app = create_app(service, settings, sweep=False)
    with TestClient(app, headers={"Authorization": f"SSWS {ADMIN_TOKEN}"}) as test_client:
        yield test_client


def _scope_without_server_parts(scope: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in scope.items() if k not in ("id", "_links")}


# -- scopes --------------------------------------------------------------------------------


def test_every_scope_member_round_trips(on_backend: TestClient) -> None:
    """Create, get, list and replace answer back every member stored, on every backend."""
    body = {
        "name": "car:drive",
        "description": "Drive car",
        "displayName": "Saml Jackson",
        "consent": "REQUIRED",
        "optional": True,
        "default": True,
        "metadataPublish": "ALL_CLIENTS",
    }
    made = on_backend.post(SCOPES, json=body)
    assert made.status_code == 201, made.text
    created = made.json()
    assert created == {**created, **body, "system": False}
    url = f"{SCOPES}/{created['id']}"
    assert on_backend.get(url).json() == created
    assert on_backend.get(SCOPES).json() == [created]
    changed = {"name": "car:order", "displayName": "Order", "consent": "FLEXIBLE"}
    replaced = on_backend.put(url, json=changed).json()
    assert replaced["displayName"] == "Order" and replaced["consent"] == "FLEXIBLE"
    assert (replaced["optional"], replaced["default"]) == (False, False)  # PUT replaces
    assert on_backend.get(url).json() == replaced == on_backend.get(SCOPES).json()[0]
    unset = on_backend.put(url, json={"name": "car:order"}).json()
    assert "displayName" not in unset
    assert on_backend.get(url).json() == unset == on_backend.get(SCOPES).json()[0]


def test_oktas_scope_example_answers_oktas_example(client: TestClient) -> None:
    """CreateOAuth2ScopeRequest answers ExampleOAuth2Scope, member for member."""
    made = client.post(SCOPES, json=example("CreateOAuth2ScopeRequest"))
    assert made.status_code == 201, made.text
    expected = example("ExampleOAuth2Scope")
    assert set(made.json()) == set(expected)
    assert _scope_without_server_parts(made.json()) == _scope_without_server_parts(expected)


def test_a_scope_sent_back_whole_is_accepted(client: TestClient) -> None:
    """Okta's SDK sends the object it read, read-only members (id, system, _links) too."""
    made = client.post(SCOPES, json={"name": "a", "displayName": "A"}).json()
    url = f"{SCOPES}/{made['id']}"
    replaced = client.put(url, json={**made, "description": "now described"})
    assert replaced.status_code == 200, replaced.text
    assert replaced.json() == {**made, "description": "now described"}
    copied = client.post(SCOPES, json={**made, "name": "b", "id": "scpIgnored"}).json()
    assert copied["id"] not in (made["id"], "scpIgnored")


@pytest.mark.parametrize(
    ("body", "causes"),
    [
        (
            {"name": "a", "scopes": ["x"], "Name": "b"},
            [
                "scopes: Not a member of Okta's OAuth2Scope.",
                "Name: Not a member of Okta's OAuth2Scope.",
            ],
        ),
        (
            {"name": "a", "system": True},
            ["system: Only Okta's own scopes are system scopes; must be false."],
        ),
        ({"name": "a", "optional": "yes"}, ["optional: Must be true or false."]),
        ({"name": "a", "optional": None}, ["optional: Must be true or false."]),
        (
            {"name": "a", "displayName": 7},
            ["displayName: Must be a string of at most 255 characters."],
        ),
        (
            {"name": "a", "displayName": "x" * 256},
            ["displayName: Must be a string of at most 255 characters."],
        ),
        (  # refused as the body is read, for every endpoint (tests/api/test_hostile_input.py)
            {"name": "a", "displayName": "a\x00", "description": "\x00"},
            [
                "description: Must not contain a NUL character or an unpaired UTF-16 surrogate.",
                "displayName: Must not contain a NUL character or an unpaired UTF-16 surrogate.",
            ],
        ),
    ],
)
def test_scope_members_refused_by_name(
    client: TestClient, body: dict[str, Any], causes: list[str]
) -> None:
    failed = "Api validation failed: body" if "NUL" in causes[0] else SCOPE_FAILED
    assert_okta_error(client.post(SCOPES, json=body), 400, "E0000001", failed, causes)
    assert client.get(SCOPES).json() == []
    made = client.post(SCOPES, json={"name": "kept"}).json()
    url = f"{SCOPES}/{made['id']}"
    assert_okta_error(client.put(url, json=body), 400, "E0000001", failed, causes)
    assert client.get(url).json() == made


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_migration_0004_keeps_existing_scopes(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Scopes made before 0004 read back without a displayName and not optional; the
    downgrade takes the two columns away again."""
    url = f"sqlite:///{tmp_path / 'k.db'}"
    if backend == "postgresql":
        url = str(request.getfixturevalue("postgres_url"))
    store = SqlStore(url)
    config = migrate._config()
    now = "2026-01-01 12:00:00"
    try:
        with store.engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "0003")
            conn.execute(
                text(
                    "INSERT INTO auth_servers (id, name, description, audiences, issuer_mode,"
                    " status, rotation_mode, kid, last_rotated, created, last_updated, version)"
                    " VALUES ('aus1', 's', '', 'api://s', 'ORG_URL', 'ACTIVE', 'AUTO', 'k',"
                    " :now, :now, :now, 0)"
                ),
                {"now": now},
            )
            conn.execute(
                text(
                    "INSERT INTO oauth_scopes (id, server_id, name, description, consent,"
                    " is_default, metadata_publish, system, created, last_updated) VALUES"
                    " ('scp1', 'aus1', 'a', '', 'IMPLICIT', false, 'NO_CLIENTS', false, :now, :now)"
                ),
                {"now": now},
            )
            command.upgrade(config, "0004")
        with store.transaction() as tx:
            [scope] = tx.list_scopes("aus1")
        assert (scope.name, scope.display_name, scope.optional) == ("a", None, False)
        with store.engine.begin() as conn:
            config.attributes["connection"] = conn
            command.downgrade(config, "0003")
        columns = {c["name"] for c in inspect(store.engine).get_columns("oauth_scopes")}
        assert not {"display_name", "is_optional"} & columns
    finally:
        store.close()


# -- authorization servers -----------------------------------------------------------------


def test_server_links_include_scopes(client: TestClient) -> None:
    """Every link Okta's examples show for what keyrotor has: all but claims and policies."""
    made = client.post(SERVERS, json=example("CreateAuthServerBody"))
    assert made.status_code == 201, made.text
    server = made.json()
    oktas = set(example("CreateAuthServerResponse")["_links"])
    assert oktas - set(server["_links"]) == {"claims", "policies"}
    assert set(server["_links"]) - oktas == {"keys"}  # Okta's recorded responses carry it
    href = server["_links"]["scopes"]["href"]
    assert href == f"http://testserver{SERVERS}/{server['id']}/scopes"
    assert client.get(href.removeprefix("http://testserver")).json() == []
    listed = {s["id"]: s for s in client.get(SERVERS).json()}
    replaced = client.put(f"{SERVERS}/{server['id']}", json=example("ReplaceAuthServerBody"))
    for shown in (client.get(f"{SERVERS}/{server['id']}").json(), listed[server["id"]]):
        assert shown["_links"]["scopes"] == server["_links"]["scopes"]
    assert replaced.json()["_links"]["scopes"] == server["_links"]["scopes"]


def test_a_server_sent_back_whole_is_accepted(client: TestClient) -> None:
    """GET, then PUT the very object back (as Okta's SDKs do): nothing changes."""
    server = client.get(f"{SERVERS}/default").json()
    replaced = client.put(f"{SERVERS}/default", json=server)
    assert replaced.status_code == 200, replaced.text
    assert replaced.json() == server
    nulls = dict.fromkeys(("accessTokenEncryptedResponseAlgorithm", "jwks", "jwks_uri"))
    assert client.put(f"{SERVERS}/default", json={**server, **nulls}).status_code == 200


@pytest.mark.parametrize(
    "name",
    ["CreateAuthServerWithAccessTokenEncryptionBody", "ReplaceAuthServerEnableTokenEncryptionBody"],
)
def test_access_token_encryption_is_stored_and_answered_back(client: TestClient, name: str) -> None:
    """Okta's own encryption examples, on create and on replace: the algorithm and the keys
    of ``jwks`` are stored, answered back, and are the server's resource-server keys."""
    body = example(name)
    wanted = [(k["kid"], k["status"], k["n"], k["e"]) for k in body["jwks"]["keys"]]
    made = client.post(SERVERS, json=body)
    assert made.status_code == 201, made.text
    replaced = client.put(f"{SERVERS}/{made.json()['id']}", json=body)
    assert replaced.status_code == 200, replaced.text
    for answer in (
        made.json(),
        replaced.json(),
        client.get(f"{SERVERS}/{made.json()['id']}").json(),
    ):
        assert answer["accessTokenEncryptedResponseAlgorithm"] == "RSA-OAEP-256"
        assert [(k["kid"], k["status"], k["n"], k["e"]) for k in answer["jwks"]["keys"]] == wanted
    keys = client.get(f"{SERVERS}/{made.json()['id']}/resourceservercredentials/keys").json()
    assert [(k["kid"], k["status"], k["n"], k["e"]) for k in keys] == wanted


def test_access_token_encryption_without_an_active_key_is_refused(client: TestClient) -> None:
    """Encryption needs an ACTIVE key: refused by name, nothing changes."""
    body = example("CreateAuthServerWithAccessTokenEncryptionBody")
    body["jwks"]["keys"][0]["status"] = "INACTIVE"
    cause = (
        "accessTokenEncryptedResponseAlgorithm: Access token encryption needs an ACTIVE "
        "encryption key: add one (resourceservercredentials/keys, or jwks) and activate it first."
    )
    assert_okta_error(client.post(SERVERS, json=body), 400, "E0000001", SERVER_FAILED, [cause])
    before = client.get(f"{SERVERS}/default").json()
    response = client.put(f"{SERVERS}/default", json=body)
    assert_okta_error(response, 400, "E0000001", SERVER_FAILED, [cause])
    assert client.get(f"{SERVERS}/default").json() == before
    assert len(client.get(SERVERS).json()) == 1


@pytest.mark.parametrize(
    ("extra", "causes"),
    [
        ({"jwks_uri": "https://example.com/keys"}, [f"jwks_uri: {NO_JWKS_URI}"]),
        (
            {"accessTokenEncryptedResponseAlgorithm": "RSA-OAEP-512"},
            [
                "accessTokenEncryptedResponseAlgorithm: keyrotor encrypts access tokens with "
                "RSA-OAEP-256 only."
            ],
        ),
        (
            {"claims": [], "defaultScope": "a"},
            [
                "claims: Not a member of Okta's AuthorizationServer.",
                "defaultScope: Not a member of Okta's AuthorizationServer.",
            ],
        ),
        (
            {"credentials": {"signing": {"rotationMode": "AUTO", "alg": "RS256"}, "x": 1}},
            [
                "credentials.x: Not a member of Okta's AuthorizationServerCredentials.",
                "credentials.signing.alg: Not a member of Okta's "
                "AuthorizationServerCredentialsSigningConfig.",
            ],
        ),
        (
            {"credentials": {"signing": {"use": "enc"}}},
            ["credentials.signing.use: Must be sig."],
        ),
        ({"status": "DELETED"}, ["status: Must be one of ACTIVE, INACTIVE."]),
    ],
)
def test_server_members_refused_by_name(
    client: TestClient, extra: dict[str, Any], causes: list[str]
) -> None:
    body = {"name": "s", "audiences": ["api://s"], **extra}
    assert_okta_error(client.post(SERVERS, json=body), 400, "E0000001", SERVER_FAILED, causes)
    response = client.put(f"{SERVERS}/default", json=body)
    assert_okta_error(response, 400, "E0000001", SERVER_FAILED, causes)
    assert len(client.get(SERVERS).json()) == 1


# -- discovery -----------------------------------------------------------------------------


@pytest.mark.parametrize("document", WELL_KNOWN)
@pytest.mark.parametrize("client_id", ["0oaNoSuchClient", "", "0oa\x00"])
def test_discovery_refuses_an_unknown_client_id(
    client: TestClient, document: str, client_id: str
) -> None:
    """Okta's documented 400 (ErrorInvalidClientId), even when the document is cached."""
    public = TestClient(client.app)
    path = f"/oauth2/default/.well-known/{document}"
    assert public.get(path).status_code == 200  # the snapshot is cached from here on
    expected = example("ErrorInvalidClientId")
    for _ in range(2):
        response = public.get(path, params={"client_id": client_id})
        body = assert_okta_error(response, 400, expected["errorCode"], expected["errorSummary"], [])
        assert "error" not in body


@pytest.mark.parametrize("document", WELL_KNOWN)
def test_discovery_with_a_known_client_id_is_the_document(
    on_backend: TestClient, document: str
) -> None:
    made = on_backend.post("/oauth2/v1/clients", json={"client_name": "spa"})
    assert made.status_code == 201, made.text
    public = TestClient(on_backend.app)
    path = f"/oauth2/default/.well-known/{document}"
    plain = public.get(path)
    for _ in range(2):  # the client read from the store, then from its cache
        named = public.get(path, params={"client_id": made.json()["client_id"]})
        assert named.status_code == 200
        assert named.content == plain.content
        assert named.headers["content-type"] == plain.headers["content-type"]
    refused = public.get(path, params={"client_id": "0oa\x00"})  # no 500 on PostgreSQL
    assert refused.status_code == 400 and refused.json()["errorCode"] == "invalid_client"


def test_discovery_of_an_unknown_server_is_404_whatever_the_client_id(
    client: TestClient,
) -> None:
    response = client.get(
        "/oauth2/ausNope/.well-known/openid-configuration", params={"client_id": "x"}
    )
    assert response.status_code == 404
    assert response.json()["errorCode"] == "E0000007"


@pytest.mark.parametrize("document", WELL_KNOWN)
def test_org_discovery_checks_the_client_id_too(client: TestClient, document: str) -> None:
    made = client.post("/oauth2/v1/clients", json={"client_name": "svc"}).json()
    public = TestClient(client.app)
    path = f"/.well-known/{document}"
    plain = public.get(path)
    named = public.get(path, params={"client_id": made["client_id"]})
    assert named.status_code == 200 and named.content == plain.content
    expected = example("ErrorInvalidClientId")
    response = public.get(path, params={"client_id": "0oaNoSuchClient"})
    assert_okta_error(response, 400, expected["errorCode"], expected["errorSummary"], [])
