"""The rows of clients' public keys (``client_jwks``, keyrotor.client_jwks) of
``SqlTransaction``: SQLite and PostgreSQL alike. Every change names the client's subject
(``c:<client_id>``), so each replica's cached client, and the keys parsed with it, go."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.engine import RowMapping

from keyrotor.client_jwks import ClientJwk, JwkStatus
from keyrotor.storage.tables import client_jwks, oauth_clients


class ClientJwkRows:
    """Mixed into ``SqlTransaction``; uses its connection ``_c``."""

    _c: Connection
    touched: set[str]

    def list_client_jwks(self, client_id: str, *, lock: bool = False) -> list[ClientJwk]:
        if lock:  # FOR UPDATE on PostgreSQL; SQLite's write transactions are serial already
            owner = select(oauth_clients.c.client_id).where(oauth_clients.c.client_id == client_id)
            self._c.execute(owner.with_for_update())
        query = select(client_jwks).where(client_jwks.c.client_id == client_id)
        return _ordered(self._c.execute(query).mappings())

    def every_client_jwk(self) -> dict[str, list[ClientJwk]]:
        """The keys of every client, by client id."""
        found: dict[str, list[ClientJwk]] = {}
        for key in _ordered(self._c.execute(select(client_jwks)).mappings()):
            found.setdefault(key.client_id, []).append(key)
        return found

    def insert_client_jwk(self, key: ClientJwk) -> None:
        self.touched.add(f"c:{key.client_id}")
        self._c.execute(insert(client_jwks).values(**_row(key)))

    def update_client_jwk(self, key: ClientJwk) -> None:
        self.touched.add(f"c:{key.client_id}")
        query = update(client_jwks).where(
            client_jwks.c.id == key.id, client_jwks.c.client_id == key.client_id
        )
        self._c.execute(query.values(status=key.status.value, last_updated=key.last_updated))

    def delete_client_jwk(self, client_id: str, key_id: str) -> bool:
        self.touched.add(f"c:{client_id}")
        query = delete(client_jwks).where(
            client_jwks.c.id == key_id, client_jwks.c.client_id == client_id
        )
        return self._c.execute(query).rowcount > 0


def _row(key: ClientJwk) -> dict[str, Any]:
    return {
        "id": key.id,
        "client_id": key.client_id,
        "kid": key.kid,
        "status": key.status.value,
        "jwk": json.dumps(dict(key.jwk), separators=(",", ":")),
        "created": key.created,
        "last_updated": key.last_updated,
    }


def _ordered(rows: Any) -> list[ClientJwk]:
    """Oldest first, then by id, compared in Python (a database's collation may not)."""
    found = [_key(row) for row in rows]
    return sorted(found, key=lambda k: (k.created, k.id))


def _key(row: RowMapping) -> ClientJwk:
    return ClientJwk(
        id=row["id"],
        client_id=row["client_id"],
        jwk=json.loads(row["jwk"]),
        status=JwkStatus(row["status"]),
        created=row["created"],
        last_updated=row["last_updated"],
    )
