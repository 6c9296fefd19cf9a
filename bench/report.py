"""The run's report: one JSON document, and the plain-text table printed from it."""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.baselines import uvicorn_options
from bench.loadgen import wrk_version
from bench.rotation import Rotations
from bench.scale import RSS_TARGET_MB

ROTATION_P50_TARGET_MS = 10.0
ROTATION_P99_TARGET_MS = 50.0
COLUMNS = ("workload", "baseline req/s", "keyrotor req/s", "ratio", "target", "p50 ms", "p99 ms")


def machine() -> dict[str, Any]:
    """Where the numbers come from: CPUs, Python, the server stack's versions, the commit."""
    return {
        "nproc": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": {name: _version(name) for name in _PACKAGES},
        "wrk": wrk_version(),
        "baseline_uvicorn": {k: v for k, v in uvicorn_options().items() if k != "log_level"},
        "git": _git_state(),
    }


_PACKAGES = ("keyrotor", "uvicorn", "uvloop", "httptools", "starlette", "joserfc", "sqlalchemy")


def _version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def _git_state() -> dict[str, Any]:
    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", *args], capture_output=True, text=True, timeout=10, check=False
        )
        return done.stdout.strip()

    return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain"))}


def write(report: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")


# -- the text form ------------------------------------------------------------------------


def render(report: dict[str, Any]) -> str:
    """The table of workloads, then one block per other phase that ran."""
    parts = [_header(report)]
    if report.get("workloads"):
        parts.append(workload_table(report["workloads"]))
    if "rotation" in report:
        parts.append(rotation_line(report["rotation"]))
    if "scale" in report:
        parts.append(scale_block(report["scale"]))
    if "sweep" in report:
        parts.append(sweep_line(report["sweep"]))
    if report.get("rss"):
        parts.append(rss_line(report["rss"]))
    if "workers" in report:
        parts.append(workers_line(report["workers"]))
    if len(set(report.get("source_fingerprints", {}).values())) > 1:
        parts.append(
            "WARNING: keyrotor's source changed during the run; its servers ran different"
            f" code: {report['source_fingerprints']}"
        )
    parts.extend(f"ERROR in {phase}: {message}" for phase, message in report["errors"].items())
    return "\n\n".join(parts)


def _header(report: dict[str, Any]) -> str:
    m, s = report["machine"], report["settings"]
    versions = m["versions"]
    return (
        f"keyrotor {versions['keyrotor']} benchmark ({s['store']}), {m['nproc']} CPUs,"
        f" Python {m['python']}, uvicorn {versions['uvicorn']}, uvloop {versions['uvloop']}\n"
        f"{s['rounds']} round(s) x {s['seconds']:g} s per wrk run (-t1 -c32),"
        f" server on CPU {s['server_cpus']}, wrk on CPU {s['load_cpus']};"
        f" medians over rounds, ratio = keyrotor / baseline per round"
    )


def _num(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def workload_table(rows: Sequence[dict[str, Any]]) -> str:
    """Workload, medians, ratio against the target, keyrotor's latency, verdict."""
    body = [
        (
            f"{r['workload']} ({r['baseline_app']})",
            _num(r["baseline"]["rps"]),
            _num(r["keyrotor"]["rps"]),
            _num(r["ratio"], 2),
            "-" if r["target_ratio"] is None else f">= {r['target_ratio']:.2f}",
            _num(r["keyrotor"]["p50_ms"], 2),
            _num(r["keyrotor"]["p99_ms"], 2),
            r["verdict"],
        )
        for r in rows
    ]
    lines = [_table([*COLUMNS, "verdict"], body)]
    lines.append("(const) = constant-JSON baseline app, (sign) = RS256-signing baseline app")
    lines.extend(_problems(rows))
    return "\n".join(lines)


def _problems(rows: Sequence[dict[str, Any]]) -> list[str]:
    notes = []
    for r in rows:
        for side in ("baseline", "keyrotor"):
            m = r[side]
            if m["preflight_problem"]:
                notes.append(f"! {r['workload']} {side}: preflight {m['preflight_problem']}")
            if m["errors"]:
                statuses: dict[str, int] = {}
                for run in m["runs"]:
                    for status, n in run["statuses"].items():
                        statuses[status] = statuses.get(status, 0) + n
                notes.append(
                    f"! {r['workload']} {side}: {m['errors']} errors (expected {r['expect']};"
                    f" non-2xx/3xx {m['non_2xx_3xx']}; statuses {statuses})"
                )
    return notes


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]

    def line(cells: Sequence[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = [c.rjust(w) for c, w in zip(cells[1:-1], widths[1:-1], strict=True)]
        return "  ".join([first, *rest, cells[-1]]).rstrip()

    return "\n".join([line(header), *(line(r) for r in rows)])


def rotation_verdicts(rotation: dict[str, Any]) -> tuple[str, str]:
    def check(value: float | None, target: float) -> str:
        return "-" if value is None else "PASS" if value <= target else "FAIL"

    return (
        check(rotation["p50_ms"], ROTATION_P50_TARGET_MS),
        check(rotation["p99_ms"], ROTATION_P99_TARGET_MS),
    )


def rotation_json(rotations: Rotations) -> dict[str, Any]:
    data = rotations.as_json()
    p50, p99 = rotation_verdicts(data)
    data.update(
        target_p50_ms=ROTATION_P50_TARGET_MS,
        target_p99_ms=ROTATION_P99_TARGET_MS,
        verdict_p50=p50,
        verdict_p99=p99,
    )
    return data


def rotation_line(r: dict[str, Any]) -> str:
    if "skipped" in r:
        return f"rotation: skipped ({r['skipped']})"
    return (
        f"rotation  {r['rotators']} rotators x {r['rotations_each']}:"
        f" p50 {_num(r['p50_ms'], 1)} ms (target <= {r['target_p50_ms']:g}) {r['verdict_p50']},"
        f" p99 {_num(r['p99_ms'], 1)} ms (target <= {r['target_p99_ms']:g}) {r['verdict_p99']};"
        f" {r['completed']} done, {r['failures']} failed, {_num(r['rotations_per_second'], 1)}/s"
        f"\n          reference: RSA-2048 generation in-process"
        f" p50 {_num(r['keygen_rsa2048_p50_ms'], 1)} ms"
    )


def scale_block(s: dict[str, Any]) -> str:
    if "skipped" in s:
        return f"scale: skipped ({s['skipped']})"
    head = (
        f"scale  {s['servers']} seeded servers (seeded in {s['seeded_seconds']:g} s, server"
        f" ready in {s['start_seconds']:g} s), reads on {s['server_id']}, server list"
        f" limit={s['server_list_limit']}: p50 vs the 1-server run (target <= "
        f"{s['target_p50_ratio']:g}x)"
    )
    rows = [
        (
            w["workload"],
            _num(w["p50_ms"], 2),
            _num(w["one_server_p50_ms"], 2),
            _num(w["p50_ratio"], 2),
            _num(w["p99_ms"], 2),
            _num(w["rps"]),
            w["verdict"],
        )
        for w in s["workloads"]
    ]
    header = ["  workload", "p50 ms", "1-server p50", "ratio", "p99 ms", "req/s", "verdict"]
    return head + "\n" + _table(header, [("  " + r[0], *r[1:]) for r in rows])


def sweep_line(s: dict[str, Any]) -> str:
    if "skipped" in s:
        return f"sweep: skipped ({s['skipped']})"
    took = (
        f"all rotated {s['seconds']:g} s after start"
        if s["seconds"] is not None
        else f"timeout after {s['timeout_seconds']:g} s with {s['rotated']} rotated"
    )
    return (
        f"sweep  {s['servers']} due servers, --sweep-interval 1: {took}"
        f" (target < {s['target_seconds']:g} s) {s['verdict']}"
    )


def rss_line(rss: dict[str, Any]) -> str:
    phases = ", ".join(f"{k} {v:g} MB" for k, v in rss["max_mb_by_phase"].items())
    target = f"target < {RSS_TARGET_MB:g} MB"
    return f"RSS max  {rss['max_mb']:g} MB ({phases}; {target}) {rss['verdict']}"


def rss_summary(report: dict[str, Any]) -> dict[str, Any] | None:
    by_phase = {
        name: report[name]["rss_max_mb"]
        for name in ("scale", "sweep")
        if isinstance(report.get(name), dict) and "rss_max_mb" in report[name]
    }
    if not by_phase:
        return None
    peak = max(by_phase.values())
    return {
        "max_mb": peak,
        "max_mb_by_phase": by_phase,
        "target_mb": RSS_TARGET_MB,
        "verdict": "PASS" if peak < RSS_TARGET_MB else "FAIL",
    }


def workers_line(w: dict[str, Any]) -> str:
    if "skipped" in w:
        return f"workers: skipped ({w['skipped']})"
    return (
        f"workers  token: 1 worker (CPU 0) {_num(w['workers_1']['rps'])} req/s,"
        f" 2 workers (CPUs 0-1) {_num(w['workers_2']['rps'])} req/s:"
        f" {_num(w['ratio'], 2)}x (target >= {w['target_ratio']:g}) {w['verdict']}"
        f"\n         note: {w['note']}"
    )
