"""Migration 0011 on SQLite and PostgreSQL (its tables are the ones ``tables.py``
describes, and go away again), and ``keyrotor hooks`` through click's runner."""

from __future__ import annotations

import json
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from click.testing import CliRunner

from keyrotor.cli import main
from keyrotor.storage.sql import SqlStore
from keyrotor.storage.tables import event_hooks, hook_deliveries, metadata, rotation_notices
from tests.support import migrate_to

OURS = {t.name for t in (event_hooks, hook_deliveries, rotation_notices)}


def test_migration_0011_makes_what_tables_py_says_and_goes_back(sql_url: str) -> None:
    store = SqlStore(sql_url)
    try:
        store.migrate()
        with store.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), metadata)
        ours = [d for d in diff if OURS & {getattr(x, "name", "") for x in _things(d)}]
        assert ours == []
        migrate_to(store, "0010", down=True)
        with store.engine.connect() as conn:
            tables = set(conn.dialect.get_table_names(conn))
        assert not OURS & tables
        store.migrate()
    finally:
        store.close()


def _things(diff: object) -> list[object]:
    """The tables, indexes and columns an Alembic diff entry names (nested or not)."""
    found: list[object] = []
    stack = [diff]
    while stack:
        item = stack.pop()
        if isinstance(item, list | tuple):
            stack.extend(item)
        else:
            found.append(item)
            table = getattr(item, "table", None)
            if table is not None:
                found.append(table)
    return found


def test_the_cli_adds_lists_and_deletes_hooks(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'cli.db'}"
    runner = CliRunner()
    assert runner.invoke(main, ["init", "--database", database]).exit_code == 0
    added = runner.invoke(
        main,
        [
            *("hooks", "add", "Keys", "--uri", "https://93.184.215.14/hook"),
            *("--event", "app.oauth2.as.key.rollover", "--auth-header", "X-Secret"),
            *("--database", database, "--json"),
        ],
        env={"KEYROTOR_HOOK_AUTH_VALUE": "cli-secret-value-123456"},
    )
    assert added.exit_code == 0, added.output
    hook = json.loads(added.output)
    assert "cli-secret-value-123456" not in added.output
    assert hook["channel"]["config"]["authScheme"] == {"type": "HEADER", "key": "X-Secret"}
    listed = runner.invoke(main, ["hooks", "list", "--database", database])
    assert hook["id"] in listed.output and "UNVERIFIED" in listed.output
    refused = runner.invoke(main, ["hooks", "delete", hook["id"], "--database", database])
    assert refused.exit_code == 1
    assert (
        refused.output.strip().splitlines()
        == [
            "Error: Api validation failed: eventHook: Deactivate the event hook before deleting it."
        ]
        or "Deactivate the event hook" in refused.output
    )
    for command in ("deactivate", "delete"):
        done = runner.invoke(main, ["hooks", command, hook["id"], "--database", database])
        assert done.exit_code == 0, done.output
    assert (
        json.loads(runner.invoke(main, ["hooks", "list", "--database", database, "--json"]).output)
        == []
    )
    loopback = runner.invoke(
        main,
        [
            *("hooks", "add", "Local", "--uri", "http://127.0.0.1:8080/x"),
            *("--event", "oauth2.as.created", "--database", database),
        ],
    )
    assert loopback.exit_code == 1
    assert len(loopback.output.strip().splitlines()) == 1
    assert "resolves to loopback" in loopback.output
    deliveries = runner.invoke(main, ["hooks", "deliveries", "--database", database, "--json"])
    assert deliveries.exit_code == 0 and json.loads(deliveries.output) == []
