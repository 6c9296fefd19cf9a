"""``serve --workers 2`` on SQLite: processes that share a file hear each other's changes,
and a rotation made by another process (the CLI) reaches every worker within the bound."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.conftest import ADMIN_TOKEN, UNLIMITED, ServerProcess, server_env

pytestmark = pytest.mark.e2e

COHERENCE_BOUND = 1.0  # seconds (docs/deployment.md)
KEYS = "/api/v1/authorizationServers/default/credentials/keys"


def _active(client: httpx.Client, url: str) -> str:
    keys = client.get(url + KEYS).json()
    return str(next(k["kid"] for k in keys if k["status"] == "ACTIVE"))


def test_a_rotation_by_another_process_reaches_every_worker_within_the_bound(
    start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    database = f"sqlite:///{tmp_path / 'workers.db'}"
    server = start_server(database, "--workers", "2", *UNLIMITED)
    headers = {"Authorization": f"SSWS {ADMIN_TOKEN}"}
    # several connections, so that both workers answer and cache `default`
    clients = [httpx.Client(headers=headers, timeout=10) for _ in range(8)]
    try:
        before = {_active(c, server.url) for c in clients}
        assert len(before) == 1
        rotate = [sys.executable, "-m", "keyrotor", "keys", "rotate", "default"]
        run = subprocess.run(
            [*rotate, "--database", database, "--json"],
            capture_output=True,
            text=True,
            timeout=60,
            env=server_env(),
        )
        assert run.returncode == 0, run.stderr
        started = time.monotonic()
        while {_active(c, server.url) for c in clients} & before:
            assert time.monotonic() - started < COHERENCE_BOUND
            time.sleep(0.01)
    finally:
        for client in clients:
            client.close()
    assert "Workers: 2 processes" in server.output()
