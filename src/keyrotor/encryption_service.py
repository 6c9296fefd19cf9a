"""Use cases of access-token encryption: a server's resource-server encryption keys (list,
get, add, activate, deactivate, delete) and switching encryption on or off.

Reads come from the server's snapshot (``KeyService.snapshot``), which holds its keys and,
when it encrypts, the ACTIVE key parsed once (``encryption.Encrypter``). Each write is one
store transaction under the server's lock: the rule of ``keyrotor.encryption``, the rows,
and the audit record. Every write names the server's change subject (``s:<id>``), so every
replica drops its snapshot and the next token is encrypted for the key now ACTIVE.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from keyrotor import audit, encryption
from keyrotor.audit import SYSTEM, Actor, AuditEvent, Target
from keyrotor.encryption import EncryptionKey, KeySpec
from keyrotor.errors import NotFound
from keyrotor.servers import ORG_SERVER_ID, AuthorizationServer, ServerSpec
from keyrotor.storage import Transaction

if TYPE_CHECKING:
    from keyrotor.service import KeyService

SERVER_TYPE = "AuthorizationServer"


class EncryptionService:
    def __init__(self, keys: KeyService) -> None:
        self.keys = keys
        self.store = keys.store
        self.clock = keys.clock

    # -- reads -----------------------------------------------------------------------

    def list_keys(self, server_id: str) -> list[EncryptionKey]:
        """The server's encryption keys, oldest first."""
        return list(self._server(server_id).encryption_keys)

    def get_key(self, server_id: str, key_id: str) -> EncryptionKey:
        return _find(self._server(server_id).encryption_keys, key_id)

    def _server(self, server_id: str) -> AuthorizationServer:
        if server_id == ORG_SERVER_ID:  # managed by no one: not found under an id
            raise NotFound(server_id, SERVER_TYPE)
        return self.keys.snapshot(server_id).server

    # -- writes ----------------------------------------------------------------------

    def add_key(self, server_id: str, spec: KeySpec, actor: Actor = SYSTEM) -> EncryptionKey:
        """A new INACTIVE key (at most ``MAX_KEYS`` per server, each kid once)."""
        with self.store.transaction(write=True) as tx:
            server, keys = self._locked(tx, server_id)
            now = self.clock()
            made = encryption.added(server_id, keys, spec, now)
            tx.insert_encryption_keys([made])
            tx.record_event(key_event(audit.ENCRYPTION_KEY_ADDED, made, server, actor, now))
        return made

    def activate_key(self, server_id: str, key_id: str, actor: Actor = SYSTEM) -> EncryptionKey:
        """The key becomes ACTIVE; the ACTIVE one, if any, INACTIVE (Okta's rule)."""
        with self.store.transaction(write=True) as tx:
            server, keys = self._locked(tx, server_id)
            now = self.clock()
            changed = encryption.activated(keys, _find(keys, key_id), now)
            self._write(tx, server, changed, actor, now)
        return changed[-1] if changed else _find(keys, key_id)

    def deactivate_key(self, server_id: str, key_id: str, actor: Actor = SYSTEM) -> EncryptionKey:
        """The key becomes INACTIVE; refused for the ACTIVE key while the server encrypts."""
        with self.store.transaction(write=True) as tx:
            server, keys = self._locked(tx, server_id)
            now = self.clock()
            encrypting = server.encryption_alg is not None
            changed = encryption.deactivated(_find(keys, key_id), encrypting, now)
            self._write(tx, server, changed, actor, now)
        return changed[-1] if changed else _find(keys, key_id)

    def delete_key(self, server_id: str, key_id: str, actor: Actor = SYSTEM) -> None:
        """Only an INACTIVE key is deleted."""
        with self.store.transaction(write=True) as tx:
            server, keys = self._locked(tx, server_id)
            key = _find(keys, key_id)
            encryption.check_deletable(key)
            now = self.clock()
            tx.delete_encryption_keys([key])
            tx.record_event(key_event(audit.ENCRYPTION_KEY_DELETED, key, server, actor, now))

    def set_algorithm(
        self, server_id: str, algorithm: str | None, actor: Actor = SYSTEM
    ) -> AuthorizationServer:
        """Encrypt the server's access tokens (``algorithm``), or stop (``None``): the
        server's ``accessTokenEncryptedResponseAlgorithm``, as a replace sets it."""
        with self.store.transaction(write=True) as tx:
            server, keys = self._locked(tx, server_id)
            encryption.check_encryption(algorithm, keys, "authorizationServer")
            if server.encryption_alg == algorithm:
                return dataclasses.replace(server, encryption_keys=tuple(keys))
            now = self.clock()
            after = dataclasses.replace(server, encryption_alg=algorithm, last_updated=now)
            tx.update_server(after)
            for made in audit.server_updated(server, after, actor, now):
                tx.record_event(made)
        return dataclasses.replace(after, encryption_keys=tuple(keys))

    def _locked(
        self, tx: Transaction, server_id: str
    ) -> tuple[AuthorizationServer, list[EncryptionKey]]:
        server = tx.get_server(server_id, lock=True) if server_id != ORG_SERVER_ID else None
        if server is None:
            raise NotFound(server_id, SERVER_TYPE)
        return server, tx.encryption_keys(server_id)

    @staticmethod
    def _write(
        tx: Transaction,
        server: AuthorizationServer,
        changed: Sequence[EncryptionKey],
        actor: Actor,
        now: datetime,
    ) -> None:
        tx.update_encryption_keys(changed)
        for key in changed:
            kind = (
                audit.ENCRYPTION_KEY_ACTIVATED
                if key.is_active
                else audit.ENCRYPTION_KEY_DEACTIVATED
            )
            tx.record_event(key_event(kind, key, server, actor, now))


def settle_server(
    tx: Transaction,
    server: AuthorizationServer,
    spec: ServerSpec,
    actor: Actor,
    now: datetime,
    what: str = "authorizationServer",
) -> AuthorizationServer:
    """Inside a create's or a replace's transaction: the keys become the ``jwks`` sent, if
    one was; a server that encrypts must have an ACTIVE key. Answers the server with its
    keys; raises (rolling the whole write back) when the result breaks a rule."""
    keys = tx.encryption_keys(server.id)
    change = encryption.replace_all(server.id, keys, spec.jwks, now, what)
    after = change.applied_to(keys)
    encryption.check_encryption(server.encryption_alg, after, what)
    tx.delete_encryption_keys(change.deleted)
    tx.update_encryption_keys(change.updated)
    tx.insert_encryption_keys(change.added)
    for key in change.deleted:
        tx.record_event(key_event(audit.ENCRYPTION_KEY_DELETED, key, server, actor, now))
    for key in change.updated:
        kind = audit.ENCRYPTION_KEY_ACTIVATED if key.is_active else audit.ENCRYPTION_KEY_DEACTIVATED
        tx.record_event(key_event(kind, key, server, actor, now))
    for key in change.added:
        tx.record_event(key_event(audit.ENCRYPTION_KEY_ADDED, key, server, actor, now))
        if key.is_active:
            tx.record_event(key_event(audit.ENCRYPTION_KEY_ACTIVATED, key, server, actor, now))
    return dataclasses.replace(server, encryption_keys=tuple(after))


def key_event(
    kind: str, key: EncryptionKey, server: AuthorizationServer, actor: Actor, now: datetime
) -> AuditEvent:
    """An event of one encryption key: its id, kid and status (public values only)."""
    details = {"kid": key.kid, "status": key.status.value, "serverName": server.name}
    target = Target(key.id, encryption.KEY_TYPE, key.kid[:255])
    return audit.event(kind, actor, target, now, server_id=server.id, details=details)


def _find(keys: Sequence[EncryptionKey], key_id: str) -> EncryptionKey:
    found = next((k for k in keys if k.id == key_id), None)
    if found is None:
        raise NotFound(key_id, encryption.KEY_TYPE)
    return found
