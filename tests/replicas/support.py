"""Helpers of the replica tests: run callables at once from threads, read the store directly."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from sqlalchemy import create_engine, func, select

from keyrotor.storage.sql import normalise_url
from keyrotor.storage.tables import signing_keys

T = TypeVar("T")


def all_at_once(calls: list[Callable[[], T]], timeout: float = 60) -> list[T | BaseException]:
    """Run every call in its own thread, released together; their results or exceptions."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], T]) -> T | BaseException:
        barrier.wait(timeout)
        try:
            return call()
        except BaseException as exc:  # collected, asserted on by the test
            return exc

    with ThreadPoolExecutor(len(calls)) as pool:
        futures = [pool.submit(run, call) for call in calls]
        return [f.result(timeout) for f in futures]


def key_counts(url: str, server_id: str) -> dict[str, int]:
    """How many keys of each status the database holds for a server, retired ones included."""
    engine = create_engine(normalise_url(url))
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(signing_keys.c.status, func.count())
                .where(signing_keys.c.server_id == server_id)
                .group_by(signing_keys.c.status)
            ).all()
    finally:
        engine.dispose()
    return {status: count for status, count in rows}


def stored_keys(url: str, server_id: str) -> dict[str, tuple[str, str]]:
    """kid -> (status, n) for every key the database holds for a server."""
    engine = create_engine(normalise_url(url))
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(signing_keys.c.kid, signing_keys.c.status, signing_keys.c.n).where(
                    signing_keys.c.server_id == server_id
                )
            ).all()
    finally:
        engine.dispose()
    return {kid: (status, n) for kid, status, n in rows}
