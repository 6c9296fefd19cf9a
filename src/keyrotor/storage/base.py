"""The storage interface: one small unit of work per use case.

A ``Transaction`` commits when its ``with`` block ends normally and rolls back when it
raises; a crash anywhere inside leaves the old state. ``get_server(…, lock=True)``
serialises writers of one server (a row lock in PostgreSQL, the write lock in SQLite).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import NamedTuple, Protocol

from keyrotor.apitokens import ApiToken
from keyrotor.audit import AuditEvent, EventQuery
from keyrotor.client_jwks import ClientJwk
from keyrotor.client_secrets import ClientSecret
from keyrotor.clients import OAuthClient
from keyrotor.encryption import EncryptionKey
from keyrotor.grants import Grant
from keyrotor.hooks import Delivery, EventHook
from keyrotor.keys import KeyMaterial, SigningKey
from keyrotor.scopes import Scope
from keyrotor.servers import AuthorizationServer
from keyrotor.storage.feed import Feed


class Conflict(Exception):
    """A write clashed with a row that already exists (say, two replicas creating one id)."""


RESEALED = "kek"  # the change subject of `keyrotor kek rewrap`: only readiness checks heed it


class SealedKey(NamedTuple):
    """A stored private key as sealed: its kid, its server (``None`` for a pooled key)."""

    kid: str
    server_id: str | None
    sealed_private: bytes


class Transaction(Protocol):
    def get_server(self, server_id: str, *, lock: bool = False) -> AuthorizationServer | None: ...

    def list_servers(
        self, q: str | None, limit: int, after: int | None
    ) -> list[tuple[int, AuthorizationServer]]:
        """Servers in creation order, each with its position (the cursor for ``after``)."""
        ...

    def insert_server(self, server: AuthorizationServer) -> None: ...

    def update_server(self, server: AuthorizationServer) -> None: ...

    def delete_server(self, server_id: str) -> None: ...

    def keys(self, server_id: str, *, since: datetime | None = None) -> list[SigningKey]:
        """Every key the server ever had, retired ones included; with ``since``, only the
        ones that can still be published: not EXPIRED, the newest EXPIRED one, and EXPIRED
        ones that expired at ``since`` or later."""
        ...

    def insert_keys(self, keys: Iterable[SigningKey]) -> None: ...

    def update_keys(self, keys: Iterable[SigningKey]) -> None:
        """Status and timestamps only: kid and key material never change."""
        ...

    # -- API tokens (revoked and expired ones stay stored) ------------------------------

    def insert_token(self, token: ApiToken) -> None: ...

    def find_token(self, digest: str) -> ApiToken | None: ...

    def get_token(self, token_id: str) -> ApiToken | None: ...

    def list_tokens(self) -> list[ApiToken]:
        """Every token ever stored, revoked and expired ones included, oldest first."""
        ...

    def revoke_token(self, token_id: str, at: datetime) -> bool:
        """Mark a token revoked at ``at``; ``False`` when there is no such token or it was
        revoked already."""
        ...

    def note_token_uses(self, uses: Mapping[str, datetime]) -> None:
        """Record the last use of tokens by id; a use older than the recorded one is
        ignored. Names no changed subject: nothing that authentication reads changes."""
        ...

    def insert_client(self, client: OAuthClient) -> None: ...

    def update_client(self, client: OAuthClient) -> None:
        """Everything but the id, the creation time and the grants."""
        ...

    def get_client(self, client_id: str) -> OAuthClient | None:
        """The client, with ``org_scopes`` from its grants, its stored keys and secrets."""
        ...

    def list_clients(self) -> list[OAuthClient]:
        """Every registered client, oldest first."""
        ...

    def delete_client(self, client_id: str) -> bool:
        """Whether there was such a client (its grants go with it)."""
        ...

    def insert_grant(self, grant: Grant) -> None:
        """``Conflict`` when the client already has that scope."""
        ...

    def list_grants(self, client_id: str) -> list[Grant]:
        """Oldest first."""
        ...

    def delete_grant(self, client_id: str, grant_id: str) -> bool: ...

    # -- clients' public keys (keyrotor.client_jwks); each change names ``c:<client>`` -----

    def list_client_jwks(self, client_id: str, *, lock: bool = False) -> list[ClientJwk]:
        """The client's keys, any status, oldest first (``get_client`` reads them too);
        ``lock`` serialises writers of one client's keys (its row locked on PostgreSQL)."""
        ...

    def insert_client_jwk(self, key: ClientJwk) -> None:
        """``Conflict`` when the client has a key with that kid already."""
        ...

    def update_client_jwk(self, key: ClientJwk) -> None:
        """Status and ``last_updated`` only: a key's material never changes."""
        ...

    def delete_client_jwk(self, client_id: str, key_id: str) -> bool: ...

    # -- clients' secrets (keyrotor.client_secrets); each change names ``c:<client>`` ------

    def list_client_secrets(self, client_id: str, *, lock: bool = False) -> list[ClientSecret]:
        """The client's secrets, any status, oldest first (``get_client`` reads them too);
        ``lock`` serialises writers of one client's secrets (its row locked on PostgreSQL)."""
        ...

    def insert_client_secret(self, secret: ClientSecret) -> None: ...

    def update_client_secret(self, secret: ClientSecret) -> None:
        """Status and ``last_updated`` only: a secret's digest never changes."""
        ...

    def delete_client_secret(self, client_id: str, secret_id: str) -> bool: ...

    def use_jti(self, issuer: str, jti: str, expires: datetime) -> bool:
        """Record a JWT id of ``issuer`` (a client, a DPoP key); ``False`` when it was
        already recorded: a replay."""
        ...

    def prune_jtis(self, now: datetime) -> int:
        """Forget JWT ids whose JWT expired before ``now``."""
        ...

    def insert_scope(self, scope: Scope) -> None:
        """``Conflict`` when the server already has a scope of that name."""
        ...

    # -- resource servers' encryption keys (keyrotor.encryption); each write names ``s:`` --

    def encryption_keys(self, server_id: str) -> list[EncryptionKey]:
        """The server's encryption keys in the order added (deleting a server deletes them)."""
        ...

    def insert_encryption_keys(self, keys: Iterable[EncryptionKey]) -> None:
        """``Conflict`` when a kid is the server's already or a second key is ACTIVE."""
        ...

    def update_encryption_keys(self, keys: Iterable[EncryptionKey]) -> None:
        """Status and ``last_updated`` only, one key at a time in the order given."""
        ...

    def delete_encryption_keys(self, keys: Iterable[EncryptionKey]) -> None: ...

    def update_scope(self, scope: Scope) -> None: ...

    def get_scope(self, server_id: str, scope_id: str) -> Scope | None: ...

    def list_scopes(self, server_id: str) -> list[Scope]:
        """The server's scopes, oldest first (deleting a server deletes its scopes)."""
        ...

    def delete_scope(self, server_id: str, scope_id: str) -> bool: ...

    def due_servers(self, now: datetime, lead: timedelta | None, limit: int) -> list[str]:
        """Ids of servers with a lifecycle step due at ``now``: an AUTO rotation whose time
        has come, or no NEXT key while one is wanted (``lead`` before the rotation, or
        always when ``lead`` is ``None``), in creation order."""
        ...

    def take_pooled(self) -> KeyMaterial | None:
        """A pre-generated key, removed from the pool by this transaction; ``None`` if the
        pool is empty. Two transactions never get the same key."""
        ...

    def add_pooled(self, material: KeyMaterial, now: datetime) -> None: ...

    def count_pooled(self) -> int: ...

    # -- key-encryption keys (keyrotor.keks): the start-up and readiness checks, rewrap --
    # None of these names a changed subject except ``note_resealed``: a re-sealed key is
    # the same key, so no cache has to drop anything.

    def sealed_sample(self, limit: int) -> list[SealedKey]:
        """The ACTIVE and NEXT keys of the first ``limit`` servers by id, and the newest
        pooled key; nothing (not an error) in a database whose tables are not made yet."""
        ...

    def active_kids(self) -> list[str]:
        """The kid of every server's ACTIVE key."""
        ...

    def sealed_keys(self, kids: Sequence[str]) -> list[SealedKey]:
        """The signing keys with these kids (the ones still stored)."""
        ...

    def sealed_page(self, pooled: bool, after: str | None, limit: int) -> list[SealedKey]:
        """Every signing key (or, ``pooled``, every key of the pool) in kid order, a page
        of ``limit`` after the kid ``after``."""
        ...

    def reseal(self, key: SealedKey, sealed_private: bytes) -> bool:
        """Store ``key`` sealed anew, if it is still stored as ``key`` says (kid, public
        numbers and status are untouched); whether it was."""
        ...

    def note_resealed(self) -> None:
        """Name ``RESEALED`` as changed: readiness checks open the ACTIVE keys again."""
        ...

    def unbound_count(self) -> int:
        """Signing keys sealed the old way, bound to their kid but not their server."""
        ...

    # -- the audit record (keyrotor.audit) -------------------------------------------------

    def record_event(self, event: AuditEvent) -> None:
        """Record ``event`` with this transaction's changes: it commits or rolls back with
        them. Events are stored in the order of commits (their positions grow with it)."""
        ...

    def list_events(self, query: EventQuery) -> list[tuple[int, AuditEvent]]:
        """Recorded events matching ``query``, each with its position (the cursor for
        ``after``), oldest first (newest first if ``query.descending``)."""
        ...

    def last_event_position(self) -> int:
        """The position of the newest recorded event (0 when there is none)."""
        ...

    # -- event hooks (keyrotor.hooks): no cache reads them, so no subject is named ------

    def insert_hook(self, hook: EventHook) -> None: ...

    def update_hook(self, hook: EventHook) -> None:
        """Everything but the id and the creation."""
        ...

    def get_hook(self, hook_id: str, *, lock: bool = False) -> EventHook | None: ...

    def list_hooks(self) -> list[EventHook]:
        """Oldest first."""
        ...

    def delete_hook(self, hook_id: str) -> bool:
        """Whether there was such a hook (its deliveries go with it)."""
        ...

    def lock_receiving_hooks(self) -> list[EventHook]:
        """The ACTIVE, VERIFIED hooks, locked for this transaction; on PostgreSQL a hook
        another transaction holds is skipped (``SKIP LOCKED``)."""
        ...

    def insert_deliveries(self, deliveries: Sequence[Delivery]) -> None: ...

    def claim_deliveries(self, now: datetime, lease: datetime, limit: int) -> list[Delivery]:
        """PENDING deliveries due at ``now``, oldest due first, their next attempt moved to
        ``lease`` so no other worker takes them meanwhile (``SKIP LOCKED`` on PostgreSQL)."""
        ...

    def update_delivery(self, delivery: Delivery) -> None:
        """Its status, attempts, next attempt and outcome."""
        ...

    def list_deliveries(
        self, hook_id: str | None, status: str | None, limit: int
    ) -> list[Delivery]:
        """Newest first."""
        ...

    # -- notice before an AUTO rotation (keyrotor.notices) ---------------------------

    def notices_due(self, now: datetime, notice: timedelta, limit: int) -> list[str]:
        """Servers whose AUTO rotation comes within ``notice`` after ``now`` (and not
        before it) and that were not warned of that rotation yet."""
        ...

    def mark_notice(self, server_id: str, rotation_at: datetime, now: datetime) -> bool:
        """Note that the server was warned of its rotation at ``rotation_at``; ``False``
        when it already was (call with the server locked)."""
        ...


class Store(Protocol):
    feed: Feed  # what write transactions changed, here and (once watching) elsewhere

    def transaction(self, *, write: bool = False) -> AbstractContextManager[Transaction]: ...

    def check(self) -> None:
        """Raise ``StoreUnavailable`` unless the store answers now."""
        ...

    def watch(self) -> None:
        """Start hearing of other processes' commits, so caches may trust ``feed``."""
        ...

    def close(self) -> None: ...
