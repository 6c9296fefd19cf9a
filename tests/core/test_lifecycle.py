"""The pure lifecycle: rotation, AUTO schedule, retention, mode switches."""

from __future__ import annotations

import dataclasses
import itertools
from datetime import timedelta

import pytest

from keyrotor import lifecycle
from keyrotor.keys import KeyMaterial, KeyStatus
from keyrotor.lifecycle import RotationPolicy
from keyrotor.servers import AuthorizationServer, RotationMode
from tests.conftest import START

POLICY = RotationPolicy()
_KIDS = itertools.count(1)


def fake_keys() -> lifecycle.KeySource:
    """Distinct placeholder material: the lifecycle never looks inside a key."""
    return lambda: KeyMaterial(kid=f"kid{next(_KIDS)}", n="n", e="AQAB", sealed_private=b"")


def new_server(mode: RotationMode = RotationMode.AUTO, policy: RotationPolicy = POLICY):
    draft = AuthorizationServer(
        id="aus1",
        name="s",
        audiences=("a",),
        created=START,
        last_updated=START,
        rotation_mode=mode,
        last_rotated=START,
    )
    change = lifecycle.first_keys(draft, START, policy, fake_keys())
    return change.server, list(change.added)


def test_a_new_server_has_one_active_and_one_next_key() -> None:
    server, keys = new_server()
    assert [k.status for k in keys] == [KeyStatus.ACTIVE, KeyStatus.NEXT]
    assert server.kid == keys[0].kid
    assert server.next_rotation == START + timedelta(days=90)


def test_manual_servers_have_no_next_rotation() -> None:
    server, _ = new_server(RotationMode.MANUAL)
    assert server.next_rotation is None
    assert not lifecycle.rotation_due(server, START + timedelta(days=1000))


def test_rotation_without_a_next_key_makes_the_new_active_key_directly() -> None:
    server, keys = new_server()
    keys = [k for k in keys if k.status is KeyStatus.ACTIVE]
    change = lifecycle.rotate(server, keys, START, POLICY, fake_keys())
    keys = change.applied_to(keys)
    assert sorted(k.status for k in keys) == sorted(
        [KeyStatus.EXPIRED, KeyStatus.ACTIVE, KeyStatus.NEXT]
    )
    assert change.server.kid == lifecycle.only(keys, KeyStatus.ACTIVE).kid


def test_a_key_never_goes_back() -> None:
    _, keys = new_server()
    with pytest.raises(ValueError, match="cannot go from"):
        keys[0].advance(KeyStatus.NEXT, START)
    with pytest.raises(ValueError):
        keys[0].advance(KeyStatus.ACTIVE, START)


def test_a_late_auto_rotation_happens_once_and_reschedules_from_now() -> None:
    server, keys = new_server()
    late = START + timedelta(days=300)
    assert lifecycle.rotation_due(server, late)
    change = lifecycle.rotate(server, keys, late, POLICY, fake_keys())
    assert change.server.next_rotation == late + timedelta(days=90)
    assert not lifecycle.rotation_due(change.server, late)


def test_next_lead_defers_the_next_key_until_its_time() -> None:
    policy = RotationPolicy(next_lead=timedelta(days=14))
    server, keys = new_server(policy=policy)
    assert [k.status for k in keys] == [KeyStatus.ACTIVE]
    assert not lifecycle.next_key_due(server, keys, START + timedelta(days=75), policy)
    moment = START + timedelta(days=76)
    assert lifecycle.next_change(server, keys, START, policy) == moment
    assert lifecycle.next_key_due(server, keys, moment, policy)
    change = lifecycle.add_next_key(server, keys, moment, fake_keys())
    assert [k.status for k in change.added] == [KeyStatus.NEXT]


def test_mode_switch_keeps_the_active_key_and_never_schedules_the_past() -> None:
    server, _ = new_server(RotationMode.MANUAL)
    later = START + timedelta(days=120)
    switched = lifecycle.change_mode(server, RotationMode.AUTO, later, POLICY)
    assert switched.kid == server.kid
    assert switched.next_rotation == later + timedelta(days=90)
    back = lifecycle.change_mode(switched, RotationMode.MANUAL, later, POLICY)
    assert back.next_rotation is None and back.kid == server.kid


def test_published_keeps_the_newest_expired_and_those_within_retention() -> None:
    server, keys = new_server()
    source = fake_keys()
    moments = [START + timedelta(minutes=m) for m in (0, 10, 200)]
    for moment in moments:
        change = lifecycle.rotate(server, keys, moment, POLICY, source)
        server, keys = change.server, change.applied_to(keys)
    at = moments[-1]
    shown = lifecycle.published(keys, at, POLICY)
    assert [k.status for k in shown] == [KeyStatus.ACTIVE, KeyStatus.NEXT, KeyStatus.EXPIRED]
    expired = sorted((k for k in keys if k.status is KeyStatus.EXPIRED), key=lambda k: k.generation)
    assert shown[2] == expired[-1]
    soon = at + timedelta(minutes=1)
    assert lifecycle.published(keys, soon, POLICY) == shown


def test_retention_shorter_than_token_lifetime_is_refused() -> None:
    from keyrotor.config import ConfigError, Settings

    with pytest.raises(ConfigError, match="shorter than the token lifetime"):
        Settings(policy=RotationPolicy(retention=timedelta(minutes=30)))


def test_signing_key_repr_hides_the_sealed_private_key() -> None:
    _, keys = new_server()
    key = dataclasses.replace(keys[0], sealed_private=b"SEALED-BYTES")
    assert "SEALED" not in repr(key)
