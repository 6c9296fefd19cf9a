"""In-process caches that stay coherent with the store.

Every write transaction names what it changed as *subjects* (``s:<server id>``,
``c:<client id>``, ``t`` for API tokens, ``*`` for everything). The store tells its
subscribers after each local commit, and a watcher tells them of commits made by other
processes (PostgreSQL ``NOTIFY``, or SQLite's change log). A ``Cache`` drops the entries
those subjects name.

The race between a reader filling an entry and a writer invalidating it is closed with
tickets: a reader takes ``ticket()`` *before* it reads the store, and ``put`` refuses the
value if its key was invalidated after that ticket. A value read from the store can then
only be cached if no change to it committed after the read began.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from datetime import datetime
from typing import Generic, TypeVar

V = TypeVar("V")
EVERYTHING = "*"


class Cache(Generic[V]):
    """A bounded map of values, each valid until a moment (or until invalidated).

    ``peek`` takes no lock (a dict read is atomic in CPython); writers take one.
    """

    def __init__(self, max_entries: int = 10_000) -> None:
        self._max = max_entries
        self._entries: OrderedDict[str, tuple[V, datetime | None]] = OrderedDict()
        self._lock = threading.Lock()
        self._seq = 0  # grows with every invalidation
        self._dropped_at: dict[str, int] = {}  # key -> seq of its last invalidation
        self._cleared_at = 0  # seq of the last clear()
        self.enabled = True

    def peek(self, key: str, now: datetime) -> V | None:
        """The cached value, if there is one and it is still valid at ``now``."""
        found = self._entries.get(key)
        if found is None:
            return None
        value, until = found
        if until is not None and now >= until:
            return None
        return value

    def ticket(self) -> int:
        return self._seq

    def put(self, key: str, value: V, ticket: int, until: datetime | None = None) -> bool:
        """Keep ``value`` unless ``key`` was invalidated since ``ticket`` was taken."""
        with self._lock:
            if not self.enabled or self._cleared_at > ticket:
                return False
            if self._dropped_at.get(key, 0) > ticket:
                return False
            self._entries[key] = (value, until)
            self._entries.move_to_end(key)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)
            return True

    def invalidate(self, keys: list[str]) -> None:
        with self._lock:
            self._seq += 1
            for key in keys:
                self._entries.pop(key, None)
                self._dropped_at[key] = self._seq
            if len(self._dropped_at) > 4 * self._max:  # old marks: a clear covers them
                self._clear_locked()

    def clear(self) -> None:
        with self._lock:
            self._clear_locked()

    def _clear_locked(self) -> None:
        self._seq += 1
        self._entries.clear()
        self._dropped_at.clear()
        self._cleared_at = self._seq

    def __len__(self) -> int:
        return len(self._entries)


def route(subjects: list[str], prefix: str, cache: Cache[V]) -> None:
    """Invalidate in ``cache`` the keys of the subjects that start with ``prefix``."""
    if EVERYTHING in subjects:
        cache.clear()
        return
    keys = [s[len(prefix) :] for s in subjects if s.startswith(prefix)]
    if keys:
        cache.invalidate(keys)
