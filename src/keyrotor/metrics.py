"""What ``/metrics`` reports, counted cheaply enough for the hot paths.

Counters are plain Python numbers in dicts; a scrape turns them into metric families
(``http/metrics.py``), so a request pays for a dict update and a ``bisect``, never for a
prometheus_client metric object or a lock:

- ``HttpMeter``: requests by method, route template and status, and their latency by route,
  counted by ``App`` around every answer. Only the event loop's thread counts, so no lock.
  The route is the template (``/oauth2/{server_id}/v1/keys``), never the raw path, so the
  number of series stays bounded whatever paths callers send.
- ``ServiceMetrics``: tokens by server and ``kid``, rotations by trigger and their latency,
  keys generated while a caller waited. Worker threads count these too, so they take a lock,
  which costs nothing next to what they count (an RSA signature, a write transaction).
  A rotation is counted once its transaction has committed.
- ``Totals``: all of these as one value that adds up and travels as JSON (``serve
  --workers``: each worker's totals, summed by the one that is scraped).
- ``StateReader``: servers, their keys and the key pool, read in one read transaction and
  kept until the store names a change or ``ttl`` passes. The per-server gauges are worked
  out from it at scrape time, so ages are current without a read per scrape.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import threading
import time
from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

from keyrotor.cache import EVERYTHING
from keyrotor.clock import Clock
from keyrotor.keys import SigningKey
from keyrotor.servers import AuthorizationServer
from keyrotor.storage import Store

# request latency: the hot paths answer in well under a millisecond, writes in tens
LATENCY_BOUNDS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
# a rotation: one write transaction, a key generated on the spot when the pool is empty
ROTATION_BOUNDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})
UNMATCHED = "unmatched"  # the route of a path no route has
TRIGGERS = ("manual", "auto", "revoke")
ROUTE_CACHE = 4096  # paths whose template is kept (then the cache starts again)
KIDS_PER_SERVER = 4  # token counts kept per server: the ACTIVE key's and a few before it

log = logging.getLogger("keyrotor.metrics")
K = TypeVar("K")
Histogram = list[float]  # one count per bound, one over them all, then the sum


def new_histogram(bounds: Sequence[float]) -> Histogram:
    return [0] * (len(bounds) + 1) + [0.0]


def observe(histogram: Histogram, bounds: Sequence[float], value: float) -> None:
    histogram[bisect_left(bounds, value)] += 1
    histogram[-1] += value


# -- route templates ------------------------------------------------------------------------


class _Node:
    __slots__ = ("literal", "param", "rest", "template")

    def __init__(self) -> None:
        self.literal: dict[str, _Node] = {}
        self.param: _Node | None = None
        self.rest: str | None = None  # a ``{name:path}`` template: whatever follows
        self.template: str | None = None


class RouteTemplates:
    """The route template a path matches (literal segments before parameters; a last
    ``{name:path}`` parameter matches the rest), or ``UNMATCHED``; a trailing slash is
    ignored, as ``App`` ignores it."""

    def __init__(self, templates: Iterable[str]) -> None:
        self._root = _Node()
        for template in templates:
            node = self._root
            for part in _segments(template):
                if part.startswith("{") and part.endswith(":path}"):
                    node.rest = template
                    break
                if part.startswith("{"):
                    node.param = node.param or _Node()
                    node = node.param
                else:
                    node = node.literal.setdefault(part, _Node())
            else:
                node.template = template

    def __call__(self, path: str) -> str:
        return _match(self._root, _segments(path), 0) or UNMATCHED


def _segments(path: str) -> list[str]:
    stripped = path.strip("/")
    return stripped.split("/") if stripped else []


def _match(node: _Node, parts: list[str], i: int) -> str | None:
    if i == len(parts):
        return node.template
    child = node.literal.get(parts[i])
    if child is not None:
        found = _match(child, parts, i + 1)
        if found is not None:
            return found
    if node.param is not None and parts[i]:
        found = _match(node.param, parts, i + 1)
        if found is not None:
            return found
    return node.rest


# -- the counters ---------------------------------------------------------------------------


class _Route:
    """The counts of one route template: requests by (method, status), latency."""

    __slots__ = ("counts", "latency")

    def __init__(self) -> None:
        self.counts: dict[tuple[str, int], int] = {}
        self.latency = new_histogram(LATENCY_BOUNDS)


class HttpMeter:
    """Requests and their latency; ``observe`` runs in the event loop's thread only."""

    def __init__(self, templates: RouteTemplates) -> None:
        self.templates = templates
        self.routes: dict[str, _Route] = {}  # by template
        self._paths: dict[str, _Route] = {}  # by path, bounded

    def observe(self, method: str, path: str, status: int, elapsed: float) -> None:
        route = self._paths.get(path)
        if route is None:
            route = self._route(path)
        if method not in METHODS:
            method = "OTHER"
        counts = route.counts
        key = (method, status)
        counts[key] = counts.get(key, 0) + 1
        latency = route.latency
        latency[bisect_left(LATENCY_BOUNDS, elapsed)] += 1
        latency[-1] += elapsed

    def _route(self, path: str) -> _Route:
        template = self.templates(path)
        route = self.routes.get(template)
        if route is None:
            route = self.routes[template] = _Route()
        if len(self._paths) >= ROUTE_CACHE:
            self._paths = {}
        if len(path) <= 256:
            self._paths[path] = route
        return route

    def requests(self) -> dict[tuple[str, str, int], int]:
        """A copy of the request counts, by (method, route, status)."""
        return {
            (method, template, status): count
            for template, route in list(self.routes.items())
            for (method, status), count in list(route.counts.items())
        }

    def latencies(self) -> dict[str, Histogram]:
        return {template: list(route.latency) for template, route in list(self.routes.items())}


class ServiceMetrics:
    """Counted by the use cases (``KeyService``, ``OAuthService``), from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.tokens: dict[str, dict[str, int]] = {}  # server id -> kid -> tokens
        self.rotations: dict[str, Histogram] = {t: new_histogram(ROTATION_BOUNDS) for t in TRIGGERS}
        self.generated_on_demand = 0
        self._pending = threading.local()  # rotations of the write transaction under way

    def token_issued(self, server_id: str, kid: str) -> None:
        with self._lock:
            kids = self.tokens.get(server_id)
            if kids is None:
                kids = self.tokens[server_id] = {}
            if kid not in kids and len(kids) >= KIDS_PER_SERVER:
                del kids[next(iter(kids))]  # the oldest: a key that signs no more
            kids[kid] = kids.get(kid, 0) + 1

    def rotation_applied(self, trigger: str) -> None:
        """A rotation written in this thread's transaction: counted if it commits."""
        pending: list[str] | None = getattr(self._pending, "triggers", None)
        if pending is None:
            pending = self._pending.triggers = []
        pending.append(trigger.lower())

    def committed(self, elapsed: float) -> None:
        """This thread's transaction committed: its rotations took ``elapsed`` seconds."""
        pending: list[str] | None = getattr(self._pending, "triggers", None)
        if not pending:
            return
        with self._lock:
            for trigger in pending:
                histogram = self.rotations.setdefault(trigger, new_histogram(ROTATION_BOUNDS))
                observe(histogram, ROTATION_BOUNDS, elapsed)
        pending.clear()

    def rolled_back(self) -> None:
        pending: list[str] | None = getattr(self._pending, "triggers", None)
        if pending:
            pending.clear()

    def key_generated(self) -> None:
        """A key generated while a write waited for it (the pool was empty)."""
        with self._lock:
            self.generated_on_demand += 1


@dataclass
class Totals:
    """Every counter of one process (or the sum of several): what a scrape reports."""

    requests: dict[tuple[str, str, int], int] = field(default_factory=dict)
    latency: dict[str, Histogram] = field(default_factory=dict)
    tokens: dict[tuple[str, str], int] = field(default_factory=dict)
    rotations: dict[str, Histogram] = field(default_factory=dict)
    store_errors: dict[str, int] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)  # single counters, by name

    @classmethod
    def of(
        cls,
        meter: HttpMeter | None,
        service: ServiceMetrics,
        store_errors: dict[str, int],
        counts: dict[str, int],
    ) -> Totals:
        """A copy of the counters now (each dict copied whole, under the GIL)."""
        with service._lock:
            tokens = {(s, k): n for s, kids in service.tokens.items() for k, n in kids.items()}
            rotations = {t: list(h) for t, h in service.rotations.items()}
            counts = {**counts, "generated_on_demand": service.generated_on_demand}
        return cls(
            requests=meter.requests() if meter else {},
            latency=meter.latencies() if meter else {},
            tokens=tokens,
            rotations=rotations,
            store_errors=dict(store_errors),
            counts=counts,
        )

    def add(self, other: Totals) -> None:
        _add(self.requests, other.requests)
        _add(self.tokens, other.tokens)
        _add(self.store_errors, other.store_errors)
        _add(self.counts, other.counts)
        for histograms, adding in (
            (self.latency, other.latency),
            (self.rotations, other.rotations),
        ):
            for name, histogram in adding.items():
                found = histograms.get(name)
                if found is None or len(found) != len(histogram):
                    histograms[name] = list(histogram)
                else:
                    histograms[name] = [a + b for a, b in zip(found, histogram, strict=True)]

    def to_json(self) -> str:
        return json.dumps(
            {
                "requests": [[*k, v] for k, v in self.requests.items()],
                "latency": self.latency,
                "tokens": [[*k, v] for k, v in self.tokens.items()],
                "rotations": self.rotations,
                "store_errors": self.store_errors,
                "counts": self.counts,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> Totals:
        raw: dict[str, Any] = json.loads(text)
        return cls(
            requests={(m, r, int(s)): int(n) for m, r, s, n in raw["requests"]},
            latency={str(r): [float(x) for x in h] for r, h in raw["latency"].items()},
            tokens={(s, k): int(n) for s, k, n in raw["tokens"]},
            rotations={str(t): [float(x) for x in h] for t, h in raw["rotations"].items()},
            store_errors={str(k): int(n) for k, n in raw["store_errors"].items()},
            counts={str(k): int(n) for k, n in raw["counts"].items()},
        )


def _add(mine: dict[K, int], theirs: dict[K, int]) -> None:
    for key, value in theirs.items():
        mine[key] = mine.get(key, 0) + value


# -- the state behind the gauges ------------------------------------------------------------


@dataclass(frozen=True)
class State:
    """Servers and their keys (those that can still be published) and the pool's size,
    as one read transaction saw them; ``error`` names why the store could not be read."""

    servers: tuple[tuple[AuthorizationServer, tuple[SigningKey, ...]], ...] = ()
    pooled: int = 0
    error: str | None = None
    unopened: int = 0  # ACTIVE keys this process's KEKs do not open (as /readyz checks)

    @property
    def store_up(self) -> bool:
        return self.error is None

    @property
    def ready(self) -> bool:
        return self.error is None and self.unopened == 0


class StateReader:
    """The ``State`` for a scrape: read again only after the store names a change of a
    server (any replica's, through the change feed) or after ``ttl`` seconds."""

    PAGE = 500

    def __init__(
        self,
        store: Store,
        retention: timedelta,
        clock: Clock,
        *,
        ttl: float = 5.0,
        unopened: Callable[[], list[str]] | None = None,
    ) -> None:
        self._store = store
        self._retention = retention
        self._clock = clock
        self.ttl = ttl
        self._unopened = unopened
        self._lock = threading.Lock()
        self._state: State | None = None
        self._read_at = 0.0
        self._stale = True
        store.feed.subscribe(self._changed)

    def _changed(self, subjects: list[str]) -> None:
        if any(s.startswith("s:") or s == EVERYTHING for s in subjects):
            self._stale = True

    def get(self) -> State:
        """Blocking: may read the store (one read transaction)."""
        with self._lock:
            state = self._state
            if state is None or self._stale or time.monotonic() - self._read_at >= self.ttl:
                self._stale = False  # a change heard during the read marks it stale again
                state = self._state = self._read()
                self._read_at = time.monotonic()
            return state

    def _read(self) -> State:
        since = self._clock() - self._retention  # what can still be published (_keys)
        servers = []
        try:
            with self._store.transaction() as tx:
                after = None
                while True:
                    rows = tx.list_servers(None, self.PAGE, after)
                    for _, server in rows:
                        servers.append((server, tuple(tx.keys(server.id, since=since))))
                    if len(rows) < self.PAGE:
                        break
                    after = rows[-1][0]
                pooled = tx.count_pooled()
            unopened = len(self._unopened()) if self._unopened is not None else 0
        except Exception as exc:  # the gauges say the store is down; the counters still show
            log.warning("metrics: the store could not be read (%s)", type(exc).__name__)
            self._stale = True
            return State(error=type(exc).__name__)
        return State(servers=tuple(servers), pooled=pooled, unopened=unopened)


class SharedTotals:
    """``serve --workers N``: each worker writes its totals to ``folder`` every
    ``interval`` seconds (and when it stops); the worker a scrape reaches adds the others'
    files to its own live totals. A worker that died leaves its last totals there, so sums
    only grow while the ``serve`` runs."""

    def __init__(self, folder: str, totals: Callable[[], Totals], interval: float = 1.0) -> None:
        self.folder = folder
        self._totals = totals
        self.interval = interval
        self._name = f"{os.getpid()}-{secrets.token_hex(4)}.json"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def others(self) -> Totals:
        summed = Totals()
        for path in Path(self.folder).glob("*.json"):
            if path.name == self._name:
                continue
            try:
                summed.add(Totals.from_json(path.read_text()))
            except (OSError, ValueError, KeyError, TypeError):
                continue  # written as it was read: the rename makes that rare; next scrape
        return summed

    def write(self) -> None:
        path = Path(self.folder, self._name)
        draft = path.with_name(path.name + ".new")
        draft.write_text(self._totals().to_json())
        draft.replace(path)

    def start(self) -> None:
        def run() -> None:
            while not self._stop.wait(self.interval):
                with contextlib.suppress(OSError):  # a full disk: the next write may do
                    self.write()

        self._thread = threading.Thread(target=run, name="keyrotor-metrics", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with contextlib.suppress(OSError):
            self.write()
