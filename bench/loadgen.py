"""Load generation with wrk, and the single checked request made before each wrk run.

wrk runs as ``wrk -t1 -c32 -d<seconds>s --latency`` with ``bench/lua/request.lua``, which
sets the method, headers and body from the environment, counts every response's status and
prints one ``BENCH_RESULT {json}`` line at the end; that line is what is parsed here.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.procs import pinned

LUA_SCRIPT = Path(__file__).resolve().parent / "lua" / "request.lua"
CONNECTIONS = 32
THREADS = 1
SOCKET_TIMEOUT = "5s"
GRACE = 30.0  # seconds wrk may overrun its duration before it is killed


@dataclass(frozen=True)
class Request:
    """One HTTP request, repeated by wrk: method, path, headers, body and expected status."""

    method: str
    path: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: str = ""
    expect: int = 200
    must_contain: str = ""  # checked in the preflight response body

    def environment(self) -> dict[str, str]:
        """What ``request.lua`` reads."""
        lines = "\n".join(f"{name}: {value}" for name, value in self.headers.items())
        return {"BENCH_METHOD": self.method, "BENCH_BODY": self.body, "BENCH_HEADERS": lines}


@dataclass
class WrkResult:
    """One wrk run: throughput, latency, and anything that was not the expected answer."""

    requests: int
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    statuses: dict[int, int]
    non_2xx_3xx: int
    socket_errors: int
    unexpected: int

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0

    @property
    def errors(self) -> int:
        """Responses that were not the expected status, plus socket errors."""
        return self.unexpected + self.socket_errors

    def as_json(self) -> dict[str, Any]:
        return {
            "rps": round(self.rps, 1),
            "requests": self.requests,
            "seconds": round(self.seconds, 3),
            "p50_ms": round(self.p50_ms, 3),
            "p90_ms": round(self.p90_ms, 3),
            "p99_ms": round(self.p99_ms, 3),
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "non_2xx_3xx": self.non_2xx_3xx,
            "socket_errors": self.socket_errors,
            "unexpected": self.unexpected,
        }


class WrkFailed(RuntimeError):
    """wrk ended without its result line."""


def run_wrk(base_url: str, request: Request, seconds: float, cpus: str | None) -> WrkResult:
    """Load ``base_url + request.path`` for ``seconds`` (wrk on ``cpus``); bounded in time."""
    command = pinned(
        cpus,
        [
            "wrk",
            f"-t{THREADS}",
            f"-c{CONNECTIONS}",
            f"-d{max(1, round(seconds))}s",
            f"--timeout={SOCKET_TIMEOUT}",
            "--latency",
            "-s",
            str(LUA_SCRIPT),
            base_url + request.path,
        ],
    )
    env = {**os.environ, **request.environment()}
    try:
        done = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=seconds + GRACE, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise WrkFailed(f"wrk did not finish within {seconds + GRACE:.0f} s") from exc
    return parse_result(done.stdout, request.expect, done.stderr)


def parse_result(output: str, expect: int, stderr: str = "") -> WrkResult:
    """The ``BENCH_RESULT`` line of wrk's output as a ``WrkResult``."""
    line = next((x for x in output.splitlines() if x.startswith("BENCH_RESULT ")), None)
    if line is None:
        raise WrkFailed(f"no result from wrk:\n{output}\n{stderr}")
    data = json.loads(line.removeprefix("BENCH_RESULT "))
    statuses = {int(k): int(v) for k, v in data["statuses"].items()}
    errors = data["errors"]
    latency = data["latency_us"]
    return WrkResult(
        requests=int(data["requests"]),
        seconds=int(data["duration_us"]) / 1e6,
        p50_ms=latency["p50"] / 1000,
        p90_ms=latency["p90"] / 1000,
        p99_ms=latency["p99"] / 1000,
        statuses=statuses,
        non_2xx_3xx=int(errors["status"]),
        socket_errors=sum(int(errors[k]) for k in ("connect", "read", "write", "timeout")),
        unexpected=sum(n for status, n in statuses.items() if status != expect),
    )


def preflight(base_url: str, request: Request) -> str | None:
    """Send the request once; ``None`` if it got the expected answer, else what went wrong."""
    try:
        response = httpx.request(
            request.method,
            base_url + request.path,
            headers=dict(request.headers),
            content=request.body.encode() if request.body else None,
            timeout=30,
        )
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"
    if response.status_code != request.expect:
        return f"status {response.status_code} (expected {request.expect}): {response.text[:200]}"
    if request.must_contain not in response.text:
        return f"no {request.must_contain!r} in {response.text[:200]}"
    return None


def wrk_version() -> str:
    """wrk's first line of ``-v`` output (it names the version)."""
    done = subprocess.run(["wrk", "-v"], capture_output=True, text=True, timeout=10, check=False)
    lines = (done.stdout or done.stderr).splitlines()
    return lines[0].strip() if lines else ""
