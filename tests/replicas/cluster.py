"""A cluster of real ``keyrotor serve`` replicas on one database (tests and ``bench/``)."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx

from keyrotor.crypto import encode_kek, new_kek
from tests.conftest import ADMIN_TOKEN, UNLIMITED, ServerProcess, server_env
from tests.replicas.support import all_at_once

# every replica: no practical rate limit (it is per replica anyway), frequent sweeps
REPLICA_ARGS = (*UNLIMITED, "--sweep-interval", "0.5")


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

    def stop(self) -> None:
        for server in self.servers:
            server.stop()


def db_upgrade(database: str) -> None:
    """``keyrotor db upgrade``, as an operator runs it before starting the replicas."""
    command = [sys.executable, "-m", "keyrotor", "db", "upgrade", "--database", database]
    run = subprocess.run(command, capture_output=True, text=True, timeout=60, env=server_env())
    assert run.returncode == 0, run.stdout + run.stderr


def start_cluster(database: str, n: int, logs: Path, *args: str) -> Cluster:
    """n replicas sharing one fresh KEK, started at the same moment (first start races)."""
    kek = encode_kek(new_kek())
    logs.mkdir(parents=True, exist_ok=True)
    existing = len(list(logs.glob("replica-*.log")))
    cluster = Cluster(
        [
            ServerProcess(
                database=database,
                env=server_env(KEYROTOR_KEK=kek),
                args=(*REPLICA_ARGS, *args),
                log=logs / f"replica-{existing + i}.log",
            )
            for i in range(n)
        ]
    )
    results = all_at_once([lambda s=s: s.start(timeout=60) for s in cluster.servers], timeout=90)
    failed = [r for r in results if isinstance(r, BaseException)]
    if failed:
        cluster.stop()
        raise RuntimeError(f"replicas did not start: {failed}")
    return cluster
