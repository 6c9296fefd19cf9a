"""The pytest plugin as a user meets it: test files that use only the documented fixtures
and members, run by ``pytester`` in a pytest process of its own that loads the plugin by
its entry point, against a real ``keyrotor serve --test-mode``."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e  # real server processes, in pytest processes of their own
INI = """
[pytest]
filterwarnings = error
keyrotor_serve_args = --token-lifetime 300 --log-format json
"""

USER_TESTS = """
from datetime import UTC, datetime, timedelta
import json
import time

import httpx
import jwt
import okta
import pytest

from keyrotor.testing import KeyrotorServer, KeyrotorTestError


def names(server):
    return [s["name"] for s in server.admin("GET", "/api/v1/authorizationServers").json()]


def test_what_the_fixture_gives(keyrotor_server):
    s = keyrotor_server
    assert isinstance(s, KeyrotorServer)
    assert s.url.startswith("http://127.0.0.1:")
    assert httpx.get(s.url + "/healthz").json() == {"status": "ok", "testMode": True}
    banner = [line for line in s.output().splitlines() if "*** TEST MODE" in line]
    assert banner and json.loads(banner[0])["level"] == "WARNING"  # loud in JSON logs too
    assert s.database.startswith("sqlite:///") and s.log_path.exists()
    assert s.issuer == s.url + "/oauth2/default" and s.jwks_uri == s.issuer + "/v1/keys"
    found = httpx.get(s.issuer + "/.well-known/openid-configuration").json()
    assert found["issuer"] == s.issuer and found["jwks_uri"] == s.jwks_uri
    token = s.mint_token()
    key = jwt.PyJWKClient(s.jwks_uri).get_signing_key_from_jwt(token).key
    claims = jwt.decode(token, key, algorithms=["RS256"], audience=s.audience, issuer=s.issuer)
    assert claims["sub"] == s.client_id and claims["scp"] == [s.scope] == ["api:read"]
    assert claims["exp"] - claims["iat"] == 300  # keyrotor_serve_args
    keys = okta.AuthorizationServerKeysApi(s.okta).list_authorization_server_keys("default")
    assert [k.status for k in keys] == ["ACTIVE", "NEXT"]
    assert s.active_kid() == keys[0].kid == jwt.get_unverified_header(token)["kid"]
    assert s.admin("GET", "/api/v1/authorizationServers").status_code == 200
    asked = {"grant_type": "client_credentials", "scope": s.scope}
    answer = httpx.post(s.issuer + "/v1/token", data=asked, auth=(s.client_id, s.client_secret))
    assert answer.status_code == 200
    assert s.token not in repr(s) and s.client_secret not in repr(s)


def test_the_session_server_keeps_what_tests_did_1(keyrotor_server):
    keyrotor_server.create_server("shared")


def test_the_session_server_keeps_what_tests_did_2(keyrotor_server):
    assert "shared" in names(keyrotor_server)


def test_a_test_that_changes_everything(keyrotor):
    assert names(keyrotor) == ["default"]
    orders = keyrotor.create_server("orders", rotation_mode="MANUAL")
    token = keyrotor.mint_token(["orders:read"], server=orders)  # the scope is made first
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["aud"] == "api://orders" and claims["iss"] == keyrotor.issuer_for(orders)
    assert httpx.get(keyrotor.jwks_uri_for(orders)).status_code == 200
    rotated = keyrotor.rotate(orders)
    assert [k["status"] for k in rotated] == ["ACTIVE", "NEXT", "EXPIRED"]
    keyrotor.advance("P90D")
    keyrotor.fail_jwks("error")
    keyrotor.fail_token("rate_limit", count=5)


def test_the_next_test_gets_a_fresh_store_at_once(keyrotor):
    assert names(keyrotor) == ["default"]
    assert abs(keyrotor.now() - datetime.now(UTC)) < timedelta(seconds=5)
    assert keyrotor.faults() == []
    assert httpx.get(keyrotor.jwks_uri).status_code == 200
    assert keyrotor.mint_token()
    started = time.perf_counter()
    took = keyrotor.reset()
    assert took < 0.5 and time.perf_counter() - started < 1.0


def test_the_clock(keyrotor):
    first = keyrotor.active_kid()
    start = keyrotor.now()
    moved = keyrotor.advance(days=89)
    assert moved - start >= timedelta(days=89) and keyrotor.active_kid() == first
    keyrotor.advance(timedelta(days=1), hours=1)  # AUTO: due, and applied at once
    assert keyrotor.active_kid() != first
    assert {k["kid"]: k["status"] for k in keyrotor.keys()}[first] == "EXPIRED"
    later = keyrotor.now() + timedelta(days=365)
    assert keyrotor.set_time(later) - later < timedelta(seconds=5)
    assert keyrotor.set_time("2100-01-01T00:00:00Z").year == 2100
    with pytest.raises(KeyrotorTestError, match="before the clock"):
        keyrotor.set_time(start)
    with pytest.raises(ValueError, match="ISO 8601"):
        keyrotor.advance("soon")
    assert keyrotor.advance(3600) > datetime(2100, 1, 1, 1, tzinfo=UTC)


def test_faults(keyrotor):
    keyrotor.fail_jwks("rate_limit", count=1, retry_after=2)
    limited = httpx.get(keyrotor.jwks_uri)
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "2"
    assert httpx.get(keyrotor.jwks_uri).status_code == 200
    keyrotor.fail_jwks("missing_active", seconds=30, server="default")
    shown = [k["kid"] for k in httpx.get(keyrotor.jwks_uri).json()["keys"]]
    assert shown and keyrotor.active_kid() not in shown
    assert [f["kind"] for f in keyrotor.faults()] == ["missing_active"]
    keyrotor.clear_faults()
    assert keyrotor.active_kid() in [k["kid"] for k in httpx.get(keyrotor.jwks_uri).json()["keys"]]
    keyrotor.fail_token("error", status=500, count=1)
    with pytest.raises(KeyrotorTestError, match="500"):
        keyrotor.mint_token()
    assert keyrotor.mint_token()
    keyrotor.fail_token("slow", delay=0.5, count=1)
    started = time.monotonic()
    assert keyrotor.mint_token() and time.monotonic() - started >= 0.5
    with pytest.raises(KeyrotorTestError, match="kind"):
        keyrotor.fail_token("empty")


def test_a_baseline_of_ones_own(keyrotor):
    keyrotor.create_server("kept")
    keyrotor.set_baseline()
    keyrotor.create_server("dropped")
    keyrotor.reset()
    assert names(keyrotor) == ["default", "kept"]
"""


def test_the_fixtures_as_a_user_uses_them(pytester: pytest.Pytester) -> None:
    pytester.makefile(".ini", pytest=INI)
    pytester.makepyfile(test_user=USER_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-v", timeout=180)
    result.assert_outcomes(passed=8)


def test_the_plugin_costs_nothing_unused(pytester: pytest.Pytester) -> None:
    """A session that asks for no fixture of it starts no server."""
    pytester.makefile(".ini", pytest=INI)
    pytester.makepyfile(
        test_other="""
        import sys

        def test_no_server():
            assert "keyrotor.testing.server" not in sys.modules
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--fixtures", timeout=60)
    result.stdout.fnmatch_lines(["*keyrotor_server*", "*keyrotor -- *"])
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=60)
    result.assert_outcomes(passed=1)
