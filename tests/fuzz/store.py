"""What a fuzzed server's store holds, as one fingerprint, to tell whether a request that
was refused changed anything."""

from __future__ import annotations

import hashlib

from sqlalchemy import Table, create_engine, select

from keyrotor.storage.sql import normalise_url
from keyrotor.storage.tables import (
    api_tokens,
    app_grants,
    oauth_clients,
    oauth_scopes,
    servers,
    signing_keys,
)

# what a request may change, with the columns that change without one (an API token's
# last use is a note of use, not a change of state); the key pool, the change feed, the
# audit record and used JWT ids are not the caller's state
STATE: tuple[tuple[Table, tuple[str, ...]], ...] = (
    (servers, ()),
    (signing_keys, ()),
    (oauth_scopes, ()),
    (oauth_clients, ()),
    (app_grants, ()),
    (api_tokens, ("last_used",)),
)


class Store:
    """A read-only view of a store (SQLite or PostgreSQL) that a server writes."""

    def __init__(self, url: str) -> None:
        self.engine = create_engine(normalise_url(url))

    def fingerprint(self) -> str:
        digest = hashlib.sha256()
        with self.engine.connect() as conn:
            for table, volatile in STATE:
                columns = [c for c in table.columns if c.name not in volatile]
                rows = sorted(repr(tuple(row)) for row in conn.execute(select(*columns)))
                digest.update("\n".join(rows).encode() + b"|")
        return digest.hexdigest()

    def counts(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            return {
                table.name: len(conn.execute(select(*table.primary_key.columns)).all())
                for table, _ in STATE
            }

    def close(self) -> None:
        self.engine.dispose()
