"""A live ``keyrotor serve`` per store (SQLite, PostgreSQL) for the fuzzing tests."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from keyrotor.crypto import encode_kek, new_kek
from tests.conftest import ServerProcess, postgres_base_url, server_env
from tests.fuzz.store import Store

# examples per operation and phase; KEYROTOR_FUZZ_EXAMPLES=500 for a long run (docs/security.md)
EXAMPLES = int(os.environ.get("KEYROTOR_FUZZ_EXAMPLES", "4"))


@dataclass
class Live:
    """A live server, its store's URL and a read-only view of that store."""

    server: ServerProcess
    database: str
    store: Store
    kind: str


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def live(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Live]:
    """One server per store for a whole module (the fuzzing is bounded, not the setup)."""
    folder = tmp_path_factory.mktemp(f"fuzz-{request.param}")
    with _database(request.param, folder) as database:
        server = ServerProcess(
            database=database,
            env=server_env(KEYROTOR_KEK=encode_kek(new_kek())),
            # limits out of the way: the fuzzing is one caller sending thousands of requests
            args=(
                "--migrate",
                *("--rate-limit", "1000000", "--token-rate-limit", "1000000"),
                *("--public-rate-limit", "1000000"),
            ),
            log=folder / "server.log",
        )
        server.start()
        store = Store(database)
        try:
            yield Live(server, database, store, request.param)
        finally:
            server.stop()
            store.close()


@contextlib.contextmanager
def _database(store: str, folder: Path) -> Iterator[str]:
    """A SQLite file, or a fresh PostgreSQL database dropped afterwards."""
    if store == "sqlite":
        yield f"sqlite:///{folder / 'keyrotor.db'}"
        return
    base = make_url(postgres_base_url())
    name = f"keyrotor_fuzz_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base.set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
