"""Shared fixtures: a controllable clock, services on every backend, the in-process app,
and real server processes (``live_server``, ``start_server``) for end-to-end tests."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from starlette.testclient import TestClient

from keyrotor.apitokens import ALL_SCOPES, SCOPE_READ
from keyrotor.clock import ManualClock
from keyrotor.config import Settings
from keyrotor.crypto import KeyFactory, Sealer, Secret, encode_kek, new_kek
from keyrotor.http import create_app, hosts
from keyrotor.runtime import open_service
from keyrotor.service import KeyService

ADMIN_TOKEN = "00admin-token-for-tests-0123456789abcdefgh"
READ_TOKEN = "00read-only-token-for-tests-0123456789abcd"
TEST_KEK = Secret(bytes(range(32)))
START = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
POSTGRES_ENV = "KEYROTOR_TEST_POSTGRES_URL"
# serve arguments for tests that load a server: no rate limit in the way
UNLIMITED = (
    *("--rate-limit", "1000000"),
    *("--token-rate-limit", "1000000"),
    *("--public-rate-limit", "1000000"),
)


@pytest.fixture(autouse=True)
def in_process_host(monkeypatch: pytest.MonkeyPatch) -> None:
    """Starlette's TestClient sends ``Host: testserver`` from this very process: count it
    as loopback, as a real client on this machine would be."""
    monkeypatch.setattr(hosts, "LOOPBACK", hosts.LOOPBACK | {"testserver"})


@pytest.fixture
def clock() -> ManualClock:
    """A clock that stands still until a test moves it."""
    return ManualClock(START)


@pytest.fixture
def factory() -> KeyFactory:
    return KeyFactory(Sealer(TEST_KEK))


@pytest.fixture
def settings() -> Settings:
    return Settings(database_url="memory://", kek=TEST_KEK)


def postgres_base_url() -> str | None:
    """The PostgreSQL server of the tests; in CI its absence is a failure, not a skip."""
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        if os.environ.get("CI"):
            pytest.fail(f"{POSTGRES_ENV} is not set: PostgreSQL tests must run in CI")
        pytest.skip(f"{POSTGRES_ENV} is not set (scripts/test sets it)")
    return url


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    base = make_url(postgres_base_url())
    name = f"keyrotor_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base.set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # a missing server fails the test: it must run
        pytest.fail(f"PostgreSQL at {base.render_as_string()} is not usable: {exc}")
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Every backend: the storage contract runs on each."""
    if request.param == "memory":
        return "memory://"
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'keyrotor.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture(params=["sqlite", "postgresql"])
def sql_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The SQL stores only: migrations, and what the memory store cannot refuse."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'keyrotor.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def make_service(clock: ManualClock) -> Iterator[Callable[..., KeyService]]:
    """Open services on a URL (migrated), closed at the end of the test."""
    opened: list[KeyService] = []

    def make(url: str = "memory://", **overrides: object) -> KeyService:
        settings = Settings(database_url=url, kek=TEST_KEK, **overrides)  # type: ignore[arg-type]
        service = open_service(settings, clock=clock, migrate=True)
        service.ensure_default()
        opened.append(service)
        return service

    yield make
    for service in opened:
        service.store.close()


@pytest.fixture
def service(make_service: Callable[..., KeyService]) -> KeyService:
    """A service on the in-memory store with the manual clock."""
    return make_service()


@pytest.fixture
def client(service: KeyService, settings: Settings) -> Iterator[TestClient]:
    """The ASGI app in-process, with an admin token (``ADMIN_TOKEN``) and a read-only one."""
    service.create_token("admin", ALL_SCOPES, ADMIN_TOKEN)
    service.create_token("reader", (SCOPE_READ,), READ_TOKEN)
    app = create_app(service, settings, sweep=False)
    with TestClient(app, headers={"Authorization": f"SSWS {ADMIN_TOKEN}"}) as test_client:
        yield test_client


# -- real server processes ----------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ServerProcess:
    """A ``keyrotor serve`` process on a free port."""

    database: str
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    token: str = ADMIN_TOKEN
    args: tuple[str, ...] = ()
    process: subprocess.Popen[str] | None = None
    log: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> ServerProcess:
        command = serve_command(self.port, self.database, *self.args)
        assert self.log is not None
        with self.log.open("a") as out:  # the child keeps its own copy of the descriptor
            self.process = subprocess.Popen(
                command, env=self.env, stdout=out, stderr=subprocess.STDOUT, text=True
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"keyrotor serve exited:\n{self.log.read_text()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError(f"keyrotor serve did not start:\n{self.log.read_text()}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

    def output(self) -> str:
        return self.log.read_text() if self.log else ""


def serve_command(port: int, database: str, *args: str) -> list[str]:
    """``keyrotor serve`` on 127.0.0.1:``port`` (tests and ``bench/``)."""
    return [
        sys.executable,
        "-m",
        "keyrotor",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--database",
        database,
        *args,
    ]


def server_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEYROTOR_")}
    env.update({"KEYROTOR_BOOTSTRAP_TOKEN": ADMIN_TOKEN, "PYTHONUNBUFFERED": "1"}, **extra)
    return env


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """Start real ``keyrotor serve`` processes; all are stopped at the end of the test."""
    started: list[ServerProcess] = []

    def start(database: str | None = None, *args: str, **env: str) -> ServerProcess:
        server = ServerProcess(
            database=database or f"sqlite:///{tmp_path / 'keyrotor.db'}",
            env=server_env(**env),
            args=args,
            log=tmp_path / f"server-{len(started)}.log",
        )
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One real server on a temporary SQLite file, shared by a whole test session."""
    folder = tmp_path_factory.mktemp("live")
    server = ServerProcess(
        database=f"sqlite:///{folder / 'keyrotor.db'}",
        env=server_env(KEYROTOR_KEK=encode_kek(new_kek())),
        log=folder / "server.log",
    )
    server.start()
    yield server
    server.stop()


def random_name(prefix: str = "test") -> str:
    return f"{prefix}-{secrets.token_hex(4)}"
