"""A client's secrets (Okta's ``/api/v1/apps/{appId}/credentials/secrets``): every
operation's answer held to Okta's schemas, each rule and refusal with Okta's texts, 404s and
scopes, the token endpoints (any ACTIVE secret, never an INACTIVE one, the cached client
included), registration's paths (create, PUT, newSecret), the audit record, on the
in-process app; the store on every backend and never a value in clear; migration 0008 up
and down with data on SQLite and PostgreSQL; the CLI; and a rotation without a gap end to
end against a real ``keyrotor serve`` over HTTP."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from click.testing import CliRunner
from sqlalchemy import inspect, select, text
from starlette.testclient import TestClient

from keyrotor import audit
from keyrotor.audit import CLI, EventQuery
from keyrotor.cli import main
from keyrotor.client_secrets import (
    HASH_PURPOSE,
    SecretRequest,
    SecretStatus,
    new_secret,
    secret_hash,
)
from keyrotor.clients import ClientSpec
from keyrotor.clock import ManualClock
from keyrotor.crypto import token_digest
from keyrotor.errors import NotFound, ValidationFailed
from keyrotor.oauth import OAuthService
from keyrotor.service import KeyService
from keyrotor.storage.sql import SqlStore
from keyrotor.storage.tables import app_grants, client_secrets, metadata, oauth_clients
from tests.conftest import READ_TOKEN, START, ServerProcess
from tests.okta_spec import OktaSpec
from tests.support import assert_okta_error, migrate_to

SPEC = OktaSpec.load()
SECRETS = "/api/v1/apps/{}/credentials/secrets"
MEDIATED = "Api validation failed: OAuth2ClientSecretMediated"
SCOPE = "things:read"
TOKEN = "/oauth2/default/v1/token"


def url(app_id: str, secret_id: str = "", action: str = "") -> str:
    found = SECRETS.format(app_id) + (f"/{secret_id}" if secret_id else "")
    return found + (f"/lifecycle/{action}" if action else "")


def create(client: TestClient, app_id: str, body: Any = None, status: int = 201) -> Any:
    response = client.post(url(app_id), json=body) if body is not None else client.post(url(app_id))
    return SPEC.check(response, "createOAuth2ClientSecret", status)


def listed(client: TestClient, app_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = SPEC.check(
        client.get(url(app_id)), "listOAuth2ClientSecrets", 200
    )
    return found


def change(client: TestClient, app_id: str, secret_id: str, action: str, status: int = 200) -> Any:
    operation = f"{action}OAuth2ClientSecret"
    return SPEC.check(client.post(url(app_id, secret_id, action)), operation, status)


def register(client: TestClient, **members: Any) -> dict[str, Any]:
    response = client.post("/oauth2/v1/clients", json={"client_name": "svc", **members})
    assert response.status_code == 201, response.text
    made: dict[str, Any] = response.json()
    return made


def token(http: TestClient | httpx.Client, client_id: str, secret: str) -> httpx.Response:
    """client_credentials with client_secret_basic at the default server."""
    data = {"grant_type": "client_credentials", "scope": SCOPE}
    return http.post(TOKEN, data=data, auth=(client_id, secret))


def assert_refused_at_token(http: TestClient | httpx.Client, client_id: str, secret: str) -> None:
    refused = token(http, client_id, secret)
    assert refused.status_code == 401, refused.text
    assert refused.json()["error"] == "invalid_client"


def assert_token(http: TestClient | httpx.Client, client_id: str, secret: str) -> None:
    issued = token(http, client_id, secret)
    assert issued.status_code == 200, issued.text
    assert issued.json()["token_type"] == "Bearer"


@pytest.fixture
def scoped(client: TestClient) -> None:
    made = client.post("/api/v1/authorizationServers/default/scopes", json={"name": SCOPE})
    assert made.status_code == 201, made.text


@pytest.fixture
def app(client: TestClient) -> dict[str, Any]:
    """A client_secret_basic client: its registration answer (with its first secret)."""
    return register(client)


# -- the operations, held to Okta's schemas ----------------------------------------------------


def test_every_operation_answers_okta_shapes(client: TestClient, app: dict[str, Any]) -> None:
    app_id = app["client_id"]
    (first,) = listed(client, app_id)
    assert first["id"].startswith("ocs") and len(first["id"]) == 20
    assert first["status"] == "ACTIVE" and "client_secret" not in first
    assert len(first["secret_hash"]) == 22
    assert first["created"] == first["lastUpdated"]
    base = f"http://testserver/api/v1/apps/{app_id}/credentials/secrets/{first['id']}"
    assert first["_links"] == {
        "deactivate": {"href": base + "/lifecycle/deactivate", "hints": {"allow": ["POST"]}}
    }
    made = create(client, app_id)  # no body at all: a system-generated ACTIVE secret
    assert list(made) == [
        "id",
        "status",
        "client_secret",
        "secret_hash",
        "created",
        "lastUpdated",
        "_links",
    ]
    assert made["status"] == "ACTIVE" and len(made["client_secret"]) == 43
    got = SPEC.check(client.get(url(app_id, made["id"])), "getOAuth2ClientSecret", 200)
    assert got == {k: v for k, v in made.items() if k != "client_secret"}
    off = change(client, app_id, first["id"], "deactivate")
    link = f"http://testserver/api/v1/apps/{app_id}/credentials/secrets/{first['id']}"
    assert off["_links"] == {
        "activate": {"href": link + "/lifecycle/activate", "hints": {"allow": ["POST"]}},
        "delete": {"href": link, "hints": {"allow": ["DELETE"]}},
    }
    assert change(client, app_id, first["id"], "activate")["status"] == "ACTIVE"
    change(client, app_id, first["id"], "deactivate")
    gone = client.delete(url(app_id, first["id"]))
    SPEC.check(gone, "deleteOAuth2ClientSecret", 204)
    assert [s["id"] for s in listed(client, app_id)] == [made["id"]]


def test_a_caller_chosen_inactive_secret(client: TestClient, app: dict[str, Any]) -> None:
    value = "my own secret ~ printable ASCII!"
    made = create(client, app["client_id"], {"client_secret": value, "status": "INACTIVE"})
    assert made["client_secret"] == value and made["status"] == "INACTIVE"
    assert set(made["_links"]) == {"activate", "delete"}


def test_read_only_members_are_ignored_unknown_ones_refused(
    client: TestClient, app: dict[str, Any]
) -> None:
    app_id = app["client_id"]
    echoed = {"id": "ocsMine", "secret_hash": "x", "created": "2020-01-01T00:00:00.000Z"}
    made = create(client, app_id, {**echoed, "_links": {}, "lastUpdated": "x"})
    assert made["id"] != "ocsMine" and made["secret_hash"] != "x"
    change(client, app_id, made["id"], "deactivate")
    client.delete(url(app_id, made["id"]))
    refused = client.post(url(app_id), json={"client_secret_expires_at": 0})
    SPEC.check(refused, "createOAuth2ClientSecret", 400)
    assert_okta_error(
        refused,
        400,
        "E0000001",
        "Api validation failed: client_secret_expires_at",
        ["client_secret_expires_at: Unknown property."],
    )


@pytest.mark.parametrize(
    ("body", "what", "cause"),
    [
        ({"status": "REVOKED"}, "status", "status: 'status' must be one of: ACTIVE, INACTIVE."),
        ({"status": 1}, "status", "status: 'status' must be one of: ACTIVE, INACTIVE."),
        (
            {"client_secret": 12345678901234},
            "client_secret",
            "client_secret: 'client_secret' must be a string.",
        ),
        (
            {"client_secret": "tab\tinside-a-secret"},
            "client_secret",
            "client_secret: ''client_secret'' must only contain printable ASCII: [x20-x7E]+",
        ),
        (
            {"client_secret": "x" * 13},
            "client_secret",
            "client_secret: 'client_secret' must be at least '14' characters long.",
        ),
        (
            {"client_secret": "x" * 101},
            "client_secret",
            "client_secret: 'client_secret' can't be more than '100' characters long.",
        ),
        (
            ["client_secret"],
            "OAuth2ClientSecretRequestBody",
            "The request body must be a JSON object.",
        ),
    ],
)
def test_a_bad_create_body_is_refused_naming_the_member(
    client: TestClient, app: dict[str, Any], body: Any, what: str, cause: str
) -> None:
    refused = client.post(url(app["client_id"]), json=body)
    SPEC.check(refused, "createOAuth2ClientSecret", 400)
    assert_okta_error(refused, 400, "E0000001", f"Api validation failed: {what}", [cause])
    assert len(listed(client, app["client_id"])) == 1  # nothing half-written


def test_the_boundaries_of_a_caller_chosen_value(client: TestClient, app: dict[str, Any]) -> None:
    app_id = app["client_id"]
    for value in ("x" * 14, " ~" * 50):  # 14 and 100 characters, the edges of ASCII
        made = create(client, app_id, {"client_secret": value, "status": "INACTIVE"})
        assert made["client_secret"] == value
        client.delete(url(app_id, made["id"]))


# -- the rules ---------------------------------------------------------------------------------


def test_two_secrets_at_most_whatever_their_status(client: TestClient, app: dict[str, Any]) -> None:
    app_id = app["client_id"]
    second = create(client, app_id, {"status": "INACTIVE"})
    for body in ({}, {"status": "INACTIVE"}):
        refused = client.post(url(app_id), json=body)
        SPEC.check(refused, "createOAuth2ClientSecret", 400)
        cause = "You've reached the maximum number of client secrets per client."
        assert_okta_error(refused, 400, "E0000001", MEDIATED, [cause])
    client.delete(url(app_id, second["id"]))
    create(client, app_id, {})  # room again
    assert [s["status"] for s in listed(client, app_id)] == ["ACTIVE", "ACTIVE"]


def test_the_only_active_secret_stays_and_an_active_one_is_not_deleted(
    client: TestClient, app: dict[str, Any]
) -> None:
    app_id = app["client_id"]
    (only,) = listed(client, app_id)
    inactive = create(client, app_id, {"status": "INACTIVE"})  # does not count as ACTIVE
    refused = client.post(url(app_id, only["id"], "deactivate"))
    SPEC.check(refused, "deactivateOAuth2ClientSecret", 400)
    assert_okta_error(
        refused, 400, "E0000001", MEDIATED, ["You can't deactivate the only active client secret."]
    )
    refused = client.delete(url(app_id, only["id"]))
    SPEC.check(refused, "deleteOAuth2ClientSecret", 400)
    cause = "You can't delete an active client secret. Deactivate the secret before deleting it."
    assert_okta_error(refused, 400, "E0000001", MEDIATED, [cause])
    change(client, app_id, inactive["id"], "activate")
    assert change(client, app_id, only["id"], "deactivate")["status"] == "INACTIVE"


def test_a_status_it_has_already_is_answered_unchanged_and_unrecorded(
    client: TestClient, app: dict[str, Any], service: KeyService
) -> None:
    app_id = app["client_id"]
    (only,) = listed(client, app_id)
    before = _events(service, "app.oauth2.credentials")
    again = change(client, app_id, only["id"], "activate")
    assert again == only
    assert _events(service, "app.oauth2.credentials") == before


def test_unknown_apps_and_secrets_are_404(client: TestClient, app: dict[str, Any]) -> None:
    other = register(client)
    (theirs,) = listed(client, other["client_id"])
    for path, method, operation in [
        (url("0oanosuchapp"), "GET", "listOAuth2ClientSecrets"),
        (url("0oanosuchapp"), "POST", "createOAuth2ClientSecret"),
        (url("0oanosuchapp", theirs["id"]), "GET", "getOAuth2ClientSecret"),
        (url("0oanosuchapp", theirs["id"], "activate"), "POST", "activateOAuth2ClientSecret"),
    ]:
        gone = client.request(method, path)
        assert_okta_error(
            gone, 404, "E0000007", "Not found: Resource not found: 0oanosuchapp (App)"
        )
        if operation != "createOAuth2ClientSecret":  # Okta documents no 404 for it
            SPEC.check(gone, operation, 404)
    mine = app["client_id"]  # another app's secret is not this app's
    for path, method in [
        (url(mine, theirs["id"]), "GET"),
        (url(mine, theirs["id"], "deactivate"), "POST"),
        (url(mine, theirs["id"]), "DELETE"),
    ]:
        gone = client.request(method, path)
        summary = f"Not found: Resource not found: {theirs['id']} (OAuth2ClientSecret)"
        assert_okta_error(gone, 404, "E0000007", summary)
    assert listed(client, other["client_id"]) == [theirs]


def test_reads_need_read_writes_need_manage(client: TestClient, app: dict[str, Any]) -> None:
    app_id = app["client_id"]
    (only,) = listed(client, app_id)
    reader = TestClient(client.app, headers={"Authorization": f"SSWS {READ_TOKEN}"})
    assert reader.get(url(app_id)).status_code == 200
    assert reader.get(url(app_id, only["id"])).status_code == 200
    for method, path in [
        ("POST", url(app_id)),
        ("POST", url(app_id, only["id"], "deactivate")),
        ("POST", url(app_id, only["id"], "activate")),
        ("DELETE", url(app_id, only["id"])),
    ]:
        denied = reader.request(method, path, json={})
        assert denied.status_code == 403 and denied.json()["errorCode"] == "E0000006"
        anonymous = TestClient(client.app).request(method, path, json={})
        assert anonymous.status_code == 401 and anonymous.json()["errorCode"] == "E0000011"
    assert TestClient(client.app).get(url(app_id)).status_code == 401
    assert listed(client, app_id) == [only]


# -- the token endpoints -----------------------------------------------------------------------


@pytest.mark.usefixtures("scoped")
def test_any_active_secret_opens_the_token_endpoint_an_inactive_one_never(
    client: TestClient, app: dict[str, Any]
) -> None:
    app_id, old = app["client_id"], app["client_secret"]
    public = TestClient(client.app)
    assert_token(public, app_id, old)  # the client is cached from here on
    (first,) = listed(client, app_id)
    new = create(client, app_id)
    assert_token(public, app_id, new["client_secret"])
    assert_token(public, app_id, old)
    change(client, app_id, first["id"], "deactivate")
    assert_refused_at_token(public, app_id, old)  # at once: the cached client was dropped
    assert_token(public, app_id, new["client_secret"])
    change(client, app_id, first["id"], "activate")
    assert_token(public, app_id, old)
    change(client, app_id, first["id"], "deactivate")
    client.delete(url(app_id, first["id"]))
    assert_refused_at_token(public, app_id, old)
    posted = register(client, token_endpoint_auth_method="client_secret_post")
    spare = create(client, posted["client_id"], {"status": "INACTIVE"})
    by_post = {"grant_type": "client_credentials", "scope": SCOPE}
    by_post["client_id"] = posted["client_id"]
    assert public.post(TOKEN, data={**by_post, "client_secret": posted["client_secret"]}).is_success
    refused = public.post(TOKEN, data={**by_post, "client_secret": spare["client_secret"]})
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"


@pytest.mark.usefixtures("scoped")
def test_new_secret_replaces_every_secret(client: TestClient, app: dict[str, Any]) -> None:
    app_id = app["client_id"]
    second = create(client, app_id)
    renewed = client.post(f"/oauth2/v1/clients/{app_id}/lifecycle/newSecret")
    assert renewed.status_code == 200, renewed.text
    (only,) = listed(client, app_id)
    assert only["status"] == "ACTIVE" and only["id"] != second["id"]
    public = TestClient(client.app)
    assert_token(public, app_id, renewed.json()["client_secret"])
    for old in (app["client_secret"], second["client_secret"]):
        assert_refused_at_token(public, app_id, old)


@pytest.mark.usefixtures("scoped")
def test_put_keeps_secrets_drops_them_for_private_key_jwt_and_makes_one_when_back(
    client: TestClient, app: dict[str, Any]
) -> None:
    app_id = app["client_id"]
    create(client, app_id)
    body = {"client_name": "svc2", "token_endpoint_auth_method": "client_secret_basic"}
    kept = client.put(f"/oauth2/v1/clients/{app_id}", json=body)
    assert kept.status_code == 200 and "client_secret" not in kept.json()
    assert len(listed(client, app_id)) == 2
    jwt_body = {**body, "token_endpoint_auth_method": "private_key_jwt"}
    jwt_body["jwks_uri"] = "https://keys.example.com/jwks"
    moved = client.put(f"/oauth2/v1/clients/{app_id}", json=jwt_body)
    assert moved.status_code == 200, moved.text
    assert listed(client, app_id) == []
    refused = client.post(url(app_id), json={"client_secret": "a-secret-of-my-own-choice"})
    SPEC.check(refused, "createOAuth2ClientSecret", 400)
    cause = "'client_secret' can't be used when 'token_endpoint_auth_method' is 'private_key_jwt'."
    assert_okta_error(refused, 400, "E0000001", "Api validation failed: client_secret", [cause])
    back = client.put(f"/oauth2/v1/clients/{app_id}", json=body)
    assert back.status_code == 200, back.text
    (only,) = listed(client, app_id)
    assert_token(TestClient(client.app), app_id, back.json()["client_secret"])
    assert_refused_at_token(TestClient(client.app), app_id, app["client_secret"])
    assert only["status"] == "ACTIVE"


# -- the audit record --------------------------------------------------------------------------


def _events(service: KeyService, prefix: str) -> list[audit.AuditEvent]:
    with service.store.transaction() as tx:
        found = tx.list_events(EventQuery(limit=1000))
    return [e for _, e in found if e.event_type.startswith(prefix)]


def test_every_change_is_recorded_never_a_value(
    client: TestClient, app: dict[str, Any], service: KeyService
) -> None:
    app_id = app["client_id"]
    (first,) = listed(client, app_id)
    made = create(client, app_id)
    change(client, app_id, first["id"], "deactivate")
    change(client, app_id, first["id"], "activate")
    change(client, app_id, first["id"], "deactivate")
    client.delete(url(app_id, first["id"]))
    found = _events(service, "app.oauth2.credentials.lifecycle.")
    assert [(e.event_type.rsplit(".", 1)[1], e.target.id) for e in found] == [
        ("create", first["id"]),  # at registration
        ("create", made["id"]),
        ("deactivate", first["id"]),
        ("activate", first["id"]),
        ("deactivate", first["id"]),
        ("delete", first["id"]),
    ]
    for event in found:
        assert event.actor.type == "ApiToken"
        assert event.target.type == "OAuth2ClientSecret" and event.target.name == app_id
        assert event.details["clientId"] == app_id
    shown = json.dumps([audit.summary(e) for e in found])
    with service.store.transaction() as tx:
        digests = [s.digest for s in tx.list_client_secrets(app_id)]
    for secret in (app["client_secret"], made["client_secret"], *digests):
        assert secret not in shown
    logs = client.get("/api/v1/logs", params={"filter": f'target.id eq "{made["id"]}"'})
    assert logs.status_code == 200 and len(logs.json()) == 1


# -- the store ---------------------------------------------------------------------------------


def test_the_store_keeps_secrets_on_every_backend(
    make_service: Callable[..., KeyService], database_url: str, clock: ManualClock
) -> None:
    oauth = OAuthService(make_service(database_url))
    client, value = oauth.register_client(ClientSpec(name="svc"))
    assert value is not None
    (first,) = client.secrets
    clock.advance(timedelta(seconds=1))  # oldest first
    second, chosen = oauth.secrets.create(
        client.client_id, SecretRequest("chosen-secret-value", SecretStatus.INACTIVE), CLI
    )
    assert chosen == "chosen-secret-value"
    found = oauth.get_client(client.client_id)
    assert found.secrets == (first, second)
    assert found.secret_matches(value) and not found.secret_matches(chosen)
    assert oauth.secrets.activate(client.client_id, second.id).active
    assert oauth.get_client(client.client_id).secret_matches(chosen)
    with oauth.store.transaction() as tx:
        assert [s.id for s in tx.list_client_secrets(client.client_id)] == [first.id, second.id]
        assert [c.secrets for c in tx.list_clients()] == [
            oauth.get_client(client.client_id).secrets
        ]
    with pytest.raises(ValidationFailed):
        oauth.secrets.create(client.client_id, SecretRequest())
    with pytest.raises(NotFound):
        oauth.secrets.get(client.client_id, "ocsnosuch")
    oauth.delete_client(client.client_id)  # its secrets go with it
    with oauth.store.transaction() as tx:
        assert tx.list_client_secrets(client.client_id) == []


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_racing_writers_never_pass_the_rules(
    make_service: Callable[..., KeyService], backend: str, request: pytest.FixtureRequest
) -> None:
    """Eight callers at once: one takes the last free place; of two ACTIVE secrets, only
    one is deactivated (each writer reads the secrets with the client's row held)."""
    tmp_path: Path = request.getfixturevalue("tmp_path")
    if backend == "sqlite":
        database = f"sqlite:///{tmp_path / 'race.db'}"
    else:
        database = str(request.getfixturevalue("postgres_url"))
    oauth = OAuthService(make_service(database))
    client, _ = oauth.register_client(ClientSpec(name="svc"))
    app_id = client.client_id

    def together(call: Callable[[], object]) -> list[bool]:
        start = threading.Barrier(8)

        def one() -> bool:
            start.wait()
            try:
                call()
            except ValidationFailed:
                return False
            return True

        with ThreadPoolExecutor(8) as pool:
            return list(pool.map(lambda _: one(), range(8)))

    assert sorted(together(lambda: oauth.secrets.create(app_id, SecretRequest()))) == [
        *[False] * 7,
        True,
    ]
    first, second = oauth.secrets.list(app_id)
    ids = iter([first.id, second.id] * 4)
    lock = threading.Lock()

    def deactivate_one() -> None:
        with lock:
            secret_id = next(ids)
        oauth.secrets.deactivate(app_id, secret_id)

    together(deactivate_one)
    assert [s.status for s in oauth.secrets.list(app_id)].count(SecretStatus.ACTIVE) == 1


def test_a_write_that_fails_leaves_the_secrets_as_they_were(
    make_service: Callable[..., KeyService], tmp_path: Path
) -> None:
    oauth = OAuthService(make_service(f"sqlite:///{tmp_path / 'k.db'}"))
    client, _ = oauth.register_client(ClientSpec(name="svc"))
    made = new_secret(client.client_id, "x" * 20, SecretStatus.ACTIVE, START, b"k" * 32)
    with pytest.raises(RuntimeError), oauth.store.transaction(write=True) as tx:
        tx.insert_client_secret(made)
        raise RuntimeError("crash before the commit")
    assert oauth.get_client(client.client_id).secrets == client.secrets


def test_no_value_in_clear_anywhere_in_the_store(
    make_service: Callable[..., KeyService], tmp_path: Path
) -> None:
    """Every row of every table: no value, and no unkeyed hash of it either."""
    path = tmp_path / "k.db"
    oauth = OAuthService(make_service(f"sqlite:///{path}"))
    client, value = oauth.register_client(ClientSpec(name="svc"))
    assert value is not None
    chosen = "a caller's very own secret value"
    made, _ = oauth.secrets.create(client.client_id, SecretRequest(chosen), CLI)
    dump = "\n".join(_rows(SqlStore(f"sqlite:///{path}")))
    for secret in (value, chosen):
        assert secret not in dump
        raw = hashlib.sha256(secret.encode()).digest()
        assert token_digest(secret) in dump  # the digest is what is kept
        assert base64.urlsafe_b64encode(raw[:16]).rstrip(b"=").decode() not in dump
    assert made.secret_hash != secret_hash(chosen, b"\0" * 32)  # keyed with the KEK's key
    assert made.secret_hash == secret_hash(chosen, oauth.keys.factory.derive(HASH_PURPOSE).reveal())


def _rows(store: SqlStore) -> Iterator[str]:
    try:
        with store.engine.connect() as conn:
            for table in metadata.sorted_tables:
                for row in conn.execute(select(table)).mappings():
                    yield json.dumps({k: str(v) for k, v in row.items()})
    finally:
        store.close()


# -- migration 0008 ----------------------------------------------------------------------------


def test_migration_0008_moves_each_secret_and_back(sql_url: str) -> None:
    store = SqlStore(sql_url)
    try:
        migrate_to(store, "0007")
        with store.engine.begin() as conn:
            for client_id, digest in (("0oaA", token_digest("secret-a")), ("0oaB", "")):
                conn.execute(
                    text(
                        "INSERT INTO oauth_clients (client_id, name, secret_digest, auth_method,"
                        " grant_types, created, metadata) VALUES (:id, 'n', :digest,"
                        " 'client_secret_basic', 'client_credentials', :created, '{}')"
                    ),
                    {"id": client_id, "digest": digest, "created": START.replace(tzinfo=None)},
                )
            conn.execute(
                text(
                    "INSERT INTO app_grants (id, client_id, scope_id, issuer, created, "
                    "created_by) VALUES ('oagA', '0oaA', 's', '', :created, 'cli')"
                ),
                {"created": START.replace(tzinfo=None)},
            )
        migrate_to(store, "0008")
        columns = {c["name"] for c in inspect(store.engine).get_columns("oauth_clients")}
        assert "secret_digest" not in columns
        with store.engine.connect() as conn:
            rows = conn.execute(select(client_secrets)).mappings().all()
            grants = conn.execute(select(app_grants)).mappings().all()
        (moved,) = rows  # 0oaB had no secret (private_key_jwt)
        assert moved["client_id"] == "0oaA" and moved["status"] == "ACTIVE"
        assert moved["digest"] == token_digest("secret-a") and moved["id"].startswith("ocs")
        assert moved["created"] == START and len(moved["secret_hash"]) == 22
        assert [g["id"] for g in grants] == ["oagA"]  # not lost with a rebuilt table
        store.migrate()  # to the head: the moved secret opens the token endpoint
        with store.engine.connect() as conn:  # what the migrations make is what tables.py says
            diff = compare_metadata(MigrationContext.configure(conn), metadata)
        assert [d for d in diff if "secret" in repr(d)] == []
        with store.transaction() as tx:
            found = tx.get_client("0oaA")
            assert found is not None and found.secret_matches("secret-a")
            assert [s.id for s in found.secrets] == [moved["id"]]
        later = START + timedelta(minutes=1)
        newer = new_secret("0oaA", "secret-a2", SecretStatus.ACTIVE, later, b"k" * 32)
        with store.transaction(write=True) as tx:
            tx.insert_client_secret(newer)
        migrate_to(store, "0007", down=True)
        assert "client_secrets" not in inspect(store.engine).get_table_names()
        with store.engine.connect() as conn:
            query = text("SELECT client_id, secret_digest FROM oauth_clients")
            kept = {str(row[0]): str(row[1]) for row in conn.execute(query)}
        assert kept == {"0oaA": token_digest("secret-a2"), "0oaB": ""}  # the newest ACTIVE
        migrate_to(store, "0008")
        with store.engine.connect() as conn:
            again: list[str] = list(conn.execute(select(client_secrets.c.digest)).scalars())
        assert again == [token_digest("secret-a2")]
    finally:
        store.close()


def test_oauth_clients_matches_the_tables_module() -> None:
    assert "secret_digest" not in oauth_clients.c
    assert {c.name for c in client_secrets.c} == {
        "id",
        "client_id",
        "digest",
        "secret_hash",
        "status",
        "created",
        "last_updated",
    }


# -- the command line --------------------------------------------------------------------------


def test_the_cli_rotates_a_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("KEYROTOR_KEK", "KEYROTOR_KEK_FILE", "KEYROTOR_DEBUG", "KEYROTOR_PUBLIC_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KEYROTOR_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    runner = CliRunner()

    def run(*args: str, stdin: str | None = None, code: int = 0) -> str:
        result = runner.invoke(main, list(args), input=stdin)
        assert result.exit_code == code, result.output
        return result.stdout if code == 0 else result.stderr

    run("init")
    client_id = run("clients", "create", "svc", "--value", "client_id").strip()
    (old,) = json.loads(run("clients", "secrets", "list", client_id, "--json"))
    assert "client_secret" not in old
    made = json.loads(
        run(
            "clients",
            "secrets",
            "create",
            client_id,
            "--value-from-stdin",
            "--json",
            stdin="a-value-from-stdin-42\n",
        )
    )
    assert made["client_secret"] == "a-value-from-stdin-42"
    refused = run("clients", "secrets", "delete", client_id, old["id"], code=1)
    assert refused.startswith("Error: ") and "Deactivate the secret" in refused
    assert len(refused.splitlines()) == 1
    off = json.loads(run("clients", "secrets", "deactivate", client_id, old["id"], "--json"))
    assert off["status"] == "INACTIVE"
    assert "ACTIVE" in run("clients", "secrets", "activate", client_id, old["id"])
    run("clients", "secrets", "deactivate", client_id, old["id"])
    assert run("clients", "secrets", "delete", client_id, old["id"]).strip() == (
        f"deleted {old['id']}"
    )
    table = run("clients", "secrets", "list", client_id)
    assert made["id"] in table and old["id"] not in table
    assert "a-value-from-stdin-42" not in table
    short = run(
        "clients", "secrets", "create", client_id, "--value-from-stdin", stdin="short", code=1
    )
    assert "at least '14' characters" in short
    assert "0oanosuch (App)" in run("clients", "secrets", "list", "0oanosuch", code=1)


# -- end to end: a rotation without a gap, over HTTP, against a real server --------------------


def test_a_rotation_without_a_gap_against_a_real_server(
    start_server: Callable[..., ServerProcess],
) -> None:
    server = start_server()
    admin = {"Authorization": f"SSWS {server.token}"}
    with httpx.Client(base_url=server.url, headers=admin, timeout=10) as api:
        made = api.post("/api/v1/authorizationServers/default/scopes", json={"name": SCOPE})
        assert made.status_code == 201, made.text
        registered = api.post("/oauth2/v1/clients", json={"client_name": "billing"}).json()
        app_id, old = registered["client_id"], registered["client_secret"]
        with httpx.Client(base_url=server.url, timeout=10) as public:
            assert_token(public, app_id, old)
            (first,) = SPEC.check(api.get(url(app_id)), "listOAuth2ClientSecrets", 200)
            second = SPEC.check(api.post(url(app_id), json={}), "createOAuth2ClientSecret", 201)
            new = second["client_secret"]
            for _ in range(3):  # both work, again and again (the cached client too)
                assert_token(public, app_id, old)
                assert_token(public, app_id, new)
            off = api.post(url(app_id, first["id"], "deactivate"))
            assert SPEC.check(off, "deactivateOAuth2ClientSecret", 200)["status"] == "INACTIVE"
            assert_refused_at_token(public, app_id, old)
            assert_token(public, app_id, new)
            SPEC.check(api.delete(url(app_id, first["id"])), "deleteOAuth2ClientSecret", 204)
            assert_refused_at_token(public, app_id, old)
            assert_token(public, app_id, new)
            listed_now = SPEC.check(api.get(url(app_id)), "listOAuth2ClientSecrets", 200)
            assert [s["id"] for s in listed_now] == [second["id"]]
            assert new not in json.dumps(listed_now)
    assert old not in server.output() and new not in server.output()
