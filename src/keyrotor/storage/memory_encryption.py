"""The resource servers' encryption keys (``keyrotor.encryption``) of the in-memory store,
with the SQL backends' constraints: one kid once per server, one ACTIVE key per server."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from keyrotor.encryption import EncryptionKey
from keyrotor.storage.base import Conflict


class _Held(Protocol):
    encryption_keys: dict[str, EncryptionKey]


class EncryptionMemory:
    """Mixed into ``MemoryTransaction``; uses its state ``_s``."""

    _s: _Held
    touched: set[str]

    def encryption_keys(self, server_id: str) -> list[EncryptionKey]:
        found = [k for k in self._s.encryption_keys.values() if k.server_id == server_id]
        return sorted(found, key=lambda k: k.position)

    def insert_encryption_keys(self, keys: Iterable[EncryptionKey]) -> None:
        for key in keys:
            self.touched.add(f"s:{key.server_id}")
            if key.id in self._s.encryption_keys:
                raise Conflict(f"encryption key {key.id} exists")
            self._s.encryption_keys[key.id] = key
            self._check(key.server_id)

    def update_encryption_keys(self, keys: Iterable[EncryptionKey]) -> None:
        for key in keys:
            self.touched.add(f"s:{key.server_id}")
            old = self._s.encryption_keys[key.id]
            if (old.kid, old.n, old.e, old.server_id) != (key.kid, key.n, key.e, key.server_id):
                raise ValueError("key material never changes")
            self._s.encryption_keys[key.id] = key
            self._check(key.server_id)  # after each key, as the SQL index checks each statement

    def delete_encryption_keys(self, keys: Iterable[EncryptionKey]) -> None:
        for key in keys:
            self.touched.add(f"s:{key.server_id}")
            self._s.encryption_keys.pop(key.id, None)

    def forget_encryption_keys(self, server_id: str) -> None:
        """Its server is deleted (the SQL backends cascade)."""
        for key in self.encryption_keys(server_id):
            del self._s.encryption_keys[key.id]

    def _check(self, server_id: str) -> None:
        keys = self.encryption_keys(server_id)
        if len({k.kid for k in keys}) != len(keys):
            raise Conflict(f"a kid twice on {server_id}")
        if sum(1 for k in keys if k.is_active) > 1:
            raise Conflict(f"two ACTIVE encryption keys for {server_id}")
