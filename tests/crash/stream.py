"""A stream of writes against one ``keyrotor serve`` that may be killed at any moment.

Several threads, each with its own seeded ``random.Random``, create servers (each with a
scope), rotate keys, register OAuth clients, ask for tokens and read the org server's JWKS
(which may make that server). Every answer goes into a
``Ledger`` that outlives the process: what was acknowledged (a 200 or 201, which must
survive any crash) and what got no answer (it may or may not have happened).
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt

from tests.conftest import ADMIN_TOKEN
from tests.replicas.load import PAUSE, RANK, ROTATE

SCOPE = "crash:read"
SERVERS = "/api/v1/authorizationServers"
SCOPES = "/api/v1/authorizationServers/{}/scopes"
CLIENTS = "/oauth2/v1/clients"
TOKEN = "/oauth2/{}/v1/token"
ORG_JWKS = "/oauth2/v1/keys"
MAX_CLIENTS = 12  # enough to spread tokens over; each survivor is checked after a restart
PUBLIC = {"token", "org"}  # operations without the admin token
# how often each thread picks each operation
WEIGHTS = {"rotate": 6, "token": 3, "create": 1, "client": 1, "org": 1}


@dataclass
class Ledger:
    """What the store must hold after a crash, as the answers showed it (every cycle)."""

    servers: set[str] = field(default_factory=set)  # acknowledged by a 201 (and `default`)
    scoped: set[str] = field(default_factory=set)  # servers whose scope was acknowledged
    clients: list[dict[str, str]] = field(default_factory=list)  # acknowledged registrations
    ranks: dict[str, int] = field(default_factory=dict)  # kid -> most advanced status seen
    n: dict[str, str] = field(default_factory=dict)  # kid -> its modulus, as first seen
    rotated: Counter[str] = field(default_factory=Counter)  # server -> acknowledged rotations
    unanswered: Counter[str] = field(default_factory=Counter)  # server -> rotations unanswered
    tokens: list[tuple[str, str]] = field(default_factory=list)  # (server, token) issued
    statuses: Counter[int | None] = field(default_factory=Counter)  # None: no answer
    problems: list[str] = field(default_factory=list)  # odd answers, broken invariants
    lock: threading.Lock = field(default_factory=threading.Lock)

    def floor(self) -> dict[str, int]:
        """The statuses known now: an answer to a request sent later shows none earlier
        (answers to concurrent requests may arrive in any order)."""
        with self.lock:
            return dict(self.ranks)

    def saw_key(
        self, kid: str, status: str, n: str, where: str, floor: dict[str, int] | None = None
    ) -> None:
        """A key as an answer or the store showed it: its ``n`` is fixed, its status only
        moves forward from what was known before (``floor``; by default all seen so far)."""
        with self.lock:
            if self.n.setdefault(kid, n) != n:
                self.problems.append(f"{where}: the n of {kid} changed")
            rank = RANK[status]
            if rank < (self.ranks if floor is None else floor).get(kid, -1):
                self.problems.append(f"{where}: {kid} went back to {status}")
            self.ranks[kid] = max(rank, self.ranks.get(kid, -1))

    def note(self, status: int | None, problem: str | None = None) -> None:
        with self.lock:
            self.statuses[status] += 1
            if problem:
                self.problems.append(problem)

    def pick(self, rng: random.Random, what: str) -> Any:
        with self.lock:
            choices: list[Any] = sorted(getattr(self, what)) if what != "clients" else self.clients
            return rng.choice(choices) if choices else None


class Stream:
    """``threads`` writers against ``url`` until ``stop()``."""

    def __init__(self, url: str, ledger: Ledger, seed: str, threads: int = 4) -> None:
        self.url = url
        self.ledger = ledger
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(f"{seed}/{i}",), name=f"stream-{i}")
            for i in range(threads)
        ]

    def start(self) -> Stream:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self, timeout: float = 30) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)
        alive = [t.name for t in self._threads if t.is_alive()]
        assert not alive, f"stream threads still running: {alive}"

    def _run(self, seed: str) -> None:
        rng = random.Random(seed)
        admin = {"Authorization": f"SSWS {ADMIN_TOKEN}", "Accept": "application/json"}
        with (
            httpx.Client(base_url=self.url, headers=admin, timeout=15) as api,
            httpx.Client(base_url=self.url, timeout=15) as public,
        ):
            while not self._stop.is_set():
                op = rng.choices(list(WEIGHTS), list(WEIGHTS.values()))[0]
                try:
                    getattr(self, f"_{op}")(public if op in PUBLIC else api, rng)
                except httpx.HTTPError:  # the server is gone (or going): try again later
                    self.ledger.note(None)
                    self._stop.wait(PAUSE)

    def _answer(self, response: httpx.Response, expected: int) -> bool:
        ok = response.status_code == expected
        problem = None if ok else f"{response.request.url.path}: {response.status_code} "
        self.ledger.note(response.status_code, problem and problem + response.text[:300])
        return ok

    def _rotate(self, api: httpx.Client, rng: random.Random) -> None:
        server_id = self.ledger.pick(rng, "servers")
        floor = self.ledger.floor()
        try:
            response = api.post(ROTATE.format(server_id), json={"use": "sig"})
        except httpx.ConnectError:  # refused: the request never reached a server
            raise
        except httpx.HTTPError:  # sent, but no answer: it may or may not have happened
            with self.ledger.lock:
                self.ledger.unanswered[server_id] += 1
            raise
        if not self._answer(response, 200):
            return
        keys = response.json()
        statuses = [k["status"] for k in keys]
        if statuses.count("ACTIVE") != 1 or statuses.count("NEXT") > 1:
            self.ledger.note(200, f"rotation of {server_id} answered {statuses}")
        for key in keys:
            where = f"rotation of {server_id}"
            self.ledger.saw_key(key["kid"], key["status"], key["n"], where, floor)
        with self.ledger.lock:
            self.ledger.rotated[server_id] += 1

    def _create(self, api: httpx.Client, rng: random.Random) -> None:
        name = f"crash-{rng.getrandbits(32):08x}"
        response = api.post(SERVERS, json={"name": name, "audiences": [f"api://{name}"]})
        if not self._answer(response, 201):
            return
        server_id = response.json()["id"]
        with self.ledger.lock:
            self.ledger.servers.add(server_id)
        if self._answer(api.post(SCOPES.format(server_id), json={"name": SCOPE}), 201):
            with self.ledger.lock:
                self.ledger.scoped.add(server_id)

    def _client(self, api: httpx.Client, rng: random.Random) -> None:
        if len(self.ledger.clients) >= MAX_CLIENTS:
            return
        response = api.post(CLIENTS, json={"client_name": f"crash-{rng.getrandbits(32):08x}"})
        if self._answer(response, 201):
            body = response.json()
            with self.ledger.lock:
                self.ledger.clients.append(
                    {"client_id": body["client_id"], "client_secret": body["client_secret"]}
                )

    def _org(self, public: httpx.Client, rng: random.Random) -> None:
        self._answer(public.get(ORG_JWKS), 200)

    def _token(self, public: httpx.Client, rng: random.Random) -> None:
        server_id, creds = self.ledger.pick(rng, "scoped"), self.ledger.pick(rng, "clients")
        if server_id is None or creds is None:
            return
        response = request_token(public, server_id, creds)
        if self._answer(response, 200):
            with self.ledger.lock:
                self.ledger.tokens.append((server_id, response.json()["access_token"]))


def request_token(http: httpx.Client, server_id: str, creds: dict[str, str]) -> httpx.Response:
    """A client_credentials request for ``SCOPE`` (client_secret_basic)."""
    return http.post(
        TOKEN.format(server_id),
        data={"grant_type": "client_credentials", "scope": SCOPE},
        auth=(creds["client_id"], creds["client_secret"]),
    )


def kid_of(token: str) -> str:
    return str(jwt.get_unverified_header(token)["kid"])
