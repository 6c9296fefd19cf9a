"""keyrotor's benchmark: throughput and latency as ratios against baselines of the same run.

    .venv/bin/python bench/run.py [--seconds 3] [--threads 4] [--database URL]

Starts a real `keyrotor serve` on 127.0.0.1 (a temporary SQLite file unless --database is
given), then measures, each for a bounded time:

- ``GET /healthz`` (baseline: the HTTP stack with no store access), the public JWKS, the
  key list, and a server GET, as requests per second, each as a ratio to the baseline;
- rotations in series, as milliseconds each, against bare RSA-2048 generation measured in
  this process (baseline: the unavoidable cost of a rotation).

Only 127.0.0.1 is ever targeted; every loop stops by itself.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from joserfc.jwk import RSAKey
from tests.conftest import ADMIN_TOKEN, ServerProcess, server_env


def throughput(url: str, path: str, seconds: float, threads: int) -> float:
    """Requests per second from ``threads`` keep-alive clients for ``seconds``."""
    counts = [0] * threads
    stop = time.monotonic() + seconds
    headers = {"Authorization": f"SSWS {ADMIN_TOKEN}"}

    def worker(i: int) -> None:
        with httpx.Client(base_url=url, headers=headers, timeout=10) as client:
            while time.monotonic() < stop:
                response = client.get(path)
                assert response.status_code == 200, response.text
                counts[i] += 1

    workers = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    start = time.monotonic()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return sum(counts) / (time.monotonic() - start)


def rotation_ms(url: str, count: int) -> float:
    headers = {"Authorization": f"SSWS {ADMIN_TOKEN}"}
    path = "/api/v1/authorizationServers/default/credentials/lifecycle/keyRotate"
    times = []
    with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
        for _ in range(count):
            start = time.perf_counter()
            assert client.post(path, json={"use": "sig"}).status_code == 200
            times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def keygen_ms(count: int) -> float:
    times = []
    for _ in range(count):
        start = time.perf_counter()
        RSAKey.generate_key(2048, private=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--rotations", type=int, default=20)
    parser.add_argument("--database")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        database = args.database or f"sqlite:///{Path(folder) / 'bench.db'}"
        server = ServerProcess(
            database=database,
            env=server_env(),
            args=("--rate-limit", "100000000"),
            log=Path(folder) / "server.log",
        )
        server.start()
        try:
            run(server.url, args)
        finally:
            server.stop()


def run(url: str, args: argparse.Namespace) -> None:
    paths = {
        "healthz (baseline)": "/healthz",
        "JWKS": "/oauth2/default/v1/keys",
        "key list": "/api/v1/authorizationServers/default/credentials/keys",
        "server get": "/api/v1/authorizationServers/default",
    }
    baseline = 0.0
    print(f"{'endpoint':<22}{'req/s':>10}{'x baseline':>12}")
    for name, path in paths.items():
        rate = throughput(url, path, args.seconds, args.threads)
        baseline = baseline or rate
        print(f"{name:<22}{rate:>10.0f}{rate / baseline:>12.2f}")
    keygen = keygen_ms(args.rotations)
    rotate = rotation_ms(url, args.rotations)
    print(f"\n{'RSA-2048 keygen (baseline)':<30}{keygen:>8.1f} ms")
    print(f"{'rotation over HTTP':<30}{rotate:>8.1f} ms  ({rotate / keygen:.2f} x baseline)")


if __name__ == "__main__":
    main()
