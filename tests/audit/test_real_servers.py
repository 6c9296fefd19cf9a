"""Real ``keyrotor serve`` processes: the record across replicas on one PostgreSQL database,
and the server's logs (``--log-format json``, ``--access-log``, ``--log-level``), which
never carry the admin token or the key-encryption key."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from keyrotor.crypto import encode_kek, new_kek
from tests.conftest import ADMIN_TOKEN, ServerProcess
from tests.okta_spec import OktaSpec
from tests.replicas.cluster import Cluster, db_upgrade, start_cluster

pytestmark = pytest.mark.e2e

SPEC = OktaSpec.load()
HEADERS = {"Authorization": f"SSWS {ADMIN_TOKEN}", "Accept": "application/json"}
SERVERS = "/api/v1/authorizationServers"


@pytest.fixture
def replicas(tmp_path: Path) -> Iterator[Callable[..., Cluster]]:
    started: list[Cluster] = []

    def start(database: str, n: int) -> Cluster:
        made = start_cluster(database, n, tmp_path / "replicas")
        started.append(made)
        return made

    yield start
    for made in started:
        made.stop()


def logs(url: str, **params: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{url}/api/v1/logs", params=params, headers=HEADERS, timeout=10)
    found: list[dict[str, Any]] = SPEC.check(response, "listLogEvents", 200)
    return found


def rotate(url: str, server_id: str) -> None:
    done = httpx.post(
        f"{url}{SERVERS}/{server_id}/credentials/lifecycle/keyRotate",
        json={"use": "sig"},
        headers=HEADERS,
        timeout=15,
    )
    assert done.status_code == 200, done.text


@pytest.mark.postgres
def test_changes_on_two_replicas_appear_in_each_ones_log(
    postgres_url: str, replicas: Callable[..., Cluster]
) -> None:
    db_upgrade(postgres_url)
    cluster = replicas(postgres_url, 2)
    first, second = cluster.urls
    server_id = cluster.create_server("audited")  # through the first replica
    rotations = 12
    with ThreadPoolExecutor(4) as pool:  # rotations on both replicas at once
        list(pool.map(lambda i: rotate(cluster.urls[i % 2], server_id), range(rotations)))
    query = {"filter": f'target.id eq "{server_id}"', "limit": "1000"}
    seen = [logs(url, **query) for url in (first, second)]
    assert seen[0] == seen[1], cluster.logs()[-3000:]
    kinds = [e["eventType"] for e in seen[0]]
    assert kinds[0] == "oauth2.as.created"
    assert kinds.count("app.oauth2.as.key.rollover") == rotations
    assert kinds.count("keyrotor.key.lifecycle.expire") == rotations
    assert len({e["uuid"] for e in seen[0]}) == len(seen[0])
    # each rotation's events are together: one transaction, in commit order
    transactions = [e["transaction"]["id"] for e in seen[0]]
    runs = [t for i, t in enumerate(transactions) if i == 0 or transactions[i - 1] != t]
    assert len(runs) == len(set(runs)) == rotations + 1
    # polling one replica with its next links sees the other's later changes
    polled = httpx.get(f"{second}/api/v1/logs", params=query, headers=HEADERS, timeout=10)
    follow = polled.headers["link"].split(", ")[-1].split(";")[0].strip("<>")
    rotate(first, server_id)
    later = httpx.get(follow, headers=HEADERS, timeout=10).json()
    assert later[0]["eventType"] == "app.oauth2.as.key.rollover"


def _lines(server: ServerProcess) -> list[str]:
    return [line for line in server.output().splitlines() if line.strip()]


def test_json_logs_are_one_object_per_line_without_secrets(
    start_server: Callable[..., ServerProcess],
) -> None:
    kek = encode_kek(new_kek())
    server = start_server(None, "--log-format", "json", "--access-log", KEYROTOR_KEK=kek)
    made = httpx.post(
        f"{server.url}{SERVERS}",
        json={"name": "logged", "audiences": ["api://logged"]},
        headers=HEADERS,
        timeout=10,
    )
    assert made.status_code == 201
    server_id = made.json()["id"]
    rotate(server.url, server_id)
    secret_query = {"client_secret": "hush-hush-1234", "limit": "5"}
    httpx.get(f"{server.url}/api/v1/logs", params=secret_query, headers=HEADERS, timeout=10)
    server.stop()
    output = server.output()
    assert ADMIN_TOKEN not in output
    assert kek not in output
    assert "hush-hush-1234" not in output
    records = [json.loads(line) for line in _lines(server)]  # every line is JSON
    for record in records:
        assert {"time", "level", "logger", "message"} <= set(record), record
    events = [r["event"] for r in records if "event" in r]
    rollovers = [e for e in events if e["eventType"] == "app.oauth2.as.key.rollover"]
    assert [e["target"]["id"] for e in rollovers] == [server_id]
    assert rollovers[0]["details"]["trigger"] == "MANUAL"
    assert all(r["level"] == "INFO" for r in records if "event" in r)
    access = [r["http"] for r in records if "http" in r]
    assert any(a["method"] == "POST" and a["status"] == 201 for a in access)
    masked = [a["path"] for a in access if "client_secret" in a["path"]]
    assert masked and all("client_secret=***" in p for p in masked)


def test_text_logs_and_the_log_level(start_server: Callable[..., ServerProcess]) -> None:
    quiet = start_server(None, "--log-level", "warning")
    rotate(quiet.url, "default")
    quiet.stop()
    assert "app.oauth2.as.key.rollover" not in quiet.output()
    assert "GET /api" not in quiet.output()  # no access log unless asked for
    chatty = start_server(None)
    rotate(chatty.url, "default")
    chatty.stop()
    lines = [line for line in _lines(chatty) if "app.oauth2.as.key.rollover" in line]
    assert len(lines) == 1 and "INFO" in lines[0] and "ApiToken" in lines[0]
    assert ADMIN_TOKEN not in chatty.output()
