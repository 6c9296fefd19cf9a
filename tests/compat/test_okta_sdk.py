"""Okta's own published Python SDK (`okta` 3.4.6) works against keyrotor unchanged.

It is named `okta` like our client, so it runs from its own venv (scripts/test makes it,
and points KEYROTOR_OKTA_SDK_PYTHON at it) as a subprocess against a real server.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from joserfc.jwk import RSAKey

from tests.conftest import ServerProcess

pytestmark = pytest.mark.e2e
SCRIPT = Path(__file__).with_name("okta_sdk_check.py")


@pytest.fixture
def sdk_python() -> str:
    python = os.environ.get("KEYROTOR_OKTA_SDK_PYTHON")
    if not python:
        if os.environ.get("CI"):
            pytest.fail("KEYROTOR_OKTA_SDK_PYTHON is not set: scripts/test sets it")
        pytest.skip("KEYROTOR_OKTA_SDK_PYTHON is not set (scripts/test sets it)")
    return python


def test_oktas_published_sdk_lists_gets_rotates_and_manages_servers(
    sdk_python: str, start_server
) -> None:
    server: ServerProcess = start_server()
    result = subprocess.run(
        [sdk_python, str(SCRIPT), server.url, server.token],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    before = seen["list"]
    assert [status for _, status in before] == ["ACTIVE", "NEXT"]
    assert [status for _, status in seen["rotate"]] == ["ACTIVE", "NEXT", "EXPIRED"]
    assert seen["rotate"][0][0] == before[1][0]
    assert seen["get"] == [before[0][0], "EXPIRED"]
    assert ["default", "ACTIVE"] in seen["servers"]
    assert seen["create"][1] == "ACTIVE" and len(seen["create"][2]) == 43
    for step in ("deactivate", "activate", "deactivate", "delete"):
        assert seen[step] == [204, None]
    assert seen["missing"] == [
        404,
        "E0000007",
        "Not found: Resource not found: ausMissing (AuthorizationServer)",
    ]


PRIVATE_KEY_SCRIPT = Path(__file__).with_name("okta_sdk_private_key.py")


@pytest.mark.parametrize("mode", ["bearer", "dpop"])
def test_oktas_sdk_in_private_key_mode(sdk_python: str, start_server, mode: str) -> None:
    """Set up only through the routes Okta documents: register a service app with its
    public key, grant it the org scopes, then let the SDK sign its own assertions (and,
    with dpopEnabled, DPoP proofs) to list servers, list keys and rotate."""
    server: ServerProcess = start_server()
    key = RSAKey.generate_key(2048, private=True, parameters={"kid": "sdk-key"})
    with httpx.Client(
        base_url=server.url, headers={"Authorization": f"SSWS {server.token}"}
    ) as admin:
        client_id, before = _service_app(admin, server.url, key, mode == "dpop")
    result = subprocess.run(
        [
            sdk_python,
            str(PRIVATE_KEY_SCRIPT),
            server.url,
            client_id,
            json.dumps(key.as_dict(private=True)),
            mode,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen["token_type"] == ("DPoP" if mode == "dpop" else "Bearer"), seen
    assert "default" in seen["servers"], seen
    assert seen["list"] == [[k["kid"], k["status"]] for k in before], seen
    assert [status for _, status in seen["rotate"]] == ["ACTIVE", "NEXT", "EXPIRED"], seen
    assert seen["rotate"][0][0] == before[1]["kid"]


def _service_app(
    admin: httpx.Client, url: str, key: RSAKey, dpop: bool
) -> tuple[str, list[dict[str, str]]]:
    """A private_key_jwt service app granted both org scopes, and the keys of default."""
    body = {
        "client_name": "Example service client",
        "response_types": ["token"],
        "grant_types": ["client_credentials"],
        "token_endpoint_auth_method": "private_key_jwt",
        "application_type": "service",
        "jwks": {"keys": [key.as_dict(private=False)]},
        "dpop_bound_access_tokens": dpop,
    }
    made = admin.post("/oauth2/v1/clients", json=body)
    assert made.status_code == 201, made.text
    client_id = made.json()["client_id"]
    for scope in ("okta.authorizationServers.read", "okta.authorizationServers.manage"):
        granted = admin.post(
            f"/api/v1/apps/{client_id}/grants", json={"issuer": url, "scopeId": scope}
        )
        assert granted.status_code == 201, granted.text
    before = admin.get("/api/v1/authorizationServers/default/credentials/keys").json()
    return client_id, before


API_TOKENS_SCRIPT = Path(__file__).with_name("okta_sdk_api_tokens.py")


def test_oktas_sdk_lists_gets_and_revokes_api_tokens(sdk_python: str, start_server) -> None:
    """`ApiTokenApi`: list, get, revoke by id, and the admin token revoking itself (`current`)."""
    server: ServerProcess = start_server()
    command = ["tokens", "create", "--name", "other", "--json", "--database", server.database]
    made = subprocess.run(
        [sys.executable, "-m", "keyrotor", *command],
        env=server.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert made.returncode == 0, made.stderr
    other = json.loads(made.stdout)
    result = subprocess.run(
        [sdk_python, str(API_TOKENS_SCRIPT), server.url, server.token, other["token"], other["id"]],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert sorted(name for _, name, _ in seen["list"]) == ["bootstrap", "other"]
    assert {connection for _, _, connection in seen["list"]} == {"ANYWHERE"}
    assert seen["get"][:2] == [other["id"], "other"]
    assert seen["revoke"] == [204, None]
    assert seen["get_revoked"] == [404, "E0000007"]
    assert seen["other_after"] == [401, "E0000011"]
    assert seen["revoke_current"] == [204, None]
    assert seen["admin_after"] == [401, "E0000011"]
