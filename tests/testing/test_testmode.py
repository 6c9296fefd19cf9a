"""``serve --test-mode``'s controls (``keyrotor.http.testmode``) on the app in-process, on
every backend for the reset; the refusals of ``serve`` with real processes; and every
test-mode route answering 404 when test mode is off."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from keyrotor.apitokens import ALL_SCOPES, SCOPE_MANAGE
from keyrotor.clients import ClientSpec
from keyrotor.clock import OffsetClock
from keyrotor.config import Settings
from keyrotor.http import create_app
from keyrotor.http.testmode import BANNER
from keyrotor.lifecycle import RotationPolicy
from keyrotor.runtime import open_service
from keyrotor.service import KeyService
from tests.conftest import ADMIN_TOKEN, TEST_KEK, ServerProcess, free_port, server_env

ROUTES = [
    ("GET", "/_test/clock"),
    ("POST", "/_test/clock"),
    ("GET", "/_test/faults"),
    ("POST", "/_test/faults"),
    ("DELETE", "/_test/faults"),
    ("POST", "/_test/baseline"),
    ("POST", "/_test/reset"),
    ("GET", "/_test"),
]
JWKS = "/oauth2/default/v1/keys"
TOKEN = "/oauth2/default/v1/token"


@pytest.fixture
def open_test_mode() -> Iterator[Callable[..., TestClient]]:
    """In-process test-mode apps on a URL (the memory store by default), closed at the end."""
    opened: list[tuple[TestClient, KeyService]] = []

    def start(url: str = "memory://", **overrides: Any) -> TestClient:
        settings = Settings(database_url=url, kek=TEST_KEK, **overrides)
        service = open_service(settings, clock=OffsetClock(), migrate=True)
        service.ensure_default()
        service.create_token("admin", ALL_SCOPES, ADMIN_TOKEN)
        app = create_app(service, settings, sweep=False, test_mode=True)
        client = TestClient(app, headers={"Authorization": f"SSWS {ADMIN_TOKEN}"})
        client.__enter__()
        opened.append((client, service))
        return client

    yield start
    for client, _ in opened:
        client.__exit__(None, None, None)


@pytest.fixture
def tm(open_test_mode: Callable[..., TestClient]) -> TestClient:
    return open_test_mode()


def kids(client: TestClient, path: str = JWKS) -> list[str]:
    answer = client.get(path)
    assert answer.status_code == 200, answer.text
    return [k["kid"] for k in answer.json()["keys"]]


def statuses(client: TestClient, server: str = "default") -> dict[str, str]:
    listed = client.get(f"/api/v1/authorizationServers/{server}/credentials/keys").json()
    return {k["kid"]: k["status"] for k in listed}


def active(client: TestClient, server: str = "default") -> str:
    return next(kid for kid, status in statuses(client, server).items() if status == "ACTIVE")


def move(client: TestClient, **body: Any) -> dict[str, Any]:
    answer = client.post("/_test/clock", json=body)
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


def causes(answer: httpx.Response) -> list[str]:
    assert answer.status_code == 400, answer.text
    assert answer.json()["errorCode"] == "E0000001"
    return [c["errorSummary"] for c in answer.json()["errorCauses"]]


def claims(token: str) -> dict[str, Any]:
    part = token.split(".")[1]
    found: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return found


def a_client(client: TestClient, scope: str = "api:read") -> tuple[str, str]:
    made = client.post("/api/v1/authorizationServers/default/scopes", json={"name": scope})
    assert made.status_code == 201, made.text
    registered = client.post("/oauth2/v1/clients", json={"client_name": "rp"}).json()
    return registered["client_id"], registered["client_secret"]


def token(client: TestClient, creds: tuple[str, str], path: str = TOKEN) -> httpx.Response:
    form = {"grant_type": "client_credentials", "scope": "api:read"}
    return client.post(path, data=form, auth=creds, headers={"Authorization": ""})


# -- test mode off ----------------------------------------------------------------------


def test_every_test_mode_route_is_not_found_without_test_mode(client: TestClient) -> None:
    before = kids(client)
    for method, path in ROUTES:
        answer = client.request(method, path, json={"advance": "P90D"})
        assert answer.status_code == 404, (method, path, answer.text)
        assert answer.json()["errorCode"] == "E0000007"
        assert "x-okta-request-id" in answer.headers
    assert client.get("/healthz").json() == {"status": "ok"}
    assert kids(client) == before  # nothing moved


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("args", "error"),
    [
        (
            ("--host", "0.0.0.0", "--public-url", "https://keys.example"),
            "Error: --test-mode binds loopback only (127.0.0.1, ::1, localhost), not 0.0.0.0: "
            "anyone who reaches it can move its clock and break its endpoints",
        ),
        (
            ("--host", "192.0.2.7"),
            "Error: --test-mode binds loopback only (127.0.0.1, ::1, localhost), not 192.0.2.7: "
            "anyone who reaches it can move its clock and break its endpoints",
        ),
        (
            ("--host", "127.0.0.1", "--workers", "2"),
            "Error: --test-mode runs one process: its clock and faults live in that process",
        ),
    ],
)
def test_serve_refuses_test_mode_off_loopback_or_on_workers(
    tmp_path: Path, args: tuple[str, ...], error: str
) -> None:
    database = f"sqlite:///{tmp_path / 'k.db'}"
    command = [sys.executable, "-m", "keyrotor", "serve", "--test-mode", *args]
    command += ["--port", str(free_port()), "--database", database]
    run = subprocess.run(command, env=server_env(), capture_output=True, text=True, timeout=60)
    assert run.returncode == 1
    assert run.stderr.strip().splitlines() == [error]
    assert not (tmp_path / "k.db").exists()  # refused before anything was made


@pytest.mark.e2e
def test_serve_test_mode_says_so(start_server: Callable[..., ServerProcess]) -> None:
    server = start_server(None, "--test-mode")
    assert httpx.get(server.url + "/healthz").json() == {"status": "ok", "testMode": True}
    lines = server.output().splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("keyrotor 0."))
    assert lines[first + 1] == BANNER  # right under the banner's first line
    assert httpx.get(server.url + "/_test/clock").json()["offsetSeconds"] == 0


def test_test_mode_needs_a_movable_clock(service: KeyService, settings: Settings) -> None:
    with pytest.raises(ValueError, match="OffsetClock"):
        create_app(service, settings, test_mode=True)


# -- the clock --------------------------------------------------------------------------


def test_healthz_says_test_mode(tm: TestClient) -> None:
    assert tm.get("/healthz").json() == {"status": "ok", "testMode": True}


def test_advancing_the_clock_applies_the_due_rotation_at_once(tm: TestClient) -> None:
    clock = tm.get("/_test/clock").json()
    assert clock["offsetSeconds"] == 0 and clock["now"] == clock["real"][: len(clock["now"])]
    first = active(tm)
    kids(tm)  # cached: the move must not be hidden by a cache
    moved = move(tm, advance="P90D")
    assert moved["offsetSeconds"] == 90 * 86400
    assert moved["applied"] >= 2  # `default` and the org server rotated
    assert statuses(tm)[first] == "EXPIRED"
    assert kids(tm)[0] == active(tm) != first
    server = tm.get("/api/v1/authorizationServers/default").json()
    assert server["credentials"]["signing"]["lastRotated"][:10] == moved["now"][:10]
    assert move(tm, advance=3600)["offsetSeconds"] == 90 * 86400 + 3600  # seconds too


def test_the_clock_only_moves_forward(tm: TestClient) -> None:
    now = datetime.fromisoformat(tm.get("/_test/clock").json()["now"])
    assert causes(tm.post("/_test/clock", json={"advance": "-P1D"})) == [
        "the clock only moves forward"
    ]
    past = (now - timedelta(days=1)).isoformat()
    assert "is before the clock's time" in causes(tm.post("/_test/clock", json={"set": past}))[0]
    later = now + timedelta(days=400)
    moved = move(tm, set=later.isoformat())
    assert timedelta(0) <= datetime.fromisoformat(moved["now"]) - later < timedelta(seconds=5)
    for body in (
        {"advance": "soon"},
        {"advance": True},
        {"set": "2030-01-01T00:00:00"},  # no offset
        {"set": 1893456000},
        {"advance": "P1D", "set": later.isoformat()},
        {},
    ):
        assert causes(tm.post("/_test/clock", json=body)), body
    assert tm.post("/_test/clock", json=["P1D"]).status_code == 400


def test_next_keys_and_retirement_follow_the_clock(
    open_test_mode: Callable[..., TestClient],
) -> None:
    policy = RotationPolicy(next_lead=timedelta(days=7))  # NEXT made 7 days before rotating
    tm = open_test_mode(policy=policy)
    first = active(tm)
    for _ in range(2):
        rotate = "/api/v1/authorizationServers/default/credentials/lifecycle/keyRotate"
        assert tm.post(rotate, json={"use": "sig"}).status_code == 200
    newest_expired = next(k for k in kids(tm) if statuses(tm)[k] == "EXPIRED" and k != first)
    assert sorted(statuses(tm).values()) == ["ACTIVE", "EXPIRED", "EXPIRED"]  # no NEXT yet
    moved = move(tm, advance="P83DT1H")  # past the older EXPIRED key's retention too
    assert moved["applied"] >= 1
    assert sorted(statuses(tm).values()) == ["ACTIVE", "EXPIRED", "NEXT"]  # made; one retired
    assert first not in kids(tm) and newest_expired in kids(tm)
    upcoming = next(k for k, s in statuses(tm).items() if s == "NEXT")
    move(tm, advance="P7D")
    assert active(tm) == upcoming


def test_tokens_follow_the_clock(tm: TestClient) -> None:
    creds = a_client(tm)
    before = claims(token(tm, creds).json()["access_token"])
    move(tm, advance="P30D")
    after = claims(token(tm, creds).json()["access_token"])
    assert after["iat"] - before["iat"] >= 30 * 86400
    assert after["exp"] - after["iat"] == 3600


def test_org_tokens_expire_by_the_moved_clock(tm: TestClient) -> None:
    oauth = tm.app.state.oauth  # type: ignore[attr-defined]
    made, secret = oauth.register_client(ClientSpec(name="ops", org_scopes=(SCOPE_MANAGE,)))
    form = {"grant_type": "client_credentials", "scope": SCOPE_MANAGE}
    issued = tm.post(
        "/oauth2/v1/token", data=form, auth=(made.client_id, secret), headers={"Authorization": ""}
    )
    bearer = {"Authorization": f"Bearer {issued.json()['access_token']}"}
    assert tm.get("/api/v1/authorizationServers", headers=bearer).status_code == 200
    move(tm, advance="PT2H")
    assert tm.get("/api/v1/authorizationServers", headers=bearer).status_code == 401


# -- faults ------------------------------------------------------------------------------


def fault(client: TestClient, **body: Any) -> dict[str, Any]:
    answer = client.post("/_test/faults", json=body)
    assert answer.status_code == 201, answer.text
    made: dict[str, Any] = answer.json()
    return made


def test_jwks_faults_answer_before_the_cached_answer_then_stop(tm: TestClient) -> None:
    real = kids(tm)
    kids(tm)  # now answered by the fast path, from the cache
    fault(tm, kind="error", count=2)
    for _ in range(2):
        answer = tm.get(JWKS)
        assert answer.status_code == 503
        assert answer.json()["errorCode"] == "E0000009"
        assert "fault injected" in answer.json()["errorSummary"]
        assert answer.headers["cache-control"] == "no-store"
        assert "x-okta-request-id" in answer.headers and "date" in answer.headers
    assert kids(tm) == real
    assert tm.get("/_test/faults").json() == {"faults": []}


def test_each_jwks_fault(tm: TestClient) -> None:
    real = kids(tm)
    fault(tm, kind="error", status=500, count=1)
    assert tm.get(JWKS).status_code == 500
    fault(tm, kind="rate_limit", retryAfter=7, count=1)
    limited = tm.get(JWKS)
    assert limited.status_code == 429 and limited.json()["errorCode"] == "E0000047"
    assert limited.headers["retry-after"] == "7"
    assert limited.headers["x-rate-limit-remaining"] == "0"
    assert int(limited.headers["x-rate-limit-reset"]) >= time.time() + 6
    fault(tm, kind="empty", count=1)
    assert tm.get(JWKS).json() == {"keys": []}
    fault(tm, kind="malformed", count=1)
    cut = tm.get(JWKS)
    assert cut.status_code == 200 and cut.headers["content-type"] == "application/json"
    with pytest.raises(ValueError):
        json.loads(cut.content)
    fault(tm, kind="missing_active", count=1)
    assert kids(tm) == real[1:]  # the ACTIVE key comes first in the real one
    fault(tm, kind="slow", delay=0.3, count=1)
    started = time.monotonic()
    assert kids(tm) == real
    assert time.monotonic() - started >= 0.3
    assert kids(tm) == real


def test_faults_by_server_by_duration_and_until_cleared(tm: TestClient) -> None:
    other = tm.post(
        "/api/v1/authorizationServers", json={"name": "orders", "audiences": ["api://orders"]}
    ).json()["id"]
    fault(tm, kind="error", server=other)
    assert tm.get(f"/oauth2/{other}/v1/keys").status_code == 503
    assert tm.get(JWKS).status_code == 200
    fault(tm, kind="empty", seconds=1.0)  # every server's, the org server's too
    assert tm.get("/oauth2/v1/keys").json() == {"keys": []}
    assert tm.get(JWKS).json() == {"keys": []}
    listed = tm.get("/_test/faults").json()["faults"]
    assert [(f["kind"], f["server"], f["remaining"]) for f in listed] == [
        ("error", other, None),
        ("empty", None, None),
    ]
    assert 0 < listed[1]["secondsLeft"] <= 1.0 and listed[1]["hits"] == 2
    time.sleep(1.05)
    assert tm.get(JWKS).json()["keys"]
    assert tm.get(f"/oauth2/{other}/v1/keys").status_code == 503  # no end: until cleared
    assert tm.delete("/_test/faults").status_code == 204
    assert tm.get(f"/oauth2/{other}/v1/keys").status_code == 200
    assert tm.get("/_test/faults").json() == {"faults": []}


def test_token_faults(tm: TestClient) -> None:
    creds = a_client(tm)
    assert token(tm, creds).status_code == 200  # cached: the fast path would answer next
    fault(tm, endpoint="token", kind="error", status=502, count=1)
    failed = token(tm, creds)
    assert failed.status_code == 502 and failed.json()["errorCode"] == "E0000009"
    fault(tm, endpoint="token", kind="rate_limit", retryAfter=3, count=1)
    limited = token(tm, creds)
    assert limited.status_code == 429 and limited.headers["retry-after"] == "3"
    assert tm.get(JWKS).status_code == 200  # the JWKS is not the token endpoint
    assert token(tm, creds).status_code == 200
    assert causes(tm.post("/_test/faults", json={"server": "elsewhere"})) == [
        "server: No server elsewhere."
    ]
    fault(tm, endpoint="token", kind="error", server="org")  # the org server's only
    assert token(tm, creds).status_code == 200
    assert tm.post("/oauth2/v1/token", data={"grant_type": "client_credentials"}).status_code == 503


def test_bad_faults_and_bad_requests_are_refused_in_oktas_words(tm: TestClient) -> None:
    found = causes(
        tm.post(
            "/_test/faults",
            json={"endpoint": "token", "kind": "empty", "status": 404, "count": 0, "x": 1},
        )
    )
    assert found == [
        "x: Unknown member.",
        "kind: The token endpoint takes one of error, rate_limit, slow.",
        "status: A whole number from 500 to 599.",
        "count: A whole number from 1 to 1000000.",
    ]
    assert causes(tm.post("/_test/faults", json={"endpoint": "discovery"})) == [
        'endpoint: Must be "jwks" or "token".'
    ]
    assert causes(tm.post("/_test/faults", json={"delay": 61, "seconds": -1})) == [
        "delay: A number from 0 to 60.",
        "seconds: A number from 0.001 to 86400.",
    ]
    assert tm.post("/_test/faults", content=b"{").json()["errorCode"] == "E0000003"
    form = {"content-type": "application/x-www-form-urlencoded"}
    assert tm.post("/_test/reset", headers=form).json()["errorCode"] == "E0000021"
    assert tm.get("/_test/nothing").json()["errorCode"] == "E0000007"
    refused = tm.put("/_test/clock")
    assert refused.status_code == 405 and refused.headers["allow"] == "GET, HEAD, POST"
    assert tm.get("/_test/faults").json() == {"faults": []}


# -- reset -------------------------------------------------------------------------------


def test_reset_restores_the_baseline_on_every_backend(
    database_url: str, open_test_mode: Callable[..., TestClient]
) -> None:
    tm = open_test_mode(database_url)
    creds = a_client(tm)
    assert tm.post("/_test/baseline").json() == {"status": "captured"}
    baseline_kids, baseline_keys = kids(tm), statuses(tm)
    made = tm.post(
        "/api/v1/authorizationServers", json={"name": "orders", "audiences": ["api://orders"]}
    )
    assert made.status_code == 201
    tm.post(
        "/api/v1/authorizationServers/default/credentials/lifecycle/keyRotate", json={"use": "sig"}
    )
    tm.post("/api/v1/authorizationServers/default/scopes", json={"name": "extra"})
    move(tm, advance="P200D")
    fault(tm, kind="error")
    took = []
    for _ in range(3):
        started = time.perf_counter()
        answer = tm.post("/_test/reset")
        took.append(time.perf_counter() - started)
        assert answer.status_code == 200 and answer.json()["status"] == "reset"
    assert max(took) < 1.0, took
    assert tm.get("/_test/clock").json()["offsetSeconds"] == 0
    assert tm.get("/_test/faults").json() == {"faults": []}
    listed = tm.get("/api/v1/authorizationServers").json()
    assert [s["id"] for s in listed] == ["default"]
    assert kids(tm) == baseline_kids and statuses(tm) == baseline_keys
    scopes = tm.get("/api/v1/authorizationServers/default/scopes").json()
    assert [s["name"] for s in scopes if not s.get("system")] == ["api:read"]
    assert token(tm, creds).status_code == 200  # the client made before the baseline is back
    rotated = tm.post(
        "/api/v1/authorizationServers/default/credentials/lifecycle/keyRotate", json={"use": "sig"}
    )
    assert rotated.status_code == 200  # and the store works on from there
    events = tm.get("/api/v1/logs", params={"limit": 200}).json()
    assert all(e["published"] < datetime.now(UTC).isoformat() for e in events)
