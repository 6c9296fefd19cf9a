"""``--json`` answers what the API answers: the same objects and arrays, member for member,
read from one SQLite store by the command line and by the app over it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient

from keyrotor.cli import main
from keyrotor.cli.common import settings_for
from keyrotor.crypto import decode_kek
from keyrotor.http import create_app
from keyrotor.runtime import open_service
from keyrotor.storage import migrate

BASE = "http://testserver"
SERVERS = "/api/v1/authorizationServers"


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    for name in ("KEYROTOR_KEK", "KEYROTOR_KEK_FILE", "KEYROTOR_DATABASE_URL", "KEYROTOR_DEBUG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KEYROTOR_PUBLIC_URL", BASE)  # the links and issuers the app renders
    url = f"sqlite:///{tmp_path / 'keyrotor.db'}"
    cli("init", "--database", url)
    return url


def cli(*args: str) -> Any:
    result = CliRunner().invoke(main, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@contextmanager
def api(database: str) -> Iterator[TestClient]:
    """The app over the same store (opened after the command line's writes), with an API
    token the command line made."""
    token = cli("tokens", "create", "--database", database)["token"]
    settings = settings_for(database)
    service = open_service(settings)
    try:
        with TestClient(create_app(service, settings, sweep=False), base_url=BASE) as client:
            client.headers["Authorization"] = f"SSWS {token}"
            yield client
    finally:
        service.store.close()


def shape(value: Any) -> Any:
    """Members and their kinds, in order, without the values."""
    if isinstance(value, dict):
        return [(k, shape(v)) for k, v in value.items()]
    if isinstance(value, list):
        return [shape(v) for v in value[:1]]
    return type(value).__name__


def test_servers_and_keys(database: str) -> None:
    made = cli("servers", "create", "pay", "--audience", "api://pay", "--database", database)
    rotated = cli("keys", "rotate", "pay", "--database", database)
    listed = cli("servers", "list", "--database", database)
    shown = cli("servers", "show", made["id"], "--database", database)
    keys = cli("keys", "list", "pay", "--database", database)
    assert isinstance(made, dict) and isinstance(listed, list) and isinstance(keys, list)
    with api(database) as client:
        assert listed == client.get(SERVERS).json()
        assert shown == client.get(f"{SERVERS}/{made['id']}").json()
        assert keys == rotated == client.get(f"{SERVERS}/{made['id']}/credentials/keys").json()
        fresh = client.post(SERVERS, json={"name": "b", "audiences": ["api://b"]})
        assert fresh.status_code == 201
        assert shape(made) == shape(fresh.json())


def test_clients(database: str) -> None:
    made = cli("clients", "create", "svc", "--database", database)
    listed = cli("clients", "list", "--database", database)
    with api(database) as client:
        assert listed == client.get("/oauth2/v1/clients").json()
        fresh = client.post("/oauth2/v1/clients", json={"client_name": "other"})
        assert fresh.status_code == 201
        assert shape(made) == shape(fresh.json())
    assert cli("clients", "delete", made["client_id"], "--database", database) is None
    left = cli("clients", "list", "--database", database)
    assert [c["client_id"] for c in left] == [fresh.json()["client_id"]]


def test_db_upgrade_and_kek_new_answer_json(database: str) -> None:
    upgraded = cli("db", "upgrade", "--database", database, "--json")
    assert upgraded == {"database": database, "revision": migrate.head()}
    made = cli("kek", "new", "--json")
    assert list(made) == ["kek"] and len(decode_kek(made["kek"]).reveal()) == 32
