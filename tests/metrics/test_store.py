"""Store errors on the real PostgreSQL: counted, and the gauges say the store is down while
it is, then up again; the totals of ``serve --workers`` workers add up."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from starlette.testclient import TestClient

from keyrotor.apitokens import ALL_SCOPES
from keyrotor.config import Settings
from keyrotor.http import create_app
from keyrotor.http.metrics import MetricsOptions
from keyrotor.metrics import HttpMeter, RouteTemplates, ServiceMetrics, SharedTotals, Totals
from keyrotor.service import KeyService
from tests.conftest import ADMIN_TOKEN, TEST_KEK
from tests.metrics.scrape import Samples

ROTATE = "/api/v1/authorizationServers/default/credentials/lifecycle/keyRotate"


def _connections(url: str, allowed: bool) -> None:
    """Let no new connection in (and cut the open ones), or let them in again."""
    name = make_url(url).database
    admin = create_engine(
        make_url(url).set(drivername="postgresql+psycopg", database="postgres"),
        isolation_level="AUTOCOMMIT",
    )
    with admin.connect() as conn:
        conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {str(allowed).lower()}'))
        if not allowed:
            conn.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :d"),
                {"d": name},
            )
    admin.dispose()


@pytest.fixture
def outage(postgres_url: str) -> Iterator[Callable[[bool], None]]:
    yield lambda allowed: _connections(postgres_url, allowed)
    _connections(postgres_url, True)


@pytest.mark.postgres
def test_store_errors_are_counted_and_the_store_is_down_meanwhile(
    postgres_url: str,
    make_service: Callable[..., KeyService],
    outage: Callable[[bool], None],
) -> None:
    service = make_service(postgres_url)
    service.create_token("admin", ALL_SCOPES, ADMIN_TOKEN)
    settings = Settings(database_url=postgres_url, kek=TEST_KEK)
    app = create_app(service, settings, sweep=False, metrics=MetricsOptions(state_ttl=0))
    with TestClient(app, headers={"Authorization": f"SSWS {ADMIN_TOKEN}"}) as client:
        found = Samples.parse(client.get("/metrics").text)
        assert found("keyrotor_store_up") == 1
        assert found.total("keyrotor_store_errors_total") == 0

        outage(False)
        assert client.post(ROTATE, json={"use": "sig"}).status_code == 503
        found = Samples.parse(client.get("/metrics").text)
        assert found("keyrotor_store_errors_total", kind="unavailable") >= 1
        assert found("keyrotor_store_up") == found("keyrotor_ready") == 0
        assert found.get("keyrotor_server_active_key_age_seconds", server="default") is None
        assert found("keyrotor_rotations_total", trigger="manual") == 0
        route = "/api/v1/authorizationServers/{server_id}/credentials/lifecycle/keyRotate"
        requests = "keyrotor_http_requests_total"
        assert found(requests, method="POST", route=route, status="503") == 1

        outage(True)
        assert client.post(ROTATE, json={"use": "sig"}).status_code == 200
        found = Samples.parse(client.get("/metrics").text)
        assert found("keyrotor_store_up") == found("keyrotor_ready") == 1
        assert found("keyrotor_rotations_total", trigger="manual") == 1
        assert found("keyrotor_server_active_key_age_seconds", server="default") == 0


def test_the_totals_of_workers_add_up(tmp_path: Path) -> None:
    """Each worker leaves its totals in the folder; the one scraped adds the others' to its
    own, so a counter sums every worker's requests, tokens and rotations once."""
    workers = []
    for _ in range(3):
        meter = HttpMeter(RouteTemplates(["/oauth2/{server_id}/v1/keys"]))
        service = ServiceMetrics()
        shared = SharedTotals(
            str(tmp_path), lambda m=meter, s=service: Totals.of(m, s, {"unavailable": 1}, {})
        )
        workers.append((meter, service, shared))
    for i, (meter, service, _) in enumerate(workers):
        for _ in range(i + 1):
            meter.observe("GET", "/oauth2/default/v1/keys", 200, 0.001)
            service.token_issued("default", "kid-1")
        service.rotation_applied("MANUAL")
        service.committed(0.02)
    for _, _, shared in workers[1:]:
        shared.write()
    meter, service, shared = workers[0]
    summed = Totals.of(meter, service, {"unavailable": 1}, {})
    summed.add(shared.others())
    assert summed.requests == {("GET", "/oauth2/{server_id}/v1/keys", 200): 6}
    assert summed.latency["/oauth2/{server_id}/v1/keys"][1] == 6  # the 1 ms bucket
    assert summed.tokens == {("default", "kid-1"): 6}
    assert summed.rotations["manual"][-1] == pytest.approx(0.06)
    assert summed.store_errors == {"unavailable": 3}
    assert Totals.from_json(summed.to_json()) == summed
