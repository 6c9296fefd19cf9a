"""Delivery on memory, SQLite and PostgreSQL to a real receiver on 127.0.0.1: Okta's
payload with the shared secret, retries with backoff, FAILED after the last attempt, and
the secret never stored, logged or recorded in plain text. Also the rotation notice."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from keyrotor import audit
from keyrotor.audit import CLI, EventQuery
from keyrotor.clock import ManualClock, iso
from keyrotor.hook_service import HookOptions, HookService
from keyrotor.hook_worker import HookWorker
from keyrotor.hooks import DeliveryStatus, EventHook, parse_hook
from keyrotor.http.logs import log_event_json
from keyrotor.servers import ServerSpec
from keyrotor.service import KeyService
from keyrotor.storage.sql import normalise_url
from tests.hooks.conftest import RETRY, SECRET, hook_body
from tests.hooks.receiver import receiver

BASE = "https://keys.example.com"


def _hooks(service: KeyService) -> HookService:
    options = HookOptions(loopback_ok=True, retry=RETRY)
    return HookService(service.store, service.factory.sealer, service.clock, options)


def _registered(hooks: HookService, uri: str, events: list[str]) -> EventHook:
    hook = hooks.create(parse_hook(hook_body(uri, events), hooks.subscribable()), CLI)
    return hooks.verify(hook.id, CLI)


def test_a_rotation_is_delivered_with_the_secret_then_retried_after_a_failure(
    make_service: Callable[..., KeyService],
    database_url: str,
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    service = make_service(database_url)
    hooks = _hooks(service)
    worker = HookWorker(hooks, log_event_json, BASE)
    with receiver(failures=1) as got:
        hook = _registered(hooks, got.url, [audit.KEY_ROLLOVER])
        service.rotate("default", CLI)
        assert worker.run_once() == 1  # answered 500
        [failed] = hooks.deliveries()
        assert failed.status is DeliveryStatus.PENDING and failed.attempts == 1
        assert failed.last_status == 500 and failed.next_attempt == clock() + RETRY.base
        assert worker.run_once() == 0  # not due yet
        clock.advance(RETRY.base)
        assert worker.run_once() == 1
        first, second = got.posts()
        [done] = hooks.deliveries()
        assert done.status is DeliveryStatus.DELIVERED and done.attempts == 2
        assert done.last_status == 200 and done.delivered == clock()
    assert first.body == second.body  # the same eventId: a receiver can drop the repeat
    assert second.headers["Authorization"] == SECRET
    assert second.headers["X-Other-Header"] == "other-value"
    assert second.headers["Content-Type"] == "application/json"
    body = second.body
    assert list(body) == [
        *("eventType", "eventTypeVersion", "cloudEventsVersion", "source", "eventId"),
        *("eventTime", "contentType", "data"),
    ]
    assert body["eventType"] == "com.okta.event_hook"
    assert body["source"] == f"{BASE}/api/v1/eventHooks/{hook.id}"
    assert body["eventId"] == done.id
    [event] = body["data"]["events"]
    [(_, recorded)] = service.events(EventQuery(event_type=audit.KEY_ROLLOVER))
    assert event == json.loads(json.dumps(log_event_json(recorded)))  # as /api/v1/logs has it
    assert event["debugContext"]["debugData"]["trigger"] == "MANUAL"
    assert SECRET not in caplog.text


def test_only_subscribed_events_of_receiving_hooks_are_delivered(
    make_service: Callable[..., KeyService], database_url: str
) -> None:
    service = make_service(database_url)
    hooks = _hooks(service)
    worker = HookWorker(hooks, log_event_json, BASE)
    with receiver() as got:
        service.rotate("default", CLI)  # before the hook: not delivered
        hook = _registered(hooks, got.url, [audit.SERVER_CREATED])
        unverified = hooks.create(
            parse_hook(hook_body(got.url, [audit.SERVER_CREATED]), hooks.subscribable()), CLI
        )
        service.rotate("default", CLI)  # not subscribed to
        service.create_server(ServerSpec(name="one", audiences=("api://one",)), CLI)
        worker.run_once()
        assert [e["eventType"] for e in got.events()] == [audit.SERVER_CREATED]
        hooks.set_status(hook.id, hook.status.INACTIVE, CLI)
        service.create_server(ServerSpec(name="two", audiences=("api://two",)), CLI)
        worker.run_once()
        hooks.set_status(hook.id, hook.status.ACTIVE, CLI)  # events while inactive: skipped
        service.create_server(ServerSpec(name="three", audiences=("api://three",)), CLI)
        worker.run_once()
        names = [e["target"][0]["displayName"] for e in got.events()]
    assert names == ["one", "three"]
    assert all(d.hook_id == hook.id for d in hooks.deliveries())
    assert unverified.id not in {d.hook_id for d in hooks.deliveries()}


def test_a_delivery_is_failed_after_the_last_attempt(
    make_service: Callable[..., KeyService], clock: ManualClock
) -> None:
    service = make_service()
    hooks = _hooks(service)
    worker = HookWorker(hooks, log_event_json, BASE)
    with receiver(failures=100) as got:
        _registered(hooks, got.url, [audit.KEY_ROLLOVER])
        service.rotate("default", CLI)
        waits = []
        for _ in range(RETRY.max_attempts):
            before = clock()
            worker.run_once()
            [found] = hooks.deliveries()
            waits.append(found.next_attempt - before)
            clock.advance(RETRY.cap)
        assert len(got.posts()) == RETRY.max_attempts
    assert found.status is DeliveryStatus.FAILED and found.attempts == RETRY.max_attempts
    assert waits[:2] == [RETRY.base, RETRY.base * 2]  # doubling
    assert hooks.deliveries(status="FAILED") == [found]
    worker.run_once()
    assert hooks.deliveries() == [found]  # never tried again


def test_a_receiver_that_became_private_is_not_sent_to(
    make_service: Callable[..., KeyService],
) -> None:
    service = make_service()
    with receiver() as got:
        hook = _registered(_hooks(service), got.url, [audit.KEY_ROLLOVER])
        # the same hook as a replica outside test mode sees it: loopback is refused there
        strict = HookService(
            service.store, service.factory.sealer, service.clock, HookOptions(retry=RETRY)
        )
        service.rotate("default", CLI)
        HookWorker(strict, log_event_json, BASE).run_once()
        assert got.posts() == []
    [found] = strict.deliveries(hook.id)
    assert found.status is DeliveryStatus.PENDING and found.attempts == 1
    assert "resolves to loopback" in (found.last_error or "")


def test_the_secret_is_sealed_in_the_database(
    make_service: Callable[..., KeyService], tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'hooks.db'}"
    service = make_service(url)
    hooks = _hooks(service)
    hook = hooks.create(parse_hook(hook_body("http://127.0.0.1:9/x"), hooks.subscribable()), CLI)
    service.store.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("hooks.db"))
    assert SECRET.encode() not in raw
    engine = create_engine(normalise_url(url))
    with engine.connect() as conn:
        sealed: bytes = conn.execute(text("SELECT sealed_secret FROM event_hooks")).scalar_one()
    engine.dispose()
    assert sealed and SECRET.encode() not in sealed
    assert hook.sealed_secret == bytes(sealed)
    assert SECRET not in repr(hook)


# -- notice before an AUTO rotation ----------------------------------------------------------


def test_the_upcoming_rotation_is_recorded_once_within_the_notice(
    make_service: Callable[..., KeyService], database_url: str, clock: ManualClock
) -> None:
    service = make_service(database_url, rotation_notice=timedelta(days=7))
    server = service.get_server("default")
    assert server.next_rotation is not None
    query = EventQuery(event_type=audit.KEY_ROTATION_UPCOMING, server_id="default")
    service.sweep()
    assert service.events(query) == []
    clock.advance(server.next_rotation - clock() - timedelta(days=7) + timedelta(seconds=1))
    service.sweep()
    service.sweep()
    clock.advance(timedelta(days=1))
    service.sweep()
    [(_, event)] = service.events(query)
    assert event.server_id == "default" and event.actor == audit.SYSTEM
    keys = {k.status.value: k.kid for k in service.list_keys("default")}
    assert event.details["rotationAt"] == iso(server.next_rotation)
    assert event.details["kid"] == keys["ACTIVE"] and event.details["nextKid"] == keys["NEXT"]
    clock.advance(timedelta(days=6))  # the rotation, then the next one's notice in time
    service.sweep()
    assert len(service.events(query)) == 1
    rotated = service.get_server("default")
    assert rotated.next_rotation is not None
    clock.advance(rotated.next_rotation - clock() - timedelta(days=3))
    service.sweep()
    assert len(service.events(query)) == 2


def test_two_replicas_on_postgresql_record_the_notice_once(
    make_service: Callable[..., KeyService], postgres_url: str, clock: ManualClock
) -> None:
    replicas = [make_service(postgres_url, rotation_notice=timedelta(days=7)) for _ in range(2)]
    for name in ("a", "b", "c"):
        replicas[0].create_server(ServerSpec(name=name, audiences=(f"api://{name}",)), CLI)
    server = replicas[0].get_server("default")
    assert server.next_rotation is not None
    clock.advance(server.next_rotation - clock() - timedelta(days=2))
    start = threading.Barrier(4)

    def sweep(replica: KeyService) -> None:
        start.wait()
        replica.sweep()

    threads = [threading.Thread(target=sweep, args=(r,)) for r in replicas * 2]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    found = replicas[1].events(EventQuery(event_type=audit.KEY_ROTATION_UPCOMING))
    warned = sorted(e.server_id or "" for _, e in found)
    assert warned == sorted(s.id for s in replicas[0].all_servers())  # each once
    assert len(warned) == 5  # default, the org server, a, b and c
