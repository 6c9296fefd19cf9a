"""``keyrotor db copy|backup|restore``: a whole store to another database, to a file, back.

The work is ``keyrotor.storage.transfer``'s; here are the ends: which store exists, which
KEKs the keys must open with, a new SQLite file made for the target (and taken away
again if the command fails), the progress bar and the summary.

No command writes a KEK anywhere: the target's keys are the source's, sealed as they
were, so the target is served with the source's KEK, given as usual (``KEYROTOR_KEK``,
``KEYROTOR_KEK_FILE``, or a SQLite store's ``.kek`` file, which the operator puts there).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from keyrotor.cli.common import (
    database_option,
    database_url,
    emit,
    fail,
    is_sqlite_url,
    json_option,
    probe,
    redact,
    require_store,
)
from keyrotor.config import KEK_ENV, KEK_FILE_ENV, kek_file_beside, load_keks, sqlite_path
from keyrotor.crypto import Sealer

if TYPE_CHECKING:
    from keyrotor.storage.transfer import Kek, Summary

BAR_FROM = 5000  # rows: smaller copies finish before a bar would tell anything
_NO_KEK = f"set {KEK_ENV} (or {KEK_FILE_ENV}) to the key-encryption key its keys are sealed with"


@click.command("copy")
@click.option("--from", "source", required=True, metavar="URL", help="The store to copy.")
@click.option(
    "--to", "target", required=True, metavar="URL", help="An empty store with keyrotor's schema."
)
@json_option
def db_copy(source: str, target: str, as_json: bool) -> None:
    """Copy every row of a store into an empty one, SQLite to PostgreSQL or back.

    The source may keep serving: it is read in one snapshot. The target must be empty and
    migrated (`keyrotor db upgrade`); a SQLite target file that does not exist yet is
    made. The copy is one transaction: if anything fails, the target stays as it was.
    Every private key must open with the source's key-encryption key; the target is then
    served with that same KEK.
    """
    from keyrotor.storage import transfer

    if _same_store(source, target):
        fail("--from and --to name the same store: copy into another, empty one")
    require_store(source)
    checks = [_kek(source) or fail(f"no key-encryption key for {redact(source)}: {_NO_KEK}")]
    own = _kek(target)
    if own is not None and own.source != checks[0].source:
        checks.append(own)
    with _target(target):
        summary = transfer.copy(source, target, checks, _bar("Copying"))
    answer = _answer(summary, checks, {"from": redact(source), "to": redact(target)})
    head = f"Copied {redact(source)} to {redact(target)}"
    lines = [*_table(head, summary), _opened(summary, checks)]
    serve = _serve_with(target, checks[0]) if own is None else None
    emit(as_json, answer, "\n".join(lines + ([serve] if serve else [])))


@click.command("backup")
@database_option
@click.option(
    "--to",
    "file",
    required=True,
    type=click.Path(path_type=Path),
    help="A new file: the backup (refused if it exists).",
)
@json_option
def db_backup(database: str, file: Path, as_json: bool) -> None:
    """Write a store to a backup file (mode 0600) while it keeps serving.

    The file holds every row as one snapshot, private keys sealed as they are stored:
    never a key in the clear, never a key-encryption key. Keep the KEK apart from the
    file: a restore needs both. With a KEK at hand (KEYROTOR_KEK, KEYROTOR_KEK_FILE, a
    SQLite store's .kek file) every key is checked to open with it.
    """
    from keyrotor.storage import transfer

    require_store(database)
    kek = _kek(database)
    checks = [kek] if kek is not None else []
    summary = transfer.backup(database, file, checks, _bar("Backing up"))
    answer = _answer(summary, checks, {"from": redact(database), "file": str(file.absolute())})
    lines = _table(f"Backed up {redact(database)} to {file}", summary)
    if kek is None:
        lines.append(
            "The private keys were not checked: no key-encryption key was given (a "
            "restore needs it)"
        )
    else:
        lines.append(f"{_opened(summary, checks)}; keep that KEK apart from the file")
    emit(as_json, answer, "\n".join(lines))


@click.command("restore")
@click.option(
    "--from",
    "file",
    required=True,
    type=click.Path(path_type=Path),
    help="A file `keyrotor db backup` wrote.",
)
@database_option
@json_option
def db_restore(file: Path, database: str, as_json: bool) -> None:
    """Restore a backup into an empty store, in one transaction.

    The target must be empty and migrated (`keyrotor db upgrade`); a SQLite target file
    that does not exist yet is made. The KEK the backed-up keys are sealed with must be
    given (KEYROTOR_KEK, KEYROTOR_KEK_FILE, or the .kek file beside a SQLite target):
    every key must open with it, or nothing is restored.
    """
    from keyrotor.storage import transfer

    target = database
    transfer.read_header(file)  # not a backup, or one this keyrotor cannot read: nothing else
    kek = _kek(target) or fail(
        f"no key-encryption key for the restored keys: {_NO_KEK} (a backup never holds it)"
    )
    with _target(target):
        summary = transfer.restore(file, target, [kek], _bar("Restoring"))
    answer = _answer(summary, [kek], {"file": str(file.absolute()), "to": redact(target)})
    lines = [*_table(f"Restored {file} into {redact(target)}", summary), _opened(summary, [kek])]
    serve = _serve_with(target, kek)
    emit(as_json, answer, "\n".join(lines + ([serve] if serve else [])))


# -- the ends ------------------------------------------------------------------------------


def _same_store(source: str, target: str) -> bool:
    one, other = database_url(source), database_url(target)
    if one is None or other is None:
        fail("a store in memory is gone when the command ends: give a file or a database")
    if is_sqlite_url(source) and is_sqlite_url(target):
        paths = [sqlite_path(url) for url in (source, target)]
        return None not in paths and len({p.resolve() for p in paths if p}) == 1
    return one.render_as_string(hide_password=True) == other.render_as_string(hide_password=True)


def _kek(database: str) -> Kek | None:
    """The KEKs given for ``database``, without making a key file: None when there is none."""
    from keyrotor.storage.transfer import Kek

    path = sqlite_path(database) if is_sqlite_url(database) else None
    given = os.environ.get(KEK_ENV) or os.environ.get(KEK_FILE_ENV)
    if not given and (path is None or not kek_file_beside(path).exists()):
        return None
    keks = load_keks(database)
    return Kek(Sealer(*keks.keks), keks.source)


@contextmanager
def _target(target: str) -> Iterator[None]:
    """Reach the target; a SQLite file that is not there is made and migrated here, and
    taken away again, with its WAL, if the command fails."""
    from keyrotor.cli.store import _create, _sqlite_files
    from keyrotor.storage.sql import SqlStore
    from keyrotor.storage.transfer import schema_refusal

    if database_url(target) is None or (is_sqlite_url(target) and sqlite_path(target) is None):
        fail("a store in memory is gone when the command ends: give a file or a database")
    state = probe(target)  # an unreachable server or a missing database fails here
    if state.exists:  # refused before anything opens it (SQLite would write to the file)
        problem = schema_refusal(state.revision, target, "target")
        if problem:
            fail(problem)
    path = sqlite_path(target) if is_sqlite_url(target) else None
    made: list[Path] = []
    if path is not None and not state.exists:
        made = [p for p in _sqlite_files(path) if not p.exists()]
        _create(path)
    try:
        if made:
            store = SqlStore(target)
            try:
                store.migrate()
            finally:
                store.close()
        yield
    except BaseException:
        for leftover in made:
            leftover.unlink(missing_ok=True)
        raise


def _bar(label: str) -> Callable[[int], AbstractContextManager[Callable[[int], None]]]:
    @contextmanager
    def progress(total: int) -> Iterator[Callable[[int], None]]:
        if total < BAR_FROM:
            yield lambda done: None
            return
        with click.progressbar(length=total, label=label, file=sys.stderr) as bar:
            yield bar.update

    return progress


# -- what it says --------------------------------------------------------------------------


def _answer(summary: Summary, checks: list[Kek], ends: dict[str, str]) -> dict[str, Any]:
    return {
        **ends,
        "schema": summary.schema,
        "rows": summary.rows,
        "keysOpened": summary.keys_opened if checks else None,
        "kekSources": [kek.source for kek in checks],
    }


def _table(head: str, summary: Summary) -> list[str]:
    total = sum(summary.rows.values())
    width = max(len(name) for name in summary.rows)
    rows = [f"  {name.ljust(width)}  {count}" for name, count in summary.rows.items()]
    return [f"{head} (schema {summary.schema}): {total} rows", *rows]


def _opened(summary: Summary, checks: list[Kek]) -> str:
    sources = " and from ".join(kek.source for kek in checks)
    return f"All {summary.keys_opened} private keys open with the key-encryption key from {sources}"


def _serve_with(target: str, kek: Kek) -> str | None:
    """How to serve ``target`` with the KEK its keys are sealed with, which nothing wrote
    beside it; ``None`` when it is already in the target's own key file."""
    path = sqlite_path(target) if is_sqlite_url(target) else None
    beside = kek_file_beside(path) if path is not None else None
    if beside is not None and kek.source == str(beside):
        return None
    if kek.source == KEK_ENV:
        given = f"the same {KEK_ENV}"
        also = f", or that key in {beside} (mode 0600)" if beside else ""
    else:
        given = f"{KEK_FILE_ENV}={kek.source} (or its contents in {KEK_ENV}"
        also = f", or a copy of the file at {beside}, mode 0600)" if beside else ")"
    return f"Serve {redact(target)} with the same key-encryption key: {given}{also}"
