"""Use cases of a client's secrets: list, get, create, activate, deactivate, delete.

Each change is one write transaction: it reads the client's secrets with the client's row
held (``lock=True``), so two callers cannot both take the last free place or both
deactivate one of two ACTIVE secrets; writes; and records its event
(``app.oauth2.credentials.lifecycle.*``, never the value or its digest). Every write names
``c:<client_id>``: each replica drops its cached client, whose ACTIVE digests are what the
token endpoints compare, so a deactivated secret is refused everywhere once the change feed
delivers it. Registration (``OAuthService``) adds and removes secrets with ``add`` and
``remove`` inside its own transactions.
"""

from __future__ import annotations

from datetime import datetime

from keyrotor import audit
from keyrotor.audit import CLI, Actor, Target
from keyrotor.client_secrets import (
    SECRET_TYPE,
    ClientSecret,
    SecretRequest,
    SecretStatus,
    check_deactivate,
    check_delete,
    check_room,
    check_uses_secrets,
    new_secret,
)
from keyrotor.clients import OAuthClient, new_client_secret
from keyrotor.clock import Clock
from keyrotor.errors import NotFound
from keyrotor.storage import Store, Transaction

APP_TYPE = "App"  # what Okta's 404 names for an unknown appId


class ClientSecretService:
    def __init__(self, store: Store, clock: Clock, hash_key: bytes) -> None:
        self.store = store
        self.clock = clock
        self._hash_key = hash_key

    # -- reads -----------------------------------------------------------------------------

    def list(self, client_id: str) -> list[ClientSecret]:
        """Oldest first."""
        with self.store.transaction() as tx:
            _client(tx, client_id)
            return tx.list_client_secrets(client_id)

    def get(self, client_id: str, secret_id: str) -> ClientSecret:
        return _find(self.list(client_id), secret_id)

    # -- changes: one write transaction each ---------------------------------------------

    def create(
        self, client_id: str, request: SecretRequest, actor: Actor = CLI
    ) -> tuple[ClientSecret, str]:
        """A new secret and its value (the caller's, or a new random one), answered once."""
        value = request.value if request.value is not None else new_client_secret()
        now = self.clock()
        with self.store.transaction(write=True) as tx:
            existing = tx.list_client_secrets(client_id, lock=True)
            check_uses_secrets(_client(tx, client_id).auth_method)
            check_room(existing)
            made = self.add(tx, client_id, value, request.status, actor, now)
        return made, value

    def activate(self, client_id: str, secret_id: str, actor: Actor = CLI) -> ClientSecret:
        return self._set_status(client_id, secret_id, SecretStatus.ACTIVE, actor)

    def deactivate(self, client_id: str, secret_id: str, actor: Actor = CLI) -> ClientSecret:
        """Refused for the client's only ACTIVE secret: it would lock the client out."""
        return self._set_status(client_id, secret_id, SecretStatus.INACTIVE, actor)

    def delete(self, client_id: str, secret_id: str, actor: Actor = CLI) -> None:
        """Only an INACTIVE secret: deactivate first, so a deletion never surprises a
        client still using the secret."""
        with self.store.transaction(write=True) as tx:
            existing = tx.list_client_secrets(client_id, lock=True)
            _client(tx, client_id)
            found = _find(existing, secret_id)
            check_delete(found)
            self.remove(tx, found, actor, self.clock())

    def _set_status(
        self, client_id: str, secret_id: str, status: SecretStatus, actor: Actor
    ) -> ClientSecret:
        """The secret with ``status``; one that has it already is answered as it is, with
        nothing written or recorded."""
        now = self.clock()
        with self.store.transaction(write=True) as tx:
            existing = tx.list_client_secrets(client_id, lock=True)
            _client(tx, client_id)
            found = _find(existing, secret_id)
            if found.status is status:
                return found
            if status is SecretStatus.INACTIVE:
                check_deactivate(found, existing)
            changed = found.with_status(status, now)
            tx.update_client_secret(changed)
            kind = (
                audit.CREDENTIAL_ACTIVATED
                if status is SecretStatus.ACTIVE
                else audit.CREDENTIAL_DEACTIVATED
            )
            tx.record_event(_event(kind, changed, actor, now))
        return changed

    # -- inside another use case's transaction (registration) -----------------------------

    def add(
        self,
        tx: Transaction,
        client_id: str,
        value: str,
        status: SecretStatus,
        actor: Actor,
        now: datetime,
    ) -> ClientSecret:
        made = new_secret(client_id, value, status, now, self._hash_key)
        tx.insert_client_secret(made)
        tx.record_event(_event(audit.CREDENTIAL_CREATED, made, actor, now))
        return made

    def remove(self, tx: Transaction, secret: ClientSecret, actor: Actor, now: datetime) -> None:
        tx.delete_client_secret(secret.client_id, secret.id)
        tx.record_event(_event(audit.CREDENTIAL_DELETED, secret, actor, now))


def _client(tx: Transaction, client_id: str) -> OAuthClient:
    found = tx.get_client(client_id)
    if found is None:
        raise NotFound(client_id, APP_TYPE)
    return found


def _find(existing: list[ClientSecret], secret_id: str) -> ClientSecret:
    found = next((s for s in existing if s.id == secret_id), None)
    if found is None:
        raise NotFound(secret_id, SECRET_TYPE)
    return found


def _event(kind: str, secret: ClientSecret, actor: Actor, now: datetime) -> audit.AuditEvent:
    """Names the secret, its client and its status; never the value or its digest."""
    details = {"clientId": secret.client_id, "credentialType": "client_secret"}
    return audit.event(
        kind,
        actor,
        Target(secret.id, SECRET_TYPE, secret.client_id),
        now,
        details={**details, "status": secret.status.value},
    )
