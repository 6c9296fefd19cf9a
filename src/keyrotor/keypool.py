"""The pool of pre-generated signing keys, so that no rotation waits for RSA generation.

A background thread keeps ``size`` keys in the store's ``key_pool`` table, generated and
sealed like any other key. A rotation (or a new server) takes keys from the pool inside its
own write transaction, so a key is handed to exactly one server and a crash loses none: a
rolled-back rotation leaves its key in the pool. When the pool is empty, keys are generated
on the spot, as before. Every replica refills the same pool; together they may overshoot
``size`` by a key or two, never undershoot for long.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time

from keyrotor.cache import EVERYTHING
from keyrotor.clock import Clock, system_clock
from keyrotor.crypto import KeyFactory
from keyrotor.storage import Store

log = logging.getLogger("keyrotor.keypool")

DEFAULT_POOL_SIZE = 10
IDLE_CHECK = 5.0  # seconds between checks when nothing changed (another replica may take keys)
QUIET = 0.2  # seconds without writes before a key is generated


class KeyPool:
    def __init__(
        self, store: Store, factory: KeyFactory, size: int, clock: Clock = system_clock
    ) -> None:
        self._store = store
        self._factory = factory
        self.size = size
        self._clock = clock
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._busy = 0.0  # monotonic time of the last write this process heard of
        self.generated = 0  # keys this process added, and refills that failed (/metrics)
        self.failures = 0
        store.feed.subscribe(self._changed)

    def _changed(self, subjects: list[str]) -> None:
        if any(s.startswith("s:") or s == EVERYTHING for s in subjects):
            self._busy = time.monotonic()
            self._wake.set()  # a server changed: a rotation may have taken keys

    def refill(self) -> int:
        """Generate keys until the pool holds ``size``; answers how many were added.

        Each key is generated outside any transaction, then stored in one of its own.
        """
        added = 0
        while not self._stop.is_set():
            self._quiet()
            with self._store.transaction() as tx:
                if tx.count_pooled() >= self.size:
                    return added
            material = self._factory.generate()
            with self._store.transaction(write=True) as tx:
                tx.add_pooled(material, self._clock())
            added += 1
            self.generated += 1
        return added

    def _quiet(self) -> None:
        """Wait for a lull in writes: a burst of rotations is not slowed by refilling."""
        while not self._stop.is_set():
            idle = time.monotonic() - self._busy
            if idle >= QUIET:
                return
            self._stop.wait(QUIET - idle)

    def start(self) -> None:
        if self.size > 0 and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="keyrotor-pool", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        # the lowest CPU priority for this thread (Linux): generating keys for later must
        # never slow the requests being answered now
        with contextlib.suppress(AttributeError, OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
        while not self._stop.is_set():
            self._wake.clear()
            try:
                self.refill()
            except Exception as exc:  # the store is away: try again later
                self.failures += 1
                log.warning("key pool refill failed: %s", type(exc).__name__)
            self._wake.wait(IDLE_CHECK)
