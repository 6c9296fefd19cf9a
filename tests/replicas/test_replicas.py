"""Three real ``keyrotor serve`` replicas on one PostgreSQL database, under concurrent load."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import jwt
import pytest

from tests.replicas.cluster import Cluster, db_upgrade
from tests.replicas.load import JWKS, KEYS, ROTATE, Load, percentile
from tests.replicas.support import key_counts, stored_keys

pytestmark = [pytest.mark.postgres, pytest.mark.e2e]

WRITERS = 9  # three per replica
ROTATIONS = 200
READERS = 3
COHERENCE_BOUND = 1.0  # seconds: docs/deployment.md promises a rotation reaches every replica


def test_concurrent_rotations_on_every_replica_are_each_applied_once(
    postgres_url: str, cluster: Callable[..., Cluster]
) -> None:
    """Hundreds of rotations spread over three replicas, with readers polling all of them.

    Every acknowledged rotation expired exactly one key (counted in the database, retired
    keys included); no reader saw zero or two ACTIVE keys, a key going back on a replica, or
    a kid's ``n`` changing. Then, one at a time, each rotation is seen at once by the
    replica that made it and within the bound by the others.
    """
    db_upgrade(postgres_url)
    replicas = cluster(postgres_url, 3)
    server_id = replicas.create_server()
    load = Load(replicas.urls, server_id, replicas.servers[0].token)
    started = time.monotonic()
    load.readers(READERS)
    load.writers(WRITERS, ROTATIONS)
    load.join(timeout=120)
    elapsed = time.monotonic() - started

    rotations = load.of("rotate")
    failed = [(o.status, o.body[:200]) for o in load.outcomes if o.status != 200]
    assert not failed, f"{failed[:5]}\n{replicas.logs()[-3000:]}"
    assert len(rotations) == ROTATIONS
    assert not load.violations, load.violations[:10]
    assert key_counts(postgres_url, server_id) == {
        "EXPIRED": len(load.acknowledged()),
        "ACTIVE": 1,
        "NEXT": 1,
    }
    stored = stored_keys(postgres_url, server_id)
    assert {o.active for o in load.acknowledged()} <= set(stored)
    reads = load.of("keys") + load.of("jwks")
    assert reads, "the readers read"
    print(
        f"\n{ROTATIONS} rotations over 3 replicas in {elapsed:.1f} s: "
        f"{ROTATIONS / elapsed:.0f}/s, p50 {percentile([o.elapsed for o in rotations], 50):.3f} s, "
        f"p99 {percentile([o.elapsed for o in rotations], 99):.3f} s; {len(reads)} reads"
    )
    _every_replica_sees_each_rotation_at_once(replicas, server_id)


def _every_replica_sees_each_rotation_at_once(replicas: Cluster, server_id: str) -> None:
    """Right after a rotation answers, the replica that made it lists the new ACTIVE key;
    every other replica does within ``COHERENCE_BOUND`` (its cache is dropped by NOTIFY),
    and then all serve the very same JWKS bytes and strong ETag."""
    with replicas.client() as client:
        for round_ in range(6):
            rotated_on = replicas.urls[round_ % 3]
            rotated = client.post(rotated_on + ROTATE.format(server_id), json={"use": "sig"})
            assert rotated.status_code == 200
            active = [k["kid"] for k in rotated.json() if k["status"] == "ACTIVE"]
            mine = client.get(rotated_on + KEYS.format(server_id)).json()
            assert [k["kid"] for k in mine if k["status"] == "ACTIVE"] == active
            for url in replicas.urls:
                lag = active_within(client, url + KEYS.format(server_id), active[0])
                assert lag < COHERENCE_BOUND, f"{url} saw the rotation after {lag:.3f} s"
            jwks = [client.get(url + JWKS.format(server_id)) for url in replicas.urls]
            assert len({r.content for r in jwks}) == 1
            assert len({r.headers["etag"] for r in jwks}) == 1
            assert active[0] in {k["kid"] for k in jwks[0].json()["keys"]}
            etag = jwks[0].headers["etag"]
            assert etag.startswith('"')
            revalidated = [
                client.get(url + JWKS.format(server_id), headers={"If-None-Match": etag})
                for url in replicas.urls
            ]
            assert [r.status_code for r in revalidated] == [304, 304, 304]


def active_within(client: httpx.Client, url: str, kid: str, limit: float = 5.0) -> float:
    """Seconds until ``url`` lists ``kid`` as the ACTIVE key (polled every 10 ms)."""
    started = time.monotonic()
    while True:
        keys = client.get(url).json()
        if [k["kid"] for k in keys if k["status"] == "ACTIVE"] == [kid]:
            return time.monotonic() - started
        if time.monotonic() - started > limit:
            return limit
        time.sleep(0.01)


def test_tokens_minted_on_other_replicas_follow_a_rotation_within_the_bound(
    postgres_url: str, cluster: Callable[..., Cluster]
) -> None:
    """Rotations on one replica while the two others mint tokens: every token is signed
    with a key that replica's JWKS publishes, and within ``COHERENCE_BOUND`` of each
    rotation the others sign with the new ACTIVE key. Verified with PyJWT's PyJWKClient
    against the replica that minted it: a JWKS that lags never breaks a verifier, because
    the new ACTIVE key was published as NEXT before."""
    db_upgrade(postgres_url)
    replicas = cluster(postgres_url, 3)
    with replicas.client() as client:
        base = replicas.urls[0]
        scope = client.post(
            f"{base}/api/v1/authorizationServers/default/scopes", json={"name": "r"}
        )
        assert scope.status_code == 201, scope.text
        registered = client.post(f"{base}/oauth2/v1/clients", json={"client_name": "r"}).json()
    auth = (registered["client_id"], registered["client_secret"])
    verifiers: dict[str, jwt.PyJWKClient] = {}

    def mint(url: str) -> str:
        answer = httpx.post(
            f"{url}/oauth2/default/v1/token",
            data={"grant_type": "client_credentials", "scope": "r"},
            auth=auth,
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
        token = str(answer.json()["access_token"])
        key = verifiers[url].get_signing_key_from_jwt(token)
        jwt.decode(token, key.key, algorithms=["RS256"], audience="api://default")
        return str(jwt.get_unverified_header(token)["kid"])

    with replicas.client() as client:
        for round_ in range(5):
            # a verifier per replica that fetched the JWKS before this rotation (PyJWT
            # refetches at most every 30 s, so an older one would lag by two rotations)
            verifiers.update(
                {u: jwt.PyJWKClient(f"{u}/oauth2/default/v1/keys") for u in replicas.urls}
            )
            for url in replicas.urls:
                mint(url)  # warm: every replica has default cached, every verifier its JWKS
            rotated = client.post(replicas.urls[0] + ROTATE.format("default"), json={"use": "sig"})
            assert rotated.status_code == 200
            active = next(k["kid"] for k in rotated.json() if k["status"] == "ACTIVE")
            assert mint(replicas.urls[0]) == active  # at once where it was made
            for url in replicas.urls[1:]:
                started = time.monotonic()
                while (kid := mint(url)) != active:
                    assert time.monotonic() - started < COHERENCE_BOUND, (round_, url, kid)
                    time.sleep(0.01)
