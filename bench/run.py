"""keyrotor's benchmark: hot paths as ratios against baselines measured in the same run.

    bench/run [--quick] [--repeat 3] [--seconds 5] [--database URL] [--scale 10000]
              [--sweep-scale N] [--workers-check] [--rotations 25] [--out bench/results.json]

Starts two bare ASGI baselines (``bench.baselines``: constant JSON, and RS256 token signing)
and ``keyrotor serve`` on a fresh store, all on 127.0.0.1 and pinned to CPU 0, then:

1. throughput: each workload (``bench.workloads``) runs with wrk on CPU 1 against its
   baseline and against keyrotor, alternating, ``--repeat`` rounds; medians of req/s and
   latency, and the median of the per-round ratios keyrotor / baseline, against targets;
2. rotation latency: concurrent rotators on their own servers, with bare RSA-2048
   generation in this process as the reference;
3. with ``--scale N``: N seeded servers (``bench.seed``), the per-server workloads again,
   p50 against the 1-server run; and the AUTO-rotation sweep of N due servers; the server's
   peak RSS in both;
4. with ``--workers-check``: the token workload on one worker against two.

Every wrk run and wait is bounded in time; every server started is stopped by its PID at
the end, on errors and on Ctrl-C. Prints a table; writes the same data as JSON (``--out``).
A phase that fails is reported as an error and the run goes on with the next one.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from bench.context import Context
from bench.procs import Service, free_port, install_cleanup, pinned, progress, stop_all
from bench.report import machine, render, rotation_json, rss_summary, write
from bench.rotation import keygen_ms, rotate_concurrently
from bench.scale import scale_phase, sweep_phase
from bench.target import Admin, Stores, prepare, serve_has
from bench.throughput import Comparison, Loader, compare
from bench.workers import workers_phase
from bench.workloads import workloads

ROOT = Path(__file__).resolve().parents[1]
POOL_SIZE = 128  # more than the rotations a run makes, so none waits on generation


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/run", description=(__doc__ or "").splitlines()[0])
    add = parser.add_argument
    add("--quick", action="store_true", help="1 round of 2 s per run, no scale (smoke check)")
    add("--repeat", metavar="K", type=int, default=3, help="rounds of every workload (default 3)")
    add("--seconds", metavar="S", type=int, default=5, help="seconds per wrk run (default 5)")
    add(
        "--warmup",
        metavar="S",
        type=int,
        default=1,
        help="unrecorded seconds per workload first (1)",
    )
    add(
        "--database",
        metavar="URL",
        help="postgresql://… server to use (a fresh database per phase)",
    )
    add("--rotators", metavar="N", type=int, default=4, help="concurrent rotators (default 4)")
    add("--rotations", metavar="N", type=int, default=25, help="rotations per rotator (default 25)")
    add("--keygen", metavar="N", type=int, default=10, help="in-process RSA-2048 generations (10)")
    add(
        "--pool-warmup",
        metavar="S",
        type=float,
        default=60.0,
        help="at most S seconds to wait for the key pool to fill (60)",
    )
    add(
        "--scale",
        metavar="N",
        type=int,
        default=0,
        help="seeded servers for the scale test (0: skip)",
    )
    add(
        "--sweep-scale",
        metavar="N",
        type=int,
        help="due servers for the sweep test (default: --scale)",
    )
    add("--workers-check", action="store_true", help="token req/s with 2 workers over 1")
    add(
        "--out",
        metavar="FILE",
        type=Path,
        default=ROOT / "bench" / "results.json",
        help="the JSON report (default bench/results.json)",
    )
    add("--keep", action="store_true", help="keep the run's folder (stores and logs)")
    if "--quick" in (sys.argv[1:] if argv is None else argv):  # explicit options still win
        parser.set_defaults(repeat=1, seconds=2, warmup=0, keygen=5, scale=0)
    args = parser.parse_args(argv)
    if args.sweep_scale is None:
        args.sweep_scale = args.scale
    if args.database and make_url(args.database).get_backend_name() != "postgresql":
        parser.error("--database takes a postgresql:// URL (SQLite is the default)")
    if args.repeat < 1 or args.seconds < 1:
        parser.error("--repeat and --seconds must be at least 1")
    return args


def cpu_layout() -> tuple[str | None, str | None]:
    """Servers on CPU 0 and wrk on CPU 1; nothing pinned on a single-CPU machine."""
    return ("0", "1") if (os.cpu_count() or 1) >= 2 else (None, None)


def settings(args: argparse.Namespace, server: str | None, load: str | None) -> dict[str, Any]:
    store = "sqlite"
    if args.database:
        store = make_url(args.database).render_as_string(hide_password=True)
    return {
        "store": store,
        "rounds": args.repeat,
        "seconds": args.seconds,
        "warmup_seconds": args.warmup,
        "server_cpus": server or "any",
        "load_cpus": load or "any",
        "wrk": "-t1 -c32 --latency",
        "key_pool_size": POOL_SIZE if serve_has("--key-pool-size") else None,
        "pool_warmup_seconds": args.pool_warmup,
        "serve_has_workers": serve_has("--workers"),
        "rotators": args.rotators,
        "rotations_each": args.rotations,
        "scale": args.scale,
        "sweep_scale": args.sweep_scale,
        "workers_check": args.workers_check,
    }


def baseline_service(app: str, folder: Path, cpus: str | None) -> Service:
    """A ``python -m bench.baselines APP`` process (not started yet)."""
    port = free_port()
    command = [sys.executable, "-m", "bench.baselines", app, "--port", str(port)]
    return Service(
        name=f"baseline-{app}",
        command=pinned(cpus, command),
        port=port,
        log=folder / f"baseline-{app}.log",
        cwd=ROOT,
        ready_path="/",
    )


def main_phase(ctx: Context, args: argparse.Namespace, report: dict[str, Any]) -> None:
    """Baselines and keyrotor side by side: throughput rounds, then rotation latency."""
    keygen = keygen_ms(args.keygen)  # before any server runs: nothing else on the CPUs
    started: list[Service] = []
    results: list[Comparison] = []
    try:
        baselines = {}
        for app in ("const", "sign"):
            baselines[app] = baseline_service(app, ctx.folder, ctx.server_cpus)
            started.append(baselines[app].start())
        main_db = ctx.stores.new("main")
        keyrotor = ctx.keyrotor("keyrotor", main_db)
        started.append(keyrotor)
        with Admin(keyrotor.url) as admin:
            # like the seeded servers of the scale phase: ACTIVE, NEXT and one EXPIRED key
            admin.rotate("default")
            fixture = prepare(admin)
            rotating = [admin.create_server(f"rot-{i}") for i in range(args.rotators)]
            report["server_list_size"] = admin.server_count()
        # the list is asked for with an explicit limit, as the scale phase asks for its page
        fixture = dataclasses.replace(fixture, list_limit=report["server_list_size"])
        ctx.settle(main_db)
        results.extend(Comparison(w) for w in workloads(fixture))
        compare(results, baselines, keyrotor, ctx.loader, ctx.rounds)
        report["workloads"] = [c.as_json() for c in results]
        ctx.settle(main_db)  # the pool refills after the throughput rounds too
        rotations = rotate_concurrently(keyrotor.url, rotating, args.rotations)
        rotations.keygen_ms = keygen
        report["rotation"] = rotation_json(rotations)
    finally:
        for service in started:
            service.stop()
        if "workloads" not in report and any(c.keyrotor.runs for c in results):
            report["workloads"] = [c.as_json() for c in results if c.keyrotor.runs]


def scale_phases(ctx: Context, args: argparse.Namespace, report: dict[str, Any]) -> None:
    reference = {w["workload"]: w["keyrotor"]["p50_ms"] for w in report.get("workloads", [])}
    if args.scale:
        limit = int(report.get("server_list_size", 1))
        guarded(report, "scale", lambda: scale_phase(ctx, args.scale, reference, limit))
    if args.sweep_scale:
        guarded(report, "sweep", lambda: sweep_phase(ctx, args.sweep_scale))


def guarded(report: dict[str, Any], name: str, phase: Callable[[], Any]) -> None:
    """Run a phase; its result (if any) goes under ``name``, an exception into ``errors``."""
    progress(f"{name} ...")
    try:
        result = phase()
    except Exception as exc:
        traceback.print_exc()
        report["errors"][name] = f"{type(exc).__name__}: {exc}"
        return
    if result is not None:
        report[name] = result


def run_phases(ctx: Context, args: argparse.Namespace, report: dict[str, Any]) -> None:
    guarded(report, "main", lambda: main_phase(ctx, args, report))
    scale_phases(ctx, args, report)
    if args.workers_check:
        guarded(report, "workers", lambda: workers_phase(ctx))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    install_cleanup()
    server_cpus, load_cpus = cpu_layout()
    if load_cpus is not None:  # this process (rotators, seeding) stays off the servers' CPU
        os.sched_setaffinity(0, {int(load_cpus)})
    folder = Path(tempfile.mkdtemp(prefix="keyrotor-bench-"))
    stores = Stores(folder, args.database)
    ctx = Context(
        folder=folder,
        stores=stores,
        loader=Loader(args.seconds, load_cpus, args.warmup),
        rounds=args.repeat,
        server_cpus=server_cpus,
        pool_size=POOL_SIZE if serve_has("--key-pool-size") else 0,
        pool_warmup=args.pool_warmup,
    )
    report: dict[str, Any] = {
        "command": [os.environ.get("BENCH_ENTRY", sys.argv[0]), *(argv or sys.argv[1:])],
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "settings": settings(args, server_cpus, load_cpus),
        "errors": {},
    }
    began = time.monotonic()
    status = 0
    try:
        run_phases(ctx, args, report)
    except KeyboardInterrupt:
        report["errors"]["run"] = "interrupted (Ctrl-C): partial results"
        status = 130
    except SystemExit as exc:  # SIGTERM or SIGHUP (see bench.procs.install_cleanup)
        report["errors"]["run"] = "terminated by a signal: partial results"
        status = exc.code if isinstance(exc.code, int) else 1
    finally:
        stop_all()
        cleanup(stores, folder, keep_all=args.keep, keep_logs=bool(report["errors"]))
    report["duration_seconds"] = round(time.monotonic() - began, 1)
    report["source_fingerprints"] = ctx.fingerprints
    report["rss"] = rss_summary(report)
    report["workdir"] = str(folder) if folder.exists() else None
    print(render(report))
    write(report, args.out)
    print(f"\nJSON: {args.out}")
    if report["workdir"]:
        print(f"logs: {report['workdir']}")
    return status or (1 if report["errors"] else 0)


def cleanup(stores: Stores, folder: Path, *, keep_all: bool, keep_logs: bool) -> None:
    """Drop the PostgreSQL databases; remove the folder, or only its stores to keep the logs."""
    try:
        stores.close()
    finally:
        if keep_all:
            pass
        elif keep_logs:
            for path in folder.glob("*.db*"):
                path.unlink(missing_ok=True)
        else:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
