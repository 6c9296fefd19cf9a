"""API tokens revoked or expired on one replica are refused by every other within a second,
though each had the token cached (real ``keyrotor serve`` processes on one database)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ADMIN_TOKEN
from tests.replicas.cluster import Cluster, db_upgrade

pytestmark = pytest.mark.e2e
SERVER = "/api/v1/authorizationServers/default"  # answered from the caches once warm
TOKENS = "/api/v1/api-tokens"
BOUND = 1.0  # seconds: docs/deployment.md promises a change reaches every replica


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'keyrotor.db'}"
    return str(request.getfixturevalue("postgres_url"))


def cli(replicas: Cluster, *args: str) -> Any:
    """``keyrotor … --json`` on the replicas' store, as an operator runs it beside them."""
    server = replicas.servers[0]
    done = subprocess.run(
        [sys.executable, "-m", "keyrotor", *args, "--json", "--database", server.database],
        env=server.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


def calls(http: httpx.Client, url: str, value: str) -> int:
    return http.get(url + SERVER, headers={"Authorization": f"SSWS {value}"}).status_code


def warm(http: httpx.Client, replicas: Cluster, value: str) -> None:
    for url in replicas.urls:
        for _ in range(3):
            assert calls(http, url, value) == 200


def refused_within(http: httpx.Client, url: str, value: str, since: float) -> float:
    """Seconds from ``since`` until ``url`` answers 401 to ``value`` (polled)."""
    while True:
        status = calls(http, url, value)
        lag = time.monotonic() - since
        if status == 401:
            return lag
        assert status == 200, status
        if lag > 5 * BOUND:
            return lag
        time.sleep(0.01)


def test_revocation_and_expiry_reach_every_replica(
    database: str, cluster: Callable[..., Cluster]
) -> None:
    if database.startswith("postgresql"):
        db_upgrade(database)  # SQLite: `serve` makes and upgrades the store itself
    replicas = cluster(database, 2)
    admin = {"Authorization": f"SSWS {ADMIN_TOKEN}"}
    with httpx.Client(timeout=15) as http:
        # revoked through the API of replica 0
        made = cli(replicas, "tokens", "create", "--name", "api-revoked")
        warm(http, replicas, made["token"])
        revoked = http.delete(f"{replicas.urls[0]}{TOKENS}/{made['id']}", headers=admin)
        assert revoked.status_code == 204, revoked.text
        since = time.monotonic()
        assert calls(http, replicas.urls[0], made["token"]) == 401  # at once where revoked
        lag = refused_within(http, replicas.urls[1], made["token"], since)
        assert lag < BOUND, f"replica 1 refused the revoked token after {lag:.3f} s"

        # revoked by the CLI, another process: both replicas hear of it
        made = cli(replicas, "tokens", "create", "--name", "cli-revoked")
        warm(http, replicas, made["token"])
        assert cli(replicas, "tokens", "revoke", made["id"]) is None
        since = time.monotonic()
        for url in replicas.urls:
            lag = refused_within(http, url, made["token"], since)
            assert lag < BOUND, f"{url} refused the revoked token after {lag:.3f} s"

        # the caller's own token, through replica 1's `current`
        made = cli(replicas, "tokens", "create", "--name", "current")
        warm(http, replicas, made["token"])
        mine = {"Authorization": f"SSWS {made['token']}"}
        assert http.delete(f"{replicas.urls[1]}{TOKENS}/current", headers=mine).status_code == 204
        lag = refused_within(http, replicas.urls[0], made["token"], time.monotonic())
        assert lag < BOUND, f"replica 0 refused the revoked token after {lag:.3f} s"

        # expiring two seconds from now: refused everywhere once the moment has passed
        expires = datetime.now(UTC) + timedelta(seconds=2)
        made = cli(replicas, "tokens", "create", "--expires-at", expires.isoformat())
        warm(http, replicas, made["token"])
        time.sleep(max(0.0, (expires - datetime.now(UTC)).total_seconds()) + 0.05)
        for url in replicas.urls:
            assert calls(http, url, made["token"]) == 401

        listed = http.get(replicas.urls[1] + TOKENS, headers=admin).json()
        assert [t["name"] for t in listed] == ["bootstrap"], replicas.logs()[-2000:]
