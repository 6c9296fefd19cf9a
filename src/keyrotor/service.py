"""Use cases: authorization servers, their keys, the JWKS (API tokens: ``apitoken_service``).

The service holds no state of its own beyond what it is given (a store, a key factory, a
rotation policy and a clock) and caches of what it read. Reads are answered from a cached
``Snapshot`` of the server while the store's change feed is live and nothing it names has
changed (``keyrotor.cache``); otherwise from one read transaction.

Due lifecycle steps (an AUTO rotation, a NEXT key whose lead time has come) are applied
whenever a server is read and by ``sweep()``; each is applied in one write transaction
under the server's lock after re-checking that it is still due, so it happens exactly once
however many replicas notice it. New keys come from the pool of pre-generated keys
(``keyrotor.keypool``), taken inside that transaction; only when it is empty is a key
generated while a caller waits.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from cryptography.exceptions import InvalidTag

from keyrotor import audit, lifecycle, notices, snapshots
from keyrotor.apitoken_service import ApiTokenService
from keyrotor.apitokens import ApiToken
from keyrotor.audit import SYSTEM, Actor, AuditEvent, EventQuery
from keyrotor.cache import EVERYTHING, Cache, route
from keyrotor.clock import Clock, system_clock
from keyrotor.crypto import KeyFactory
from keyrotor.encryption_service import EncryptionService, settle_server
from keyrotor.errors import NotFound, ValidationFailed
from keyrotor.keys import KeyMaterial, KeyStatus, SigningKey
from keyrotor.lifecycle import Change, RotationPolicy
from keyrotor.metrics import ServiceMetrics
from keyrotor.scopes import Scope
from keyrotor.servers import (
    DEFAULT_SERVER_ID,
    ORG_SERVER_ID,
    AuthorizationServer,
    RotationMode,
    ServerSpec,
    ServerStatus,
    new_server_id,
)
from keyrotor.snapshots import Jwks, Snapshot
from keyrotor.storage import Conflict, Store, Transaction

SERVER_TYPE = "AuthorizationServer"
KEY_TYPE = "AuthorizationServerJsonWebKey"
SWEEP_BATCH = 500
ORG_SPEC = ServerSpec(
    name="org", audiences=("org",), description="The org authorization server (management API)"
)
PRUNE_EVERY = timedelta(minutes=1)  # how often a sweep forgets expired JWT ids
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page:
    servers: list[AuthorizationServer]
    next_after: str | None
    memo: dict[object, object] = field(default_factory=dict, compare=False)  # renderings


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
        self._snapshots: Cache[Snapshot] = Cache(max_entries=20_000)
        self.api_tokens = ApiTokenService(store, clock)  # API tokens: their own module
        self.encryption = EncryptionService(self)  # access-token encryption keys
        self._pages: Cache[Page] = Cache(max_entries=1_000)  # server lists, by query
        self._fills = [threading.RLock() for _ in range(64)]  # striped by server id
        self._pruned: datetime | None = None
        self.metrics = ServiceMetrics()  # tokens, rotations: counted for /metrics
        self.rotation_notice: timedelta | None = None  # keyrotor.notices; set by runtime
        store.feed.subscribe(self._changed)

    def _changed(self, subjects: list[str]) -> None:
        route(subjects, "s:", self._snapshots)
        if any(s.startswith("s:") or s == EVERYTHING for s in subjects):
            self._pages.clear()  # any server's change may change any page

    # -- authorization servers -------------------------------------------------------

    def ensure_default(self) -> None:
        """The built-in servers exist in every store (safe to race): ``default``, and the
        hidden org server, made here so that no request ever makes it (nor its keys)."""
        spec = ServerSpec(
            name="default", audiences=("api://default",), description="Default Authorization Server"
        )
        self.ensure_server(DEFAULT_SERVER_ID, spec)
        self.ensure_server(ORG_SERVER_ID, ORG_SPEC)

    def ensure_server(self, server_id: str, spec: ServerSpec) -> None:
        """A server with this fixed id exists (made with ``spec`` if not; safe to race)."""
        with self.store.transaction() as tx:
            if tx.get_server(server_id):
                return
        with contextlib.suppress(Conflict):  # another replica made it first
            self._create(server_id, spec, SYSTEM)

    def create_server(self, spec: ServerSpec, actor: Actor = SYSTEM) -> AuthorizationServer:
        return self._create(new_server_id(), spec, actor)

    def _create(self, server_id: str, spec: ServerSpec, actor: Actor) -> AuthorizationServer:
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
            encryption_alg=spec.encryption_alg,
        )

        def create(tx: Transaction, fresh: _Fresh) -> AuthorizationServer:
            change = lifecycle.first_keys(draft, now, self.policy, fresh)
            tx.insert_server(change.server)
            tx.insert_keys(self._bound(change.added))
            tx.record_event(audit.server_created(change.server, actor, now))
            self._record(tx, change, None, [], actor, trigger="CREATE")
            return settle_server(tx, change.server, spec, actor, now)  # its encryption keys

        return self._writing(create)

    def get_server(self, server_id: str) -> AuthorizationServer:
        return self.snapshot(server_id).server

    def peek_page(
        self, q: str | None, limit: int, after: str | None, now: datetime | None = None
    ) -> Page | None:
        """A cached page of the server list, if one can be trusted now; never blocks."""
        if not self.store.feed.live:
            return None
        return self._pages.peek(_page_key(q, limit, after), now or self.clock())

    def list_servers(self, q: str | None, limit: int, after: str | None) -> Page:
        found = self.peek_page(q, limit, after)
        if found is not None:
            return found
        with self._fills[hash((q, limit, after)) % len(self._fills)]:  # one fill at a time
            return self.peek_page(q, limit, after) or self._list_servers(q, limit, after)

    def _list_servers(self, q: str | None, limit: int, after: str | None) -> Page:
        position = _parse_cursor(after)
        ticket = self._pages.ticket()
        with self.store.transaction() as tx:
            # one more than asked, and one more for the hidden org server
            rows = tx.list_servers(q, limit + 2, position)
        rows = [row for row in rows if row[1].id != ORG_SERVER_ID]
        servers = [self._current(s) for _, s in rows[:limit]]
        more = len(rows) > limit
        page = Page(servers=servers, next_after=str(rows[limit - 1][0]) if more else None)
        if self.store.feed.live:
            now = self.clock()
            until = min([now + snapshots.MAX_AGE, *(self._next_step(s, now) for s in servers)])
            self._pages.put(_page_key(q, limit, after), page, ticket, until)
        return page

    def _next_step(self, server: AuthorizationServer, now: datetime) -> datetime:
        """When a due step may next change how ``server`` looks, whatever anyone does."""
        due = server.next_rotation if server.rotation_mode is RotationMode.AUTO else None
        if due is None:
            return datetime.max.replace(tzinfo=UTC)
        lead = self.policy.next_lead
        return due - lead if lead is not None and now < due - lead else due

    def _current(self, server: AuthorizationServer) -> AuthorizationServer:
        """A listed server as reads show it: its snapshot when one is cached and current,
        else read again (which applies any step that is due)."""
        found = self.peek(server.id)
        if found is not None and found.server.version == server.version:
            return found.server
        return self.snapshot(server.id).server

    def replace_server(
        self, server_id: str, spec: ServerSpec, actor: Actor = SYSTEM
    ) -> AuthorizationServer:
        return self._writing(lambda tx, fresh: self._replace(tx, fresh, server_id, spec, actor))

    def _replace(
        self, tx: Transaction, fresh: _Fresh, server_id: str, spec: ServerSpec, actor: Actor
    ) -> AuthorizationServer:
        server, _, _ = self._settled_locked(tx, server_id, fresh)
        before, now = server, self.clock()
        if spec.rotation_mode is not None:
            server = lifecycle.change_mode(server, spec.rotation_mode, now, self.policy)
        server = dataclasses.replace(
            server,
            name=spec.name,
            description=spec.description,
            audiences=spec.audiences,
            issuer_mode=spec.issuer_mode,
            last_updated=now,
            encryption_alg=spec.encryption_alg,
        )
        tx.update_server(server)
        for made in audit.server_updated(before, server, actor, now):
            tx.record_event(made)
        return settle_server(tx, server, spec, actor, now)  # its encryption keys

    def set_status(self, server_id: str, status: ServerStatus, actor: Actor = SYSTEM) -> None:
        with self.store.transaction(write=True) as tx:
            server = self._locked(tx, server_id)
            if server.status is not status:
                now = self.clock()
                tx.update_server(dataclasses.replace(server, status=status, last_updated=now))
                tx.record_event(audit.server_status(server, status, actor, now))

    def delete_server(self, server_id: str, actor: Actor = SYSTEM) -> None:
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
            kids = [k.kid for k in tx.keys(server_id)]
            self.factory.forget(kids)
            tx.delete_server(server_id)
            tx.record_event(audit.server_deleted(server, len(kids), actor, self.clock()))

    # -- keys ------------------------------------------------------------------------

    def list_keys(self, server_id: str) -> list[SigningKey]:
        return list(self.snapshot(server_id).keys)

    def get_key(self, server_id: str, kid: str) -> SigningKey:
        for key in self.snapshot(server_id).keys:
            if key.kid == kid:
                return key
        raise NotFound(kid, KEY_TYPE)

    def rotate(self, server_id: str, actor: Actor = SYSTEM) -> list[SigningKey]:
        """Manual rotation, in either mode and on INACTIVE servers; answers the key list.

        One write transaction: any step already due first, then the rotation, with keys
        from the pool (generated here only when the pool is empty); ``actor`` asked for it.
        """

        def rotate(tx: Transaction, fresh: _Fresh) -> list[SigningKey]:
            server, keys, _ = self._settled_locked(tx, server_id, fresh)
            now = self.clock()
            change = lifecycle.rotate(server, keys, now, self.policy, fresh)
            self._apply(tx, change, server, keys, actor, trigger="MANUAL")
            return lifecycle.published(change.applied_to(keys), now, self.policy)

        return self._writing(rotate)

    def revoke_key(self, server_id: str, kid: str, actor: Actor = SYSTEM) -> SigningKey:
        """Emergency revoke of one key (keyrotor's extension); answers it, REVOKED.

        One write transaction under the server's lock: any step already due first, then
        ``lifecycle.revoke`` (an ACTIVE key is succeeded as a rotation would, with keys
        from the pool). Any key the server ever had can be revoked, a retired one too;
        revoking a REVOKED key again writes and records nothing.
        """

        def revoke(tx: Transaction, fresh: _Fresh) -> SigningKey:
            server, keys, _ = self._settled_locked(tx, server_id, fresh)
            if all(k.kid != kid for k in keys):  # retired: not among the keys read
                keys = [*keys, *(k for k in tx.keys(server_id) if k.kid == kid)]
            try:
                change = lifecycle.revoke(server, keys, kid, self.clock(), self.policy, fresh)
            except KeyError:
                raise NotFound(kid, KEY_TYPE) from None
            if change.updated:
                self._apply(tx, change, server, keys, actor, trigger="REVOKE")
            return next(k for k in change.applied_to(keys) if k.kid == kid)

        revoked = self._writing(revoke)
        self.factory.forget([kid])  # its opened private key: never used again here
        return revoked

    def active_key(self, server_id: str) -> tuple[AuthorizationServer, SigningKey]:
        """The server and the key it signs with at this instant."""
        found = self.snapshot(server_id)
        return found.server, found.active

    def jwks(self, server_id: str) -> Jwks:
        """The public JWKS of an ACTIVE server (INACTIVE ones are not found)."""
        found = self.snapshot(server_id)
        if not found.server.is_active:
            raise NotFound(server_id, SERVER_TYPE)
        return found.jwks(self.clock(), self.jwks_max_age)

    # -- snapshots: what reads are answered from -------------------------------------

    def peek(self, server_id: str, now: datetime | None = None) -> Snapshot | None:
        """The cached snapshot of a server, if one can be trusted now; never blocks."""
        if not self.store.feed.live:
            return None
        return self._snapshots.peek(server_id, now or self.clock())

    def snapshot(self, server_id: str) -> Snapshot:
        """The server as reads see it, after applying any lifecycle step that is due: from
        the cache, else from one read transaction (and then cached)."""
        found = self.peek(server_id)
        if found is not None:
            return found
        if not self.store.feed.live:  # nothing is cached: no fill to wait for
            return self.snapshot_with(server_id, lambda tx: None)[0]
        # one fill at a time per server: requests that missed together wait for the first
        # one's read instead of all reading the store at once
        with self._fills[hash(server_id) % len(self._fills)]:
            return self.peek(server_id) or self.snapshot_with(server_id, lambda tx: None)[0]

    def snapshot_with(self, server_id: str, also: Callable[[Transaction], T]) -> tuple[Snapshot, T]:
        """A fresh snapshot and ``also``, read in the same transaction."""
        ticket = self._snapshots.ticket()
        with self.store.transaction() as tx:
            read, extra = self._read(tx, server_id), also(tx)
        for _ in range(3):  # a rotation, then its NEXT key if the pool had none
            if not self._due(read[0], read[1], self.clock()):
                break
            self._apply_due(server_id)
            ticket = self._snapshots.ticket()
            with self.store.transaction() as tx:
                read = self._read(tx, server_id)
        server, keys, scopes = read
        made = snapshots.build(server, keys, scopes, self.clock(), self.policy)
        self._open_signers(made, keys)
        if self.store.feed.live:
            self._snapshots.put(server_id, made, ticket, made.valid_until)
        return made, extra

    def _open_signers(self, made: Snapshot, keys: list[SigningKey]) -> None:
        """Keep the ACTIVE and NEXT keys opened (NEXT, so its promotion costs nothing);
        forget the ones that stopped signing."""
        live = (KeyStatus.ACTIVE, KeyStatus.NEXT)
        for key in made.keys:
            if key.status in live:  # open() returns an opened key at once
                with contextlib.suppress(InvalidTag, ValueError):  # else it fails at signing
                    self.factory.open(key.sealed_private, key.kid, key.server_id)
        self.factory.forget(k.kid for k in keys if k.status not in live)

    def sweep(self) -> int:
        """Apply every due lifecycle step on every server; answers how many were applied.

        Rotations come first; a rotation that finds the pool empty leaves its new NEXT key
        for a later step, so a sweep over many servers never waits on key generation
        before it has rotated them all.
        """
        applied = 0
        while True:
            lead = self.policy.next_lead
            with self.store.transaction() as tx:
                due = tx.due_servers(self.clock(), lead, SWEEP_BATCH)
            done = 0
            for server_id in due:
                with contextlib.suppress(NotFound):  # deleted meanwhile, perhaps elsewhere
                    done += self._apply_due(server_id, noticed_by="sweep")
            applied += done
            if not done:  # nothing left that this replica could apply
                # notice before change: AUTO rotations now within the notice, once each
                notices.warn_upcoming(self.store, self.clock, self.rotation_notice)
                self._prune()
                return applied

    def _prune(self) -> None:
        """Forget the JWT ids (assertions, DPoP proofs) that can no longer be replayed."""
        now = self.clock()
        if self._pruned is None or now - self._pruned >= PRUNE_EVERY:
            with self.store.transaction(write=True) as tx:
                tx.prune_jtis(now)
            self._pruned = now

    # -- API tokens (``ApiTokenService``; these delegate, for the callers that hold this) --

    def create_token(
        self,
        name: str,
        scopes: Sequence[str],
        value: str | None = None,
        expires: datetime | None = None,
    ) -> tuple[ApiToken, str]:
        return self.api_tokens.create(name, scopes, value, expires)

    def create_first_token(self) -> str | None:
        return self.api_tokens.create_first()

    def cached_token(self, value: str, now: datetime | None = None) -> ApiToken | None:
        return self.api_tokens.cached(value, now)

    def authenticate(self, value: str) -> ApiToken | None:
        return self.api_tokens.authenticate(value)

    def list_tokens(self) -> list[ApiToken]:
        return self.api_tokens.list_active()

    # -- the audit record (``keyrotor.audit``) -----------------------------------------

    def events(self, query: EventQuery) -> list[tuple[int, AuditEvent]]:
        """Recorded events and their positions, read in one transaction."""
        with self.store.transaction() as tx:
            return tx.list_events(query)

    # -- internals -------------------------------------------------------------------

    def _due(self, server: AuthorizationServer, keys: list[SigningKey], now: datetime) -> bool:
        return lifecycle.rotation_due(server, now) or lifecycle.next_key_due(
            server, keys, now, self.policy
        )

    def _writing(self, work: Callable[[Transaction, _Fresh], T]) -> T:
        """``work`` in one write transaction, with new keys from the pool. When the pool is
        empty, the transaction is rolled back, a key is generated outside any lock, and
        ``work`` runs again with it: no lock is ever held during RSA generation."""
        ready: list[KeyMaterial] = []
        started = time.perf_counter()
        while True:
            try:
                with self.store.transaction(write=True) as tx:
                    fresh = _Fresh(tx, list(ready))
                    done = work(tx, fresh)
                    fresh.put_back(self.clock())
            except _NeedKey:
                self.metrics.rolled_back()
                ready.append(self.factory.generate())
                self.metrics.key_generated()
                continue
            except BaseException:
                self.metrics.rolled_back()
                raise
            self.metrics.committed(time.perf_counter() - started)  # its rotations, if any
            return done

    def _settled_locked(
        self,
        tx: Transaction,
        server_id: str,
        fresh: _Fresh,
        *,
        defer_next: bool = False,
        noticed_by: str = "write",
    ) -> tuple[AuthorizationServer, list[SigningKey], bool]:
        """Inside a write transaction: lock the server, apply a step that is due; the server
        and its keys after it, and whether one was applied (``noticed_by``: what applied
        it, for the audit record).

        The keys read include the EXPIRED ones published since the last rotation, so the
        record of a rotation names every key it retires (``audit.key_events``)."""
        server = self._locked(tx, server_id)
        now = self.clock()
        keys = self._keys(tx, server_id, since=min(server.last_rotated, now))
        change = self._due_change(server, keys, now, fresh, defer_next=defer_next)
        if change is None:
            return server, keys, False
        self._apply(tx, change, server, keys, SYSTEM, trigger="AUTO", noticed_by=noticed_by)
        return change.server, change.applied_to(keys), True

    def _due_change(
        self,
        server: AuthorizationServer,
        keys: list[SigningKey],
        now: datetime,
        fresh: _Fresh,
        *,
        defer_next: bool = False,
    ) -> Change | None:
        if lifecycle.rotation_due(server, now):
            return lifecycle.rotate(server, keys, now, self.policy, fresh, defer_next=defer_next)
        if lifecycle.next_key_due(server, keys, now, self.policy):
            return lifecycle.add_next_key(server, keys, now, fresh)
        return None

    def _apply_due(self, server_id: str, noticed_by: str = "read") -> int:
        """Apply the step due on one server, if still due; answers 1 if one was applied.

        A rotation that finds no key at hand leaves its new NEXT key for later, so a sweep
        over many servers rotates them all before it generates any key.
        """

        def step(tx: Transaction, fresh: _Fresh) -> int:
            defer_next = not fresh.at_hand()
            settled = self._settled_locked(
                tx, server_id, fresh, defer_next=defer_next, noticed_by=noticed_by
            )
            return int(settled[2])

        return self._writing(step)

    def _read(
        self, tx: Transaction, server_id: str
    ) -> tuple[AuthorizationServer, list[SigningKey], list[Scope]]:
        server = tx.get_server(server_id)
        if server is None:
            raise NotFound(server_id, SERVER_TYPE)
        server = dataclasses.replace(server, encryption_keys=tuple(tx.encryption_keys(server_id)))
        return server, self._keys(tx, server_id), tx.list_scopes(server_id)

    def _keys(
        self, tx: Transaction, server_id: str, since: datetime | None = None
    ) -> list[SigningKey]:
        """The keys the lifecycle can still act on or publish at ``since`` (now if not
        given) or later; retired ones stay stored."""
        return tx.keys(server_id, since=(since or self.clock()) - self.policy.retention)

    def _apply(
        self,
        tx: Transaction,
        change: Change,
        before: AuthorizationServer,
        keys_before: list[SigningKey],
        actor: Actor,
        *,
        trigger: str,
        noticed_by: str | None = None,
    ) -> None:
        """Write a lifecycle change and, in the same transaction, its audit record."""
        tx.update_keys(change.updated)
        tx.insert_keys(self._bound(change.added))
        tx.update_server(change.server)
        self._record(tx, change, before, keys_before, actor, trigger, noticed_by)
        if change.server.kid != before.kid:  # a rotation: counted once it commits
            self.metrics.rotation_applied(trigger)

    def _bound(self, added: Iterable[SigningKey]) -> list[SigningKey]:
        """New keys sealed for their server (pooled keys belong to none): AES, no parsing."""
        bind = self.factory.bind
        return [
            dataclasses.replace(k, sealed_private=bind(k.sealed_private, k.kid, k.server_id))
            for k in added
        ]

    def _record(
        self,
        tx: Transaction,
        change: Change,
        before: AuthorizationServer | None,
        keys_before: list[SigningKey],
        actor: Actor,
        trigger: str,
        noticed_by: str | None = None,
    ) -> None:
        now = change.server.last_updated  # the instant of the change itself
        policy = self.policy
        made = audit.key_events(
            before, keys_before, change, now, policy, actor, trigger=trigger, noticed_by=noticed_by
        )
        for found in made:
            tx.record_event(found)

    @staticmethod
    def _locked(tx: Transaction, server_id: str) -> AuthorizationServer:
        server = tx.get_server(server_id, lock=True)
        if server is None:
            raise NotFound(server_id, SERVER_TYPE)
        return server

    def all_servers(self) -> Iterator[AuthorizationServer]:
        """Every server, page by page (for the CLI)."""
        after = None
        while True:
            with self.store.transaction() as tx:
                rows = tx.list_servers(None, 200, after)
            yield from (server for _, server in rows)
            if len(rows) < 200:
                return
            after = rows[-1][0]


class _NeedKey(Exception):
    """The pool is empty and a key is needed: generate one outside the transaction."""


class _Fresh:
    """New keys for one write transaction: ``ready`` ones first (generated before it
    began), then the pool's. It never generates: it raises ``_NeedKey`` instead."""

    def __init__(self, tx: Transaction, ready: list[KeyMaterial]) -> None:
        self._tx = tx
        self._ready = ready

    def __call__(self) -> KeyMaterial:
        if self._ready:
            return self._ready.pop()
        found = self._tx.take_pooled()
        if found is None:
            raise _NeedKey()
        return found

    def at_hand(self) -> bool:
        """Whether a key can be had without generating one."""
        if not self._ready:
            found = self._tx.take_pooled()
            if found is None:
                return False
            self._ready.append(found)
        return True

    def put_back(self, now: datetime) -> None:
        """Keys taken but not used go (back) to the pool, in the same transaction."""
        for material in self._ready:
            self._tx.add_pooled(material, now)
        self._ready.clear()


def _page_key(q: str | None, limit: int, after: str | None) -> str:
    return repr((q, limit, after))


def _parse_cursor(after: str | None) -> int | None:
    if after is None or after == "":
        return None
    if not after.isdigit() or len(after) > 18:
        raise ValidationFailed("after", "Invalid value specified for the 'after' parameter")
    return int(after)
