"""The key pool, the change feed and the caches that trust it, on every backend."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from keyrotor.cache import Cache
from keyrotor.clock import ManualClock
from keyrotor.keypool import KeyPool
from keyrotor.keys import KeyStatus
from keyrotor.lifecycle import RotationPolicy
from keyrotor.service import KeyService
from tests.conftest import START

COHERENCE_BOUND = 1.0  # seconds, as docs/deployment.md promises


def _pooled(service: KeyService) -> int:
    with service.store.transaction() as tx:
        return tx.count_pooled()


def _fill(service: KeyService, size: int) -> set[str]:
    """Put ``size`` fresh keys in the pool; their kids."""
    made = [service.factory.generate() for _ in range(size)]
    with service.store.transaction(write=True) as tx:
        for material in made:
            tx.add_pooled(material, START)
    return {m.kid for m in made}


def test_the_pool_refills_to_its_size(
    make_service: Callable[..., KeyService], database_url: str
) -> None:
    service = make_service(database_url)
    pool = KeyPool(service.store, service.factory, 3)
    assert pool.refill() == 3
    assert pool.refill() == 0
    service.rotate("default")
    assert _pooled(service) == 2
    assert pool.refill() == 1


def test_a_rotation_takes_its_new_key_from_the_pool(
    make_service: Callable[..., KeyService], database_url: str
) -> None:
    service = make_service(database_url)
    pooled = _fill(service, 2)
    assert _pooled(service) == 2
    keys = service.rotate("default")
    fresh = [k.kid for k in keys if k.status is KeyStatus.NEXT]
    assert len(fresh) == 1 and fresh[0] in pooled
    assert _pooled(service) == 1


def test_with_the_pool_empty_a_rotation_still_works(
    make_service: Callable[..., KeyService], database_url: str
) -> None:
    service = make_service(database_url)
    assert _pooled(service) == 0
    before = {k.kid for k in service.list_keys("default")}
    keys = service.rotate("default")
    assert [k.status for k in keys] == [KeyStatus.ACTIVE, KeyStatus.NEXT, KeyStatus.EXPIRED]
    assert {k.kid for k in keys} - before  # a NEXT key generated on the spot


def test_a_failed_transaction_puts_its_pooled_key_back(
    make_service: Callable[..., KeyService], database_url: str
) -> None:
    service = make_service(database_url)
    pooled = _fill(service, 1)
    with pytest.raises(RuntimeError), service.store.transaction(write=True) as tx:
        assert tx.take_pooled() is not None
        raise RuntimeError("the process dies here")
    assert _pooled(service) == 1
    with service.store.transaction(write=True) as tx:
        found = tx.take_pooled()
    assert found is not None and found.kid in pooled


def test_concurrent_takers_never_get_the_same_key(
    make_service: Callable[..., KeyService], database_url: str
) -> None:
    """Eight rotations of eight servers at once with five pooled keys: each pooled key
    goes to one server at most, and every rotation succeeds."""
    from keyrotor.service import ServerSpec

    service = make_service(database_url)
    servers = [service.create_server(ServerSpec(f"s{i}", (f"api://s{i}",))).id for i in range(8)]
    pooled = _fill(service, 5)
    results: list[object] = []
    barrier = threading.Barrier(len(servers))

    def rotate(server_id: str) -> None:
        barrier.wait()
        try:
            results.append(service.rotate(server_id))
        except Exception as exc:  # reported below
            results.append(exc)

    threads = [threading.Thread(target=rotate, args=(s,)) for s in servers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert all(isinstance(r, list) for r in results), results
    nexts = [k.kid for r in results for k in r if k.status is KeyStatus.NEXT]  # type: ignore[attr-defined]
    assert len(nexts) == len(set(nexts)) == 8
    assert len(pooled & set(nexts)) == 5
    assert _pooled(service) == 0


def test_a_sweep_with_an_empty_pool_rotates_first_and_makes_next_keys_after(
    make_service: Callable[..., KeyService], database_url: str, clock: ManualClock
) -> None:
    from keyrotor.service import ServerSpec

    service = make_service(database_url)
    ids = [service.create_server(ServerSpec(f"a{i}", (f"api://a{i}",))).id for i in range(3)]
    before = {i: service.active_key(i)[1].kid for i in ids}
    clock.advance(timedelta(days=91))
    applied = service.sweep()
    # three rotations (NEXT promoted, no new NEXT while the pool is empty), then default's
    # and the three NEXT keys, generated outside the lock
    assert applied >= 6
    for server_id in ids:
        keys = service.list_keys(server_id)
        assert [k.status for k in keys] == [KeyStatus.ACTIVE, KeyStatus.NEXT, KeyStatus.EXPIRED]
        assert keys[2].kid == before[server_id]
    assert service.sweep() == 0  # nothing left: each step happened once


def test_reads_are_cached_until_a_write_names_them(make_service: Callable[..., KeyService]) -> None:
    service = make_service("memory://")
    first = service.snapshot("default")
    assert service.snapshot("default") is first  # cached
    service.rotate("default")
    second = service.snapshot("default")
    assert second is not first
    assert second.active.kid == first.keys[1].kid  # NEXT became ACTIVE


def test_a_cached_snapshot_expires_at_the_next_scheduled_change(
    make_service: Callable[..., KeyService], clock: ManualClock
) -> None:
    service = make_service("memory://")
    first = service.snapshot("default")
    assert first.valid_until <= START + timedelta(seconds=30)
    clock.advance(timedelta(days=90))  # the AUTO rotation falls due
    assert service.peek("default") is None
    assert service.snapshot("default").active.kid == first.keys[1].kid


def test_a_value_read_before_an_invalidation_is_not_kept() -> None:
    """The ticket closes the race between a reader filling and a writer invalidating."""
    cache: Cache[str] = Cache()
    ticket = cache.ticket()  # a reader starts reading the store…
    cache.invalidate(["default"])  # …a writer commits and invalidates…
    assert not cache.put("default", "stale", ticket)  # …the reader's old value is refused
    assert cache.peek("default", START) is None
    assert cache.put("default", "fresh", cache.ticket())
    assert cache.peek("default", START) == "fresh"
    assert cache.put("other", "kept", ticket)  # other keys are not affected


@pytest.fixture(params=["sqlite", "postgresql"])
def shared_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database two replicas share."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'shared.db'}"
    return str(request.getfixturevalue("postgres_url"))


def test_a_write_in_another_process_reaches_the_cache_within_the_bound(
    make_service: Callable[..., KeyService], shared_url: str
) -> None:
    """Two services on one database, as two replicas: the second caches ``default``, the
    first rotates it, and the second sees the new ACTIVE key within the bound."""
    one = make_service(shared_url)
    other = make_service(shared_url)
    for service in (one, other):
        service.store.watch()
    deadline = time.monotonic() + 5
    while not other.store.feed.live and time.monotonic() < deadline:
        time.sleep(0.01)
    assert other.store.feed.live
    cached = other.snapshot("default")
    assert other.peek("default") is cached
    rotated = one.rotate("default")
    assert one.peek("default") is None  # at once on the replica that made it
    active = next(k.kid for k in rotated if k.status is KeyStatus.ACTIVE)
    started = time.monotonic()
    while other.snapshot("default").active.kid != active:
        assert time.monotonic() - started < COHERENCE_BOUND
        time.sleep(0.005)


def test_policy_with_lead_time_sweeps_next_keys_when_they_fall_due(
    make_service: Callable[..., KeyService], clock: ManualClock
) -> None:
    lead = timedelta(days=7)
    service = make_service("memory://", policy=RotationPolicy(next_lead=lead), jwks_max_age=3600)
    keys = service.list_keys("default")
    assert [k.status for k in keys] == [KeyStatus.ACTIVE]
    clock.advance(timedelta(days=84))
    assert service.sweep() == 2  # default's NEXT key, and the org server's
    assert [k.status for k in service.list_keys("default")] == [KeyStatus.ACTIVE, KeyStatus.NEXT]
