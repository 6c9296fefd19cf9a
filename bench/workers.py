"""Workers: the token workload on ``serve --workers 1`` (core 0) and ``--workers 2`` (cores 0-1).

wrk runs unpinned here, so with two workers it shares their cores: the ratio understates
what a third core for the load generator would show, and the report says so.
"""

from __future__ import annotations

from typing import Any

from bench.context import Context
from bench.loadgen import preflight
from bench.procs import Service, all_cpus, descendants
from bench.stats import median, rounded
from bench.target import Admin, prepare, serve_has
from bench.throughput import Loader, Measured
from bench.workloads import Workload, workloads

WORKERS_TARGET = 1.7
NOTE = "wrk is unpinned and shares the cores with the two workers"


def workers_phase(ctx: Context) -> dict[str, Any]:
    """Token req/s with two workers over one, per round, then the median."""
    if not serve_has("--workers"):
        return {"skipped": "keyrotor serve has no --workers option"}
    if ctx.server_cpus is None:
        return {"skipped": "needs at least 2 CPUs"}
    started: list[Service] = []
    databases: list[str] = []
    try:
        one = _start(ctx, started, databases, 1, "0")
        two = _start(ctx, started, databases, 2, "0,1")
        ctx.settle(*databases)  # full key pools: no refill competes with the load
        processes = [1 + len(descendants(service.pid)) for service, _ in (one, two)]
        loader = Loader(ctx.loader.seconds, all_cpus(), ctx.loader.warmup)
        results = _alternate(loader, ctx.rounds, [one, two])
    finally:
        for service in started:
            service.stop()
    ratios = [b.rps / a.rps for a, b in zip(results[0].runs, results[1].runs, strict=True) if a.rps]
    value = median(ratios)
    verdict = "-" if value is None else "PASS" if value >= WORKERS_TARGET else "FAIL"
    if any(m.flawed for m in results):
        verdict += " ERR"
    return {
        "workers_1": results[0].as_json(),
        "workers_2": results[1].as_json(),
        "processes": processes,  # each server's process tree: supervisor and workers
        "ratios": [round(r, 3) for r in ratios],
        "ratio": rounded(value),
        "target_ratio": WORKERS_TARGET,
        "verdict": verdict,
        "note": NOTE,
    }


def _start(
    ctx: Context, started: list[Service], databases: list[str], workers: int, cpus: str
) -> tuple[Service, Workload]:
    database = ctx.stores.new(f"workers{workers}")
    databases.append(database)
    service = ctx.keyrotor(
        f"keyrotor-workers{workers}", database, extra=("--workers", str(workers)), cpus=cpus
    )
    started.append(service)
    with Admin(service.url) as admin:
        fixture = prepare(admin)
    token = next(w for w in workloads(fixture) if w.name == "token")
    return service, token


def _alternate(
    loader: Loader, rounds: int, targets: list[tuple[Service, Workload]]
) -> list[Measured]:
    results = [Measured() for _ in targets]
    for (service, workload), measured in zip(targets, results, strict=True):
        measured.problem = preflight(service.url, workload.request)
        loader.warm(service, workload.request)
    for round_no in range(rounds):
        order = list(zip(targets, results, strict=True))
        for (service, workload), measured in order[:: -1 if round_no % 2 else 1]:
            measured.runs.append(loader.run(service, workload.request))
    return results
