"""A store's rows kept in memory and put back: the fast reset of ``serve --test-mode``.

``capture`` reads every row a test can change (servers, keys, scopes, clients, grants,
API tokens, the audit record, used JWT ids, event hooks and their deliveries,
rotation notices) in one read transaction; ``restore`` deletes
them all and writes the captured rows back in one write transaction, which tells every
cache that everything changed. A store of a few servers restores in milliseconds.

Two tables are left as they are: the pool of pre-generated keys (spare material no answer
shows; keeping it means a reset never waits for RSA generation, and keys taken after a
reset are new ones) and SQLite's change log (``feed.py``), which the restore appends to.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert, select

from keyrotor.cache import EVERYTHING
from keyrotor.storage.base import Store
from keyrotor.storage.memory import MemoryStore
from keyrotor.storage.sql import SqlStore, SqlTransaction
from keyrotor.storage.tables import key_pool, metadata, store_changes

_KEPT = (key_pool, store_changes)
_TABLES = [t for t in metadata.sorted_tables if t not in _KEPT]  # parents before children


@dataclass(frozen=True)
class Baseline:
    """What ``restore`` writes back: rows by table (SQL), or a copy of the state (memory)."""

    rows: dict[str, list[dict[str, Any]]]
    memory: tuple[Any, Any] | None = None


def capture(store: Store) -> Baseline:
    if isinstance(store, MemoryStore):
        with store._lock:
            state = copy.deepcopy(store._state)
            return Baseline({}, (state, list(store._events)))
    sql = _sql(store)
    with sql.transaction() as tx:
        conn = _connection(tx)
        rows = {t.name: [dict(r) for r in conn.execute(select(t)).mappings()] for t in _TABLES}
    return Baseline(rows)


def restore(store: Store, baseline: Baseline) -> None:
    """Put the captured rows back; every cache of this process drops what it held (and
    other processes on the same store hear of it through the change feed)."""
    if isinstance(store, MemoryStore):
        assert baseline.memory is not None, "a baseline of another store"
        state, events = baseline.memory
        with store._lock:
            state = copy.deepcopy(state)
            state.pool = store._state.pool  # the pool stays, as on SQL stores
            store._state, store._events = state, list(events)
        store.feed.publish([EVERYTHING])
        return
    sql = _sql(store)
    with sql.transaction(write=True) as tx:
        conn = _connection(tx)
        for table in reversed(_TABLES):
            conn.execute(delete(table))
        for table in _TABLES:
            if baseline.rows[table.name]:
                conn.execute(insert(table), baseline.rows[table.name])
        tx.touched.add(EVERYTHING)


def _sql(store: Store) -> SqlStore:
    if not isinstance(store, SqlStore):
        raise TypeError(f"no baseline for a {type(store).__name__}")
    return store


def _connection(tx: SqlTransaction) -> Any:
    return tx._c  # the transaction's own connection, as the other storage modules use it
