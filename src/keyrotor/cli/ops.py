"""``keyrotor db`` and ``keyrotor kek``: schema migrations and key-encryption keys."""

from __future__ import annotations

import click

from keyrotor.cli.common import (
    database_option,
    emit,
    fail,
    json_option,
    redact,
    require_file,
    require_store,
    settings_for,
)
from keyrotor.crypto import encode_kek, new_kek
from keyrotor.errors import KeyrotorError


@click.group()
def db() -> None:
    """The database: its schema, copies, backups."""


@db.command("upgrade")
@database_option
@json_option
def db_upgrade(database: str, as_json: bool) -> None:
    """Apply the migrations (safe to run again, and from several machines)."""
    from keyrotor.storage import migrate
    from keyrotor.storage.sql import SqlStore

    require_file(database)  # a missing SQLite file is a typo: only `init` makes one
    store = SqlStore(database)
    try:
        store.migrate()
        revision = migrate.current(store.engine)
    except KeyrotorError as exc:
        fail(str(exc))
    finally:
        store.close()
    answer = {"database": redact(database), "revision": revision}
    emit(as_json, answer, f"{redact(database)}: schema up to date")


@click.group()
def kek() -> None:
    """Key-encryption keys."""


@kek.command("new")
@json_option
def kek_new(as_json: bool) -> None:
    """Print a fresh key-encryption key for KEYROTOR_KEK."""
    value = encode_kek(new_kek())
    emit(as_json, {"kek": value}, value)


@kek.command("rewrap")
@click.option(
    "--batch",
    default=100,
    show_default=True,
    type=click.IntRange(1, 10_000),
    help="Keys re-sealed per write transaction.",
)
@database_option
@json_option
def kek_rewrap(batch: int, database: str, as_json: bool) -> None:
    """Re-seal every private key under the first key-encryption key, while servers run.

    Give every replica the new KEK first, ahead of the old one (KEYROTOR_KEK=NEW,OLD),
    then run this; when it succeeds, the old KEK can be removed. Safe to run again: with
    one KEK it checks that every stored key opens.
    """
    from keyrotor import keks
    from keyrotor.runtime import open_service

    require_store(database)
    settings = settings_for(database)
    service = open_service(settings)  # refuses KEKs that open none of the stored keys
    try:
        done = keks.rewrap(service.store, service.factory.sealer, batch)
    finally:
        service.store.close()
    if done.unopened:
        fail(
            f"{len(done.unopened)} stored keys open with none of the key-encryption keys from "
            f"{settings.kek_source} (kid {done.unopened[0]}): add the KEK they were sealed "
            "with, and run this again"
        )
    if done.hooks_unopened:
        fail(
            f"{len(done.hooks_unopened)} event hooks' shared secrets open with none of the "
            f"key-encryption keys from {settings.kek_source} (hook {done.hooks_unopened[0]}): "
            "add the KEK they were sealed with, or give the hook its secret again"
        )
    if done.behind:
        fail(
            f"{done.behind} keys were still sealed under an older key-encryption key after "
            f"{keks.PASSES} passes: a replica still seals new keys with it; give every replica "
            "the new KEK first (ahead of the old one), then run this again"
        )
    first = keks.kek_id(service.factory.sealer)
    answer = {
        "signingKeys": {"resealed": done.resealed["signing"], "stored": done.total["signing"]},
        "pooledKeys": {"resealed": done.resealed["pooled"], "stored": done.total["pooled"]},
        "hookSecrets": {"resealed": done.hooks, "stored": done.hooks_total},
        "kekSource": settings.kek_source,
        "keks": len(settings.keks),
        "kekId": first,
    }
    others = "the others can be removed" if len(settings.keks) > 1 else "nothing else needed"
    text = [
        f"signing keys: {done.resealed['signing']} re-sealed under the first key-encryption "
        f"key ({done.total['signing']} stored)",
        f"pooled keys: {done.resealed['pooled']} re-sealed ({done.total['pooled']} stored)",
        f"event hooks' secrets: {done.hooks} re-sealed ({done.hooks_total} stored)",
        f"every key opens with the first key-encryption key from {settings.kek_source} "
        f"(id {first}): {others}",
    ]
    emit(as_json, answer, "\n".join(text))
