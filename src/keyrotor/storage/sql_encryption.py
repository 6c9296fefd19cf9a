"""The resource servers' encryption keys (``keyrotor.encryption``) of ``SqlTransaction``:
SQLite and PostgreSQL alike. Every write names its server's change subject."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.engine import RowMapping

from keyrotor.encryption import EncryptionKey, EncryptionKeyStatus
from keyrotor.storage.tables import encryption_keys


class EncryptionRows:
    """Mixed into ``SqlTransaction``; uses its connection ``_c``."""

    _c: Connection
    touched: set[str]

    def encryption_keys(self, server_id: str) -> list[EncryptionKey]:
        query = (
            select(encryption_keys)
            .where(encryption_keys.c.server_id == server_id)
            .order_by(encryption_keys.c.position)
        )
        return [_key(row) for row in self._c.execute(query).mappings()]

    def insert_encryption_keys(self, keys: Iterable[EncryptionKey]) -> None:
        rows = [_row(k) for k in keys]
        self.touched.update(f"s:{row['server_id']}" for row in rows)
        if rows:
            self._c.execute(insert(encryption_keys), rows)

    def update_encryption_keys(self, keys: Iterable[EncryptionKey]) -> None:
        # one statement per key, in the order given: the unique index of the ACTIVE key
        # checks each statement
        for key in keys:
            self.touched.add(f"s:{key.server_id}")
            self._c.execute(
                update(encryption_keys)
                .where(encryption_keys.c.id == key.id)
                .values(status=key.status.value, last_updated=key.last_updated)
            )

    def delete_encryption_keys(self, keys: Iterable[EncryptionKey]) -> None:
        for key in keys:
            self.touched.add(f"s:{key.server_id}")
            self._c.execute(delete(encryption_keys).where(encryption_keys.c.id == key.id))


def _row(k: EncryptionKey) -> dict[str, object]:
    return {
        "id": k.id,
        "server_id": k.server_id,
        "kid": k.kid,
        "status": k.status.value,
        "n": k.n,
        "e": k.e,
        "created": k.created,
        "last_updated": k.last_updated,
        "position": k.position,
    }


def _key(row: RowMapping) -> EncryptionKey:
    return EncryptionKey(
        id=row["id"],
        server_id=row["server_id"],
        kid=row["kid"],
        n=row["n"],
        e=row["e"],
        status=EncryptionKeyStatus(row["status"]),
        created=row["created"],
        last_updated=row["last_updated"],
        position=row["position"],
    )
