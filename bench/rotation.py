"""Rotation latency: concurrent rotators over HTTP, and bare RSA-2048 generation for reference.

Each rotator is a thread with its own httpx client rotating its own authorization server
``count`` times in a row; every latency is kept. The whole phase stops at ``deadline``
seconds even if rotations are slower than hoped.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from joserfc.jwk import RSAKey
from tests.conftest import ADMIN_TOKEN

from bench.stats import median, percentile, rounded

ROTATE = "/api/v1/authorizationServers/{}/credentials/lifecycle/keyRotate"


@dataclass
class Rotations:
    """Latencies (seconds) of the rotations that answered 200, and what else happened."""

    rotators: int
    planned: int
    latencies: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    wall_seconds: float = 0.0
    keygen_ms: list[float] = field(default_factory=list)

    @property
    def p50_ms(self) -> float | None:
        value = percentile(self.latencies, 50)
        return None if value is None else value * 1000

    @property
    def p99_ms(self) -> float | None:
        value = percentile(self.latencies, 99)
        return None if value is None else value * 1000

    def as_json(self) -> dict[str, Any]:
        return {
            "rotators": self.rotators,
            "rotations_each": self.planned,
            "completed": len(self.latencies),
            "failures": len(self.failures),
            "failure_samples": self.failures[:5],
            "p50_ms": rounded(self.p50_ms, 2),
            "p99_ms": rounded(self.p99_ms, 2),
            "max_ms": rounded(max(self.latencies) * 1000, 2) if self.latencies else None,
            "wall_seconds": round(self.wall_seconds, 3),
            "rotations_per_second": (
                round(len(self.latencies) / self.wall_seconds, 2) if self.wall_seconds else None
            ),
            "keygen_rsa2048_p50_ms": rounded(median(self.keygen_ms), 2),
            "keygen_samples": len(self.keygen_ms),
        }


def rotate_concurrently(
    base_url: str, server_ids: list[str], count: int, deadline: float = 300.0
) -> Rotations:
    """One thread per server, each rotating it ``count`` times; all stop by ``deadline`` s."""
    result = Rotations(rotators=len(server_ids), planned=count)
    lock = threading.Lock()
    stop_at = time.monotonic() + deadline

    def rotator(server_id: str) -> None:
        headers = {"Authorization": f"SSWS {ADMIN_TOKEN}"}
        with httpx.Client(base_url=base_url, headers=headers, timeout=60) as client:
            for _ in range(count):
                if time.monotonic() > stop_at:
                    return
                outcome = _rotate_once(client, server_id)
                with lock:
                    if isinstance(outcome, float):
                        result.latencies.append(outcome)
                    else:
                        result.failures.append(outcome)

    threads = [threading.Thread(target=rotator, args=(s,), daemon=True) for s in server_ids]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(max(0.0, stop_at - time.monotonic()) + 65)
    result.wall_seconds = time.monotonic() - started
    return result


def _rotate_once(client: httpx.Client, server_id: str) -> float | str:
    """The latency of one rotation, or what went wrong."""
    started = time.perf_counter()
    try:
        response = client.post(ROTATE.format(server_id), json={"use": "sig"})
    except httpx.HTTPError as exc:
        return f"{server_id}: {type(exc).__name__}: {exc}"
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        return f"{server_id}: {response.status_code} {response.text[:200]}"
    return elapsed


def keygen_ms(count: int) -> list[float]:
    """Milliseconds for each of ``count`` RSA-2048 generations in this process."""
    times = []
    for _ in range(count):
        started = time.perf_counter()
        RSAKey.generate_key(2048, private=True)
        times.append((time.perf_counter() - started) * 1000)
    return times
