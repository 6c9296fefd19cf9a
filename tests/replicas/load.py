"""Load on several replicas at once: rotating writers and checking readers, in threads.

Writers send rotations round-robin to every replica; readers poll every replica's key list
and JWKS and check the invariants on each answer (one ACTIVE key, at most one NEXT, a kid
is the thumbprint of its ``n``, a kid's ``n`` never changes, a key never goes back to an
earlier status on any one replica). Every answer is kept as an ``Outcome`` for the test
to judge. Everything is bounded: by a count of rotations, by a stop event, and by the HTTP
timeout.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from keyrotor.crypto import thumbprint

RANK = {"NEXT": 0, "ACTIVE": 1, "EXPIRED": 2}
KEYS = "/api/v1/authorizationServers/{}/credentials/keys"
ROTATE = "/api/v1/authorizationServers/{}/credentials/lifecycle/keyRotate"
JWKS = "/oauth2/{}/v1/keys"
PAUSE = 0.05  # seconds a thread waits after a failed call, as a client backing off would


@dataclass(frozen=True)
class Outcome:
    kind: str  # rotate | keys | jwks
    replica: int
    status: int | None  # None: no HTTP answer (connection error or client timeout)
    started: float  # time.monotonic()
    elapsed: float
    active: str | None = None  # the ACTIVE kid after an acknowledged rotation
    body: str = ""  # the error body, for a test's failure message

    @property
    def ended(self) -> float:
        return self.started + self.elapsed


@dataclass
class Load:
    """Rotations and reads against ``urls`` (one per replica) for one server."""

    urls: Sequence[str]
    server_id: str
    token: str
    timeout: float = 15.0
    outcomes: list[Outcome] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _n: dict[str, str] = field(default_factory=dict)
    _threads: list[threading.Thread] = field(default_factory=list)
    _turn: Iterator[int] = field(default_factory=itertools.count)

    # -- running ------------------------------------------------------------------------

    def writers(self, threads: int, rotations: int | None = None) -> None:
        """``threads`` writers; ``rotations`` in total, or until ``stop`` when ``None``."""
        budget = itertools.count() if rotations is None else iter(range(rotations))
        lock = threading.Lock()

        def take() -> bool:
            with lock:
                return next(budget, None) is not None

        for _ in range(threads):
            self._spawn("writer", lambda client: self._write(client, take))

    def readers(self, threads: int) -> None:
        for _ in range(threads):
            self._spawn("reader", self._read)

    def join(self, timeout: float) -> None:
        """Wait for the writers to finish their count, then stop the readers."""
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            if thread.name == "writer":
                thread.join(max(0, deadline - time.monotonic()))
        self.finish(max(0.0, deadline - time.monotonic()))

    def finish(self, timeout: float = 30) -> None:
        self.stop.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0, deadline - time.monotonic()))
        alive = [t.name for t in self._threads if t.is_alive()]
        assert not alive, f"load threads still running: {alive}"

    # -- judging ------------------------------------------------------------------------

    def of(self, kind: str, since: float = 0.0, until: float = float("inf")) -> list[Outcome]:
        with self._lock:
            return [o for o in self.outcomes if o.kind == kind and since <= o.started < until]

    def acknowledged(self) -> list[Outcome]:
        return [o for o in self.of("rotate") if o.status == 200]

    def statuses(self, since: float = 0.0, until: float = float("inf")) -> dict[int | None, int]:
        counts: dict[int | None, int] = {}
        with self._lock:
            for o in self.outcomes:
                if since <= o.started < until:
                    counts[o.status] = counts.get(o.status, 0) + 1
        return counts

    # -- the threads --------------------------------------------------------------------

    def _spawn(self, name: str, body: Callable[[httpx.Client], None]) -> None:
        def run() -> None:
            headers = {"Authorization": f"SSWS {self.token}", "Accept": "application/json"}
            with httpx.Client(headers=headers, timeout=self.timeout) as client:
                body(client)

        thread = threading.Thread(target=run, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _replica(self) -> int:
        with self._lock:
            return next(self._turn) % len(self.urls)

    def _write(self, client: httpx.Client, take: Callable[[], bool]) -> None:
        while not self.stop.is_set() and take():
            replica = self._replica()
            url = self.urls[replica] + ROTATE.format(self.server_id)
            if self._call(client, "rotate", replica, "POST", url, json={"use": "sig"}) is None:
                time.sleep(PAUSE)

    def _read(self, client: httpx.Client) -> None:
        # per replica: kid -> highest status rank this reader has seen there. Each replica's
        # answers never go back; across replicas one may lag a rotation by the documented
        # bound (docs/deployment.md), which test_replicas.py measures on its own
        seen: list[dict[str, int]] = [{} for _ in self.urls]
        while not self.stop.is_set():
            replica = self._replica()
            base = self.urls[replica]
            keys = self._call(client, "keys", replica, "GET", base + KEYS.format(self.server_id))
            if keys is not None:
                self._check_keys(keys.json(), f"replica {replica} key list", seen[replica])
            jwks = self._call(client, "jwks", replica, "GET", base + JWKS.format(self.server_id))
            if jwks is not None:
                self._check_jwks(jwks.json()["keys"], f"replica {replica} JWKS")
            if keys is None or jwks is None:
                time.sleep(PAUSE)

    def _call(
        self, client: httpx.Client, kind: str, replica: int, method: str, url: str, **kw: Any
    ) -> httpx.Response | None:
        """The response if it is a 200; every outcome is recorded."""
        started = time.monotonic()
        try:
            response = client.request(method, url, **kw)
        except httpx.HTTPError as exc:
            response = None
            outcome = Outcome(
                kind, replica, None, started, time.monotonic() - started, body=repr(exc)
            )
        else:
            ok = response.status_code == 200
            outcome = Outcome(
                kind,
                replica,
                response.status_code,
                started,
                time.monotonic() - started,
                active=_active(response) if ok and kind == "rotate" else None,
                body="" if ok else response.text,  # kept short: answers grow with the keys
            )
        with self._lock:
            self.outcomes.append(outcome)
        return response if outcome.status == 200 else None

    def _check_keys(self, keys: list[dict[str, str]], where: str, seen: dict[str, int]) -> None:
        statuses = [k["status"] for k in keys]
        if statuses.count("ACTIVE") != 1 or statuses.count("NEXT") > 1:
            self._violation(f"{where}: statuses {statuses}")
        for key in keys:
            self._check_n(key, where)
            rank = RANK[key["status"]]
            if rank < seen.get(key["kid"], rank):
                self._violation(f"{where}: {key['kid']} went back to {key['status']}")
            seen[key["kid"]] = max(rank, seen.get(key["kid"], rank))

    def _check_jwks(self, keys: list[dict[str, str]], where: str) -> None:
        if not keys:
            self._violation(f"{where}: no keys")
        for key in keys:
            self._check_n(key, where)

    def _check_n(self, key: dict[str, str], where: str) -> None:
        with self._lock:
            known = self._n.get(key["kid"])
        if known == key["n"]:
            return
        if known is not None:
            self._violation(f"{where}: the n of {key['kid']} changed")
        elif key["kid"] != thumbprint(key["n"], key["e"]):
            self._violation(f"{where}: kid {key['kid']} is not the thumbprint of its key")
        with self._lock:
            self._n.setdefault(key["kid"], key["n"])

    def _violation(self, text: str) -> None:
        with self._lock:
            self.violations.append(text)


def _active(response: httpx.Response) -> str | None:
    active = [k["kid"] for k in response.json() if k.get("status") == "ACTIVE"]
    return active[0] if len(active) == 1 else None


def percentile(values: Sequence[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]
