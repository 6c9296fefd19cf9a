"""Several replicas on one PostgreSQL database: rotation throughput, and 503s while it is away.

    .venv/bin/python -m bench.replicas [--replicas 3] [--rotations 300] [--writers 9]
                                       [--readers 3] [--outage] [--postgres URL]

Makes a fresh database on the PostgreSQL server (``KEYROTOR_TEST_POSTGRES_URL``, else
``postgresql://postgres@127.0.0.1:5432/postgres``), runs ``keyrotor db upgrade``, starts the
replicas on it (through a TCP proxy with ``--outage``), and measures:

1. rotations per second across all replicas, with readers polling every replica's key list
   and JWKS (and checking the invariants), and the latency of each;
2. with ``--outage``: the database cut (connections reset) for 2 s, then frozen (nothing
   answers) for 6 s, under the same load: how fast the 503s come, and how soon every
   replica is ready again.

Everything runs on 127.0.0.1 and is bounded in count and time. Run from the repository root.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, make_url
from tests.replicas.cluster import Cluster, db_upgrade, start_cluster
from tests.replicas.load import Load, percentile
from tests.replicas.proxy import TcpProxy
from tests.replicas.support import key_counts

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"


@contextmanager
def scratch_database(server: str) -> Iterator[URL]:
    base = make_url(server).set(drivername="postgresql+psycopg")
    name = f"keyrotor_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server).set(database=name)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def throughput(cluster: Cluster, args: argparse.Namespace) -> str:
    server_id = cluster.create_server("bench")
    load = Load(cluster.urls, server_id, cluster.servers[0].token)
    started = time.monotonic()
    load.readers(args.readers)
    load.writers(args.writers, args.rotations)
    load.join(timeout=600)
    elapsed = time.monotonic() - started
    rotations = [o.elapsed for o in load.of("rotate")]
    reads = load.of("keys") + load.of("jwks")
    expired = key_counts(str(args.database), server_id).get("EXPIRED", 0)
    return "\n".join(
        [
            f"replicas {len(cluster.urls)}, writers {args.writers}, readers {args.readers}",
            f"rotations: {len(rotations)} in {elapsed:.1f} s = {len(rotations) / elapsed:.1f}/s"
            f" (p50 {percentile(rotations, 50) * 1000:.0f} ms,"
            f" p99 {percentile(rotations, 99) * 1000:.0f} ms)",
            f"reads: {len(reads)} = {len(reads) / elapsed:.1f}/s"
            f" (p50 {percentile([o.elapsed for o in reads], 50) * 1000:.0f} ms)",
            f"answers: {load.statuses()}; acknowledged {len(load.acknowledged())},"
            f" EXPIRED in the database {expired}; invariant violations {len(load.violations)}",
        ]
    )


def outage(cluster: Cluster, proxy: TcpProxy, args: argparse.Namespace) -> str:
    server_id = cluster.create_server("outage")
    load = Load(cluster.urls, server_id, cluster.servers[0].token, timeout=30)
    load.readers(args.readers)
    load.writers(args.writers)
    lines = []
    try:
        time.sleep(1)
        for kind, seconds in (("cut", 2.0), ("freeze", 6.0)):
            down = time.monotonic()
            getattr(proxy, kind)()
            time.sleep(seconds)
            up = time.monotonic()
            proxy.restore()
            ready = _ready(cluster, up)
            time.sleep(1)
            failed = [
                o.elapsed for o in load.outcomes if o.status == 503 and down <= o.started < up
            ]
            lines.append(
                f"{kind} {seconds:.0f} s: {len(failed)} answers 503, latency"
                f" p50 {percentile(failed, 50):.2f} s, p99 {percentile(failed, 99):.2f} s,"
                f" max {max(failed, default=0):.2f} s; all replicas ready {ready - up:.2f} s"
                " after the database returned"
            )
    finally:
        load.finish()
    others = {s: n for s, n in load.statuses().items() if s not in (200, 503)}
    lines.append(f"answers other than 200 and 503: {others or 'none'}")
    return "\n".join(lines)


def _ready(cluster: Cluster, since: float) -> float:
    with httpx.Client(timeout=10) as client:
        while time.monotonic() < since + 30:
            if all(client.get(u + "/readyz").status_code == 200 for u in cluster.urls):
                break
            time.sleep(0.05)
    return time.monotonic()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--rotations", type=int, default=300)
    parser.add_argument("--writers", type=int, default=9)
    parser.add_argument("--readers", type=int, default=3)
    parser.add_argument("--outage", action="store_true", help="also cut and freeze the database")
    parser.add_argument(
        "--postgres", default=os.environ.get("KEYROTOR_TEST_POSTGRES_URL", DEFAULT_POSTGRES)
    )
    args = parser.parse_args()
    if not 1 <= args.replicas <= 8 or not 1 <= args.rotations <= 5000:
        sys.exit("keep it bounded: 1-8 replicas, 1-5000 rotations")
    with scratch_database(args.postgres) as database, tempfile.TemporaryDirectory() as logs:
        args.database = database.render_as_string(hide_password=False)
        db_upgrade(args.database)
        with TcpProxy(database.host or "127.0.0.1", database.port or 5432) as proxy:
            via = database.set(host="127.0.0.1", port=proxy.port) if args.outage else database
            cluster = start_cluster(
                via.render_as_string(hide_password=False), args.replicas, Path(logs)
            )
            try:
                print(throughput(cluster, args), flush=True)
                if args.outage:
                    print(outage(cluster, proxy, args), flush=True)
            finally:
                cluster.stop()


if __name__ == "__main__":
    main()
