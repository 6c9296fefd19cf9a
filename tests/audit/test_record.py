"""The audit record matches the changes made, on memory, SQLite and PostgreSQL: servers,
manual and AUTO rotations (by the sweep and by a read), mode switches, retirements and API
tokens, each with its actor, in the transaction of the change and never with a secret."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta

import pytest

from keyrotor import audit
from keyrotor.apitokens import ALL_SCOPES
from keyrotor.audit import CLI, SYSTEM, Actor, AuditEvent, EventQuery
from keyrotor.clock import ManualClock, iso
from keyrotor.errors import ValidationFailed
from keyrotor.keys import KeyStatus
from keyrotor.lifecycle import DEFAULT_ROTATION_PERIOD
from keyrotor.servers import RotationMode, ServerSpec, ServerStatus
from keyrotor.service import KeyService

TOKEN = Actor("00Tadmin1234567890", "ApiToken", "admin")
CLIENT = Actor.client("0oaclient123")


@pytest.fixture
def service(make_service: Callable[..., KeyService], database_url: str) -> KeyService:
    return make_service(database_url)


def events(service: KeyService, **query: object) -> list[AuditEvent]:
    found = service.events(EventQuery(limit=10_000, **query))  # type: ignore[arg-type]
    return [e for _, e in found]


def kinds(found: list[AuditEvent]) -> list[str]:
    return [e.event_type for e in found]


def spec(name: str = "payments", mode: RotationMode | None = None) -> ServerSpec:
    return ServerSpec(name=name, audiences=(f"api://{name}",), rotation_mode=mode)


def test_start_up_records_the_built_in_servers_as_the_system(service: KeyService) -> None:
    made = [e for e in events(service) if e.event_type == audit.SERVER_CREATED]
    assert {e.server_id for e in made} >= {"default"}
    assert all(e.actor == SYSTEM for e in made)


def test_create_server_records_the_server_and_its_first_keys(service: KeyService) -> None:
    server = service.create_server(spec(), TOKEN)
    found = events(service, server_id=server.id)
    assert kinds(found) == [
        audit.SERVER_CREATED,
        audit.KEY_CREATED,
        audit.KEY_ACTIVATED,
        audit.KEY_CREATED,
        audit.KEY_PUBLISHED_NEXT,
    ]
    assert {e.actor for e in found} == {TOKEN}
    assert len({e.transaction_id for e in found}) == 1  # one transaction
    active, pending = service.list_keys(server.id)
    assert [e.target.id for e in found[1:]] == [active.kid] * 2 + [pending.kid] * 2
    assert found[0].target == audit.Target(server.id, "AuthorizationServer", "payments")
    assert all(e.published == server.created for e in found)


def test_manual_rotation_records_who_asked_and_each_key_step(service: KeyService) -> None:
    server = service.create_server(spec(), TOKEN)
    active, pending = service.list_keys(server.id)
    service.rotate(server.id, CLIENT)
    found = events(service, server_id=server.id)[5:]
    assert kinds(found) == [
        audit.KEY_ROLLOVER,
        audit.KEY_EXPIRED,
        audit.KEY_ACTIVATED,
        audit.KEY_CREATED,
        audit.KEY_PUBLISHED_NEXT,
    ]
    rollover = found[0]
    assert rollover.actor == CLIENT
    assert rollover.details["trigger"] == "MANUAL"
    assert rollover.details["previousKid"] == active.kid
    assert rollover.details["kid"] == pending.kid
    assert [e.target.id for e in found[1:3]] == [active.kid, pending.kid]
    fresh = next(k for k in service.list_keys(server.id) if k.status is KeyStatus.NEXT)
    assert found[3].target.id == fresh.kid
    assert len({e.transaction_id for e in found}) == 1


def test_auto_rotation_by_the_sweep_and_by_a_read(service: KeyService, clock: ManualClock) -> None:
    server = service.create_server(spec(), TOKEN)
    clock.advance(DEFAULT_ROTATION_PERIOD)
    assert service.sweep() >= 1
    swept = [e for e in events(service, server_id=server.id) if e.event_type == audit.KEY_ROLLOVER]
    assert len(swept) == 1
    assert swept[0].actor == SYSTEM
    assert swept[0].details["trigger"] == "AUTO"
    assert swept[0].details["noticedBy"] == "sweep"
    clock.advance(DEFAULT_ROTATION_PERIOD)
    service.snapshot(server.id)  # a read applies the rotation that is due
    rollovers = [
        e for e in events(service, server_id=server.id) if e.event_type == audit.KEY_ROLLOVER
    ]
    assert len(rollovers) == 2
    assert rollovers[1].details["noticedBy"] == "read"
    assert rollovers[1].published == clock()
    # the key that expired at the first AUTO rotation retired at the second one
    retired = events(service, server_id=server.id, event_type=audit.KEY_RETIRED)
    assert [e.target.id for e in retired] == [swept[0].details["previousKid"]]
    assert retired[0].details["retiredAt"] == iso(clock())


def test_mode_switch_and_other_server_changes(service: KeyService, clock: ManualClock) -> None:
    server = service.create_server(spec(), TOKEN)
    clock.advance(timedelta(minutes=1))
    service.replace_server(server.id, spec("payments-2", RotationMode.MANUAL), CLI)
    found = events(service, server_id=server.id)[5:]
    assert kinds(found) == [audit.SERVER_UPDATED, audit.ROTATION_MODE_CHANGED]
    assert found[0].details["from"] == {
        "name": "payments",
        "audiences": ["api://payments"],
        "rotationMode": "AUTO",
    }
    assert found[0].details["to"]["rotationMode"] == "MANUAL"
    assert found[1].details["from"] == {"rotationMode": "AUTO"}
    assert found[1].details["to"] == {"rotationMode": "MANUAL"}
    assert {e.actor for e in found} == {CLI}
    service.set_status(server.id, ServerStatus.INACTIVE, TOKEN)
    service.set_status(server.id, ServerStatus.INACTIVE, TOKEN)  # no change, no event
    service.delete_server(server.id, TOKEN)
    tail = kinds(events(service, server_id=server.id)[7:])
    assert tail == [audit.SERVER_DEACTIVATED, audit.SERVER_DELETED]
    # the record outlives the server
    assert events(service, target_id=server.id)[-1].details == {"keysDeleted": 2}


def test_a_refused_change_records_nothing(service: KeyService) -> None:
    server = service.create_server(spec(), TOKEN)
    before = events(service)
    with pytest.raises(ValidationFailed):
        service.delete_server(server.id, TOKEN)  # still ACTIVE: refused, rolled back
    assert events(service) == before


def test_keys_retired_between_rotations_are_recorded_at_the_next_one(
    service: KeyService, clock: ManualClock
) -> None:
    server = service.create_server(spec("manual", RotationMode.MANUAL), TOKEN)
    first = service.list_keys(server.id)[0]
    service.rotate(server.id, TOKEN)
    clock.advance(timedelta(minutes=1))
    second = service.list_keys(server.id)[0]
    service.rotate(server.id, TOKEN)  # first: EXPIRED, still within its retention
    assert first.kid in {k.kid for k in service.list_keys(server.id)}
    assert not events(service, event_type=audit.KEY_RETIRED, server_id=server.id)
    clock.advance(service.policy.retention + timedelta(hours=1))
    assert first.kid not in {k.kid for k in service.list_keys(server.id)}
    service.rotate(server.id, TOKEN)
    retired = events(service, event_type=audit.KEY_RETIRED, server_id=server.id)
    assert [e.target.id for e in retired] == [first.kid, second.kid]
    expired_first = next(
        e for e in events(service, event_type=audit.KEY_EXPIRED) if e.target.id == first.kid
    )
    end_of_retention = expired_first.published + service.policy.retention
    assert retired[0].details["retiredAt"] == iso(end_of_retention)
    assert retired[1].details["retiredAt"] == iso(clock())


def test_api_tokens_created_and_revoked(service: KeyService) -> None:
    token, value = service.api_tokens.create("deploy", ALL_SCOPES, actor=CLI)
    service.api_tokens.revoke(token.id, TOKEN)
    found = events(service, target_id=token.id)
    assert kinds(found) == [audit.TOKEN_CREATED, audit.TOKEN_REVOKED]
    assert [e.actor for e in found] == [CLI, TOKEN]
    assert found[0].target == audit.Target(token.id, "ApiToken", "deploy")
    shown = json.dumps([audit.summary(e) for e in events(service)])
    assert value not in shown and token.digest not in shown


def test_no_event_carries_key_material(service: KeyService, clock: ManualClock) -> None:
    server = service.create_server(spec(), TOKEN)
    service.rotate(server.id, TOKEN)
    shown = json.dumps([audit.summary(e) for e in events(service)])
    for key in service.list_keys(server.id):
        assert key.n not in shown
        assert key.sealed_private.hex() not in shown


def test_queries_filter_and_page_alike_on_every_backend(
    service: KeyService, clock: ManualClock
) -> None:
    one = service.create_server(spec("one"), TOKEN)
    clock.advance(timedelta(minutes=1))
    two = service.create_server(spec("two.api"), CLIENT)  # a "." is in no random id or kid
    clock.advance(timedelta(minutes=1))
    service.rotate(one.id, CLI)
    every = service.events(EventQuery(limit=10_000))
    positions = [p for p, _ in every]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    assert [e.server_id for e in events(service, since=two.created, until=clock())] == [two.id] * 5
    assert kinds(events(service, actor_id=CLI.id)) == kinds(events(service, server_id=one.id))[5:]
    assert len(events(service, event_type=audit.KEY_ROLLOVER)) == 1
    assert len(events(service, keywords=("TWO.API", "payments"))) == 0
    assert len(events(service, keywords=("two.api",))) == 5
    page, after = [], None
    while True:
        found = service.events(EventQuery(limit=3, after=after))
        if not found:
            break
        page += found
        after = found[-1][0]
    assert page == every
    newest = service.events(EventQuery(limit=4, descending=True))
    assert newest == list(reversed(every))[:4]
    older = service.events(EventQuery(limit=4, descending=True, after=newest[-1][0]))
    assert older == list(reversed(every))[4:8]
