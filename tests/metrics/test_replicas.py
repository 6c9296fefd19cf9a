"""Two real replicas on one PostgreSQL database: each counts its own requests and
rotations (a sum over replicas counts each once), and both report the same per-server
gauges, read from the shared store."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.metrics.scrape import Samples
from tests.replicas.cluster import db_upgrade, start_cluster

pytestmark = [pytest.mark.postgres, pytest.mark.e2e]

JWKS = "/oauth2/{server_id}/v1/keys"
REQUESTS = "keyrotor_http_requests_total"
SHARED = (  # the store's state: the same on every replica
    "keyrotor_server_info",
    "keyrotor_server_keys",
    "keyrotor_server_next_key_missing",
    "keyrotor_key_safe_to_retire",
)
MOVING = ("keyrotor_server_active_key_age_seconds", "keyrotor_server_next_rotation_seconds")


def _scrape(url: str) -> Samples:
    response = httpx.get(f"{url}/metrics", timeout=10)
    assert response.status_code == 200, response.text
    return Samples.parse(response.text)


def _of(
    samples: Samples, names: tuple[str, ...]
) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {k: v for k, v in samples.values.items() if k[0] in names}


def test_each_replica_counts_its_own_and_both_report_the_same_state(
    postgres_url: str, tmp_path: Path
) -> None:
    db_upgrade(postgres_url)
    cluster = start_cluster(postgres_url, 2, tmp_path)
    try:
        server_id = cluster.create_server("metrics")
        first, second = cluster.urls
        with httpx.Client(timeout=10) as client:
            for url, count in ((first, 5), (second, 3)):
                for _ in range(count):
                    assert client.get(f"{url}/oauth2/{server_id}/v1/keys").status_code == 200
        with cluster.client() as client:
            rotate = f"/api/v1/authorizationServers/{server_id}/credentials/lifecycle/keyRotate"
            assert client.post(second + rotate, json={"use": "sig"}).status_code == 200

        deadline = time.monotonic() + 10  # the first replica hears of the rotation (NOTIFY)
        while True:
            scrapes = [_scrape(first), _scrape(second)]
            expired = [
                s.get("keyrotor_server_keys", server=server_id, status="EXPIRED") for s in scrapes
            ]
            if expired == [1, 1] or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        one, two = scrapes
        assert one(REQUESTS, method="GET", route=JWKS, status="200") == 5
        assert two(REQUESTS, method="GET", route=JWKS, status="200") == 3
        assert one("keyrotor_rotations_total", trigger="manual") == 0
        assert two("keyrotor_rotations_total", trigger="manual") == 1
        created = "/api/v1/authorizationServers"
        assert one(REQUESTS, method="POST", route=created, status="201") == 1
        assert two.get(REQUESTS, method="POST", route=created, status="201") is None

        assert _of(one, SHARED) == _of(two, SHARED)
        assert one("keyrotor_key_safe_to_retire", server=server_id, kid=_kid(one, server_id)) == 0
        moving_one, moving_two = _of(one, MOVING), _of(two, MOVING)
        assert moving_one.keys() == moving_two.keys()
        assert all(abs(moving_one[k] - moving_two[k]) < 5 for k in moving_one)  # scraped apart
        assert one("keyrotor_server_active_key_age_seconds", server=server_id) < 30
    except BaseException:
        print(cluster.logs()[-4000:])
        raise
    finally:
        cluster.stop()


def _kid(samples: Samples, server_id: str) -> str:
    kids = {
        dict(labels)["kid"]
        for name, labels in samples.values
        if name == "keyrotor_key_safe_to_retire" and dict(labels)["server"] == server_id
    }
    assert len(kids) == 1, kids
    return kids.pop()
