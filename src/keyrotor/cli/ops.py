"""``keyrotor db`` and ``keyrotor kek``: schema migrations and key-encryption keys."""

from __future__ import annotations

import click

from keyrotor.cli.common import database_option, fail, redact
from keyrotor.crypto import encode_kek, new_kek
from keyrotor.errors import KeyrotorError


@click.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@database_option
def db_upgrade(database: str) -> None:
    """Apply the migrations (safe to run again, and from several machines)."""
    from keyrotor.storage.sql import SqlStore

    store = SqlStore(database)
    try:
        store.migrate()
    except KeyrotorError as exc:
        fail(str(exc))
    finally:
        store.close()
    click.echo(f"{redact(database)}: schema up to date")


@click.group()
def kek() -> None:
    """Key-encryption keys."""


@kek.command("new")
def kek_new() -> None:
    """Print a fresh key-encryption key for KEYROTOR_KEK."""
    click.echo(encode_kek(new_kek()))
