"""Emergency revoke of a signing key (keyrotor's extension, issue #14).

``POST /api/v1/authorizationServers/{id}/credentials/keys/{kid}/lifecycle/revoke`` and
``keyrotor keys revoke``: the pure rule (``lifecycle.revoke``), the API in-process, the
stores (memory, a real SQLite file, real PostgreSQL), a revoke racing rotations on
PostgreSQL, and end to end against a real ``keyrotor serve`` with PyJWT's ``PyJWKClient``.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient

from keyrotor import audit, lifecycle
from keyrotor.audit import CLI, EventQuery
from keyrotor.cli import main
from keyrotor.clock import ManualClock
from keyrotor.errors import NotFound
from keyrotor.keys import KeyMaterial, KeyStatus, SigningKey
from keyrotor.lifecycle import RotationPolicy
from keyrotor.servers import AuthorizationServer, RotationMode, ServerSpec
from keyrotor.service import KeyService
from okta.models import AuthorizationServerJsonWebKey
from tests.conftest import ADMIN_TOKEN, READ_TOKEN, START, ServerProcess
from tests.okta_spec import OktaSpec
from tests.support import assert_okta_error

POLICY = RotationPolicy()
SERVERS = "/api/v1/authorizationServers"
KEYS = SERVERS + "/{}/credentials/keys"
REVOKE = KEYS + "/{}/lifecycle/revoke"
ROTATE = SERVERS + "/{}/credentials/lifecycle/keyRotate"
KEY_MEMBERS = ["kty", "status", "alg", "kid", "use", "_links", "e", "n"]
_KIDS = itertools.count(1)


# -- the pure rule --------------------------------------------------------------------------


def fake_keys() -> lifecycle.KeySource:
    """Distinct placeholder material: the lifecycle never looks inside a key."""
    return lambda: KeyMaterial(kid=f"k{next(_KIDS)}", n="n", e="AQAB", sealed_private=b"")


def new_server(
    mode: RotationMode = RotationMode.AUTO, policy: RotationPolicy = POLICY
) -> tuple[AuthorizationServer, list[SigningKey]]:
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


def rotated(
    server: AuthorizationServer, keys: list[SigningKey], *minutes: int
) -> tuple[AuthorizationServer, list[SigningKey]]:
    for m in minutes:
        change = lifecycle.rotate(server, keys, START + timedelta(minutes=m), POLICY, fake_keys())
        server, keys = change.server, change.applied_to(keys)
    return server, keys


def by_status(keys: list[SigningKey], status: KeyStatus) -> list[SigningKey]:
    return sorted((k for k in keys if k.status is status), key=lambda k: k.generation)


@pytest.mark.parametrize("mode", list(RotationMode))
def test_revoking_the_active_key_promotes_next_and_makes_a_fresh_next(mode: RotationMode) -> None:
    server, keys = new_server(mode)
    active, pending = keys
    now = START + timedelta(days=3)
    change = lifecycle.revoke(server, keys, active.kid, now, POLICY, fake_keys())
    after = change.applied_to(keys)
    revoked = next(k for k in after if k.kid == active.kid)
    assert revoked.status is KeyStatus.REVOKED and revoked.expired == now
    assert lifecycle.only(after, KeyStatus.ACTIVE).kid == pending.kid
    fresh = lifecycle.only(after, KeyStatus.NEXT)
    assert fresh.kid not in (active.kid, pending.kid) and fresh.generation == 3
    # as a manual rotation: the server names the new key, and AUTO's schedule restarts
    assert change.server.kid == pending.kid
    assert change.server.last_rotated == now
    expected = now + POLICY.period if mode is RotationMode.AUTO else None
    assert change.server.next_rotation == expected
    assert change.server.version == server.version + 1
    assert [k.kid for k in lifecycle.published(after, now, POLICY)] == [pending.kid, fresh.kid]


def test_revoking_the_next_key_replaces_it_and_leaves_the_rest() -> None:
    server, keys = new_server()
    active, pending = keys
    now = START + timedelta(hours=1)
    change = lifecycle.revoke(server, keys, pending.kid, now, POLICY, fake_keys())
    after = change.applied_to(keys)
    assert [k.status for k in change.updated] == [KeyStatus.REVOKED]
    assert [k.status for k in change.added] == [KeyStatus.NEXT]
    assert change.server.kid == active.kid
    assert (change.server.last_rotated, change.server.next_rotation) == (
        server.last_rotated,
        server.next_rotation,
    )
    shown = lifecycle.published(after, now, POLICY)
    assert [k.kid for k in shown] == [active.kid, change.added[0].kid]


def test_revoking_an_expired_key_just_unpublishes_it() -> None:
    server, keys = rotated(*new_server(), 0)
    expired = by_status(keys, KeyStatus.EXPIRED)[0]
    now = START + timedelta(minutes=5)
    change = lifecycle.revoke(server, keys, expired.kid, now, POLICY, fake_keys())
    assert change.added == () and [k.kid for k in change.updated] == [expired.kid]
    assert change.updated[0].expired == expired.expired  # when it stopped signing, kept
    assert change.server.kid == server.kid
    before = [k.kid for k in lifecycle.published(keys, now, POLICY)]
    after = [k.kid for k in lifecycle.published(change.applied_to(keys), now, POLICY)]
    assert after == [kid for kid in before if kid != expired.kid]


def test_revoking_a_revoked_key_changes_nothing_and_unknown_kids_raise() -> None:
    server, keys = new_server()
    now = START + timedelta(minutes=1)
    change = lifecycle.revoke(server, keys, keys[1].kid, now, POLICY, fake_keys())
    server, keys = change.server, change.applied_to(keys)
    again = lifecycle.revoke(server, keys, change.updated[0].kid, now, POLICY, fake_keys())
    assert again.server == server and again.updated == () and again.added == ()
    with pytest.raises(KeyError):
        lifecycle.revoke(server, keys, "nope", now, POLICY, fake_keys())


def test_revoked_is_terminal() -> None:
    server, keys = new_server()
    change = lifecycle.revoke(server, keys, keys[0].kid, START, POLICY, fake_keys())
    revoked = change.updated[0]
    for status in (KeyStatus.NEXT, KeyStatus.ACTIVE, KeyStatus.EXPIRED, KeyStatus.REVOKED):
        with pytest.raises(ValueError, match="cannot go from"):
            revoked.advance(status, START)


def test_revoking_the_newest_expired_key_does_not_bring_back_a_retired_one() -> None:
    """Rotations 2 hours apart: the older EXPIRED key has retired (retention 65 min). Were
    the revoked key not to keep its place, the older one would be the newest EXPIRED
    again and be published once more."""
    server, keys = rotated(*new_server(), 0, 120)
    old, newest = by_status(keys, KeyStatus.EXPIRED)
    now = START + timedelta(minutes=200)
    assert [k.kid for k in lifecycle.published(keys, now, POLICY)][2:] == [newest.kid]
    change = lifecycle.revoke(server, keys, newest.kid, now, POLICY, fake_keys())
    after = change.applied_to(keys)
    shown = [k.kid for k in lifecycle.published(after, now, POLICY)]
    assert old.kid not in shown and newest.kid not in shown and len(shown) == 2
    assert lifecycle.next_change(change.server, after, now, POLICY) == server.next_rotation
    # nor later: after the next rotation
    later = now + timedelta(days=1)
    rotation = lifecycle.rotate(change.server, after, later, POLICY, fake_keys())
    shown = [k.kid for k in lifecycle.published(rotation.applied_to(after), later, POLICY)]
    assert not {old.kid, newest.kid} & set(shown) and len(shown) == 3


def test_revoking_the_active_key_displaces_the_newest_expired_as_a_rotation_would() -> None:
    """The EXPIRED key of the last rotation then stays only for its retention, and the
    JWKS's max-age (``next_change``) is bounded by the moment it leaves."""
    server, keys = rotated(*new_server(), 0)
    expired = by_status(keys, KeyStatus.EXPIRED)[0]
    now = START + timedelta(minutes=10)
    active = lifecycle.only(keys, KeyStatus.ACTIVE)
    change = lifecycle.revoke(server, keys, active.kid, now, POLICY, fake_keys())
    after = change.applied_to(keys)
    shown = lifecycle.published(after, now, POLICY)
    assert [k.status for k in shown] == [KeyStatus.ACTIVE, KeyStatus.NEXT, KeyStatus.EXPIRED]
    assert shown[2].kid == expired.kid
    leaves = START + POLICY.retention
    assert lifecycle.next_change(change.server, after, now, POLICY) == leaves
    assert expired.kid not in {k.kid for k in lifecycle.published(after, leaves, POLICY)}


def test_revoking_the_active_key_without_a_next_key_makes_a_fresh_active_one() -> None:
    policy = RotationPolicy(next_lead=timedelta(days=14))
    server, keys = new_server(policy=policy)
    assert [k.status for k in keys] == [KeyStatus.ACTIVE]
    change = lifecycle.revoke(server, keys, keys[0].kid, START, policy, fake_keys())
    after = change.applied_to(keys)
    assert [k.status for k in change.added] == [KeyStatus.ACTIVE]  # NEXT: at its lead time
    assert change.server.kid == change.added[0].kid
    assert lifecycle.published(after, START, policy) == [change.added[0]]


def test_the_audit_events_of_a_revoke() -> None:
    server, keys = rotated(*new_server(), 0)
    active = lifecycle.only(keys, KeyStatus.ACTIVE)
    now = START + timedelta(hours=3)  # the EXPIRED key's retention has passed
    change = lifecycle.revoke(server, keys, active.kid, now, POLICY, fake_keys())
    made = audit.key_events(server, keys, change, now, POLICY, CLI, trigger="REVOKE")
    kinds = [(e.event_type, e.target.id) for e in made]
    expired = by_status(keys, KeyStatus.EXPIRED)[0]
    assert kinds == [
        (audit.KEY_ROLLOVER, server.id),
        (audit.KEY_REVOKED, active.kid),
        (audit.KEY_ACTIVATED, change.server.kid),
        (audit.KEY_CREATED, change.added[0].kid),
        (audit.KEY_PUBLISHED_NEXT, change.added[0].kid),
        (audit.KEY_RETIRED, expired.kid),  # displaced, as a rotation displaces it
    ]
    assert made[0].details["previousKid"] == active.kid
    assert made[1].details["previousStatus"] == "ACTIVE"
    assert {e.details["trigger"] for e in made} == {"REVOKE"}
    # revoking the EXPIRED key the next rotation would retire: one event, no retirement
    server, keys = rotated(*new_server(), 0)
    expired = by_status(keys, KeyStatus.EXPIRED)[0]
    change = lifecycle.revoke(server, keys, expired.kid, now, POLICY, fake_keys())
    made = audit.key_events(server, keys, change, now, POLICY, CLI, trigger="REVOKE")
    assert [(e.event_type, e.details["previousStatus"]) for e in made] == [
        (audit.KEY_REVOKED, "EXPIRED")
    ]


# -- the API, in-process ----------------------------------------------------------------------


def listed(client: TestClient, server: str = "default") -> list[dict[str, Any]]:
    response = client.get(KEYS.format(server))
    assert response.status_code == 200, response.text
    return list(response.json())


def jwks_kids(client: TestClient, server: str = "default") -> list[str]:
    return [k["kid"] for k in client.get(f"/oauth2/{server}/v1/keys").json()["keys"]]


def test_revoke_the_active_key_over_the_api(client: TestClient, service: KeyService) -> None:
    before = listed(client)
    active, pending = before[0]["kid"], before[1]["kid"]
    jwks = client.get("/oauth2/default/v1/keys")
    response = client.post(REVOKE.format("default", active))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    key = response.json()
    assert list(key) == KEY_MEMBERS
    assert {k: v for k, v in key.items() if k != "status"} == {
        k: v for k, v in before[0].items() if k != "status"
    }
    assert key["status"] == "REVOKED"
    OktaSpec.load().validate(
        OktaSpec.load().component("AuthorizationServerJsonWebKey"), key, "revoke answer"
    )
    after = listed(client)
    assert [k["status"] for k in after] == ["ACTIVE", "NEXT"]
    assert after[0]["kid"] == pending and after[1]["kid"] not in (active, pending)
    assert active not in jwks_kids(client)
    assert client.get(f"{KEYS.format('default')}/{active}").status_code == 404
    server = client.get(f"{SERVERS}/default").json()
    assert server["credentials"]["signing"]["kid"] == pending
    assert server["credentials"]["signing"]["lastRotated"] == "2026-01-01T12:00:00.000Z"
    # the JWKS changed: a new ETag, and the old one no longer answers 304
    fresh = client.get("/oauth2/default/v1/keys", headers={"If-None-Match": jwks.headers["etag"]})
    assert fresh.status_code == 200 and fresh.headers["etag"] != jwks.headers["etag"]
    discovery = client.get("/oauth2/default/.well-known/openid-configuration").json()
    assert discovery["jwks_uri"].endswith("/oauth2/default/v1/keys")
    # the service signs with the new ACTIVE key
    assert service.active_key("default")[1].kid == pending


def test_revoke_the_next_key_over_the_api(client: TestClient) -> None:
    active, pending = (k["kid"] for k in listed(client))
    answer = client.post(REVOKE.format("default", pending))
    assert answer.status_code == 200 and answer.json()["status"] == "REVOKED"
    after = listed(client)
    assert [k["status"] for k in after] == ["ACTIVE", "NEXT"]
    assert after[0]["kid"] == active and after[1]["kid"] != pending
    assert pending not in jwks_kids(client)


def test_revoke_an_expired_key_over_the_api(client: TestClient) -> None:
    assert client.post(ROTATE.format("default"), json={"use": "sig"}).status_code == 200
    keys = listed(client)
    expired = keys[2]["kid"]
    assert keys[2]["status"] == "EXPIRED"
    answer = client.post(REVOKE.format("default", expired))
    assert answer.status_code == 200 and answer.json()["status"] == "REVOKED"
    assert listed(client) == keys[:2]
    assert expired not in jwks_kids(client)


def test_revoking_again_answers_the_same_key_and_records_nothing(
    client: TestClient, service: KeyService
) -> None:
    kid = listed(client)[1]["kid"]
    first = client.post(REVOKE.format("default", kid))
    keys = listed(client)
    recorded = service.events(EventQuery(limit=10_000))
    again = client.post(REVOKE.format("default", kid))
    assert again.status_code == 200 and again.json() == first.json()
    assert listed(client) == keys
    assert service.events(EventQuery(limit=10_000)) == recorded


def test_revoke_of_unknown_things_is_404(client: TestClient) -> None:
    kid = listed(client)[0]["kid"]
    missing_server = client.post(REVOKE.format("ausNope", kid))
    assert_okta_error(
        missing_server,
        404,
        "E0000007",
        "Not found: Resource not found: ausNope (AuthorizationServer)",
    )
    missing_key = client.post(REVOKE.format("default", "nope"))
    assert_okta_error(
        missing_key,
        404,
        "E0000007",
        "Not found: Resource not found: nope (AuthorizationServerJsonWebKey)",
    )
    other = client.post(SERVERS, json={"name": "other", "audiences": ["api://other"]}).json()
    # a kid of another server is not found under this one; nor is the hidden org server
    assert client.post(REVOKE.format(other["id"], kid)).status_code == 404
    assert client.post(REVOKE.format("org", kid)).status_code == 404
    assert listed(client)[0]["kid"] == kid


def test_revoke_needs_the_manage_scope(client: TestClient) -> None:
    kid = listed(client)[0]["kid"]
    anonymous = client.post(REVOKE.format("default", kid), headers={"Authorization": ""})
    assert anonymous.status_code == 401 and anonymous.json()["errorCode"] == "E0000011"
    reader = client.post(
        REVOKE.format("default", kid), headers={"Authorization": f"SSWS {READ_TOKEN}"}
    )
    assert reader.status_code == 403 and reader.json()["errorCode"] == "E0000006"
    assert client.get(REVOKE.format("default", kid)).status_code == 405
    assert listed(client)[0]["kid"] == kid


def test_a_revoke_is_in_the_system_log(client: TestClient) -> None:
    kid = listed(client)[0]["kid"]
    assert client.post(REVOKE.format("default", kid)).status_code == 200
    events = client.get(
        "/api/v1/logs", params={"filter": f'eventType eq "{audit.KEY_REVOKED}"'}
    ).json()
    assert len(events) == 1
    found = events[0]
    assert found["target"][0]["id"] == kid
    assert found["actor"]["type"] == "ApiToken"
    assert found["debugContext"]["debugData"]["previousStatus"] == "ACTIVE"
    rollover = client.get(
        "/api/v1/logs", params={"filter": f'eventType eq "{audit.KEY_ROLLOVER}"'}
    ).json()
    assert [e["debugContext"]["debugData"]["trigger"] for e in rollover] == ["REVOKE"]
    assert "n" not in json.dumps(found["debugContext"]["debugData"]).split('"')


def test_the_jwks_max_age_is_bounded_after_a_revoke(client: TestClient, clock: ManualClock) -> None:
    """Rotate, then revoke the new ACTIVE key 10 minutes later: the key the rotation
    expired is no longer the newest, so it leaves when its retention (65 minutes) ends,
    and ``max-age`` never runs past that moment."""
    assert client.post(ROTATE.format("default"), json={"use": "sig"}).status_code == 200
    expired = listed(client)[2]["kid"]
    clock.advance(timedelta(minutes=10))
    assert "max-age=3600," in client.get("/oauth2/default/v1/keys").headers["cache-control"]
    assert client.post(REVOKE.format("default", listed(client)[0]["kid"])).status_code == 200
    answer = client.get("/oauth2/default/v1/keys")
    assert answer.headers["cache-control"] == "max-age=3300, must-revalidate"
    assert expired in [k["kid"] for k in answer.json()["keys"]]
    clock.advance(timedelta(minutes=55))
    assert expired not in jwks_kids(client)
    assert [k["status"] for k in listed(client)] == ["ACTIVE", "NEXT"]


# -- the stores: memory, a real SQLite file, real PostgreSQL ----------------------------------


def stored(service: KeyService, server_id: str) -> list[SigningKey]:
    with service.store.transaction() as tx:
        return sorted(tx.keys(server_id), key=lambda k: k.generation)


def test_revoke_on_every_store(
    make_service: Callable[..., KeyService], database_url: str, clock: ManualClock
) -> None:
    service = make_service(database_url)
    server = service.create_server(ServerSpec(name="s", audiences=("api://s",)))
    first, second = (k.kid for k in service.list_keys(server.id))
    assert service.revoke_key(server.id, first, CLI).status is KeyStatus.REVOKED
    clock.advance(timedelta(minutes=1))
    assert service.revoke_key(server.id, second, CLI).status is KeyStatus.REVOKED
    keys = stored(service, server.id)
    assert [k.status for k in keys] == [
        KeyStatus.REVOKED,
        KeyStatus.REVOKED,
        KeyStatus.ACTIVE,
        KeyStatus.NEXT,
    ]
    assert keys[0].activated is not None and keys[1].activated is not None
    assert service.get_server(server.id).kid == keys[2].kid
    # a second service on the same store (another replica) sees the same
    if database_url != "memory://":
        other = make_service(database_url)
        assert [k.kid for k in other.list_keys(server.id)] == [keys[2].kid, keys[3].kid]
        assert json.loads(other.jwks(server.id).body)["keys"][0]["kid"] == keys[2].kid
    with pytest.raises(NotFound):
        service.revoke_key(server.id, "nope")
    revoked = service.events(EventQuery(event_type=audit.KEY_REVOKED, server_id=server.id))
    assert [e.target.id for _, e in revoked] == [first, second]
    assert [e.actor for _, e in revoked] == [CLI, CLI]


def test_a_retired_key_can_be_revoked_and_nothing_comes_back(
    make_service: Callable[..., KeyService], database_url: str, clock: ManualClock
) -> None:
    """Through the stores' reads of the keys still in play (SQL: the ``since`` query):
    rotations 2 hours apart retire the older EXPIRED key; revoking the newest EXPIRED one
    brings nothing back, and a retired key is revoked without changing what is shown."""
    service = make_service(database_url)
    for _ in range(3):
        service.rotate("default")
        clock.advance(timedelta(hours=2))
    keys = stored(service, "default")
    retired, _, newest = by_status(keys, KeyStatus.EXPIRED)
    shown = [k.kid for k in service.list_keys("default")]
    assert shown[2:] == [newest.kid]
    service.revoke_key("default", newest.kid)
    shown.remove(newest.kid)
    assert [k.kid for k in service.list_keys("default")] == shown
    assert service.revoke_key("default", retired.kid).status is KeyStatus.REVOKED
    assert [k.kid for k in service.list_keys("default")] == shown
    clock.advance(timedelta(days=1))
    service.sweep()
    assert [k.kid for k in service.list_keys("default")] == shown
    service.rotate("default")
    now_shown = {k.kid for k in service.list_keys("default")}
    assert not {retired.kid, newest.kid} & now_shown
    assert {k.kid for k in stored(service, "default") if k.status is KeyStatus.REVOKED} == {
        retired.kid,
        newest.kid,
    }


def test_a_revoked_key_stays_revoked_across_a_due_auto_rotation(
    make_service: Callable[..., KeyService], database_url: str, clock: ManualClock
) -> None:
    service = make_service(database_url)
    active = service.list_keys("default")[0]
    service.revoke_key("default", active.kid)
    schedule = service.get_server("default").next_rotation
    assert schedule == START + POLICY.period  # restarted at the revoke (the clock stands)
    clock.advance(POLICY.period + timedelta(minutes=1))
    assert service.sweep() >= 1
    keys = stored(service, "default")
    assert next(k for k in keys if k.kid == active.kid).status is KeyStatus.REVOKED
    assert [k.status for k in keys].count(KeyStatus.ACTIVE) == 1
    assert active.kid not in {k.kid for k in service.list_keys("default")}


# -- concurrency: revokes racing rotations on PostgreSQL --------------------------------------


@pytest.mark.postgres
def test_revokes_racing_rotations_keep_one_active_key(
    make_service: Callable[..., KeyService], postgres_url: str
) -> None:
    """Two replicas on one PostgreSQL database: one rotates, the other revokes whatever key
    it last saw ACTIVE, and another NEXT, all at once. Every request succeeds or is a
    clean 404 (never happens here: kids are never deleted); afterwards exactly one ACTIVE
    key, at most one NEXT, the server names its ACTIVE key, no revoked key is published,
    and each key's statuses only went forward."""
    one, two = make_service(postgres_url), make_service(postgres_url)
    errors: list[BaseException] = []
    revoked: set[str] = set()
    lock = threading.Lock()

    def run(work: Callable[[], None]) -> Callable[[], None]:
        def loop() -> None:
            try:
                for _ in range(6):
                    work()
            except BaseException as exc:  # reported below
                errors.append(exc)

        return loop

    def rotate() -> None:
        one.rotate("default")

    def revoke(status: KeyStatus) -> Callable[[], None]:
        def work() -> None:
            with two.store.transaction() as tx:
                found = [k for k in tx.keys("default") if k.status is status]
            if found:
                key = two.revoke_key("default", found[0].kid)
                assert key.status is KeyStatus.REVOKED
                with lock:
                    revoked.add(key.kid)

        return work

    threads = [
        threading.Thread(target=run(rotate)),
        threading.Thread(target=run(revoke(KeyStatus.ACTIVE))),
        threading.Thread(target=run(revoke(KeyStatus.NEXT))),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not errors, errors
    keys = stored(one, "default")
    statuses = [k.status for k in keys]
    assert statuses.count(KeyStatus.ACTIVE) == 1 and statuses.count(KeyStatus.NEXT) <= 1
    assert {k.kid for k in keys if k.status is KeyStatus.REVOKED} == revoked
    assert len(revoked) >= 6
    active = lifecycle.only(keys, KeyStatus.ACTIVE)
    for service in (one, two):
        assert service.get_server("default").kid == active.kid
        shown = {k.kid for k in service.list_keys("default")}
        assert not shown & revoked
    # generations are distinct and a key activated after every revoked ACTIVE key
    assert len({k.generation for k in keys}) == len(keys)
    assert all(k.generation < active.generation for k in keys if k.status is KeyStatus.EXPIRED)
    # the record names each revoke once
    events = one.events(EventQuery(event_type=audit.KEY_REVOKED, limit=1000))
    assert sorted(e.target.id for _, e in events) == sorted(revoked)


# -- end to end: a real server, PyJWT's PyJWKClient -------------------------------------------


class Verifier(jwt.PyJWKClient):
    """A resource server's key cache: the JWK Set kept (PyJWT's default, 5 minutes),
    fetched again on an unknown kid (no cooldown, so the test need not wait). Not
    ``cache_keys=True``: that cache never forgets a key, so a revoked key would verify
    there for as long as the process lives (docs/security.md)."""

    def __init__(self, uri: str) -> None:
        super().__init__(uri, cache_keys=False, cooldown_duration=0)

    def verify(self, token: str, issuer: str) -> dict[str, Any]:
        key = self.get_signing_key_from_jwt(token)
        claims: dict[str, Any] = jwt.decode(
            token, key.key, algorithms=["RS256"], audience="api://default", issuer=issuer
        )
        return claims


@pytest.mark.e2e
def test_a_verifier_stops_accepting_tokens_of_a_revoked_key(
    start_server: Callable[..., ServerProcess],
) -> None:
    server = start_server()
    admin = {"Authorization": f"SSWS {ADMIN_TOKEN}"}
    with httpx.Client(base_url=server.url, headers=admin, timeout=30) as api:
        made = api.post(f"{SERVERS}/default/scopes", json={"name": "things:read"})
        assert made.status_code == 201, made.text
        creds = api.post("/oauth2/v1/clients", json={"client_name": "billing"}).json()

        def token() -> str:
            answer = httpx.post(
                f"{server.url}/oauth2/default/v1/token",
                data={"grant_type": "client_credentials", "scope": "things:read"},
                auth=(creds["client_id"], creds["client_secret"]),
            )
            assert answer.status_code == 200, answer.text
            return str(answer.json()["access_token"])

        issuer = f"{server.url}/oauth2/default"
        discovery = httpx.get(f"{issuer}/.well-known/openid-configuration").json()
        jwks_uri = discovery["jwks_uri"]
        old = token()
        old_kid = jwt.get_unverified_header(old)["kid"]
        verifier = Verifier(jwks_uri)
        assert verifier.verify(old, issuer)["scp"] == ["things:read"]
        before = httpx.get(jwks_uri)

        answer = api.post(REVOKE.format("default", old_kid))
        assert answer.status_code == 200, answer.text
        assert answer.json()["status"] == "REVOKED"

        after = httpx.get(jwks_uri, headers={"If-None-Match": before.headers["etag"]})
        assert after.status_code == 200 and after.headers["etag"] != before.headers["etag"]
        assert old_kid not in [k["kid"] for k in after.json()["keys"]]
        with pytest.raises(jwt.PyJWKClientError, match="Unable to find a signing key"):
            Verifier(jwks_uri).verify(old, issuer)  # a verifier that fetches now
        assert verifier.verify(old, issuer)  # one that cached the JWKS: until it refetches
        verifier.get_jwk_set(refresh=True)  # (its lifespan, or the Cache-Control, passed)
        with pytest.raises(jwt.PyJWKClientError, match="Unable to find a signing key"):
            verifier.verify(old, issuer)

        new = token()
        new_kid = jwt.get_unverified_header(new)["kid"]
        assert new_kid != old_kid
        assert new_kid == api.get(f"{SERVERS}/default").json()["credentials"]["signing"]["kid"]
        assert verifier.verify(new, issuer)["cid"] == creds["client_id"]
        assert Verifier(jwks_uri).verify(new, issuer)["cid"] == creds["client_id"]

        logs = api.get(
            "/api/v1/logs", params={"filter": f'eventType eq "{audit.KEY_REVOKED}"'}
        ).json()
        assert [e["target"][0]["id"] for e in logs] == [old_kid]
    assert audit.KEY_REVOKED in server.output()  # the server's log line of the event


SDK_SCRIPT = """
import asyncio, json, os, sys
os.environ["OKTA_TESTING_TESTINGDISABLEHTTPSCHECK"] = "true"
from okta.client import Client
from okta.models.authorization_server_json_web_key import AuthorizationServerJsonWebKey

async def main(url, token, revoked):
    client = Client({"orgUrl": url, "token": token, "rateLimit": {"maxRetries": 0}})
    keys, _, err = await client.list_authorization_server_keys("default")
    key, _, gone = await client.get_authorization_server_key("default", json.loads(revoked)["kid"])
    parsed = AuthorizationServerJsonWebKey.from_dict(json.loads(revoked))
    return {
        "list": [[k.kid, k.status] for k in keys] if keys else str(err),
        "get": [gone.status, gone.error_code] if gone else str(key),
        "parsed": [parsed.kid, parsed.status],
    }

print(json.dumps(asyncio.run(main(*sys.argv[1:4]))))
"""


@pytest.mark.e2e
def test_oktas_sdk_and_our_client_read_keys_after_a_revoke(
    start_server: Callable[..., ServerProcess],
) -> None:
    """Neither Okta's SDK (okta 3.4.6) nor our ``okta`` client holds ``status`` to ACTIVE,
    NEXT or EXPIRED; the key list shows no revoked key anyway, and a revoked kid is not
    found, as a retired one is. Both parse the revoke's answer."""
    python = os.environ.get("KEYROTOR_OKTA_SDK_PYTHON")
    if not python:
        pytest.skip("KEYROTOR_OKTA_SDK_PYTHON is not set (scripts/test sets it)")
    server = start_server()
    admin = {"Authorization": f"SSWS {ADMIN_TOKEN}"}
    keys = httpx.get(server.url + KEYS.format("default"), headers=admin).json()
    answer = httpx.post(server.url + REVOKE.format("default", keys[0]["kid"]), headers=admin)
    assert answer.status_code == 200, answer.text
    ours = AuthorizationServerJsonWebKey.from_dict(answer.json())
    assert (ours.kid, ours.status) == (keys[0]["kid"], "REVOKED")
    result = subprocess.run(
        [python, "-c", SDK_SCRIPT, server.url, server.token, answer.text],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert [status for _, status in seen["list"]] == ["ACTIVE", "NEXT"]
    assert seen["list"][0][0] == keys[1]["kid"]
    assert seen["get"] == [404, "E0000007"]
    assert seen["parsed"] == [keys[0]["kid"], "REVOKED"]


# -- the command line, on a real SQLite file --------------------------------------------------


@pytest.fixture
def cli_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    for name in ("KEYROTOR_KEK", "KEYROTOR_KEK_FILE", "KEYROTOR_DEBUG", "KEYROTOR_PUBLIC_URL"):
        monkeypatch.delenv(name, raising=False)
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("KEYROTOR_DATABASE_URL", url)
    assert CliRunner().invoke(main, ["init"]).exit_code == 0
    return url


def cli(*args: str) -> str:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def test_keys_revoke_on_the_command_line(cli_store: str) -> None:
    before = json.loads(cli("keys", "list", "default", "--json"))
    active = before[0]["kid"]
    shown = json.loads(cli("keys", "revoke", "default", active, "--json"))
    assert list(shown) == KEY_MEMBERS
    assert (shown["kid"], shown["status"]) == (active, "REVOKED")
    after = json.loads(cli("keys", "list", "default", "--json"))
    assert [k["status"] for k in after] == ["ACTIVE", "NEXT"]
    assert after[0]["kid"] == before[1]["kid"] and active not in {k["kid"] for k in after}
    # the table, and again (nothing changes), and by --value
    table = cli("keys", "revoke", "default", active)
    assert table.splitlines()[0].split() == ["kid", "status", "created"]
    assert active in table and "REVOKED" in table
    assert cli("keys", "revoke", "default", active, "--value", "status").strip() == "REVOKED"
    events = json.loads(cli("audit", "--server", "default", "--json"))
    revokes = [e for e in events if e["eventType"] == audit.KEY_REVOKED]
    assert [(e["target"][0]["id"], e["actor"]["id"]) for e in revokes] == [(active, "cli")]


def test_keys_revoke_refusals_are_one_line(cli_store: str) -> None:
    for args, needle in [
        (["keys", "revoke", "default", "nope"], "nope (AuthorizationServerJsonWebKey)"),
        (["keys", "revoke", "nobody", "nope"], "no server has this id or name"),
    ]:
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 1, result.output
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: ") and needle in lines[0]
        assert "Traceback" not in result.output
