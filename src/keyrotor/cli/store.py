"""``keyrotor init``: make a new store, the one command besides ``serve`` that creates one."""

from __future__ import annotations

import os
from pathlib import Path

import click

from keyrotor.cli.common import (
    database_option,
    database_url,
    emit,
    fail,
    json_option,
    probe,
    public_base,
    redact,
    settings_for,
)
from keyrotor.config import DEFAULT_DATABASE_URL, kek_file_beside, sqlite_path
from keyrotor.servers import DEFAULT_SERVER_ID


@click.command()
@database_option
@json_option
def init(database: str, as_json: bool) -> None:
    """Create a store: its schema, its key-encryption key file (SQLite, unless KEYROTOR_KEK
    or KEYROTOR_KEK_FILE is set) and the `default` authorization server.

    A PostgreSQL database must exist (createdb) and may be empty or just migrated; a store
    that already holds servers is left alone.
    """
    from keyrotor.http.render import server_json
    from keyrotor.runtime import open_service
    from keyrotor.storage import migrate
    from keyrotor.storage.sql import SqlStore

    url = database_url(database)
    if url is None or (url.get_backend_name() == "sqlite" and sqlite_path(database) is None):
        fail("a store in memory is gone when the command ends: give a file or a database")
    state = probe(database)
    if state.servers:
        fail(
            f"{state.where} already holds a keyrotor store ({state.servers} authorization "
            f"servers): nothing done; `keyrotor serve --database {redact(database)}` starts it"
        )
    path = sqlite_path(database) if url.get_backend_name() == "sqlite" else None
    made: list[Path] = []  # what to take away again if init fails half-way
    if path is not None and not state.exists:
        made = [p for p in _sqlite_files(path) if not p.exists()]
        _create(path)
    try:
        settings = settings_for(database)  # a missing or wrong KEK stops here
        service = open_service(settings, migrate=True)
        try:
            service.ensure_default()
            server = service.get_server(DEFAULT_SERVER_ID)
            store = service.store
            schema = migrate.current(store.engine) if isinstance(store, SqlStore) else None
        finally:
            service.store.close()
    except BaseException:
        for leftover in made:
            leftover.unlink(missing_ok=True)
        raise
    answer = {
        "database": state.where,
        "schema": schema,
        "kekSource": settings.kek_source,
        "authorizationServer": server_json(server, public_base()),
    }
    serve = "keyrotor serve"
    if database != DEFAULT_DATABASE_URL:
        serve += f" --database {redact(database)}"
    emit(
        as_json,
        answer,
        "\n".join(
            [
                f"Created a keyrotor store in {state.where} (schema {schema})",
                f"  key-encryption key: {settings.kek_source} (without it the private keys "
                "cannot be opened: keep a copy)",
                f"  authorization server: {server.id} (audience {', '.join(server.audiences)})",
                f"Next: {serve}  (prints an admin API token at its first start)",
            ]
        ),
    )


def _create(path: Path) -> None:
    """Make the new SQLite file (0600), or refuse with the reason it cannot be made."""
    where = path.absolute()
    parent = where.parent
    if not parent.exists():
        fail(f"cannot create {where}: the directory {parent} does not exist")
    if not parent.is_dir():
        fail(f"cannot create {where}: {parent} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        fail(f"cannot create {where}: this user may not write to {parent}")
    try:
        os.close(os.open(where, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except OSError as exc:
        fail(f"cannot create {where}: {exc.strerror}")


def _sqlite_files(path: Path) -> list[Path]:
    """A SQLite store's files: the database, its WAL and shared memory, its KEK file."""
    return [
        path,
        path.with_name(path.name + "-wal"),
        path.with_name(path.name + "-shm"),
        kek_file_beside(path),
    ]
