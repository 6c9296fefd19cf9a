"""Okta's own published Python SDK (`okta` 3.4.6) works against keyrotor unchanged.

It is named `okta` like our client, so it runs from its own venv (scripts/test makes it,
and points KEYROTOR_OKTA_SDK_PYTHON at it) as a subprocess against a real server.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

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
