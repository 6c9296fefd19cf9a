"""Clients and scopes in every backend (memory, SQLite, PostgreSQL), and migration 0002."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect

from keyrotor.apitokens import SCOPE_MANAGE
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
    spec = ClientSpec(name="ops", auth_method=AuthMethod.POST, org_scopes=(SCOPE_MANAGE,))
    first, secret = oauth.register_client(spec)
    clock.advance(timedelta(seconds=1))
    second, _ = oauth.register_client(ClientSpec(name="other"))
    assert oauth.get_client(first.client_id) == first
    assert [c.client_id for c in oauth.list_clients()] == [first.client_id, second.client_id]
    found = oauth.authenticate_client(first.client_id, secret, AuthMethod.POST)
    assert found.org_scopes == (SCOPE_MANAGE,)
    assert found.created == clock() - timedelta(seconds=1)
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
    assert oauth.published_scopes("default") == []
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
