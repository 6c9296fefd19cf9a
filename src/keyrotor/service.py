"""Use cases: authorization servers, their keys, the JWKS, API tokens.

The service holds no state of its own beyond what it is given: a store, a key factory, a
rotation policy and a clock. Due lifecycle steps (an AUTO rotation, a NEXT key whose lead
time has come) are applied whenever a server is read and by ``sweep()``; each is applied in
one write transaction under the server's lock after re-checking that it is still due, so it
happens exactly once however many replicas notice it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from cryptography.exceptions import InvalidTag

from keyrotor import lifecycle
from keyrotor.apitokens import ALL_SCOPES, FIRST_TOKEN_ID, ApiToken, new_token, new_token_value
from keyrotor.clock import Clock, system_clock
from keyrotor.crypto import KeyFactory, token_digest
from keyrotor.errors import NotFound, ValidationFailed
from keyrotor.keys import KeyMaterial, KeyStatus, SigningKey
from keyrotor.lifecycle import Change, RotationPolicy
from keyrotor.servers import (
    DEFAULT_SERVER_ID,
    ORG_SERVER_ID,
    AuthorizationServer,
    IssuerMode,
    RotationMode,
    ServerStatus,
    new_server_id,
)
from keyrotor.storage import Conflict, Store, Transaction

SERVER_TYPE = "AuthorizationServer"
KEY_TYPE = "AuthorizationServerJsonWebKey"


@dataclass(frozen=True, slots=True)
class ServerSpec:
    """What a client may set on a server (create and replace)."""

    name: str
    audiences: tuple[str, ...]
    description: str = ""
    issuer_mode: IssuerMode = IssuerMode.ORG_URL
    rotation_mode: RotationMode | None = None


@dataclass(frozen=True, slots=True)
class Jwks:
    """A server's public JWKS, rendered once: identical bytes on every replica."""

    body: bytes
    etag: str
    max_age: int


@dataclass(frozen=True, slots=True)
class _RenderedJwks:
    """A rendered JWKS, valid for one ``version`` of its server until ``changes_at``."""

    version: int
    body: bytes
    etag: str
    changes_at: datetime | None

    def current(self, version: int, now: datetime) -> bool:
        return version == self.version and (self.changes_at is None or now < self.changes_at)


@dataclass(frozen=True, slots=True)
class Page:
    servers: list[AuthorizationServer]
    next_after: str | None


class KeyService:
    def __init__(
        self,
        store: Store,
        factory: KeyFactory,
        policy: RotationPolicy | None = None,
        clock: Clock = system_clock,
        jwks_max_age: int = 3600,
    ) -> None:
        self.store = store
        self.factory = factory
        self.policy = policy or RotationPolicy()
        self.clock = clock
        self.jwks_max_age = jwks_max_age
        self._jwks_cache: dict[str, _RenderedJwks] = {}

    # -- authorization servers -------------------------------------------------------

    def ensure_default(self) -> None:
        """The built-in ``default`` server exists in every store (safe to race)."""
        spec = ServerSpec(
            name="default", audiences=("api://default",), description="Default Authorization Server"
        )
        self.ensure_server(DEFAULT_SERVER_ID, spec)

    def ensure_server(self, server_id: str, spec: ServerSpec) -> None:
        """A server with this fixed id exists (made with ``spec`` if not; safe to race)."""
        with self.store.transaction() as tx:
            if tx.get_server(server_id):
                return
        with contextlib.suppress(Conflict):  # another replica made it first
            self._create(server_id, spec)

    def create_server(self, spec: ServerSpec) -> AuthorizationServer:
        return self._create(new_server_id(), spec)

    def _create(self, server_id: str, spec: ServerSpec) -> AuthorizationServer:
        now = self.clock()
        draft = AuthorizationServer(
            id=server_id,
            name=spec.name,
            description=spec.description,
            audiences=spec.audiences,
            issuer_mode=spec.issuer_mode,
            rotation_mode=spec.rotation_mode or RotationMode.AUTO,
            created=now,
            last_updated=now,
            last_rotated=now,
        )
        fresh = self._fresh(self.factory.generate(), self.factory.generate())
        change = lifecycle.first_keys(draft, now, self.policy, fresh)
        with self.store.transaction(write=True) as tx:
            tx.insert_server(change.server)
            tx.insert_keys(change.added)
        return change.server

    def get_server(self, server_id: str) -> AuthorizationServer:
        return self._settled(server_id)[0]

    def list_servers(self, q: str | None, limit: int, after: str | None) -> Page:
        position = _parse_cursor(after)
        with self.store.transaction() as tx:
            # one more than asked, and one more for the hidden org server
            rows = tx.list_servers(q, limit + 2, position)
        rows = [row for row in rows if row[1].id != ORG_SERVER_ID]
        servers = [self._settled(s.id)[0] for _, s in rows[:limit]]
        more = len(rows) > limit
        return Page(servers=servers, next_after=str(rows[limit - 1][0]) if more else None)

    def replace_server(self, server_id: str, spec: ServerSpec) -> AuthorizationServer:
        self._settled(server_id)
        with self.store.transaction(write=True) as tx:
            server = self._locked(tx, server_id)
            now = self.clock()
            if spec.rotation_mode is not None:
                server = lifecycle.change_mode(server, spec.rotation_mode, now, self.policy)
            server = dataclasses.replace(
                server,
                name=spec.name,
                description=spec.description,
                audiences=spec.audiences,
                issuer_mode=spec.issuer_mode,
                last_updated=now,
            )
            tx.update_server(server)
            return server

    def set_status(self, server_id: str, status: ServerStatus) -> None:
        with self.store.transaction(write=True) as tx:
            server = self._locked(tx, server_id)
            if server.status is not status:
                tx.update_server(
                    dataclasses.replace(server, status=status, last_updated=self.clock())
                )

    def delete_server(self, server_id: str) -> None:
        with self.store.transaction(write=True) as tx:
            server = self._locked(tx, server_id)
            if server.id == DEFAULT_SERVER_ID:
                raise ValidationFailed(
                    "authorizationServer", "The default authorization server cannot be deleted."
                )
            if server.is_active:
                raise ValidationFailed(
                    "authorizationServer",
                    "Deactivate the authorization server before deleting it.",
                )
            tx.delete_server(server_id)

    # -- keys ------------------------------------------------------------------------

    def list_keys(self, server_id: str) -> list[SigningKey]:
        _, keys = self._settled(server_id)
        return lifecycle.published(keys, self.clock(), self.policy)

    def get_key(self, server_id: str, kid: str) -> SigningKey:
        for key in self.list_keys(server_id):
            if key.kid == kid:
                return key
        raise NotFound(kid, KEY_TYPE)

    def rotate(self, server_id: str) -> list[SigningKey]:
        """Manual rotation, in either mode and on INACTIVE servers; answers the key list."""
        self._settled(server_id)
        fresh = self._fresh(self.factory.generate())
        with self.store.transaction(write=True) as tx:
            server = self._locked(tx, server_id)
            now = self.clock()
            keys = tx.keys(server_id)
            change = lifecycle.rotate(server, keys, now, self.policy, fresh)
            self._apply(tx, change)
        return lifecycle.published(change.applied_to(keys), now, self.policy)

    def active_key(self, server_id: str) -> tuple[AuthorizationServer, SigningKey]:
        """The server and the key it signs with at this instant."""
        server, keys = self._settled(server_id)
        return server, lifecycle.only(keys, KeyStatus.ACTIVE)

    def opens_stored_keys(self) -> bool:
        """Whether this replica's key-encryption key opens the keys already stored: every
        replica of one database must share it (checked on ``default``'s ACTIVE key)."""
        _, key = self.active_key(DEFAULT_SERVER_ID)
        try:
            self.factory.sign(key.sealed_private, key.kid, {})
        except (InvalidTag, ValueError):
            return False
        return True

    def jwks(self, server_id: str) -> Jwks:
        """The public JWKS of an ACTIVE server (INACTIVE ones are not found).

        Each call reads the server row, so a rotation made by any replica shows at once;
        the rendering is reused while the server's ``version`` is the same and no scheduled
        change (a due rotation, a retained key leaving) has come.
        """
        now = self.clock()
        with self.store.transaction() as tx:
            server = tx.get_server(server_id)
        if server is None or not server.is_active:
            self._jwks_cache.pop(server_id, None)
            raise NotFound(server_id, SERVER_TYPE)
        rendered = self._jwks_cache.get(server_id)
        if rendered is None or not rendered.current(server.version, now):
            rendered = self._render_jwks(server_id)
            self._jwks_cache[server_id] = rendered
        max_age = self.jwks_max_age
        if rendered.changes_at is not None:
            max_age = max(0, min(max_age, int((rendered.changes_at - now).total_seconds())))
        return Jwks(body=rendered.body, etag=rendered.etag, max_age=max_age)

    def _render_jwks(self, server_id: str) -> _RenderedJwks:
        server, keys = self._settled(server_id)
        now = self.clock()
        shown = lifecycle.published(keys, now, self.policy)
        body = json.dumps({"keys": [k.public_jwk() for k in shown]}, separators=(",", ":"))
        data = body.encode()
        return _RenderedJwks(
            version=server.version,
            body=data,
            etag='"' + hashlib.sha256(data).hexdigest()[:32] + '"',
            changes_at=lifecycle.next_change(server, keys, now, self.policy),
        )

    def sweep(self) -> int:
        """Apply every due lifecycle step on every server; answers how many were applied."""
        applied = 0
        for server in self.all_servers():
            with self.store.transaction() as tx:
                keys = tx.keys(server.id)
            if self._due(server, keys, self.clock()):
                with contextlib.suppress(NotFound):  # deleted meanwhile, perhaps elsewhere
                    applied += self._apply_due(server.id)
        return applied

    # -- API tokens ------------------------------------------------------------------

    def create_token(
        self, name: str, scopes: Sequence[str], value: str | None = None
    ) -> tuple[ApiToken, str]:
        """A new API token; its value is returned once and only its digest is stored."""
        value = value or new_token_value()
        token = new_token(name, tuple(scopes), self.clock(), value)
        # a Conflict: another replica registered the same value at this instant (bootstrap)
        with contextlib.suppress(Conflict), self.store.transaction(write=True) as tx:
            if tx.find_token(token.digest) is None:
                tx.insert_token(token)
        return token, value

    def create_first_token(self) -> str | None:
        """The admin token of a new store (both scopes), or ``None`` if the store has tokens.

        Replicas starting together on a new database race here; the token's fixed id makes
        the database pick one winner, so only one token is ever made and printed.
        """
        value = new_token_value()
        token = new_token("admin", ALL_SCOPES, self.clock(), value, token_id=FIRST_TOKEN_ID)
        try:
            with self.store.transaction(write=True) as tx:
                if tx.list_tokens():
                    return None
                tx.insert_token(token)
        except Conflict:
            return None
        return value

    def authenticate(self, value: str) -> ApiToken | None:
        if not value:
            return None
        with self.store.transaction() as tx:
            return tx.find_token(token_digest(value))

    def list_tokens(self) -> list[ApiToken]:
        with self.store.transaction() as tx:
            return tx.list_tokens()

    # -- internals -------------------------------------------------------------------

    def _settled(self, server_id: str) -> tuple[AuthorizationServer, list[SigningKey]]:
        """The server and all its keys, after applying any lifecycle step that is due."""
        with self.store.transaction() as tx:
            server = tx.get_server(server_id)
            keys = tx.keys(server_id) if server else []
        if server is None:
            raise NotFound(server_id, SERVER_TYPE)
        if self._due(server, keys, self.clock()):
            self._apply_due(server_id)
            with self.store.transaction() as tx:
                server = tx.get_server(server_id) or server
                keys = tx.keys(server_id)
        return server, keys

    def _due(self, server: AuthorizationServer, keys: list[SigningKey], now: datetime) -> bool:
        return lifecycle.rotation_due(server, now) or lifecycle.next_key_due(
            server, keys, now, self.policy
        )

    def _apply_due(self, server_id: str) -> int:
        fresh = self._fresh(self.factory.generate())
        with self.store.transaction(write=True) as tx:
            server = self._locked(tx, server_id)
            keys = tx.keys(server_id)
            now = self.clock()
            if lifecycle.rotation_due(server, now):
                self._apply(tx, lifecycle.rotate(server, keys, now, self.policy, fresh))
                return 1
            if lifecycle.next_key_due(server, keys, now, self.policy):
                self._apply(tx, lifecycle.add_next_key(server, keys, now, fresh))
                return 1
            return 0  # another request or replica applied it first

    @staticmethod
    def _apply(tx: Transaction, change: Change) -> None:
        tx.update_keys(change.updated)
        tx.insert_keys(change.added)
        tx.update_server(change.server)

    @staticmethod
    def _locked(tx: Transaction, server_id: str) -> AuthorizationServer:
        server = tx.get_server(server_id, lock=True)
        if server is None:
            raise NotFound(server_id, SERVER_TYPE)
        return server

    def all_servers(self) -> Iterator[AuthorizationServer]:
        """Every server, page by page (for the sweep and the CLI)."""
        after = None
        while True:
            with self.store.transaction() as tx:
                rows = tx.list_servers(None, 200, after)
            yield from (server for _, server in rows)
            if len(rows) < 200:
                return
            after = rows[-1][0]

    def _fresh(self, *ready: KeyMaterial) -> Callable[[], KeyMaterial]:
        """Keys generated before the lock is taken, then more on demand."""
        queue = list(ready)
        return lambda: queue.pop(0) if queue else self.factory.generate()


def _parse_cursor(after: str | None) -> int | None:
    if after is None or after == "":
        return None
    if not after.isdigit() or len(after) > 18:
        raise ValidationFailed("after", "Invalid value specified for the 'after' parameter")
    return int(after)
