"""`keyrotor serve` as a real process over HTTP, on a real SQLite file."""

from __future__ import annotations

import os
import re
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.conftest import ServerProcess, free_port, server_env

pytestmark = pytest.mark.e2e
KEYS = "/api/v1/authorizationServers/{}/credentials/keys"
ROTATE = "/api/v1/authorizationServers/{}/credentials/lifecycle/keyRotate"


def api(server: ServerProcess) -> httpx.Client:
    return httpx.Client(
        base_url=server.url, timeout=10, headers={"Authorization": f"SSWS {server.token}"}
    )


def test_drive_a_real_server_and_restart_it(
    start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    """Create, rotate, read the JWKS; a restart on the same file keeps every key."""
    server = start_server()
    with api(server) as http:
        created = http.post(
            "/api/v1/authorizationServers", json={"name": "e2e", "audiences": ["api://e2e"]}
        )
        assert created.status_code == 201
        server_id = created.json()["id"]
        rotated = http.post(ROTATE.format(server_id), json={"use": "sig"})
        assert [k["status"] for k in rotated.json()] == ["ACTIVE", "NEXT", "EXPIRED"]
        jwks = http.get(f"/oauth2/{server_id}/v1/keys")
        assert jwks.headers["date"] and jwks.headers["x-okta-request-id"]
        before = {sid: http.get(KEYS.format(sid)).json() for sid in ("default", server_id)}
    server.stop()
    restarted = start_server(server.database)
    with api(restarted) as http:
        after = {sid: http.get(KEYS.format(sid)).json() for sid in ("default", server_id)}
        same_jwks = http.get(f"/oauth2/{server_id}/v1/keys")
    for sid in before:
        strip = [{k: v for k, v in key.items() if k != "_links"} for key in before[sid]]
        assert strip == [{k: v for k, v in key.items() if k != "_links"} for key in after[sid]]
    assert same_jwks.content == jwks.content


def test_private_keys_are_encrypted_at_rest(
    start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    """The database file holds no private key in the clear; the KEK file is 0600."""
    server = start_server()
    with api(server) as http:
        http.post(ROTATE.format("default"), json={"use": "sig"})
    server.stop()
    database = tmp_path / "keyrotor.db"
    kek_file = tmp_path / "keyrotor.db.kek"
    assert stat.S_IMODE(kek_file.stat().st_mode) == 0o600
    with sqlite3.connect(database) as conn:
        conn.execute("PRAGMA wal_checkpoint(FULL)")
        dump = "\n".join(conn.iterdump())
        sealed = [row[0] for row in conn.execute("SELECT sealed_private FROM signing_keys")]
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("keyrotor.db*") if p != kek_file)
    # PEM markers, the base64 start of a PKCS#8 or PKCS#1 RSA key, and a DER header; a
    # shorter needle ("MII") turns up by chance in the store's base64 (moduli, tokens)
    pkcs8, pkcs1 = b"MIIEvQIBADANBgkqhkiG9w0BAQEFAAS", b"MIIEowIBAAKCAQEA"
    for needle in (b"PRIVATE KEY", pkcs8, pkcs1):
        assert needle not in raw
    assert "PRIVATE" not in dump
    # default: three keys after a rotation; the org server, made at start: two
    # sealed for their server (format 2: the server id and kid are the associated data)
    assert len(sealed) == 5 and all(s[:1] == b"\x02" for s in sealed)


def test_first_start_prints_one_admin_token_once(tmp_path: Path) -> None:
    """Without KEYROTOR_BOOTSTRAP_TOKEN the first start makes and prints a token; the next
    start does not print it again, and the printed token works."""
    database = f"sqlite:///{tmp_path / 'k.db'}"
    env = server_env()
    env.pop("KEYROTOR_BOOTSTRAP_TOKEN")
    first = ServerProcess(database=database, env=env, log=tmp_path / "first.log").start()
    first.stop()
    token = re.search(r"Admin API token \(shown once, keep it\): (\S+)", first.output())
    assert token, first.output()
    second = ServerProcess(database=database, env=env, log=tmp_path / "second.log").start()
    try:
        assert token.group(1) not in second.output()
        response = httpx.get(
            f"{second.url}{KEYS.format('default')}",
            headers={"Authorization": f"SSWS {token.group(1)}"},
        )
        assert response.status_code == 200
        assert f"http://127.0.0.1:{second.port}" in second.output()
    finally:
        second.stop()


def test_serve_refuses_a_postgres_database_without_a_kek() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEYROTOR_")}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "keyrotor",
            "serve",
            "--port",
            str(free_port()),
            "--database",
            "postgresql://postgres@127.0.0.1:5432/test",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode != 0
    assert "KEYROTOR_KEK" in result.stderr
    assert "Traceback" not in result.stderr
