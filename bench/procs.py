"""Server processes for the benchmark: started pinned to CPUs, stopped by PID whatever happens.

Every process started here is remembered until it is stopped; an ``atexit`` hook and a
SIGTERM handler stop whatever is left, so an error or Ctrl-C never leaves a server behind.
Stopping terminates the process, waits, then kills it and any children it left.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import httpx

STOP_TIMEOUT = 10.0
_running: dict[int, Service] = {}


def progress(message: str) -> None:
    """A timestamped line on stderr, so a long run shows where it is."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pinned(cpus: str | None, command: Sequence[str]) -> list[str]:
    """``command`` run under ``taskset -c cpus`` (taskset execs it: the PID stays the same)."""
    return ["taskset", "-c", cpus, *command] if cpus else list(command)


def all_cpus() -> str:
    """Every CPU this machine has, in taskset's list syntax (to undo an inherited pinning)."""
    return f"0-{(os.cpu_count() or 1) - 1}"


@dataclass
class Service:
    """One HTTP server process on 127.0.0.1, its output in ``log``."""

    name: str
    command: list[str]
    port: int
    log: Path
    env: dict[str, str] | None = None
    cwd: Path | None = None
    ready_path: str = "/healthz"
    process: subprocess.Popen[bytes] | None = None
    spawned_at: float = 0.0
    ready_after: float = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None, f"{self.name} was not started"
        return self.process.pid

    def start(self, timeout: float = 60.0) -> Service:
        """Spawn the process and wait until ``ready_path`` answers anything but a 5xx."""
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                self.command,
                env=self.env,
                cwd=self.cwd,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # Ctrl-C reaches us only; we stop it ourselves
            )
        self.spawned_at = time.monotonic()
        _running[self.process.pid] = self
        self._wait_ready(timeout)
        self.ready_after = time.monotonic() - self.spawned_at
        return self

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                self.stop()
                raise RuntimeError(f"{self.name} exited during start:\n{self.log_tail()}")
            try:
                if httpx.get(self.url + self.ready_path, timeout=2).status_code < 500:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.name} did not start in {timeout:.0f} s:\n{self.log_tail()}")

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        """Terminate the process (then kill it and its children after a timeout)."""
        process = self.process
        if process is None:
            return
        _running.pop(process.pid, None)
        if process.poll() is not None:
            return
        children = descendants(process.pid)
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        for pid in children:  # workers a killed supervisor could not stop
            _kill(pid)

    def rss_bytes(self) -> int:
        """Resident memory of the process and all its descendants."""
        if not self.alive():
            return 0
        return sum(_rss(pid) for pid in [self.pid, *descendants(self.pid)])

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def descendants(pid: int) -> list[int]:
    """Children, grandchildren… of ``pid``, from /proc (empty once it is gone)."""
    found: list[int] = []
    pending = [pid]
    while pending:
        parent = pending.pop()
        for child in _children(parent):
            if child not in found:
                found.append(child)
                pending.append(child)
    return found


def _children(pid: int) -> list[int]:
    result: list[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return result
    for task in tasks:
        try:
            result.extend(int(c) for c in (task / "children").read_text().split())
        except (OSError, ValueError):
            continue
    return result


def _rss(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def stop_all() -> None:
    """Stop every process still running (the atexit and signal path)."""
    for service in list(_running.values()):
        service.stop()


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds through every ``finally``


def install_cleanup() -> None:
    """Stop leftover servers at exit; SIGINT (even if inherited as ignored, as in a
    background job) raises KeyboardInterrupt and SIGTERM/SIGHUP SystemExit, so both unwind."""
    atexit.register(stop_all)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _on_sigterm)


class RssSampler:
    """Samples a service's RSS every ``interval`` seconds in a thread; keeps the maximum."""

    def __init__(self, service: Service, interval: float = 0.5) -> None:
        self.service = service
        self.interval = interval
        self.max_bytes = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss", daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.max_bytes = max(self.max_bytes, self.service.rss_bytes())
            self.samples += 1
            self._stop.wait(self.interval)
