"""``/metrics`` of real ``keyrotor serve`` processes: the token, a scraper's Host, the
sums of ``--workers``, ``--no-metrics`` and a weak token refused."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.conftest import ADMIN_TOKEN, UNLIMITED, ServerProcess, server_env
from tests.metrics.scrape import Samples

pytestmark = pytest.mark.e2e

METRICS_TOKEN = "scrape-0f3a9C7e1B5d8K2m4P6r-Q9s1T3u5V7w"
JWKS = "/oauth2/{server_id}/v1/keys"
REQUESTS = "keyrotor_http_requests_total"


def _scrape(url: str, token: str | None = None) -> Samples:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = httpx.get(f"{url}/metrics", headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    return Samples.parse(response.text)


def test_a_served_process_counts_and_guards_its_metrics(
    start_server: Callable[..., ServerProcess],
) -> None:
    server = start_server(None, *UNLIMITED, KEYROTOR_METRICS_TOKEN=METRICS_TOKEN)
    refused = httpx.get(f"{server.url}/metrics", timeout=10)
    assert refused.status_code == 401
    assert refused.json()["errorCode"] == "E0000011"
    with httpx.Client(timeout=10) as client:  # one connection: fast path after the first
        for _ in range(5):
            assert client.get(f"{server.url}/oauth2/default/v1/keys").status_code == 200
        admin = {"Authorization": f"SSWS {ADMIN_TOKEN}"}
        rotate = "/api/v1/authorizationServers/default/credentials/lifecycle/keyRotate"
        assert client.post(server.url + rotate, json={"use": "sig"}, headers=admin).is_success
        # a scraper names the replica's address, not a host the server answers for
        elsewhere = {"Host": "10.9.8.7:9100", "Authorization": f"Bearer {METRICS_TOKEN}"}
        assert client.get(f"{server.url}/metrics", headers=elsewhere).status_code == 200
    found = _scrape(server.url, METRICS_TOKEN)
    assert found(REQUESTS, method="GET", route=JWKS, status="200") == 5
    assert found(REQUESTS, method="GET", route="/metrics", status="401") == 1
    assert found("keyrotor_rotations_total", trigger="manual") == 1
    assert found("keyrotor_server_keys", server="default", status="EXPIRED") == 1
    assert found("keyrotor_key_pool_target") == 10  # serve's default pool
    assert found("process_start_time_seconds") > 0  # one process: its own metrics too
    assert METRICS_TOKEN not in server.output()


def test_the_workers_of_one_serve_report_their_sum(
    start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    """Connections spread over two workers; every scrape, whichever worker answers it,
    reports every request once (the others' totals are at most a second old)."""
    server = start_server(f"sqlite:///{tmp_path / 'w.db'}", "--workers", "2", *UNLIMITED)
    count = 40
    for _ in range(count):  # a connection each: the kernel spreads them over the workers
        assert httpx.get(f"{server.url}/oauth2/default/v1/keys", timeout=10).status_code == 200
    time.sleep(1.6)
    for _ in range(6):
        found = _scrape(server.url)
        assert found(REQUESTS, method="GET", route=JWKS, status="200") == count
        assert found.get("process_start_time_seconds") is None  # per worker: left out
        assert found("keyrotor_store_up") == 1


def test_no_metrics_and_a_weak_token(
    start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    server = start_server(None, "--no-metrics")
    assert httpx.get(f"{server.url}/metrics", timeout=10).status_code == 404
    command = [
        sys.executable,
        "-m",
        "keyrotor",
        "serve",
        "--database",
        f"sqlite:///{tmp_path / 'x.db'}",
    ]
    weak = server_env(KEYROTOR_METRICS_TOKEN="metrics")
    run = subprocess.run(command, capture_output=True, text=True, timeout=60, env=weak)
    assert run.returncode == 1
    assert run.stderr.strip().splitlines() == [
        "Error: the metrics token is too weak (7 characters, at least 32 are needed): use a "
        "random value, e.g. `openssl rand -hex 32`"
    ]
    assert not (tmp_path / "x.db").exists()
