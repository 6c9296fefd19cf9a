"""Fixtures of the replica tests: a cluster of real ``keyrotor serve`` processes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.replicas.cluster import Cluster, start_cluster


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Callable[..., Cluster]]:
    """``cluster(database, n)``: n replicas on one database, stopped after the test."""
    started: list[Cluster] = []

    def start(database: str, n: int = 3, *args: str) -> Cluster:
        made = start_cluster(database, n, tmp_path, *args)
        started.append(made)
        return made

    yield start
    for made in started:
        made.stop()
