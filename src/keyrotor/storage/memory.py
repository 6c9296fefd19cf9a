"""An in-memory store for unit tests: one lock, copy-on-write transactions."""

from __future__ import annotations

import copy
import dataclasses
import threading
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from keyrotor import audit, lifecycle
from keyrotor.apitokens import ApiToken
from keyrotor.audit import AuditEvent, EventQuery
from keyrotor.client_jwks import ClientJwk
from keyrotor.client_secrets import ClientSecret
from keyrotor.clients import OAuthClient
from keyrotor.crypto import UNBOUND
from keyrotor.encryption import EncryptionKey
from keyrotor.grants import Grant
from keyrotor.hooks import Delivery, EventHook
from keyrotor.keys import KeyMaterial, KeyStatus, SigningKey
from keyrotor.lifecycle import RotationPolicy
from keyrotor.scopes import Scope
from keyrotor.servers import AuthorizationServer
from keyrotor.storage.base import RESEALED, Conflict, SealedKey
from keyrotor.storage.feed import Feed
from keyrotor.storage.memory_encryption import EncryptionMemory
from keyrotor.storage.memory_hooks import HookMemory


@dataclass
class _State:
    servers: dict[str, tuple[int, AuthorizationServer]] = field(default_factory=dict)
    keys: dict[str, SigningKey] = field(default_factory=dict)
    tokens: dict[str, ApiToken] = field(default_factory=dict)
    clients: dict[str, OAuthClient] = field(default_factory=dict)
    scopes: dict[str, Scope] = field(default_factory=dict)
    grants: dict[str, Grant] = field(default_factory=dict)
    jwks: dict[str, ClientJwk] = field(default_factory=dict)  # clients' keys by id
    secrets: dict[str, ClientSecret] = field(default_factory=dict)  # clients' secrets by id
    encryption_keys: dict[str, EncryptionKey] = field(default_factory=dict)  # servers' by id
    jtis: dict[tuple[str, str], datetime] = field(default_factory=dict)
    pool: list[KeyMaterial] = field(default_factory=list)
    hooks: dict[str, EventHook] = field(default_factory=dict)  # event hooks by id
    deliveries: dict[str, Delivery] = field(default_factory=dict)  # their deliveries by id
    notices: dict[str, datetime] = field(default_factory=dict)  # rotation warned of, by server
    seq: int = 0


class MemoryTransaction(EncryptionMemory, HookMemory):
    _s: _State  # what each mixin reads of it, its own Protocol says

    def __init__(self, state: _State) -> None:
        self._s = state
        self.touched: set[str] = set()
        self.events: list[AuditEvent] = []  # recorded by this transaction (keyrotor.audit)
        self.committed_events: Sequence[tuple[int, AuditEvent]] = ()  # the store's record
        self._transaction_id = ""

    def get_server(self, server_id: str, *, lock: bool = False) -> AuthorizationServer | None:
        entry = self._s.servers.get(server_id)
        return entry[1] if entry else None

    def list_servers(
        self, q: str | None, limit: int, after: int | None
    ) -> list[tuple[int, AuthorizationServer]]:
        rows = sorted(self._s.servers.values(), key=lambda e: e[0])
        rows = [e for e in rows if after is None or e[0] > after]
        if q:
            needle = q.lower()
            rows = [
                e
                for e in rows
                if needle in e[1].name.lower() or any(needle in a.lower() for a in e[1].audiences)
            ]
        return rows[:limit]

    def insert_server(self, server: AuthorizationServer) -> None:
        self.touched.add(f"s:{server.id}")
        if server.id in self._s.servers:
            raise Conflict(f"server {server.id} exists")
        self._s.seq += 1
        self._s.servers[server.id] = (self._s.seq, server)

    def update_server(self, server: AuthorizationServer) -> None:
        self.touched.add(f"s:{server.id}")
        seq, _ = self._s.servers[server.id]
        self._s.servers[server.id] = (seq, server)

    def delete_server(self, server_id: str) -> None:
        self.touched.add(f"s:{server_id}")
        del self._s.servers[server_id]
        for kid in [k.kid for k in self._s.keys.values() if k.server_id == server_id]:
            del self._s.keys[kid]
        for scope in self.list_scopes(server_id):
            del self._s.scopes[scope.id]
        self.forget_encryption_keys(server_id)

    def keys(self, server_id: str, *, since: datetime | None = None) -> list[SigningKey]:
        found = [k for k in self._s.keys.values() if k.server_id == server_id]
        if since is None:
            return found
        expired = [k for k in found if k.status is KeyStatus.EXPIRED]
        newest = max((k.generation for k in expired), default=None)
        return [
            k
            for k in found
            if k.status is not KeyStatus.EXPIRED
            or (k.expired is not None and k.expired >= since)
            or k.generation == newest
        ]

    def insert_keys(self, keys: Iterable[SigningKey]) -> None:
        for key in keys:
            self.touched.add(f"s:{key.server_id}")
            if key.kid in self._s.keys:
                raise Conflict(f"kid {key.kid} exists")
            self._s.keys[key.kid] = key
            self._check_one_active()

    def update_keys(self, keys: Iterable[SigningKey]) -> None:
        for key in keys:
            self.touched.add(f"s:{key.server_id}")
            old = self._s.keys[key.kid]
            if (old.n, old.e, old.server_id) != (key.n, key.e, key.server_id):
                raise ValueError("key material never changes")
            self._s.keys[key.kid] = key
            self._check_one_active()  # after each key, as the SQL index checks each statement

    # -- API tokens ------------------------------------------------------------------------

    def insert_token(self, token: ApiToken) -> None:
        self.touched.add("t")
        if token.digest in self._s.tokens or self.get_token(token.id) is not None:
            raise Conflict("a token with this value or id exists")
        self._s.tokens[token.digest] = token

    def find_token(self, digest: str) -> ApiToken | None:
        return self._s.tokens.get(digest)

    def get_token(self, token_id: str) -> ApiToken | None:
        return next((t for t in self._s.tokens.values() if t.id == token_id), None)

    def list_tokens(self) -> list[ApiToken]:
        return sorted(self._s.tokens.values(), key=lambda t: (t.created, t.id))

    def revoke_token(self, token_id: str, at: datetime) -> bool:
        self.touched.add("t")
        found = self.get_token(token_id)
        if found is None or found.revoked is not None:
            return False
        self._s.tokens[found.digest] = dataclasses.replace(found, revoked=at)
        return True

    def note_token_uses(self, uses: Mapping[str, datetime]) -> None:
        for token_id, at in uses.items():
            found = self.get_token(token_id)
            if found is not None and (found.last_used is None or found.last_used < at):
                self._s.tokens[found.digest] = dataclasses.replace(found, last_used=at)

    def insert_client(self, client: OAuthClient) -> None:
        self.touched.add(f"c:{client.client_id}")
        if client.client_id in self._s.clients:
            raise Conflict(f"client {client.client_id} exists")
        self._s.clients[client.client_id] = _bare(client)

    def update_client(self, client: OAuthClient) -> None:
        self.touched.add(f"c:{client.client_id}")
        self._s.clients[client.client_id] = _bare(client)

    def get_client(self, client_id: str) -> OAuthClient | None:
        found = self._s.clients.get(client_id)
        if found is None:
            return None
        granted = tuple(g.scope_id for g in self.list_grants(client_id))
        keys = tuple(self.list_client_jwks(client_id))
        secrets = tuple(self.list_client_secrets(client_id))
        return dataclasses.replace(found, org_scopes=granted, keys=keys, secrets=secrets)

    def list_clients(self) -> list[OAuthClient]:
        found = [self.get_client(c) for c in self._s.clients]
        return sorted((c for c in found if c), key=lambda c: (c.created, c.client_id))

    def delete_client(self, client_id: str) -> bool:
        self.touched.add(f"c:{client_id}")
        for grant in self.list_grants(client_id):
            del self._s.grants[grant.id]
        for key in self.list_client_jwks(client_id):
            del self._s.jwks[key.id]
        for secret in self.list_client_secrets(client_id):
            del self._s.secrets[secret.id]
        return self._s.clients.pop(client_id, None) is not None

    def list_client_secrets(self, client_id: str, *, lock: bool = False) -> list[ClientSecret]:
        found = [s for s in self._s.secrets.values() if s.client_id == client_id]
        return sorted(found, key=lambda s: (s.created, s.id))

    def insert_client_secret(self, secret: ClientSecret) -> None:
        """Mirrors the SQL constraints: a unique id, a client that exists."""
        self.touched.add(f"c:{secret.client_id}")
        if secret.id in self._s.secrets or secret.client_id not in self._s.clients:
            raise Conflict(f"secret {secret.id} exists, or client {secret.client_id} does not")
        self._s.secrets[secret.id] = secret

    def update_client_secret(self, secret: ClientSecret) -> None:
        self.touched.add(f"c:{secret.client_id}")
        old = self._s.secrets[secret.id]
        self._s.secrets[secret.id] = dataclasses.replace(
            old, status=secret.status, last_updated=secret.last_updated
        )

    def delete_client_secret(self, client_id: str, secret_id: str) -> bool:
        self.touched.add(f"c:{client_id}")
        found = self._s.secrets.get(secret_id)
        if found is None or found.client_id != client_id:
            return False
        del self._s.secrets[secret_id]
        return True

    def list_client_jwks(self, client_id: str, *, lock: bool = False) -> list[ClientJwk]:
        found = [k for k in self._s.jwks.values() if k.client_id == client_id]
        return sorted(found, key=lambda k: (k.created, k.id))

    def insert_client_jwk(self, key: ClientJwk) -> None:
        """Mirrors the SQL constraints: a unique id, a kid unique per client."""
        self.touched.add(f"c:{key.client_id}")
        same_kid = (k.kid == key.kid for k in self.list_client_jwks(key.client_id))
        if key.id in self._s.jwks or (key.kid is not None and any(same_kid)):
            raise Conflict(f"key {key.id} (kid {key.kid}) exists")
        self._s.jwks[key.id] = key

    def update_client_jwk(self, key: ClientJwk) -> None:
        self.touched.add(f"c:{key.client_id}")
        old = self._s.jwks[key.id]
        self._s.jwks[key.id] = dataclasses.replace(
            old, status=key.status, last_updated=key.last_updated
        )

    def delete_client_jwk(self, client_id: str, key_id: str) -> bool:
        self.touched.add(f"c:{client_id}")
        found = self._s.jwks.get(key_id)
        if found is None or found.client_id != client_id:
            return False
        del self._s.jwks[key_id]
        return True

    def insert_grant(self, grant: Grant) -> None:
        self.touched.add(f"c:{grant.client_id}")
        if any(g.scope_id == grant.scope_id for g in self.list_grants(grant.client_id)):
            raise Conflict(f"{grant.scope_id} is granted to {grant.client_id}")
        self._s.grants[grant.id] = grant

    def list_grants(self, client_id: str) -> list[Grant]:
        found = [g for g in self._s.grants.values() if g.client_id == client_id]
        return sorted(found, key=lambda g: (g.created, g.id))

    def delete_grant(self, client_id: str, grant_id: str) -> bool:
        self.touched.add(f"c:{client_id}")
        found = self._s.grants.get(grant_id)
        if found is None or found.client_id != client_id:
            return False
        del self._s.grants[grant_id]
        return True

    def use_jti(self, issuer: str, jti: str, expires: datetime) -> bool:
        if (issuer, jti) in self._s.jtis:
            return False
        self._s.jtis[(issuer, jti)] = expires
        return True

    def prune_jtis(self, now: datetime) -> int:
        old = [k for k, expires in self._s.jtis.items() if expires < now]
        for k in old:
            del self._s.jtis[k]
        return len(old)

    def insert_scope(self, scope: Scope) -> None:
        self.touched.add(f"s:{scope.server_id}")
        if scope.id in self._s.scopes:
            raise Conflict(f"scope {scope.id} exists")
        self._s.scopes[scope.id] = scope
        self._check_scope_names(scope)

    def update_scope(self, scope: Scope) -> None:
        self.touched.add(f"s:{scope.server_id}")
        self._s.scopes[scope.id] = scope
        self._check_scope_names(scope)

    def get_scope(self, server_id: str, scope_id: str) -> Scope | None:
        scope = self._s.scopes.get(scope_id)
        return scope if scope and scope.server_id == server_id else None

    def list_scopes(self, server_id: str) -> list[Scope]:
        found = [s for s in self._s.scopes.values() if s.server_id == server_id]
        return sorted(found, key=lambda s: (s.created, s.id))

    def delete_scope(self, server_id: str, scope_id: str) -> bool:
        if self.get_scope(server_id, scope_id) is None:
            return False
        self.touched.add(f"s:{server_id}")
        del self._s.scopes[scope_id]
        return True

    def due_servers(self, now: datetime, lead: timedelta | None, limit: int) -> list[str]:
        """The lifecycle's own rules (the SQL backends say the same in a query)."""
        policy = RotationPolicy(next_lead=lead)
        rotations, next_keys = [], []
        for _, server in sorted(self._s.servers.values(), key=lambda e: e[0]):
            if lifecycle.rotation_due(server, now):
                rotations.append(server.id)
            elif lifecycle.next_key_due(server, self.keys(server.id), now, policy):
                next_keys.append(server.id)
        return (rotations + next_keys)[:limit]

    def take_pooled(self) -> KeyMaterial | None:
        return self._s.pool.pop(0) if self._s.pool else None

    def add_pooled(self, material: KeyMaterial, now: datetime) -> None:
        self._s.pool.append(material)

    def count_pooled(self) -> int:
        return len(self._s.pool)

    # -- key-encryption keys (keyrotor.keks): checks and rewrap ---------------------------

    def sealed_sample(self, limit: int) -> list[SealedKey]:
        found: list[SealedKey] = []
        for status in (KeyStatus.ACTIVE, KeyStatus.NEXT):
            keys = sorted(
                (k for k in self._s.keys.values() if k.status is status), key=lambda k: k.server_id
            )
            found += [SealedKey(k.kid, k.server_id, k.sealed_private) for k in keys[:limit]]
        if self._s.pool:
            newest = self._s.pool[-1]
            found.append(SealedKey(newest.kid, None, newest.sealed_private))
        return found

    def active_kids(self) -> list[str]:
        return [k.kid for k in self._s.keys.values() if k.status is KeyStatus.ACTIVE]

    def sealed_keys(self, kids: Sequence[str]) -> list[SealedKey]:
        found = (self._s.keys.get(kid) for kid in kids)
        return [SealedKey(k.kid, k.server_id, k.sealed_private) for k in found if k]

    def sealed_page(self, pooled: bool, after: str | None, limit: int) -> list[SealedKey]:
        if pooled:
            every = [SealedKey(m.kid, None, m.sealed_private) for m in self._s.pool]
        else:
            every = [SealedKey(k.kid, k.server_id, k.sealed_private) for k in self._s.keys.values()]
        later = (k for k in every if after is None or k.kid > after)
        return sorted(later, key=lambda k: k.kid)[:limit]

    def reseal(self, key: SealedKey, sealed_private: bytes) -> bool:
        if key.server_id is None:
            for index, kept in enumerate(self._s.pool):
                if kept.kid == key.kid and kept.sealed_private == key.sealed_private:
                    self._s.pool[index] = dataclasses.replace(kept, sealed_private=sealed_private)
                    return True
            return False
        found = self._s.keys.get(key.kid)
        if found is None or found.sealed_private != key.sealed_private:
            return False
        self._s.keys[key.kid] = dataclasses.replace(found, sealed_private=sealed_private)
        return True

    def note_resealed(self) -> None:
        self.touched.add(RESEALED)

    def unbound_count(self) -> int:
        return sum(1 for k in self._s.keys.values() if k.sealed_private[:1] == UNBOUND)

    def _check_scope_names(self, scope: Scope) -> None:
        """Mirrors the SQL unique constraint on (server, name)."""
        same = [s for s in self.list_scopes(scope.server_id) if s.name == scope.name]
        if len(same) > 1:
            raise Conflict(f"scope name {scope.name} exists")

    def _check_one_active(self) -> None:
        """Mirrors the SQL backends' unique indexes: one ACTIVE and one NEXT key per server."""
        seen: set[tuple[str, KeyStatus]] = set()
        for key in self._s.keys.values():
            if key.status in (KeyStatus.ACTIVE, KeyStatus.NEXT):
                if (key.server_id, key.status) in seen:
                    raise Conflict(f"two {key.status} keys for {key.server_id}")
                seen.add((key.server_id, key.status))

    # -- the audit record (keyrotor.audit): kept by the store, not copied per transaction --

    def record_event(self, event: AuditEvent) -> None:
        if not self.events:
            self._transaction_id = str(uuid.uuid4())
        self.events.append(dataclasses.replace(event, transaction_id=self._transaction_id))

    def list_events(self, query: EventQuery) -> list[tuple[int, AuditEvent]]:
        start = len(self.committed_events) + 1
        rows = [*self.committed_events, *enumerate(self.events, start)]
        rows.sort(key=lambda row: row[0], reverse=query.descending)
        return [row for row in rows if query.matches(*row)][: query.limit]


class MemoryStore:
    """Serialises every transaction; a failed one leaves the state as it was."""

    def __init__(self) -> None:
        self._state = _State()
        self._lock = threading.RLock()
        self.feed = Feed(always_live=True)  # one process: local commits are all there is
        self._events: list[tuple[int, AuditEvent]] = []  # the audit record, append-only

    @contextmanager
    def transaction(self, *, write: bool = False) -> Iterator[MemoryTransaction]:
        with self._lock:
            draft = copy.deepcopy(self._state)
            tx = MemoryTransaction(draft)
            tx.committed_events = self._events
            yield tx
            self._state = draft
            start = len(self._events) + 1
            self._events.extend(enumerate(tx.events, start))
            audit.log_committed(tx.events)
            if tx.touched:
                self.feed.publish(sorted(tx.touched))

    def check(self) -> None:
        return None

    def watch(self) -> None:
        return None

    def close(self) -> None:
        return None


def _bare(client: OAuthClient) -> OAuthClient:
    """A client as its own row holds it: grants, keys and secrets are rows of their own."""
    return dataclasses.replace(client, org_scopes=(), keys=(), secrets=())
