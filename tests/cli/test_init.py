"""``keyrotor init``: the one command besides ``serve`` that makes a store, on SQLite and on
PostgreSQL; it refuses a store that already holds servers and leaves nothing half-made."""

from __future__ import annotations

import json
import stat
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from keyrotor.cli import main
from keyrotor.crypto import encode_kek
from keyrotor.storage import migrate
from keyrotor.storage.sql import make_engine
from tests.conftest import TEST_KEK, postgres_base_url

KEK = encode_kek(TEST_KEK)


@pytest.fixture(autouse=True)
def _no_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "KEYROTOR_KEK",
        "KEYROTOR_KEK_FILE",
        "KEYROTOR_DATABASE_URL",
        "KEYROTOR_DEBUG",
        "KEYROTOR_PUBLIC_URL",
    ):
        monkeypatch.delenv(name, raising=False)


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def ok(*args: str) -> str:
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    return result.stdout


def refused(*args: str) -> str:
    result = invoke(*args)
    assert result.exit_code == 1, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    return lines[0]


def schema_of(url: str) -> str | None:
    engine = make_engine(url)
    try:
        return migrate.current(engine)
    finally:
        engine.dispose()


def test_init_makes_a_sqlite_store_and_says_what_next(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'keys.db'}"
    out = ok("init", "--database", url)
    assert f"Created a keyrotor store in {tmp_path / 'keys.db'} (schema {migrate.head()})" in out
    assert f"key-encryption key: {tmp_path / 'keys.db.kek'}" in out or "keys.db.kek" in out
    assert "authorization server: default (audience api://default)" in out
    assert f"Next: keyrotor serve --database {url}" in out
    assert stat.S_IMODE((tmp_path / "keys.db").stat().st_mode) == 0o600
    assert (tmp_path / "keys.db.kek").exists()
    assert ok("servers", "list", "--database", url, "--value", "id") == "default\n"


def test_init_refuses_a_store_that_holds_servers(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'keyrotor.db'}"
    ok("init", "--database", url)
    before = (tmp_path / "keyrotor.db").read_bytes()
    line = refused("init", "--database", url)
    assert f"{tmp_path / 'keyrotor.db'} already holds a keyrotor store" in line
    assert f"`keyrotor serve --database {url}` starts it" in line
    assert (tmp_path / "keyrotor.db").read_bytes() == before


def test_init_json_answers_the_default_server_as_the_api_shows_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'keyrotor.db'}"
    made = json.loads(ok("init", "--database", url, "--json"))
    assert made["database"] == str(tmp_path / "keyrotor.db")
    assert made["schema"] == migrate.head()
    shown = json.loads(ok("servers", "show", "default", "--database", url, "--json"))
    assert made["authorizationServer"] == shown


def test_init_in_the_working_directory_names_no_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    out = ok("init")
    assert "Next: keyrotor serve  (" in out
    assert sorted(p.name for p in tmp_path.iterdir())[:2] == ["keyrotor.db", "keyrotor.db.kek"]


def test_init_takes_an_empty_file(tmp_path: Path) -> None:
    (tmp_path / "keyrotor.db").touch()
    ok("init", "--database", f"sqlite:///{tmp_path / 'keyrotor.db'}")
    assert schema_of(f"sqlite:///{tmp_path / 'keyrotor.db'}") == migrate.head()


def test_init_refuses_a_store_in_memory() -> None:
    assert "a store in memory is gone" in refused("init", "--database", "sqlite://")


def test_init_that_fails_leaves_nothing_behind(tmp_path: Path, monkeypatch) -> None:
    """A KEK that is not one: refused, and the file init had made is taken away again."""
    monkeypatch.setenv("KEYROTOR_KEK", "not-a-key")
    line = refused("init", "--database", f"sqlite:///{tmp_path / 'keyrotor.db'}")
    assert "KEYROTOR_KEK" in line
    assert list(tmp_path.iterdir()) == []


# -- PostgreSQL --------------------------------------------------------------------------


@pytest.mark.postgres
def test_init_on_postgres(postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEYROTOR_KEK", KEK)
    out = ok("init", "--database", postgres_url)
    assert "key-encryption key: KEYROTOR_KEK" in out
    assert schema_of(postgres_url) == migrate.head()
    assert ok("keys", "list", "default", "--database", postgres_url, "--value", "status") == (
        "ACTIVE\nNEXT\n"
    )
    assert "already holds a keyrotor store (1 authorization servers)" in refused(
        "init", "--database", postgres_url
    )


@pytest.mark.postgres
def test_init_after_db_upgrade(postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A database migrated by `keyrotor db upgrade` (a deployment step) holds no servers yet:
    init makes the default one."""
    monkeypatch.setenv("KEYROTOR_KEK", KEK)
    ok("db", "upgrade", "--database", postgres_url)
    ok("init", "--database", postgres_url)
    assert ok("servers", "list", "--database", postgres_url, "--value", "id") == "default\n"


@pytest.mark.postgres
def test_init_on_postgres_without_a_kek_creates_nothing(postgres_url: str) -> None:
    line = refused("init", "--database", postgres_url)
    assert "set KEYROTOR_KEK" in line
    assert schema_of(postgres_url) is None


@pytest.mark.postgres
def test_init_does_not_create_a_postgres_database(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEYROTOR_KEK", KEK)
    name = f"keyrotor_missing_{uuid.uuid4().hex[:8]}"
    base = make_url(postgres_base_url())
    url = base.set(database=name).render_as_string(hide_password=False)
    assert f'database "{name}" does not exist' in refused("init", "--database", url)
    admin = create_engine(base.set(drivername="postgresql+psycopg"))
    try:
        with admin.connect() as conn:
            query = text("SELECT count(*) FROM pg_database WHERE datname = :name")
            assert conn.execute(query, {"name": name}).scalar_one() == 0
    finally:
        admin.dispose()
