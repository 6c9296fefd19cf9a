"""Storage adapters. ``open_store(url)`` picks the backend from the database URL."""

from __future__ import annotations

from keyrotor.storage.base import Conflict, Store, Transaction


def open_store(url: str) -> Store:
    """``memory://`` for tests; ``sqlite:///…`` and ``postgresql://…`` through SQLAlchemy."""
    if url.startswith("memory:"):
        from keyrotor.storage.memory import MemoryStore

        return MemoryStore()
    from keyrotor.storage.sql import SqlStore

    return SqlStore(url)


__all__ = ["Conflict", "Store", "Transaction", "open_store"]
