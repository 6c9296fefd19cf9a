"""Every refusal of ``keyrotor db copy|backup|restore`` is one line, and leaves the target as
it was: a target that is not empty, not migrated or unreachable, a wrong KEK, a file that
is not a backup (or is damaged, or cut short), a backup from a newer schema."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect

from keyrotor.storage.sql import make_engine
from tests.db.conftest import BEFORE, HEAD, K1, K2, cli, dump, fill, migrated, ok, refused

pytestmark = pytest.mark.postgres


def state(url: str) -> Any:
    """What is at ``url``, to compare before and after: a SQLite store's files and their
    bytes, or a PostgreSQL database's tables and rows."""
    if url.startswith("sqlite"):
        path = Path(url.removeprefix("sqlite:///"))
        return {p.name: p.read_bytes() for p in sorted(path.parent.glob(path.name + "*"))}
    engine = make_engine(url)
    try:
        tables = sorted(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    return (tables, dump(url)) if "auth_servers" in tables else tables


@pytest.fixture
def source(new_store: Callable[[str], str]) -> str:
    """A PostgreSQL store with rows of every kind, sealed under K1."""
    return fill(new_store("postgresql")).url


@pytest.fixture
def backup(source: str, tmp_path: Path) -> Path:
    file = tmp_path / "good.backup"
    ok(cli("db", "backup", "--to", str(file), "--database", source))
    return file


def copy(source: str, target: str, kek: str = K1) -> str:
    return refused(cli("db", "copy", "--from", source, "--to", target, KEYROTOR_KEK=kek))


def restore(file: Path, target: str, kek: str = K1) -> str:
    return refused(
        cli("db", "restore", "--from", str(file), "--database", target, KEYROTOR_KEK=kek)
    )


def test_a_target_that_is_not_empty(
    kind: str, source: str, backup: Path, new_store: Callable[[str], str]
) -> None:
    target = new_store(kind)
    ok(cli("init", "--database", target, KEYROTOR_KEK=K1))
    before = state(target)
    line = copy(source, target)
    assert "is not empty (" in line and "auth_servers" in line and "nothing was written" in line
    assert "is not empty" in restore(backup, target)
    assert state(target) == before


def test_a_target_without_schema(
    kind: str, source: str, backup: Path, new_store: Callable[[str], str]
) -> None:
    target = new_store(kind)
    if kind == "sqlite":
        Path(target.removeprefix("sqlite:///")).touch(mode=0o600)  # a file, but no store in it
    before = state(target)
    for line in (copy(source, target), restore(backup, target)):
        assert "has no keyrotor schema: run `keyrotor db upgrade --database" in line
    assert state(target) == before


def test_a_target_behind_the_schema(source: str, new_postgres: Callable[[], str]) -> None:
    from alembic import command

    from keyrotor.storage import migrate

    target = new_postgres()
    engine = make_engine(target)
    config = migrate._config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, BEFORE)
    engine.dispose()
    line = copy(source, target)
    assert f"is revision {BEFORE}, this keyrotor's is {HEAD}: run `keyrotor db upgrade" in line


def test_an_unreachable_target(source: str, backup: Path, tmp_path: Path) -> None:
    nowhere = "postgresql://postgres@127.0.0.1:1/keyrotor"
    assert "connection refused" in copy(source, nowhere)
    assert "connection refused" in restore(backup, nowhere)
    missing = source.rsplit("/", 1)[0] + "/keyrotor_no_such_database"
    assert 'database "keyrotor_no_such_database" does not exist' in copy(source, missing)
    no_directory = f"sqlite:///{tmp_path / 'no' / 'such' / 'keyrotor.db'}"
    assert "does not exist" in copy(source, no_directory)
    assert not (tmp_path / "no").exists()


def test_an_unreachable_or_missing_source(tmp_path: Path, new_store: Callable[[str], str]) -> None:
    target = new_store("sqlite")
    assert "connection refused" in copy("postgresql://postgres@127.0.0.1:1/x", target)
    line = copy(f"sqlite:///{tmp_path / 'typo.db'}", target)
    assert "no keyrotor store at" in line
    assert not (tmp_path / "typo.db").exists() and state(target) == {}


def test_a_wrong_kek(kind: str, source: str, backup: Path, new_store: Callable[[str], str]) -> None:
    """Keys that do not open stop the copy after the tables before them were written:
    the one transaction takes it all back, and a SQLite file made for it goes again."""
    target = migrated(new_store(kind))
    before = state(target)
    line = copy(source, target, kek=K2)
    assert "the key-encryption key from KEYROTOR_KEK does not open the key" in line
    assert "nothing was written" in line
    assert "does not open the key" in restore(backup, target, kek=K2)
    assert state(target) == before
    fresh = new_store("sqlite")
    copy(source, fresh, kek=K2)
    restore(backup, fresh, kek=K2)
    assert state(fresh) == {}


def test_a_kek_beside_a_sqlite_store_that_differs(
    source: str, backup: Path, new_store: Callable[[str], str]
) -> None:
    """A SQLite target whose own key file holds another KEK than the keys' is refused."""
    target = new_store("sqlite")
    beside = Path(target.removeprefix("sqlite:///") + ".kek")
    beside.write_text(K2 + "\n")
    beside.chmod(0o600)
    assert "differs from" in copy(source, target)
    assert "does not open the key" in refused(
        cli("db", "restore", "--from", str(backup), "--database", target)
    )
    assert state(target) == {beside.name: (K2 + "\n").encode()}


def test_a_file_that_is_not_a_backup(tmp_path: Path, new_store: Callable[[str], str]) -> None:
    sqlite_store = fill(new_store("sqlite")).url
    target = new_store("sqlite")
    files = {
        "empty": b"",
        "text": b"hello\n",
        "json": b'{"format": "something-else"}\n',
        "binary": bytes(range(256)) * 4,
        "store": Path(sqlite_store.removeprefix("sqlite:///")).read_bytes(),
    }
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
        assert "is not a keyrotor backup" in restore(tmp_path / name, target)
    assert state(target) == {}


def _edit(backup: Path, change: Callable[[list[bytes]], list[bytes]]) -> Path:
    edited = backup.with_name(f"edited-{len(list(backup.parent.iterdir()))}.backup")
    edited.write_bytes(b"".join(change(backup.read_bytes().splitlines(keepends=True))))
    return edited


def _header(lines: list[bytes], **members: Any) -> list[bytes]:
    header = json.loads(lines[0]) | members
    return [json.dumps(header).encode() + b"\n", *lines[1:]]


def test_a_damaged_backup(kind: str, backup: Path, new_store: Callable[[str], str]) -> None:
    """Cut short, a row changed, a line of garbage: refused after rows went in, so the
    target's transaction takes them back."""
    target = migrated(new_store(kind))
    before = state(target)
    changed = _edit(backup, lambda ls: [line.replace(b"Orders", b"Others") for line in ls])
    cases = {
        "is cut short": _edit(backup, lambda ls: ls[:-1]),
        "its checksum differs": changed,
        "is damaged at line 4": _edit(backup, lambda ls: [*ls[:3], b"garbage\n", *ls[3:]]),
        "no table 'nothing'": _edit(
            backup, lambda ls: [*ls[:3], b'{"table":"nothing","row":{}}\n', *ls[3:]]
        ),
        "the target refused a row of oauth_scopes": _edit(
            backup, lambda ls: [line.replace(b'"system":false', b'"system":"no"') for line in ls]
        ),
        "not a row of auth_servers": _edit(
            backup, lambda ls: [*ls[:-1], b'{"table":"auth_servers","row":{"id":"x"}}\n', ls[-1]]
        ),
    }
    for needle, file in cases.items():
        line = restore(file, target)
        assert needle in line and "nothing was" in line, line
    assert state(target) == before


def test_a_backup_from_a_newer_schema_or_format(
    backup: Path, new_store: Callable[[str], str]
) -> None:
    target = new_store("sqlite")
    newer = _edit(backup, lambda ls: _header(ls, schema="0099", keyrotor="9.0.0"))
    line = restore(newer, target)
    assert f"a backup of schema revision 0099, newer than this keyrotor's ({HEAD})" in line
    assert "restore it with the keyrotor that wrote it (9.0.0) or a newer one" in line
    assert "in format 2, newer than" in restore(
        _edit(backup, lambda ls: _header(ls, version=2)), target
    )
    older = _edit(backup, lambda ls: _header(ls, schema=BEFORE))
    assert f"older than this keyrotor's ({HEAD})" in restore(older, target)
    assert state(target) == {}


def test_the_same_store_twice(source: str, tmp_path: Path) -> None:
    assert "name the same store" in copy(source, source)
    sqlite_store = f"sqlite:///{tmp_path / 'a.db'}"
    assert "name the same store" in copy(sqlite_store, f"sqlite:///{tmp_path}/./a.db")


def test_backup_refuses_to_overwrite(source: str, backup: Path, tmp_path: Path) -> None:
    kept = backup.read_bytes()
    assert "already exists: nothing was written" in refused(
        cli("db", "backup", "--to", str(backup), "--database", source)
    )
    assert backup.read_bytes() == kept
    assert "cannot write" in refused(
        cli("db", "backup", "--to", str(tmp_path / "no" / "file"), "--database", source)
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good.backup"]
