"""``keyrotor db copy`` both ways, SQLite → PostgreSQL and PostgreSQL → SQLite, with rows of
every kind: the target holds the same rows (sealed keys byte for byte), serves the same
JWKS bytes with the same kids, verifies the tokens minted before and goes on from there;
what it prints; the progress bar; which KEK the target is served with."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert
from starlette.testclient import TestClient

from keyrotor.audit import EventQuery
from keyrotor.config import Settings, kek_file_beside, sqlite_path
from keyrotor.crypto import decode_kek
from keyrotor.http import create_app
from keyrotor.keys import KeyStatus
from keyrotor.service import ServerSpec
from keyrotor.storage.sql import make_engine
from keyrotor.storage.tables import used_jtis
from keyrotor.storage.transfer import TABLES
from tests.db.conftest import HEAD, K1, cli, dump, fill, migrated, mint, ok, open_at, served, verify

pytestmark = pytest.mark.postgres
OTHER = {"sqlite": "postgresql", "postgresql": "sqlite"}


def _target(kind: str, new_store: Callable[[str], str]) -> str:
    """An empty store of ``kind`` to copy into: a migrated PostgreSQL database, or a SQLite
    file that does not exist yet (the copy makes it)."""
    url = new_store(kind)
    return migrated(url) if kind == "postgresql" else url


def test_the_copy_holds_every_row_and_serves_the_same_keys(
    kind: str, new_store: Callable[[str], str]
) -> None:
    source = fill(new_store(kind))
    target = _target(OTHER[kind], new_store)
    env = {"KEYROTOR_KEK": K1} if kind == "postgresql" else {}  # SQLite: its .kek file
    before, jwks = dump(source.url), served(source.url)

    out = json.loads(ok(cli("db", "copy", "--from", source.url, "--to", target, "--json", **env)))

    assert all(before[table.name] for table in TABLES)  # rows of every kind
    assert dump(target) == before  # every value, the sealed private parts byte for byte
    assert out["rows"] == {name: len(rows) for name, rows in before.items()}
    assert out["keysOpened"] == len(before["signing_keys"]) + len(before["key_pool"])
    assert out["schema"] == HEAD
    assert served(target) == jwks  # byte-identical JWKS (so the same kids) on every server
    for server, token in source.tokens.items():  # minted before the copy
        assert verify(token, jwks[server], source.audiences[server])["cid"]

    # the copy goes on from there: the client's secret works, tokens are signed with the
    # same ACTIVE key, a rotation keeps one ACTIVE key, new audit events number after the old
    service = open_at(target)
    try:
        with TestClient(create_app(service, Settings(kek=decode_kek(K1)), sweep=False)) as api:
            fresh = mint(api, "default", source.creds)
        assert verify(fresh, jwks["default"], "api://default")
        keys = service.rotate("default")
        assert [k.status for k in keys].count(KeyStatus.ACTIVE) == 1
        service.create_server(ServerSpec(name="after", audiences=("api://after",)))
        newest, _ = service.events(EventQuery(limit=1, descending=True))[0]
        assert newest > max(row["seq"] for row in before["audit_events"])
    finally:
        service.store.close()


def test_the_summary_says_how_to_give_the_copy_its_kek(new_store: Callable[[str], str]) -> None:
    """Nothing is written beside the target: it is served with the source's KEK, and the
    summary says how (here, the file beside the SQLite source)."""
    source = fill(new_store("sqlite"))
    target = _target("postgresql", new_store)
    path = sqlite_path(source.url)
    assert path is not None

    out = ok(cli("db", "copy", "--from", source.url, "--to", target))

    lines = out.splitlines()
    assert lines[0].startswith(f"Copied {source.url} to ") and f"(schema {HEAD})" in lines[0]
    assert any(line.split() == ["signing_keys", "9"] for line in lines), out
    assert f"key-encryption key from {kek_file_beside(path)}" in out
    assert f"KEYROTOR_KEK_FILE={kek_file_beside(path)}" in lines[-1]


def test_a_sqlite_copy_gets_no_kek_file(new_store: Callable[[str], str]) -> None:
    """PostgreSQL → SQLite: no KEK is written beside the new file; served without the KEK it
    is refused, with it it works."""
    source = fill(new_store("postgresql"))
    target = new_store("sqlite")
    ok(cli("db", "copy", "--from", source.url, "--to", target, KEYROTOR_KEK=source.kek))
    path = sqlite_path(target)
    assert path is not None and path.exists()
    assert not kek_file_beside(path).exists()

    without = cli("keys", "list", "default", "--database", target)
    assert without.exit_code == 1 and "holds keys but no key-encryption key" in without.stderr
    ok(cli("keys", "list", "default", "--database", target, KEYROTOR_KEK=source.kek))


def test_a_long_copy_shows_a_progress_bar(new_store: Callable[[str], str]) -> None:
    source = fill(new_store("sqlite"))
    engine = make_engine(source.url)
    soon = datetime.now(UTC) + timedelta(hours=1)
    with engine.begin() as conn:
        rows = [
            {"issuer": "https://many.example", "jti": f"j{n}", "expires": soon} for n in range(6000)
        ]
        conn.execute(insert(used_jtis), rows)
    engine.dispose()
    target = _target("postgresql", new_store)

    result = cli("db", "copy", "--from", source.url, "--to", target, "--json")

    assert json.loads(ok(result))["rows"]["used_jtis"] == 6001
    assert "Copying" in result.stderr  # click's bar: the label alone when not on a terminal
    assert len(dump(target)["used_jtis"]) == 6001
