"""Migration 0005 turns the CLI's ``org_scopes`` column into app grants, and keeps them:
on SQLite its batch rebuild of ``oauth_clients`` once cascaded to the grants it had just
written (the rebuild now comes first)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Column, MetaData, String, Table, Text, insert, select

from keyrotor.storage.sql import SqlStore
from keyrotor.storage.tables import UTCDateTime, app_grants
from tests.support import migrate_to

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
# ``oauth_clients`` as revision 0004 has it
OLD_CLIENTS = Table(
    "oauth_clients",
    MetaData(),
    Column("client_id", String(64), primary_key=True),
    Column("name", String(255)),
    Column("secret_digest", String(64)),
    Column("auth_method", String(32)),
    Column("grant_types", Text),
    Column("org_scopes", Text),
    Column("created", UTCDateTime),
)


def test_the_org_scopes_of_old_clients_become_grants_that_stay(sql_url: str) -> None:
    store = SqlStore(sql_url)
    try:
        migrate_to(store, "0004")
        with store.engine.begin() as conn:
            conn.execute(
                insert(OLD_CLIENTS).values(
                    client_id="0oaold",
                    name="old",
                    secret_digest="a" * 64,
                    auth_method="client_secret_basic",
                    grant_types="client_credentials",
                    org_scopes="okta.authorizationServers.read okta.authorizationServers.manage",
                    created=NOW,
                )
            )
        migrate_to(store, "0005")
        with store.engine.connect() as conn:
            granted = conn.execute(select(app_grants.c.client_id, app_grants.c.scope_id)).all()
        assert sorted(granted) == [
            ("0oaold", "okta.authorizationServers.manage"),
            ("0oaold", "okta.authorizationServers.read"),
        ]
        store.migrate()  # and on to the head: the grants are still there
        with store.transaction() as tx:
            assert {g.scope_id for g in tx.list_grants("0oaold")} == {
                "okta.authorizationServers.read",
                "okta.authorizationServers.manage",
            }
    finally:
        store.close()
