"""Three real ``keyrotor serve`` replicas on one PostgreSQL database, under concurrent load."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from tests.replicas.cluster import Cluster, db_upgrade
from tests.replicas.load import JWKS, KEYS, ROTATE, Load, percentile
from tests.replicas.support import key_counts, stored_keys

pytestmark = [pytest.mark.postgres, pytest.mark.e2e]

WRITERS = 9  # three per replica
ROTATIONS = 200
READERS = 3


def test_concurrent_rotations_on_every_replica_are_each_applied_once(
    postgres_url: str, cluster: Callable[..., Cluster]
) -> None:
    """Hundreds of rotations spread over three replicas, with readers polling all of them.

    Every acknowledged rotation expired exactly one key (counted in the database, retired
    keys included); no reader saw zero or two ACTIVE keys, a key going back, or a kid's
    ``n`` changing. Then, one at a time, each rotation is seen at once by every replica.
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
    """Right after a rotation answers, every replica lists the new ACTIVE key and serves
    the very same JWKS bytes and strong ETag (so caches revalidate on any replica)."""
    with replicas.client() as client:
        for round_ in range(6):
            rotated_on = replicas.urls[round_ % 3]
            rotated = client.post(rotated_on + ROTATE.format(server_id), json={"use": "sig"})
            assert rotated.status_code == 200
            active = [k["kid"] for k in rotated.json() if k["status"] == "ACTIVE"]
            for url in replicas.urls:
                keys = client.get(url + KEYS.format(server_id)).json()
                assert [k["kid"] for k in keys if k["status"] == "ACTIVE"] == active
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
