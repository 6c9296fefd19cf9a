"""Use cases of a client's public keys (``/api/v1/apps/{appId}/credentials/jwks``): list,
add, get, activate, deactivate, delete. Each is one store transaction; each write locks the
client's keys, checks Okta's rules (``client_jwks``) against what is stored, records its
audit event and names the client's change subject, so every replica's cached client (and
the keys parsed with it, ``client_keys``) goes at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from keyrotor import audit, client_jwks
from keyrotor.audit import CLI, Actor
from keyrotor.client_jwks import ClientJwk, JwkStatus
from keyrotor.clients import OAuthClient
from keyrotor.errors import NotFound, ValidationFailed
from keyrotor.storage import Conflict, Store, Transaction

APP_TYPE = "App"
KEY_TYPE = "OAuth2ClientJsonWebKey"


class ClientJwkService:
    def __init__(self, store: Store, clock: Callable[[], datetime]) -> None:
        self.store = store
        self.clock = clock

    def list_keys(self, client_id: str) -> list[ClientJwk]:
        """Every key of the client, any status, oldest first (none for a ``jwks_uri`` or a
        secret client)."""
        with self.store.transaction() as tx:
            return list(_client(tx, client_id).keys)

    def get_key(self, client_id: str, key_id: str) -> ClientJwk:
        with self.store.transaction() as tx:
            return _key(_client(tx, client_id).keys, key_id)

    def add(
        self, client_id: str, jwk: dict[str, Any], status: JwkStatus, actor: Actor = CLI
    ) -> ClientJwk:
        """A new key (checked by ``client_jwks.parse_jwk``), ACTIVE or INACTIVE."""
        now = self.clock()
        try:
            with self._writing(client_id) as (tx, client, keys):
                if not client_jwks.uses_stored_keys(client):
                    raise client_jwks.refusal_to_add(client)
                client_jwks.check_add(keys, jwk)
                made = client_jwks.new_jwk(client_id, jwk, status, now)
                tx.insert_client_jwk(made)
                tx.record_event(client_jwks.event(audit.CREDENTIAL_CREATED, made, actor, now))
        except Conflict:  # a kid added at the same moment by another writer
            raise ValidationFailed(client_jwks.WHAT, client_jwks.DUPLICATE_KID) from None
        return made

    def activate(self, client_id: str, key_id: str, actor: Actor = CLI) -> ClientJwk:
        """ACTIVE: it verifies the client's assertions from now on (a no-op if it does)."""
        now = self.clock()
        with self._writing(client_id) as (tx, _, keys):
            key = _key(keys, key_id)
            if key.active:
                return key
            done = key.with_status(JwkStatus.ACTIVE, now)
            tx.update_client_jwk(done)
            tx.record_event(client_jwks.event(audit.CREDENTIAL_ACTIVATED, done, actor, now))
        return done

    def deactivate(self, client_id: str, key_id: str, actor: Actor = CLI) -> ClientJwk:
        """INACTIVE: assertions it signs are refused from now on, on every replica."""
        now = self.clock()
        with self._writing(client_id) as (tx, client, keys):
            key = _key(keys, key_id)
            if not key.active:
                return key
            client_jwks.check_deactivate(client, key, keys)
            done = key.with_status(JwkStatus.INACTIVE, now)
            tx.update_client_jwk(done)
            tx.record_event(client_jwks.event(audit.CREDENTIAL_DEACTIVATED, done, actor, now))
        return done

    def delete(self, client_id: str, key_id: str, actor: Actor = CLI) -> None:
        """Only an INACTIVE key can be deleted."""
        now = self.clock()
        with self._writing(client_id) as (tx, _, keys):
            key = _key(keys, key_id)
            client_jwks.check_delete(key)
            tx.delete_client_jwk(client_id, key_id)
            tx.record_event(client_jwks.event(audit.CREDENTIAL_DELETED, key, actor, now))

    @contextmanager
    def _writing(
        self, client_id: str
    ) -> Iterator[tuple[Transaction, OAuthClient, list[ClientJwk]]]:
        """A write transaction with the client and its keys, read under its lock."""
        with self.store.transaction(write=True) as tx:
            keys = tx.list_client_jwks(client_id, lock=True)
            yield tx, _client(tx, client_id), keys


def _client(tx: Transaction, client_id: str) -> OAuthClient:
    found = tx.get_client(client_id)
    if found is None:
        raise NotFound(client_id, APP_TYPE)
    return found


def _key(keys: Sequence[ClientJwk], key_id: str) -> ClientJwk:
    found = next((k for k in keys if k.id == key_id), None)
    if found is None:
        raise NotFound(key_id, KEY_TYPE)
    return found
