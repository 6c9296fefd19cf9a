"""Migration 0007 on SQLite and PostgreSQL: the audit table and its indexes come and go,
and the schema the migration makes is the one ``tables.py`` describes."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from sqlalchemy import inspect, text

from keyrotor import audit
from keyrotor.audit import CLI, EventQuery, Target
from keyrotor.storage.sql import SqlStore
from keyrotor.storage.tables import audit_events
from tests.support import migrate_to

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_migration_0007_up_and_down(sql_url: str) -> None:
    store = SqlStore(sql_url)
    try:
        migrate_to(store, "0006")
        assert "audit_events" not in inspect(store.engine).get_table_names()
        migrate_to(store, "0007")
        found = inspect(store.engine)
        columns = {c["name"] for c in found.get_columns("audit_events")}
        assert columns == {c.name for c in audit_events.columns}
        indexes = {i["name"] for i in found.get_indexes("audit_events")}
        assert indexes >= {i.name for i in audit_events.indexes}
        if store.engine.dialect.name == "sqlite":  # positions are never reused
            with store.engine.connect() as conn:
                ddl = conn.execute(
                    text("SELECT sql FROM sqlite_master WHERE name = 'audit_events'")
                ).scalar()
            assert "AUTOINCREMENT" in str(ddl)
        made = audit.event("keyrotor.test", CLI, Target("x", "Thing"), NOW, details={"a": 1})
        with store.transaction(write=True) as tx:
            tx.record_event(made)
        with store.transaction() as tx:
            [(position, read)] = tx.list_events(EventQuery())
        assert position >= 1
        assert read == dataclasses.replace(made, transaction_id=read.transaction_id)
        assert read.transaction_id
        migrate_to(store, "0006", down=True)
        assert "audit_events" not in inspect(store.engine).get_table_names()
        store.migrate()
        with store.transaction() as tx:
            assert tx.list_events(EventQuery()) == []
    finally:
        store.close()
