"""Throughput rounds: every workload against its baseline and against keyrotor, alternating.

Each round runs, per workload, one wrk run on the baseline and one on keyrotor (the order
flips every round), so slow drifts of the machine hit both alike. The ratio keyrotor /
baseline is taken per round; the report gives the medians over rounds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bench.loadgen import Request, WrkResult, preflight, run_wrk
from bench.procs import Service, progress
from bench.stats import median, rounded
from bench.workloads import Workload


class ServerDied(RuntimeError):
    """A server under test stopped during a measurement."""


@dataclass(frozen=True)
class Loader:
    """How wrk runs: for how long, and on which CPUs."""

    seconds: float
    cpus: str | None
    warmup: float = 0.0

    def run(self, service: Service, request: Request, seconds: float | None = None) -> WrkResult:
        """One wrk run against a service that must still be alive afterwards."""
        result = run_wrk(service.url, request, seconds or self.seconds, self.cpus)
        if not service.alive():
            raise ServerDied(f"{service.name} exited:\n{service.log_tail()}")
        return result

    def warm(self, service: Service, request: Request) -> None:
        if self.warmup > 0:
            self.run(service, request, self.warmup)


@dataclass
class Measured:
    """The runs of one workload on one server, and what its preflight request found."""

    runs: list[WrkResult] = field(default_factory=list)
    problem: str | None = None

    @property
    def rps(self) -> float | None:
        return median([r.rps for r in self.runs])

    @property
    def p50_ms(self) -> float | None:
        return median([r.p50_ms for r in self.runs])

    @property
    def p99_ms(self) -> float | None:
        return median([r.p99_ms for r in self.runs])

    @property
    def errors(self) -> int:
        return sum(r.errors for r in self.runs)

    @property
    def non_2xx_3xx(self) -> int:
        return sum(r.non_2xx_3xx for r in self.runs)

    @property
    def flawed(self) -> bool:
        return self.problem is not None or self.errors > 0

    def as_json(self) -> dict[str, Any]:
        return {
            "rps": rounded(self.rps, 1),
            "p50_ms": rounded(self.p50_ms),
            "p99_ms": rounded(self.p99_ms),
            "errors": self.errors,
            "non_2xx_3xx": self.non_2xx_3xx,
            "preflight_problem": self.problem,
            "runs": [r.as_json() for r in self.runs],
        }


@dataclass
class Comparison:
    """One workload: keyrotor against its baseline over the rounds."""

    workload: Workload
    baseline: Measured = field(default_factory=Measured)
    keyrotor: Measured = field(default_factory=Measured)

    @property
    def ratios(self) -> list[float]:
        pairs = zip(self.keyrotor.runs, self.baseline.runs, strict=False)
        return [k.rps / b.rps for k, b in pairs if b.rps > 0]

    @property
    def ratio(self) -> float | None:
        return median(self.ratios)

    @property
    def flawed(self) -> bool:
        return self.baseline.flawed or self.keyrotor.flawed

    def verdict(self) -> str:
        """PASS or FAIL against the target (``-`` without one), flagged when runs had errors."""
        target, value = self.workload.target, self.ratio
        word = "-" if target is None or value is None else "PASS" if value >= target else "FAIL"
        if self.flawed:
            errors = self.baseline.errors + self.keyrotor.errors
            word += f" ERR({errors})" if errors else " ERR(preflight)"
        return word

    def as_json(self) -> dict[str, Any]:
        return {
            "workload": self.workload.name,
            "method": self.workload.request.method,
            "path": self.workload.request.path,
            "expect": self.workload.request.expect,
            "baseline_app": self.workload.baseline,
            "target_ratio": self.workload.target,
            "ratio": rounded(self.ratio),
            "ratios": [round(r, 3) for r in self.ratios],
            "verdict": self.verdict(),
            "baseline": self.baseline.as_json(),
            "keyrotor": self.keyrotor.as_json(),
        }


def compare(
    results: list[Comparison],
    baselines: dict[str, Service],
    keyrotor: Service,
    loader: Loader,
    rounds: int,
) -> None:
    """Run every workload ``rounds`` times on its baseline and on keyrotor, alternating.

    The runs are added to ``results`` as they finish, so an interrupted run keeps them.
    """
    for c in results:
        baseline = baselines[c.workload.baseline]
        c.baseline.problem = preflight(baseline.url, c.workload.baseline_request())
        c.keyrotor.problem = preflight(keyrotor.url, c.workload.request)
        loader.warm(baseline, c.workload.baseline_request())
        loader.warm(keyrotor, c.workload.request)
    for round_no in range(rounds):
        progress(f"round {round_no + 1}/{rounds}: {len(results)} workloads x 2 servers")
        for c in results:
            sides = [
                (c.baseline, baselines[c.workload.baseline], c.workload.baseline_request()),
                (c.keyrotor, keyrotor, c.workload.request),
            ]
            for measured, service, request in sides[:: -1 if round_no % 2 else 1]:
                measured.runs.append(loader.run(service, request))


def measure(
    workloads: list[Workload], service: Service, loader: Loader, rounds: int
) -> dict[str, Measured]:
    """Run every workload ``rounds`` times on one server (no baseline), round-robin."""
    results = {w.name: Measured() for w in workloads}
    for w in workloads:
        results[w.name].problem = preflight(service.url, w.request)
        loader.warm(service, w.request)
    for round_no in range(rounds):
        progress(f"round {round_no + 1}/{rounds} on {service.name}: {len(workloads)} workloads")
        for w in workloads:
            results[w.name].runs.append(loader.run(service, w.request))
    return results
