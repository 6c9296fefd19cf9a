"""``/metrics`` of the app in-process: values after known requests, tokens and rotations,
on the manual clock; the token that guards it; ``--no-metrics``."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from starlette.testclient import TestClient

from keyrotor.apitokens import ALL_SCOPES
from keyrotor.clock import ManualClock
from keyrotor.config import Settings
from keyrotor.http import create_app
from keyrotor.http.metrics import MetricsOptions
from keyrotor.service import KeyService
from tests.conftest import ADMIN_TOKEN, TEST_KEK
from tests.metrics.scrape import Samples

JWKS = "/oauth2/{server_id}/v1/keys"
ROTATE = "/api/v1/authorizationServers/{server_id}/credentials/lifecycle/keyRotate"
REQUESTS = "keyrotor_http_requests_total"
METRICS_TOKEN = "mt-" + "Zq8v" * 10


@pytest.fixture
def make_client(service: KeyService) -> Iterator[Callable[..., TestClient]]:
    """The app in-process with metrics (the store's state read on every scrape)."""
    service.create_token("admin", ALL_SCOPES, ADMIN_TOKEN)
    opened: list[TestClient] = []

    def make(
        metrics: MetricsOptions | None = MetricsOptions(state_ttl=0), **settings: Any
    ) -> TestClient:
        config = Settings(database_url="memory://", kek=TEST_KEK, **settings)
        app = create_app(service, config, sweep=False, metrics=metrics)
        client = TestClient(app, headers={"Authorization": f"SSWS {ADMIN_TOKEN}"})
        opened.append(client.__enter__())
        return client

    yield make
    for client in opened:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()


def scrape(client: TestClient, **headers: str) -> Samples:
    response = client.get("/metrics", headers={"Authorization": "", **headers})
    assert response.status_code == 200, response.text
    return Samples.parse(response.text)


def test_requests_are_counted_by_route_template_and_status(client: TestClient) -> None:
    """Fast-path and routed answers alike, under the route's template: three unknown
    server ids make one series, not three."""
    app = client.app
    quick, answered = app.quick, []  # type: ignore[attr-defined]

    def counting(scope: Any) -> Any:
        found = quick(scope)
        answered.append(found is not None)
        return found

    app.quick = counting  # type: ignore[attr-defined]
    for _ in range(5):
        assert client.get("/oauth2/default/v1/keys").status_code == 200
    assert sum(answered) >= 4, "the JWKS came from the hot path"
    for _ in range(3):
        assert client.get(f"/oauth2/{secrets.token_hex(6)}/v1/keys").status_code == 404
    assert client.get("/oauth2/default/v1/keys/").status_code == 200  # the same route
    assert client.get("/api/v1/authorizationServers/default").status_code == 200
    assert client.get("/no/such/path").status_code == 404
    assert client.request("BREW", "/healthz").status_code == 405

    found = scrape(client)
    assert found(REQUESTS, method="GET", route=JWKS, status="200") == 6
    assert found(REQUESTS, method="GET", route=JWKS, status="404") == 3
    server = "/api/v1/authorizationServers/{server_id}"
    assert found(REQUESTS, method="GET", route=server, status="200") == 1
    assert found(REQUESTS, method="GET", route="unmatched", status="404") == 1
    assert found(REQUESTS, method="OTHER", route="/healthz", status="405") == 1
    assert found.labels(REQUESTS, "route") == {JWKS, server, "unmatched", "/healthz"}
    latency = "keyrotor_http_request_duration_seconds"
    assert found(f"{latency}_count", route=JWKS) == 9
    assert found(f"{latency}_bucket", route=JWKS, le="+Inf") == 9
    assert 0 < found(f"{latency}_sum", route=JWKS) < 9
    # the scrape itself is counted: the next one sees it
    assert scrape(client)(REQUESTS, method="GET", route="/metrics", status="200") == 1


def _register(client: TestClient) -> tuple[str, str]:
    assert client.post("/api/v1/authorizationServers/default/scopes", json={"name": "a"}).is_success
    made = client.post("/oauth2/v1/clients", json={"client_name": "c"}).json()
    return made["client_id"], made["client_secret"]


def _token(client: TestClient, auth: tuple[str, str]) -> None:
    form = {"grant_type": "client_credentials", "scope": "a"}
    answer = client.post(
        "/oauth2/default/v1/token", data=form, auth=auth, headers={"Authorization": ""}
    )
    assert answer.status_code == 200, answer.text


def _active(client: TestClient, server_id: str = "default") -> str:
    keys = client.get(f"/api/v1/authorizationServers/{server_id}/credentials/keys").json()
    return str(next(k["kid"] for k in keys if k["status"] == "ACTIVE"))


def test_tokens_are_counted_by_server_and_kid(client: TestClient) -> None:
    auth = _register(client)
    first = _active(client)
    for _ in range(3):
        _token(client, auth)
    assert client.post(ROTATE.format(server_id="default"), json={"use": "sig"}).is_success
    second = _active(client)
    for _ in range(2):
        _token(client, auth)
    found = scrape(client)
    assert found("keyrotor_tokens_issued_total", server="default", kid=first) == 3
    assert found("keyrotor_tokens_issued_total", server="default", kid=second) == 2
    assert found.total("keyrotor_tokens_issued_total", server="default") == 5


def test_rotations_manual_and_auto(
    client: TestClient, service: KeyService, clock: ManualClock
) -> None:
    """A rotation through the API is manual, a due AUTO rotation applied by the sweep is
    auto; one that fails is not counted."""
    assert client.post(ROTATE.format(server_id="default"), json={"use": "sig"}).is_success
    assert client.post(ROTATE.format(server_id="nosuch"), json={"use": "sig"}).status_code == 404
    found = scrape(client)
    assert found("keyrotor_rotations_total", trigger="manual") == 1
    assert found("keyrotor_rotations_total", trigger="auto") == 0

    clock.advance(service.policy.period + timedelta(seconds=1))
    assert service.sweep() >= 2  # default and org, both AUTO
    found = scrape(client)
    assert found("keyrotor_rotations_total", trigger="manual") == 1
    assert found("keyrotor_rotations_total", trigger="auto") == 2
    durations = "keyrotor_rotation_duration_seconds"
    assert found(f"{durations}_count", trigger="auto") == 2
    assert found(f"{durations}_bucket", trigger="manual", le="+Inf") == 1
    assert found(f"{durations}_sum", trigger="manual") > 0


def test_key_age_next_rotation_and_safe_to_retire(
    client: TestClient, service: KeyService, clock: ManualClock
) -> None:
    """Worked out at scrape time from the store's state and the clock: an EXPIRED key is
    safe to retire once the token lifetime plus the clock skew have passed since it
    stopped signing, not a second before."""
    period = service.policy.period.total_seconds()
    found = scrape(client)
    assert found("keyrotor_server_active_key_age_seconds", server="default") == 0
    assert found("keyrotor_server_next_rotation_seconds", server="default") == period
    assert (
        found(
            "keyrotor_server_info", server="default", name="default", mode="AUTO", status="ACTIVE"
        )
        == 1
    )

    clock.advance(timedelta(hours=2))
    old = _active(client)
    assert client.post(ROTATE.format(server_id="default"), json={"use": "sig"}).is_success
    found = scrape(client)
    assert found("keyrotor_server_active_key_age_seconds", server="default") == 0
    assert found("keyrotor_server_next_rotation_seconds", server="default") == period
    assert found("keyrotor_server_next_rotation_seconds", server="org") == period - 7200
    assert found("keyrotor_server_active_key_age_seconds", server="org") == 7200
    for status, count in (("ACTIVE", 1), ("NEXT", 1), ("EXPIRED", 1)):
        assert found("keyrotor_server_keys", server="default", status=status) == count
    assert found("keyrotor_server_next_key_missing", server="default") == 0
    assert found("keyrotor_key_safe_to_retire", server="default", kid=old) == 0

    live = timedelta(hours=1) + timedelta(minutes=5)  # token lifetime + clock skew
    clock.advance(live - timedelta(seconds=1))
    assert scrape(client)("keyrotor_key_safe_to_retire", server="default", kid=old) == 0
    clock.advance(timedelta(seconds=1))
    found = scrape(client)
    assert found("keyrotor_key_safe_to_retire", server="default", kid=old) == 1
    assert found("keyrotor_server_active_key_age_seconds", server="default") == live.total_seconds()

    # a MANUAL server has no next rotation
    body = {
        "name": "manual",
        "audiences": ["api://m"],
        "credentials": {"signing": {"rotationMode": "MANUAL"}},
    }
    made = client.post("/api/v1/authorizationServers", json=body)
    assert made.status_code == 201, made.text
    found = scrape(client)
    server_id = made.json()["id"]
    assert found.get("keyrotor_server_next_rotation_seconds", server=server_id) is None
    assert (
        found(
            "keyrotor_server_info", server=server_id, name="manual", mode="MANUAL", status="ACTIVE"
        )
        == 1
    )


def test_the_key_pool_and_the_store(client: TestClient, service: KeyService) -> None:
    found = scrape(client)
    assert found("keyrotor_key_pool_size") == 0
    assert found("keyrotor_store_up") == found("keyrotor_ready") == 1
    assert found("keyrotor_change_feed_live") == 1
    assert {
        found("keyrotor_store_errors_total", kind=k)
        for k in ("unavailable", "pool_timeout", "database")
    } == {0}
    with service.store.transaction(write=True) as tx:
        for _ in range(2):
            tx.add_pooled(service.factory.generate(), service.clock())
    before = scrape(client)("keyrotor_keys_generated_on_demand_total")
    assert scrape(client)("keyrotor_key_pool_size") == 2
    assert client.post(ROTATE.format(server_id="default"), json={"use": "sig"}).is_success
    found = scrape(client)
    assert found("keyrotor_key_pool_size") == 1  # the new NEXT key came from the pool
    assert found("keyrotor_keys_generated_on_demand_total") == before


def test_a_metrics_token_is_required_when_set(make_client: Callable[..., TestClient]) -> None:
    client = make_client(MetricsOptions(token=METRICS_TOKEN))
    for authorization in ("", "Bearer wrong", f"SSWS {METRICS_TOKEN}", f"Bearer {METRICS_TOKEN}x"):
        refused = client.get("/metrics", headers={"Authorization": authorization})
        assert refused.status_code == 401, authorization
        assert refused.json()["errorCode"] == "E0000011"
        assert refused.headers["www-authenticate"] == 'Bearer realm="metrics"'
        assert "keyrotor_" not in refused.text
    for authorization in (f"Bearer {METRICS_TOKEN}", f"bearer  {METRICS_TOKEN} "):
        assert scrape(client, Authorization=authorization)("keyrotor_store_up") == 1


def test_no_metrics_is_a_404_and_counts_nothing(make_client: Callable[..., TestClient]) -> None:
    client = make_client(None)
    answer = client.get("/metrics")
    assert answer.status_code == 404
    assert answer.json()["errorCode"] == "E0000007"
    assert client.app.meter is None  # type: ignore[attr-defined]


def test_any_host_any_accept_and_no_rate_limit(make_client: Callable[..., TestClient]) -> None:
    """A scraper names the replica's own address and asks for its own formats; the public
    per-IP rate limit does not apply."""
    client = make_client(public_rate_limit=2)
    elsewhere = {"Host": "10.1.2.3:8080"}
    assert client.get("/oauth2/default/v1/keys", headers=elsewhere).status_code == 404
    for _ in range(4):
        assert client.get("/metrics", headers=elsewhere).status_code == 200
    plain = client.get("/metrics", headers={"Accept": "text/plain"})
    assert plain.status_code == 200
    assert plain.headers["content-type"].startswith("text/plain; version=")
    assert plain.headers["cache-control"] == "no-store"
    assert plain.headers["x-okta-request-id"]
    openmetrics = client.get(
        "/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}
    )
    assert openmetrics.headers["content-type"].startswith("application/openmetrics-text")
    assert openmetrics.text.endswith("# EOF\n")
