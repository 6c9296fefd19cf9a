"""The storage interface: one small unit of work per use case.

A ``Transaction`` commits when its ``with`` block ends normally and rolls back when it
raises; a crash anywhere inside leaves the old state. ``get_server(…, lock=True)``
serialises writers of one server (a row lock in PostgreSQL, the write lock in SQLite).
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import Protocol

from keyrotor.apitokens import ApiToken
from keyrotor.clients import OAuthClient
from keyrotor.grants import Grant
from keyrotor.keys import KeyMaterial, SigningKey
from keyrotor.scopes import Scope
from keyrotor.servers import AuthorizationServer
from keyrotor.storage.feed import Feed


class Conflict(Exception):
    """A write clashed with a row that already exists (say, two replicas creating one id)."""


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

    def insert_token(self, token: ApiToken) -> None: ...

    def find_token(self, digest: str) -> ApiToken | None: ...

    def list_tokens(self) -> list[ApiToken]: ...

    def insert_client(self, client: OAuthClient) -> None: ...

    def update_client(self, client: OAuthClient) -> None:
        """Everything but the id, the creation time and the grants."""
        ...

    def get_client(self, client_id: str) -> OAuthClient | None:
        """The client, with ``org_scopes`` from its grants."""
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
