"""Scale: keyrotor with many authorization servers in its store.

``scale_phase`` seeds N servers (rotations not due), starts keyrotor on them and repeats
the per-server workloads on one seeded server (the token on a server made over the API
after seeding), comparing each p50 latency with the same workload of the 1-server run.

``sweep_phase`` seeds N servers whose AUTO rotation is already due, starts keyrotor with
``--sweep-interval 1`` and times how long until the database shows every one rotated,
reading it (read-only) every half second, for at most ``SWEEP_TIMEOUT`` seconds.

Both sample the server's resident memory throughout.
"""

from __future__ import annotations

import dataclasses
import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, String, column, func, select, table
from sqlalchemy.engine import Engine

from bench.context import Context
from bench.procs import RssSampler, Service
from bench.seed import Seeded, seed
from bench.stats import ratio, rounded
from bench.target import Admin, Fixture, prepare, reader_engine
from bench.throughput import Measured, measure
from bench.workloads import SCALE_WORKLOADS, pick, workloads

SCALE_TARGET = 1.25  # p50 at scale / p50 with one server
SWEEP_TARGET = 60.0  # seconds
SWEEP_TIMEOUT = 180.0
RSS_TARGET_MB = 150.0
MB = 1024 * 1024


def scale_phase(
    ctx: Context, count: int, reference: dict[str, float | None], limit: int
) -> dict[str, Any]:
    """Seed ``count`` servers, measure the workloads on one, compare with ``reference`` p50s.

    ``limit`` pages the server list like the 1-server run's (same number of servers).
    """
    database = ctx.stores.new("scale")
    seeded = seed(database, count)
    service = ctx.keyrotor("keyrotor-scale", database)
    try:
        with RssSampler(service) as rss:
            fixture = _scale_fixture(service, seeded, limit)
            ctx.settle(database)
            chosen = pick(workloads(fixture), SCALE_WORKLOADS)
            measured = measure(chosen, service, ctx.loader, ctx.rounds)
    finally:
        service.stop()
    rows = [_scale_row(name, m, reference.get(name)) for name, m in measured.items()]
    return {
        "servers": count,
        "seeded_seconds": round(seeded.seconds, 2),
        "server_id": fixture.server_id,
        "token_server_id": fixture.token_server_id,
        "server_list_limit": limit,
        "start_seconds": round(service.ready_after, 2),
        "target_p50_ratio": SCALE_TARGET,
        "workloads": rows,
        "rss_max_mb": round(rss.max_bytes / MB, 1),
        "rss_samples": rss.samples,
    }


def _scale_fixture(service: Service, seeded: Seeded, limit: int) -> Fixture:
    """Reads on the middle seeded server; tokens from a server created over the API now."""
    with Admin(service.url) as admin:
        token_server = admin.create_server("bench-scale")
        fixture = prepare(admin, seeded.ids[len(seeded.ids) // 2], token_server)
    return dataclasses.replace(fixture, list_limit=limit)


def _scale_row(name: str, measured: Measured, reference: float | None) -> dict[str, Any]:
    factor = ratio(measured.p50_ms, reference)
    verdict = "-" if factor is None else "PASS" if factor <= SCALE_TARGET else "FAIL"
    if measured.flawed:
        verdict += f" ERR({measured.errors})" if measured.errors else " ERR(preflight)"
    return {
        "workload": name,
        "p50_ms": rounded(measured.p50_ms),
        "p99_ms": rounded(measured.p99_ms),
        "rps": rounded(measured.rps, 1),
        "one_server_p50_ms": rounded(reference),
        "p50_ratio": rounded(factor),
        "verdict": verdict,
        "detail": measured.as_json(),
    }


def sweep_phase(ctx: Context, count: int) -> dict[str, Any]:
    """Seed ``count`` due servers; seconds from keyrotor's start until all have rotated."""
    database = ctx.stores.new("sweep")
    seeded = seed(database, count, due=True)
    engine = reader_engine(database)
    service = ctx.keyrotor("keyrotor-sweep", database, extra=("--sweep-interval", "1"))
    try:
        with RssSampler(service) as rss:
            done, rotated = _wait_rotated(service, engine, seeded)
    finally:
        service.stop()
        engine.dispose()
    return {
        "servers": count,
        "seeded_seconds": round(seeded.seconds, 2),
        "start_seconds": round(service.ready_after, 2),
        "rotated": rotated,
        "seconds": None if done is None else round(done, 2),
        "timeout_seconds": SWEEP_TIMEOUT,
        "target_seconds": SWEEP_TARGET,
        "verdict": "PASS" if done is not None and done < SWEEP_TARGET else "FAIL",
        "rss_max_mb": round(rss.max_bytes / MB, 1),
        "rss_samples": rss.samples,
    }


def _wait_rotated(service: Service, engine: Engine, seeded: Seeded) -> tuple[float | None, int]:
    """Seconds since spawn until every seeded server rotated (``None`` on timeout), and count."""
    rotated = 0
    while time.monotonic() - service.spawned_at < SWEEP_TIMEOUT:
        rotated = count_rotated(engine, seeded.at)
        if rotated >= len(seeded.ids):
            return time.monotonic() - service.spawned_at, rotated
        if not service.alive():
            raise RuntimeError(f"{service.name} exited during the sweep:\n{service.log_tail()}")
        time.sleep(0.5)
    return None, rotated


def count_rotated(engine: Engine, since: datetime) -> int:
    """Seeded servers (``ausbench…``) whose ``last_rotated`` is after ``since``."""
    servers = table("auth_servers", column("id", String), column("last_rotated", DateTime))
    query = (
        select(func.count())
        .select_from(servers)
        .where(servers.c.id.like("ausbench%"))
        .where(servers.c.last_rotated > since.astimezone(UTC).replace(tzinfo=None))
    )
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())
