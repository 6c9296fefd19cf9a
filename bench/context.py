"""What every phase of a run shares: the folder, the stores, wrk's settings, the CPU layout."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.procs import Service
from bench.target import Stores, keyrotor_service, source_fingerprint
from bench.throughput import Loader


@dataclass
class Context:
    """The settings of one benchmark run, and how it starts keyrotor."""

    folder: Path
    stores: Stores
    loader: Loader
    rounds: int
    server_cpus: str | None
    pool_size: int  # 0 when ``serve`` has no --key-pool-size
    pool_warmup: float
    fingerprints: dict[str, str] = field(default_factory=dict)  # server name -> source hash

    def keyrotor(
        self,
        name: str,
        database: str,
        *,
        extra: tuple[str, ...] = (),
        cpus: str | None = None,
        timeout: float = 120.0,
    ) -> Service:
        """Start ``keyrotor serve`` on ``database`` (pinned to the server CPUs by default)."""
        service = keyrotor_service(
            name,
            database,
            self.folder,
            cpus or self.server_cpus,
            postgres=self.stores.is_postgres,
            pool_size=self.pool_size,
            extra=extra,
        )
        self.fingerprints[name] = source_fingerprint()
        return service.start(timeout)

    def settle(self, *databases: str) -> None:
        """Wait until the key pools of freshly set-up servers are full (at most
        ``pool_warmup`` seconds), so that rotations are measured with keys at hand."""
        if not self.pool_size:
            return
        deadline = time.monotonic() + self.pool_warmup
        for database in databases:
            while pooled(database) < self.pool_size and time.monotonic() < deadline:
                time.sleep(0.25)


def pooled(database: str) -> int:
    """How many pre-generated keys the store holds now."""
    from sqlalchemy import text

    from keyrotor.storage.sql import make_engine

    engine = make_engine(database)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM key_pool")).scalar() or 0)
    finally:
        engine.dispose()
