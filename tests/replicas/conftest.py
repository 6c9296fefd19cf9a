"""Fixtures of the replica tests: a cluster of real ``keyrotor serve`` processes on one database."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from keyrotor.crypto import encode_kek, new_kek
from tests.conftest import ADMIN_TOKEN, ServerProcess, server_env
from tests.replicas.support import all_at_once

# every replica: no practical rate limit (it is per replica anyway), frequent sweeps
REPLICA_ARGS = ("--rate-limit", "1000000", "--sweep-interval", "0.5")


@dataclass
class Cluster:
    """Replicas of one deployment: one database, one key-encryption key."""

    servers: list[ServerProcess]

    @property
    def urls(self) -> list[str]:
        return [s.url for s in self.servers]

    def client(self, timeout: float = 15) -> httpx.Client:
        headers = {"Authorization": f"SSWS {ADMIN_TOKEN}", "Accept": "application/json"}
        return httpx.Client(headers=headers, timeout=timeout)

    def create_server(self, name: str = "replicas") -> str:
        """A new AUTO authorization server, made through the first replica; its id."""
        body = {"name": name, "audiences": [f"api://{name}"]}
        with self.client() as client:
            response = client.post(self.urls[0] + "/api/v1/authorizationServers", json=body)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    def logs(self) -> str:
        return "\n".join(f"--- replica {i}\n{s.output()}" for i, s in enumerate(self.servers))


def db_upgrade(database: str) -> None:
    """``keyrotor db upgrade``, as an operator runs it before starting the replicas."""
    command = [sys.executable, "-m", "keyrotor", "db", "upgrade", "--database", database]
    run = subprocess.run(command, capture_output=True, text=True, timeout=60, env=server_env())
    assert run.returncode == 0, run.stdout + run.stderr


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Callable[..., Cluster]]:
    """``cluster(database, n)``: n replicas started at the same moment (first start races)."""
    started: list[ServerProcess] = []

    def start(database: str, n: int = 3, *args: str) -> Cluster:
        kek = encode_kek(new_kek())  # one key-encryption key, shared by every replica
        servers = [
            ServerProcess(
                database=database,
                env=server_env(KEYROTOR_KEK=kek),
                args=(*REPLICA_ARGS, *args),
                log=tmp_path / f"replica-{len(started) + i}.log",
            )
            for i in range(n)
        ]
        started.extend(servers)
        results = all_at_once([lambda s=s: s.start(timeout=60) for s in servers], timeout=90)
        failed = [r for r in results if isinstance(r, BaseException)]
        assert not failed, failed
        return Cluster(servers)

    yield start
    for server in started:
        server.stop()
