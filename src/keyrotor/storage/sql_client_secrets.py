"""The rows of clients' secrets (``client_secrets``, keyrotor.client_secrets) of
``SqlTransaction``: SQLite and PostgreSQL alike. Every change names the client's subject
(``c:<client_id>``), so each replica drops its cached client and the digests it carries."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.engine import RowMapping

from keyrotor.client_secrets import ClientSecret, SecretStatus
from keyrotor.storage.tables import client_secrets, oauth_clients


class ClientSecretRows:
    """Mixed into ``SqlTransaction``; uses its connection ``_c``."""

    _c: Connection
    _postgres: bool
    touched: set[str]

    def list_client_secrets(self, client_id: str, *, lock: bool = False) -> list[ClientSecret]:
        """``lock``: the client's row is held to the commit first (``FOR UPDATE`` in
        PostgreSQL; SQLite's write transaction holds the database's lock already), so two
        writers of one client's secrets take turns."""
        if lock and self._postgres:
            owner = select(oauth_clients.c.client_id).where(oauth_clients.c.client_id == client_id)
            self._c.execute(owner.with_for_update())
        query = select(client_secrets).where(client_secrets.c.client_id == client_id)
        return _ordered(self._c.execute(query).mappings())

    def every_client_secret(self) -> dict[str, list[ClientSecret]]:
        """The secrets of every client, by client id."""
        found: dict[str, list[ClientSecret]] = {}
        for secret in _ordered(self._c.execute(select(client_secrets)).mappings()):
            found.setdefault(secret.client_id, []).append(secret)
        return found

    def insert_client_secret(self, secret: ClientSecret) -> None:
        self.touched.add(f"c:{secret.client_id}")
        self._c.execute(insert(client_secrets).values(**_row(secret)))

    def update_client_secret(self, secret: ClientSecret) -> None:
        """Its status and ``last_updated``: nothing else of a secret changes."""
        self.touched.add(f"c:{secret.client_id}")
        query = update(client_secrets).where(
            client_secrets.c.id == secret.id, client_secrets.c.client_id == secret.client_id
        )
        self._c.execute(query.values(status=secret.status.value, last_updated=secret.last_updated))

    def delete_client_secret(self, client_id: str, secret_id: str) -> bool:
        self.touched.add(f"c:{client_id}")
        query = delete(client_secrets).where(
            client_secrets.c.id == secret_id, client_secrets.c.client_id == client_id
        )
        return self._c.execute(query).rowcount > 0


def _row(secret: ClientSecret) -> dict[str, Any]:
    return {
        "id": secret.id,
        "client_id": secret.client_id,
        "digest": secret.digest,
        "secret_hash": secret.secret_hash,
        "status": secret.status.value,
        "created": secret.created,
        "last_updated": secret.last_updated,
    }


def _ordered(rows: Any) -> list[ClientSecret]:
    """Oldest first, then by id, compared in Python (a database's collation may not)."""
    found = [_secret(row) for row in rows]
    return sorted(found, key=lambda s: (s.created, s.id))


def _secret(row: RowMapping) -> ClientSecret:
    return ClientSecret(
        id=row["id"],
        client_id=row["client_id"],
        digest=row["digest"],
        secret_hash=row["secret_hash"],
        status=SecretStatus(row["status"]),
        created=row["created"],
        last_updated=row["last_updated"],
    )
