"""Key-encryption keys against the store: the start-up check, readiness, and rewrap.

- ``check``: every command that opens a store first opens a sample of the stored keys with
  its KEKs (the ACTIVE and NEXT keys of the first ``SAMPLE`` servers by id, through the
  partial indexes, and the newest pooled key), and refuses before it writes anything.
- ``ActiveKeys``: ``/readyz`` fails while a server's ACTIVE key opens with none of this
  process's KEKs; it looks again only when the store says something changed.
- ``rewrap``: every private key (signing keys and the pool) and every event hook's shared
  secret re-sealed under the first KEK, a small write transaction per batch (per hook),
  while servers run; then the older KEKs can go.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag

from keyrotor import audit
from keyrotor.cache import EVERYTHING
from keyrotor.clock import Clock, system_clock
from keyrotor.config import ConfigError
from keyrotor.crypto import KeyFactory, Sealer
from keyrotor.hooks import SECRET_KID
from keyrotor.storage import Store
from keyrotor.storage.base import RESEALED, SealedKey

SAMPLE = 50  # servers whose ACTIVE and NEXT keys the start-up check opens
BATCH = 100  # keys re-sealed per write transaction
PASSES = 4  # rewrap passes before keys still sealed under an older KEK are reported


def check(store: Store, sealer: Sealer, source: str) -> None:
    """Refuse (``ConfigError``) KEKs that do not open the stored keys; reads only."""
    with store.transaction() as tx:
        sample = tx.sealed_sample(SAMPLE)
    for key in sample:
        if not sealer.opens(key.sealed_private, key.kid, key.server_id):
            raise ConfigError(_refusal(sealer, source, key.kid))


def _refusal(sealer: Sealer, source: str, kid: str) -> str:
    if sealer.count == 1:
        return (
            f"the key-encryption key from {source} does not open the stored keys (kid {kid}): "
            "set the KEK this store was sealed with"
        )
    return (
        f"none of the {sealer.count} key-encryption keys from {source} opens the stored keys "
        f"(kid {kid}): add the KEK this store was sealed with"
    )


class ActiveKeys:
    """Whether this process's KEKs open every server's ACTIVE key, for ``/readyz``.

    A kid once opened stays good; the list of ACTIVE kids is read again only after a change
    (a server's, a rewrap's, or the change feed's reconnection) or while the feed is not
    live; a kid that did not open is tried again on every call.
    """

    def __init__(self, store: Store, factory: KeyFactory) -> None:
        self._store = store
        self._factory = factory
        self._opens: dict[str, bool] = {}
        self._stale = True
        self._forget = False
        self._lock = threading.Lock()
        store.feed.subscribe(self._changed)

    def _changed(self, subjects: list[str]) -> None:
        if EVERYTHING in subjects or RESEALED in subjects:
            self._forget = True  # a key may be sealed anew: open every one again
            self._stale = True
        elif any(s.startswith("s:") for s in subjects):
            self._stale = True

    def unopened(self) -> list[str]:
        """The ACTIVE kids no KEK of this process opens (blocking: reads the store)."""
        with self._lock:
            todo = [kid for kid, opens in self._opens.items() if not opens]
            if self._stale or not self._store.feed.live:
                self._stale = False
                if self._forget:
                    self._forget = False
                    self._opens.clear()
                with self._store.transaction() as tx:
                    active = tx.active_kids()
                self._opens = {kid: self._opens[kid] for kid in active if kid in self._opens}
                todo = [kid for kid in active if not self._opens.get(kid, False)]
            for chunk in _chunks(todo, 500):
                with self._store.transaction() as tx:
                    found = tx.sealed_keys(chunk)
                for key in found:
                    opens = self._factory.can_open(key.sealed_private, key.kid, key.server_id)
                    self._opens[key.kid] = opens
            return sorted(kid for kid, opens in self._opens.items() if not opens)


@dataclass
class Rewrapped:
    """What ``rewrap`` did, per table."""

    resealed: dict[str, int] = field(default_factory=lambda: {"signing": 0, "pooled": 0})
    total: dict[str, int] = field(default_factory=lambda: {"signing": 0, "pooled": 0})
    unopened: list[str] = field(default_factory=list)  # kids no KEK opens
    hooks: int = 0  # event hooks' shared secrets re-sealed
    hooks_total: int = 0  # event hooks with a shared secret
    hooks_unopened: list[str] = field(default_factory=list)  # ids of hooks no KEK opens
    behind: int = 0  # keys still sealed under an older KEK after the last pass


def rewrap(
    store: Store,
    sealer: Sealer,
    batch: int = BATCH,
    *,
    actor: audit.Actor = audit.CLI,
    clock: Clock = system_clock,
) -> Rewrapped:
    """Re-seal every stored private key under the first KEK; idempotent.

    The pool goes first: a pooled key a rotation takes meanwhile is then in the signing
    keys, which come next. Passes repeat until one finds nothing left to re-seal (keys a
    replica seals meanwhile under an older KEK, say), at most ``PASSES`` times. Each write
    transaction locks the servers of its keys first, in id order, as rotations do, so the
    two never deadlock; kid, public numbers and status stay as they are. A server's key
    sealed the old way (for its kid alone) is bound to its server as it is re-sealed. One
    audit event records it.
    """
    done = Rewrapped()
    for _ in range(PASSES):
        done.total = {"signing": 0, "pooled": 0}
        done.unopened = []
        left = 0
        for table in ("pooled", "signing"):
            for page in _pages(store, table == "pooled", batch):
                done.total[table] += len(page)
                changed: list[tuple[SealedKey, bytes]] = []
                for key in page:
                    try:
                        sealed = sealer.reseal(key.sealed_private, key.kid, key.server_id)
                    except (InvalidTag, ValueError):
                        done.unopened.append(key.kid)
                        continue
                    if sealed is not None:
                        changed.append((key, sealed))
                if changed:  # a key that changed meanwhile is not written: the next pass sees it
                    done.resealed[table] += _write(store, changed)
                    left += len(changed)
        done.behind = left
        if left == 0:
            break
    _rewrap_hooks(store, sealer, done)
    resealed = sum(done.resealed.values()) + done.hooks
    if resealed:  # one event, and one word to the readiness checks of every replica
        with store.transaction(write=True) as tx:
            tx.record_event(audit.kek_rewrapped(actor, clock(), resealed, kek_id(sealer)))
            tx.note_resealed()
    return done


def _rewrap_hooks(store: Store, sealer: Sealer, done: Rewrapped) -> None:
    """Each event hook's shared secret re-sealed under the first KEK, one write each, unless
    the hook changed meanwhile (its new secret is sealed under the first KEK already)."""
    with store.transaction() as tx:
        hooks = [h for h in tx.list_hooks() if h.sealed_secret is not None]
    done.hooks_total = len(hooks)
    for hook in hooks:
        assert hook.sealed_secret is not None
        try:
            sealed = sealer.reseal(hook.sealed_secret, SECRET_KID, hook.id)
        except (InvalidTag, ValueError):
            done.hooks_unopened.append(hook.id)
            continue
        if sealed is None:
            continue
        with store.transaction(write=True) as tx:
            current = tx.get_hook(hook.id, lock=True)
            if current is not None and current.sealed_secret == hook.sealed_secret:
                tx.update_hook(dataclasses.replace(current, sealed_secret=sealed))
                done.hooks += 1


def bind_legacy(store: Store, sealer: Sealer, clock: Clock = system_clock) -> int:
    """Re-seal servers' keys sealed before keys were bound to their server (``serve`` runs
    it at start, once there are any: ``rewrap`` binds as it re-seals); how many it did."""
    with store.transaction() as tx:
        if tx.unbound_count() == 0:
            return 0
    return rewrap(store, sealer, actor=audit.SYSTEM, clock=clock).resealed["signing"]


def kek_id(sealer: Sealer) -> str:
    """A name for the first KEK that tells nothing about it (for the audit record)."""
    return sealer.derive("keyrotor kek id").reveal().hex()[:16]


def _pages(store: Store, pooled: bool, batch: int) -> Iterator[list[SealedKey]]:
    after: str | None = None
    while True:
        with store.transaction() as tx:
            page = tx.sealed_page(pooled, after, batch)
        if not page:
            return
        yield page
        after = page[-1].kid


def _write(store: Store, changed: list[tuple[SealedKey, bytes]]) -> int:
    with store.transaction(write=True) as tx:
        for server_id in sorted({key.server_id for key, _ in changed if key.server_id}):
            tx.get_server(server_id, lock=True)  # the lock order of every writer: server first
        return sum(tx.reseal(key, sealed) for key, sealed in changed)


def _chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
