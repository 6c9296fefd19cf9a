"""``keyrotor serve`` at the edge: no issuer from a caller (issue #11), with real processes."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.conftest import ServerProcess, free_port, server_env

pytestmark = pytest.mark.e2e
DISCOVERY = "/oauth2/default/.well-known/openid-configuration"


def test_a_public_bind_without_a_public_url_is_refused(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'k.db'}"
    command = [sys.executable, "-m", "keyrotor", "serve", "--host", "0.0.0.0"]
    command += ["--port", str(free_port()), "--database", database]
    run = subprocess.run(command, env=server_env(), capture_output=True, text=True, timeout=60)
    assert run.returncode == 1
    assert run.stderr.strip().splitlines() == [
        "Error: binding 0.0.0.0 needs --public-url (the URL clients see): without it issuers "
        "would follow each caller's Host header"
    ]
    assert not (tmp_path / "k.db").exists()  # refused before anything was made


def test_forwarded_headers_are_trusted_only_from_named_proxies(
    start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
    plain = start_server()
    answer = httpx.get(plain.url + DISCOVERY, headers=forwarded, timeout=10)
    assert answer.json()["issuer"] == f"{plain.url}/oauth2/default"  # not https://
    proxied = start_server(
        f"sqlite:///{tmp_path / 'proxied.db'}", "--forwarded-allow-ips", "127.0.0.1"
    )
    answer = httpx.get(proxied.url + DISCOVERY, headers=forwarded, timeout=10)
    assert answer.json()["issuer"] == f"https://127.0.0.1:{proxied.port}/oauth2/default"


def test_a_host_not_allowed_gets_no_issuer(start_server: Callable[..., ServerProcess]) -> None:
    server = start_server(None, "--allowed-host", "keys.internal")
    evil = httpx.get(server.url + DISCOVERY, headers={"Host": "evil.example"}, timeout=10)
    assert evil.status_code == 404 and "evil" not in evil.text
    internal = httpx.get(server.url + DISCOVERY, headers={"Host": "keys.internal"}, timeout=10)
    assert internal.json()["issuer"] == "http://keys.internal/oauth2/default"
    slashed = httpx.get(server.url + "/api/v1/authorizationServers/", timeout=10)
    assert slashed.status_code == 401  # the list, asked without a token: not a redirect
