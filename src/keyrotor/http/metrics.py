"""``GET /metrics``: keyrotor's counters and state in Prometheus's formats.

A prometheus_client ``Collector`` makes the metric families at scrape time from
``keyrotor.metrics``' plain counters and its ``StateReader``; the rendering runs in a worker
thread. With a metrics token (``serve --metrics-token``, ``KEYROTOR_METRICS_TOKEN``) the
scrape must send ``Authorization: Bearer <token>``, compared in constant time; without one
``/metrics`` is open to whoever reaches the port (``docs/operations.md``).

Counters are this process's own (``serve --workers``: the sum over its workers), so summing a
counter over replicas counts each event once. The per-server gauges come from the shared
store and say the same on every replica: aggregate them with ``max``, never ``sum``.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from keyrotor import __version__, lifecycle
from keyrotor.errors import InvalidToken
from keyrotor.http.render import error_response
from keyrotor.keys import PUBLISHED_STATUSES, KeyStatus
from keyrotor.metrics import (
    LATENCY_BOUNDS,
    ROTATION_BOUNDS,
    TRIGGERS,
    Histogram,
    HttpMeter,
    SharedTotals,
    State,
    StateReader,
    Totals,
)
from keyrotor.servers import RotationMode

if TYPE_CHECKING:
    from keyrotor.keypool import KeyPool
    from keyrotor.service import KeyService

PATH = "/metrics"
STORE_ERRORS = ("unavailable", "pool_timeout", "database")  # reported from the first scrape


@dataclass(frozen=True)
class MetricsOptions:
    """``token``: what scrapes must send as ``Authorization: Bearer`` (``None``: open);
    ``shared_folder``: where ``serve --workers`` workers leave their totals; ``state_ttl``:
    seconds the store's state is kept for the gauges when no change is heard."""

    token: str | None = None
    shared_folder: str | None = None
    state_ttl: float = 5.0


OPEN = MetricsOptions()  # /metrics without a token, one process


class Exporter:
    """What ``/metrics`` answers for one app: its registry, the token it asks for."""

    def __init__(
        self,
        service: KeyService,
        meter: HttpMeter | None,
        pool: KeyPool | None,
        *,
        safe_after: timedelta,
        unopened: Callable[[], list[str]] | None = None,
        options: MetricsOptions = OPEN,
    ) -> None:
        token, shared_folder = options.token, options.shared_folder
        self.service = service
        self.meter = meter
        self.pool = pool
        self.safe_after = safe_after  # token lifetime + clock skew
        self.state = StateReader(
            service.store,
            service.policy.retention,
            service.clock,
            ttl=options.state_ttl,
            unopened=unopened,
        )
        self._digest = _digest(token) if token else None
        self.shared = SharedTotals(shared_folder, self.totals) if shared_folder else None
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_Collector(self))
        if self.shared is None:  # one process: its CPU, memory, file descriptors, start time
            ProcessCollector(registry=self.registry)

    def allows(self, authorization: str) -> bool:
        if self._digest is None:
            return True
        scheme, _, value = authorization.strip().partition(" ")
        given = _digest(value.strip()) if scheme.lower() == "bearer" else b""
        return hmac.compare_digest(given, self._digest)

    def totals(self) -> Totals:
        """This process's counters now."""
        pool = self.pool
        counts = {"pool_generated": pool.generated, "pool_failures": pool.failures} if pool else {}
        errors: dict[str, int] = getattr(self.service.store, "errors", {})
        return Totals.of(self.meter, self.service.metrics, errors, counts)

    def render(self, accept: str) -> tuple[bytes, str]:
        """The exposition the ``Accept`` header asks for (blocking: may read the store)."""
        encoder, content_type = choose_encoder(accept)
        return encoder(self.registry), content_type


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode("utf-8", "surrogateescape")).digest()


async def metrics(request: Request) -> Response:
    exporter: Exporter = request.app.state.metrics
    if not exporter.allows(request.headers.get("authorization", "")):
        return error_response(
            InvalidToken(), headers={"WWW-Authenticate": 'Bearer realm="metrics"'}
        )
    body, content_type = await run_in_threadpool(exporter.render, request.headers.get("accept", ""))
    return Response(body, headers={"Content-Type": content_type, "Cache-Control": "no-store"})


routes = [Route(PATH, metrics, methods=["GET"])]


class _Collector(Collector):
    def __init__(self, exporter: Exporter) -> None:
        self.exporter = exporter

    def collect(self) -> Iterator[Metric]:
        exporter = self.exporter
        totals = exporter.totals()
        if exporter.shared is not None:
            totals.add(exporter.shared.others())
        yield from _counters(totals)
        if exporter.pool is not None:
            target = GaugeMetricFamily(
                "keyrotor_key_pool_target", "Keys the pool is refilled to (--key-pool-size)."
            )
            target.add_metric([], exporter.pool.size)
            yield target
        feed = GaugeMetricFamily(
            "keyrotor_change_feed_live",
            "1 while this process hears the store's changes (its caches are trusted), else 0.",
        )
        feed.add_metric([], float(exporter.service.store.feed.live))
        yield feed
        yield from _gauges(exporter, exporter.state.get())


def _counters(totals: Totals) -> Iterator[Metric]:
    build = InfoMetricFamily("keyrotor_build", "The keyrotor version of this process.")
    build.add_metric([], {"version": __version__})
    yield build
    requests = CounterMetricFamily(
        "keyrotor_http_requests",
        "HTTP requests answered by this process, by method, route template and status.",
        labels=["method", "route", "status"],
    )
    for (method, route, status), count in sorted(totals.requests.items()):
        requests.add_metric([method, route, str(status or 500)], count)
    yield requests
    latency = HistogramMetricFamily(
        "keyrotor_http_request_duration_seconds",
        "Seconds from a request's arrival to the end of its answer, by route template.",
        labels=["route"],
    )
    for route, histogram in sorted(totals.latency.items()):
        latency.add_metric([route], *_buckets(histogram, LATENCY_BOUNDS))
    yield latency
    tokens = CounterMetricFamily(
        "keyrotor_tokens_issued",
        "Access tokens signed by this process, by server id and the kid that signed them.",
        labels=["server", "kid"],
    )
    for (server, kid), count in sorted(totals.tokens.items()):
        tokens.add_metric([server, kid], count)
    yield tokens
    rotations = CounterMetricFamily(
        "keyrotor_rotations",
        "Key rotations this process committed: trigger manual (the API), auto (due AUTO) or "
        "revoke (the ACTIVE key revoked).",
        labels=["trigger"],
    )
    durations = HistogramMetricFamily(
        "keyrotor_rotation_duration_seconds",
        "Seconds a rotation took, from the start of its write to the commit (key generation "
        "included when the pool was empty).",
        labels=["trigger"],
    )
    for trigger in sorted({*TRIGGERS, *totals.rotations}):
        histogram = totals.rotations.get(trigger) or [0] * (len(ROTATION_BOUNDS) + 2)
        buckets, total = _buckets(histogram, ROTATION_BOUNDS)
        rotations.add_metric([trigger], buckets[-1][1])
        durations.add_metric([trigger], buckets, total)
    yield rotations
    yield durations
    errors = CounterMetricFamily(
        "keyrotor_store_errors",
        "Store operations that failed in this process: unavailable (the database cannot be "
        "reached or dropped the connection), pool_timeout (no connection in time), database "
        "(any other database error).",
        labels=["kind"],
    )
    for kind in sorted({*STORE_ERRORS, *totals.store_errors}):
        errors.add_metric([kind], totals.store_errors.get(kind, 0))
    yield errors
    for name, key, text in (
        (
            "keyrotor_keys_generated_on_demand",
            "generated_on_demand",
            "Keys generated while a write waited (the key pool was empty).",
        ),
        ("keyrotor_key_pool_generated", "pool_generated", "Keys this process added to the pool."),
        (
            "keyrotor_key_pool_refill_failures",
            "pool_failures",
            "Pool refills that failed (the store was away); retried later.",
        ),
    ):
        family = CounterMetricFamily(name, text)
        family.add_metric([], totals.counts.get(key, 0))
        yield family


def _buckets(
    histogram: Histogram, bounds: tuple[float, ...]
) -> tuple[list[tuple[str, float]], float]:
    """Prometheus's cumulative buckets and the sum, from per-bucket counts."""
    cumulative, running = [], 0.0
    for bound, count in zip((*bounds, float("inf")), histogram[:-1], strict=True):
        running += count
        cumulative.append((_le(bound), running))
    return cumulative, histogram[-1]


def _le(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(bound)


def _gauges(exporter: Exporter, state: State) -> Iterator[Metric]:
    """The store's state; the same on every replica (aggregate with max, not sum)."""
    up = GaugeMetricFamily("keyrotor_store_up", "1 if this scrape could read the store, else 0.")
    up.add_metric([], float(state.store_up))
    yield up
    ready = GaugeMetricFamily(
        "keyrotor_ready",
        "1 if /readyz would answer 200 (the store answers and this process's KEKs open "
        "every ACTIVE key), else 0.",
    )
    ready.add_metric([], float(state.ready))
    yield ready
    if not state.store_up:
        return
    pool = GaugeMetricFamily(
        "keyrotor_key_pool_size", "Pre-generated keys in the pool (shared by every replica)."
    )
    pool.add_metric([], state.pooled)
    yield pool
    service = exporter.service
    now, policy = service.clock(), service.policy
    info = InfoMetricFamily(
        "keyrotor_server",
        "Each authorization server: name, rotation mode and status.",
        labels=["server"],
    )
    age = GaugeMetricFamily(
        "keyrotor_server_active_key_age_seconds",
        "Seconds since the server's ACTIVE key began to sign.",
        labels=["server"],
    )
    until = GaugeMetricFamily(
        "keyrotor_server_next_rotation_seconds",
        "Seconds until the server's next AUTO rotation (negative: overdue); AUTO servers only.",
        labels=["server"],
    )
    counts = GaugeMetricFamily(
        "keyrotor_server_keys",
        "Published keys of each server, by status.",
        labels=["server", "status"],
    )
    missing = GaugeMetricFamily(
        "keyrotor_server_next_key_missing",
        "1 while the server has no NEXT key though its policy wants one, else 0.",
        labels=["server"],
    )
    safe = GaugeMetricFamily(
        "keyrotor_key_safe_to_retire",
        "Each EXPIRED key still published: 1 once no token it signed can still be valid "
        "(it stopped signing longer ago than the token lifetime plus clock skew), else 0.",
        labels=["server", "kid"],
    )
    for server, keys in state.servers:
        shown = lifecycle.published(keys, now, policy)
        info.add_metric(
            [server.id],
            {
                "name": server.name,
                "mode": server.rotation_mode.value,
                "status": server.status.value,
            },
        )
        for status in PUBLISHED_STATUSES:  # REVOKED keys are never published
            counts.add_metric([server.id, status.value], sum(k.status is status for k in shown))
        active = next((k for k in shown if k.status is KeyStatus.ACTIVE), None)
        if active is not None:
            since = active.activated or active.created
            age.add_metric([server.id], (now - since).total_seconds())
        if server.rotation_mode is RotationMode.AUTO and server.next_rotation is not None:
            until.add_metric([server.id], (server.next_rotation - now).total_seconds())
        missing.add_metric([server.id], float(lifecycle.next_key_due(server, keys, now, policy)))
        for key in shown:
            if key.status is KeyStatus.EXPIRED and key.expired is not None:
                retired = now >= key.expired + exporter.safe_after
                safe.add_metric([server.id, key.kid], float(retired))
    yield from (info, age, until, counts, missing, safe)
