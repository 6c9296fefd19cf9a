"""keyrotor under test: its stores, its ``serve`` process, and its setup over HTTP.

Each phase of the benchmark gets a fresh store: a SQLite file in the run's folder, or, with
``--database postgresql://…``, a new database on that server, dropped at the end.
"""

from __future__ import annotations

import base64
import hashlib
import subprocess
import sys
import uuid
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url
from tests.conftest import ADMIN_TOKEN, serve_command, server_env

from bench.procs import Service, free_port, pinned

# a fixed key-encryption key, so the seeder can seal keys the server opens
BENCH_KEK = base64.b64encode(hashlib.sha256(b"keyrotor bench kek").digest()).decode()
RATE_LIMIT = "100000000"
SCOPE = "bench:read"


@cache
def serve_help() -> str:
    """``keyrotor serve --help``: which options this version of the server has."""
    command = [sys.executable, "-m", "keyrotor", "serve", "--help"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    return done.stdout


def serve_has(option: str) -> bool:
    return option in serve_help()


def source_fingerprint() -> str:
    """A short hash of keyrotor's Python source as it is now on disk.

    Each server started runs the source of that moment; comparing fingerprints shows when
    the code changed between the phases of one run.
    """
    import keyrotor

    root = Path(keyrotor.__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


class Stores:
    """Fresh, empty stores for the phases; PostgreSQL databases are dropped by ``close``."""

    def __init__(self, folder: Path, postgres: str | None = None) -> None:
        self.folder = folder
        self.postgres = postgres
        self._created: list[str] = []
        self._admin: Engine | None = None

    @property
    def is_postgres(self) -> bool:
        return self.postgres is not None

    def new(self, name: str) -> str:
        """The URL of a new empty store called after ``name``."""
        if self.postgres is None:
            return f"sqlite:///{self.folder / (name + '.db')}"
        database = f"keyrotor_bench_{uuid.uuid4().hex[:8]}_{name}"
        with self._admin_engine().connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{database}"'))
        self._created.append(database)
        url = make_url(self.postgres).set(database=database)
        return url.render_as_string(hide_password=False)

    def _admin_engine(self) -> Engine:
        if self._admin is None:
            assert self.postgres is not None
            url = make_url(self.postgres).set(drivername="postgresql+psycopg")
            self._admin = create_engine(url, isolation_level="AUTOCOMMIT")
        return self._admin

    def close(self) -> None:
        """Drop every database made here (servers on them must be stopped first)."""
        if self._admin is None:
            return
        with self._admin.connect() as conn:
            for database in self._created:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        self._created.clear()
        self._admin.dispose()
        self._admin = None


def reader_engine(url: str) -> Engine:
    """A SQLAlchemy engine that only reads the store at ``url`` (read-only for SQLite)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return create_engine(f"sqlite:///file:{parsed.database}?mode=ro&uri=true")
    return create_engine(parsed.set(drivername="postgresql+psycopg"))


def keyrotor_service(
    name: str,
    database: str,
    folder: Path,
    cpus: str | None,
    *,
    postgres: bool,
    pool_size: int = 0,
    extra: tuple[str, ...] = (),
) -> Service:
    """A ``keyrotor serve`` process (not started yet) with the benchmark's settings."""
    port = free_port()
    command = serve_command(
        port,
        database,
        "--rate-limit",
        RATE_LIMIT,
        "--token-rate-limit",
        RATE_LIMIT,
        "--public-rate-limit",
        RATE_LIMIT,
        *(["--migrate"] if postgres else []),
        *(["--key-pool-size", str(pool_size)] if pool_size else []),
        *extra,
    )
    return Service(
        name=name,
        command=pinned(cpus, command),
        port=port,
        log=folder / f"{name}.log",
        env=server_env(KEYROTOR_KEK=BENCH_KEK),
    )


class Admin:
    """keyrotor's management API with the admin token (``Authorization: SSWS …``)."""

    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(
            base_url=base_url, headers={"Authorization": f"SSWS {ADMIN_TOKEN}"}, timeout=60
        )

    def __enter__(self) -> Admin:
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()

    def _json(self, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
        response = self.http.request(method, path, json=body)
        if response.status_code != expect:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text[:300]}")
        return response.json()

    def create_server(self, name: str) -> str:
        body = {"name": name, "audiences": [f"api://{name}"]}
        return str(self._json("POST", "/api/v1/authorizationServers", body, 201)["id"])

    def create_scope(self, server_id: str, name: str = SCOPE) -> None:
        path = f"/api/v1/authorizationServers/{server_id}/scopes"
        response = self.http.post(path, json={"name": name})
        if response.status_code not in (200, 201):
            raise RuntimeError(f"POST {path}: {response.status_code} {response.text[:300]}")

    def register_client(self, name: str) -> tuple[str, str]:
        body = self._json("POST", "/oauth2/v1/clients", {"client_name": name}, 201)
        return str(body["client_id"]), str(body["client_secret"])

    def rotate(self, server_id: str) -> None:
        path = f"/api/v1/authorizationServers/{server_id}/credentials/lifecycle/keyRotate"
        self._json("POST", path, {"use": "sig"})

    def kids(self, server_id: str) -> list[str]:
        keys = self._json("GET", f"/api/v1/authorizationServers/{server_id}/credentials/keys")
        return [str(k["kid"]) for k in keys]

    def server_count(self) -> int:
        return len(self._json("GET", "/api/v1/authorizationServers"))

    def jwks_etag(self, server_id: str) -> str:
        response = self.http.get(f"/oauth2/{server_id}/v1/keys")
        etag = response.headers.get("etag")
        if response.status_code != 200 or not etag:
            raise RuntimeError(f"JWKS of {server_id}: {response.status_code}, ETag {etag!r}")
        return str(etag)


def basic_auth(client_id: str, secret: str) -> str:
    """RFC 6749 client_secret_basic: both parts form-urlencoded, then base64."""
    raw = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    return "Basic " + base64.b64encode(raw).decode()


@dataclass(frozen=True)
class Fixture:
    """What the workloads of one keyrotor need: whose keys to read, how to get a token."""

    server_id: str
    kid: str
    etag: str
    token_server_id: str
    basic: str
    list_limit: int | None = None


def prepare(admin: Admin, server_id: str = "default", token_server_id: str = "") -> Fixture:
    """Scope and client for tokens (on ``token_server_id``), and ``server_id``'s kid and ETag."""
    token_server_id = token_server_id or server_id
    admin.create_scope(token_server_id)
    client_id, secret = admin.register_client(f"bench-{token_server_id}")
    return Fixture(
        server_id=server_id,
        kid=admin.kids(server_id)[0],
        etag=admin.jwks_etag(server_id),
        token_server_id=token_server_id,
        basic=basic_auth(client_id, secret),
    )
