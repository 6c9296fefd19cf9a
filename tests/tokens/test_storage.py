"""Clients and scopes in every backend (memory, SQLite, PostgreSQL), and migration 0002."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect

from keyrotor.apitokens import SCOPE_MANAGE, SCOPE_READ
from keyrotor.clients import AuthMethod, ClientSpec
from keyrotor.clock import ManualClock
from keyrotor.errors import NotFound, ValidationFailed
from keyrotor.oauth import OAuthService
from keyrotor.scopes import Consent, MetadataPublish, Scope, ScopeSpec
from keyrotor.servers import ServerStatus
from keyrotor.service import KeyService, ServerSpec
from keyrotor.storage import Conflict, migrate
from keyrotor.storage.sql import SqlStore


@pytest.fixture
def oauth(make_service: Callable[..., KeyService], database_url: str) -> OAuthService:
    return OAuthService(make_service(database_url))


def test_clients_round_trip(oauth: OAuthService, clock: ManualClock) -> None:
    metadata = {"application_type": "service", "logo_uri": "https://x.example/l.png"}
    spec = ClientSpec(
        name="ops", auth_method=AuthMethod.POST, org_scopes=(SCOPE_MANAGE,), metadata=metadata
    )
    first, secret = oauth.register_client(spec)
    assert secret is not None
    clock.advance(timedelta(seconds=1))
    second, _ = oauth.register_client(ClientSpec(name="other"))
    assert oauth.get_client(first.client_id) == first
    assert [c.client_id for c in oauth.list_clients()] == [first.client_id, second.client_id]
    assert oauth.list_clients()[0] == first
    found = oauth.get_client(first.client_id)
    assert found.secret_matches(secret) and found.metadata == metadata
    assert found.org_scopes == (SCOPE_MANAGE,)
    assert found.created == clock() - timedelta(seconds=1)
    [grant] = oauth.list_grants(first.client_id)
    assert (grant.scope_id, grant.created_by) == (SCOPE_MANAGE, "cli")
    oauth.delete_client(first.client_id)
    with pytest.raises(NotFound):
        oauth.get_client(first.client_id)
    with pytest.raises(NotFound):
        oauth.delete_client(first.client_id)


def test_scopes_round_trip(oauth: OAuthService, clock: ManualClock) -> None:
    spec = ScopeSpec("a", "A", Consent.REQUIRED, True, MetadataPublish.ALL_CLIENTS)
    scope = oauth.create_scope("default", spec)
    assert oauth.get_scope("default", scope.id) == scope
    clock.advance(timedelta(seconds=1))
    replaced = oauth.replace_scope("default", scope.id, ScopeSpec("b"))
    assert replaced.created == scope.created
    assert replaced.last_updated == clock()
    assert oauth.list_scopes("default") == [replaced]
    assert oauth.token_snapshot("default").published_scopes == []
    with pytest.raises(ValidationFailed):
        oauth.create_scope("default", ScopeSpec("b"))
    oauth.delete_scope("default", scope.id)
    assert oauth.list_scopes("default") == []


def test_deleting_a_server_deletes_its_scopes(oauth: OAuthService) -> None:
    keys = oauth.keys
    server = keys.create_server(ServerSpec(name="s", audiences=("api://s",)))
    oauth.create_scope(server.id, ScopeSpec("a"))
    keys.set_status(server.id, ServerStatus.INACTIVE)
    keys.delete_server(server.id)
    with oauth.store.transaction() as tx:
        assert tx.list_scopes(server.id) == []


def test_migration_0002_upgrades_and_downgrades(tmp_path: Path) -> None:
    store = SqlStore(f"sqlite:///{tmp_path / 'k.db'}")
    try:
        store.migrate()
        tables = set(inspect(store.engine).get_table_names())
        assert {"oauth_clients", "oauth_scopes"} <= tables
        assert migrate.current(store.engine) == migrate.head()
        config = migrate._config()
        with store.engine.begin() as conn:
            config.attributes["connection"] = conn
            command.downgrade(config, "0001")
        tables = set(inspect(store.engine).get_table_names())
        assert not {"oauth_clients", "oauth_scopes"} & tables
        store.migrate()
        assert {"oauth_clients", "oauth_scopes"} <= set(inspect(store.engine).get_table_names())
    finally:
        store.close()


def test_the_database_refuses_two_scopes_of_one_name(oauth: OAuthService) -> None:
    """The unique constraint behind the service's check (two writers racing)."""
    now = oauth.clock()
    with pytest.raises(Conflict), oauth.store.transaction(write=True) as tx:
        tx.insert_scope(Scope.new("default", ScopeSpec("a"), now))
        tx.insert_scope(Scope.new("default", ScopeSpec("a"), now))
    assert oauth.list_scopes("default") == []


def test_grants_round_trip(oauth: OAuthService, clock: ManualClock) -> None:
    client, _ = oauth.register_client(ClientSpec(name="ops"))
    made = oauth.grant(client.client_id, SCOPE_READ, "https://issuer.example", "00Tadmin")
    assert oauth.get_grant(client.client_id, made.id) == made
    assert oauth.get_client(client.client_id).org_scopes == (SCOPE_READ,)
    with pytest.raises(ValidationFailed):
        oauth.grant(client.client_id, SCOPE_READ, "https://issuer.example", "00Tadmin")
    oauth.revoke_grant(client.client_id, made.id)
    assert oauth.get_client(client.client_id).org_scopes == ()
    with pytest.raises(NotFound):
        oauth.revoke_grant(client.client_id, made.id)
    with pytest.raises(NotFound):
        oauth.list_grants("0oaMissing")


def test_a_jwt_id_is_used_once_until_pruned(oauth: OAuthService, clock: ManualClock) -> None:
    store = oauth.store
    expires = clock() + timedelta(minutes=5)
    with store.transaction(write=True) as tx:
        assert tx.use_jti("0oaA", "j1", expires)
        assert not tx.use_jti("0oaA", "j1", expires)
        assert tx.use_jti("0oaB", "j1", expires)  # another issuer's id
    with store.transaction(write=True) as tx:
        assert not tx.use_jti("0oaA", "j1", expires)
        assert tx.prune_jtis(clock()) == 0
        assert tx.prune_jtis(expires + timedelta(seconds=1)) == 2
        assert tx.use_jti("0oaA", "j1", expires)
