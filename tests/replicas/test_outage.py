"""The database goes away under load, twice, and comes back: the replicas answer 503 fast,
never 500, never hang, and recover by themselves without losing an acknowledged rotation.
Reads a replica has cached may still be answered until its change feed goes stale.

A ``TcpProxy`` in the test process stands between the replicas and PostgreSQL (stopping
the shared cluster would disturb other tests): first it resets every connection and
refuses new ones (the database host went down), then it freezes (a network partition:
sockets stay open, nothing answers), which only the connection deadline can bound.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy.engine import make_url

from keyrotor.storage.feed import STALE_AFTER
from keyrotor.storage.sql import CONNECT_TIMEOUT, DEADLINE
from tests.replicas.cluster import Cluster, db_upgrade
from tests.replicas.load import Load, percentile
from tests.replicas.proxy import TcpProxy
from tests.replicas.support import all_at_once, key_counts, stored_keys

pytestmark = [pytest.mark.postgres, pytest.mark.e2e]

# the longest any request may take while the database is away: a connection cut by the
# deadline, then one failed attempt to open a new one; plus slack for a busy machine
BOUND = DEADLINE + CONNECT_TIMEOUT + 2
# seconds each outage lasts: a freeze long enough for requests in flight to meet the deadline
DOWN_FOR = {"cut": 2.0, "freeze": DEADLINE + 1.5}
SETTLE = 1.0  # seconds of load before each outage and after each recovery


@dataclass
class Window:
    outage: str
    down: float
    up: float
    ready: float  # every replica's /readyz answered 200 again
    probes: list[tuple[str, int, float]]  # (endpoint, status, seconds) while down


def test_replicas_fail_fast_while_the_database_is_away_and_recover(
    postgres_url: str, cluster: Callable[..., Cluster]
) -> None:
    db_upgrade(postgres_url)
    real = make_url(postgres_url)
    with TcpProxy(real.host or "127.0.0.1", real.port or 5432) as proxy:
        via_proxy = real.set(host="127.0.0.1", port=proxy.port)
        replicas = cluster(via_proxy.render_as_string(hide_password=False), 3)
        server_id = replicas.create_server()
        load = Load(replicas.urls, server_id, replicas.servers[0].token, timeout=BOUND + 10)
        load.readers(2)
        load.writers(2)
        windows = []
        try:
            time.sleep(SETTLE)
            for outage in ("cut", "freeze"):
                windows.append(_outage(replicas, proxy, outage))
                time.sleep(SETTLE)
        finally:
            load.finish()
    logs = replicas.logs()

    # only 200 or 503, never a 500, never a hang (no answer within the client timeout)
    statuses = load.statuses()
    assert set(statuses) <= {200, 503}, f"{statuses}\n{_odd(load)}\n{logs[-3000:]}"
    unavailable = [o for o in load.outcomes if o.status == 503]
    assert unavailable, "the outages were felt"
    assert {json.loads(o.body)["errorCode"] for o in unavailable} == {"E0000009"}
    slowest = max(o.elapsed for o in load.outcomes)
    assert slowest < BOUND, f"a request took {slowest:.1f} s"
    assert "unexpected" not in logs and "Traceback" not in logs, logs[-3000:]

    for w, later in zip(windows, [*windows[1:], None], strict=True):
        # while away: no rotation succeeds once the outage has taken hold; a read may still
        # be answered from a replica's cache until its change feed goes stale, never later;
        # readiness fails fast (a request still waiting when the database returns may well
        # succeed)
        inside = [o for o in load.outcomes if w.down + 0.2 <= o.started < o.ended < w.up]
        assert {o.status for o in inside if o.kind == "rotate"} <= {503}, w.outage
        stale = w.down + STALE_AFTER + 0.5
        late_reads = {o.status for o in inside if o.kind != "rotate" and o.started > stale}
        assert late_reads <= {503}, (w.outage, late_reads)
        readiness = [p for p in w.probes if p[0] == "/readyz"]
        assert readiness and {s for _, s, _ in readiness} == {503}, (w.outage, w.probes)
        assert {s for e, s, _ in w.probes if e == "/healthz"} == {200}
        assert max(t for _, _, t in w.probes) < BOUND
        # back: full service, by themselves, within a few seconds
        assert w.ready - w.up < 10, (w.outage, w.ready - w.up)
        end = later.down if later else float("inf")  # answered before the next outage
        after = {o.status for o in load.outcomes if w.ready <= o.started < o.ended < end}
        assert after == {200}, (w.outage, after)
        print(_figures(load, w))

    # nothing acknowledged was lost; an unacknowledged rotation may or may not have happened
    acknowledged = load.acknowledged()
    assert len(acknowledged) > 20
    stored = stored_keys(postgres_url, server_id)
    assert {o.active for o in acknowledged} <= set(stored)
    unanswered = [o for o in load.of("rotate") if o.status != 200]
    expired = key_counts(postgres_url, server_id)["EXPIRED"]
    assert len(acknowledged) <= expired <= len(acknowledged) + len(unanswered)
    assert not load.violations, load.violations[:10]


def _outage(replicas: Cluster, proxy: TcpProxy, outage: str) -> Window:
    """Take the database away for ``DOWN_FOR`` seconds, probing the health endpoints."""
    down = time.monotonic()
    getattr(proxy, outage)()
    probes: list[tuple[str, int, float]] = []
    with httpx.Client(timeout=BOUND + 10) as client:

        def probe(url: str, endpoint: str) -> None:
            started = time.monotonic()
            status = client.get(url + endpoint).status_code
            probes.append((endpoint, status, time.monotonic() - started))

        while time.monotonic() < down + DOWN_FOR[outage]:
            every = [(url, e) for url in replicas.urls for e in ("/readyz", "/healthz")]
            failed = all_at_once([lambda u=u, e=e: probe(u, e) for u, e in every])
            assert not [f for f in failed if f is not None], failed
            time.sleep(0.2)
        up = time.monotonic()
        proxy.restore()
        while time.monotonic() < up + 20:
            if all(client.get(url + "/readyz").status_code == 200 for url in replicas.urls):
                break
            time.sleep(0.1)
    return Window(outage, down, up, time.monotonic(), probes)


def _figures(load: Load, w: Window) -> str:
    failed = [o.elapsed for o in load.outcomes if o.status == 503 and w.down <= o.started < w.up]
    return (
        f"\n{w.outage}: {len(failed)} answers 503 in {w.up - w.down:.1f} s, latency "
        f"p50 {percentile(failed, 50):.2f} s, max {max(failed, default=0):.2f} s; "
        f"all replicas ready {w.ready - w.up:.2f} s after the database returned"
    )


def _odd(load: Load) -> str:
    odd = [o for o in load.outcomes if o.status not in (200, 503)]
    return "\n".join(f"{o.kind} {o.status} {o.elapsed:.2f}s {o.body[:300]}" for o in odd[:5])
