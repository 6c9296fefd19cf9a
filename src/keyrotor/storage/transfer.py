"""A whole store moved at once: copied to another database, or written to a backup file and
restored from it (``keyrotor db copy|backup|restore``).

Everything works table by table from ``tables.metadata``, parents before children, so
both ends must have this keyrotor's schema. The source is read in one snapshot
(``REPEATABLE READ`` on PostgreSQL, one deferred ``BEGIN`` on SQLite), so a copy taken
while servers rotate keys is a state the source was in. The target is written in one
transaction, after checking inside it that the target holds nothing: a failure rolls it
all back. Rows are copied as they are, sealed private parts byte for byte; every sealed
key passes through the given KEKs on the way, and one that does not open stops it all.

A backup is UTF-8 JSON lines: a header (the format, its version, the schema revision,
the row counts), one line per row (bytes in base64, times in ISO 8601 UTC), and a trailer
with the counts again and the SHA-256 of every line before it, so a truncated or edited
file is refused. It holds what the tables hold: sealed keys, digests of secrets, never a
key in the clear and never a KEK.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, Engine, Integer, LargeBinary, Table, func, insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import StatementError

from keyrotor import __version__
from keyrotor.crypto import Sealer
from keyrotor.storage import migrate
from keyrotor.storage.sql import make_engine
from keyrotor.storage.tables import UTCDateTime, key_pool, metadata, signing_keys, store_changes
from keyrotor.storage.watchdog import exempt

FORMAT = "keyrotor-backup"
VERSION = 1  # of the file's layout; the schema revision is named apart
BATCH = 500  # rows per insert
TABLES: list[Table] = [t for t in metadata.sorted_tables if t is not store_changes]
_SEALED = {signing_keys.name, key_pool.name}
_BY_NAME = {t.name: t for t in TABLES}

# a progress display: given the rows to come, a context whose value is told of rows done
Progress = Callable[[int], AbstractContextManager[Callable[[int], None]]]


class TransferError(ValueError):
    """A copy, backup or restore refused or stopped; the target was left as it was."""


@dataclass(frozen=True)
class Kek:
    """KEKs every sealed key must open with, and where they came from (for refusals)."""

    sealer: Sealer
    source: str


@dataclass
class Summary:
    """What moved: the schema revision and the rows per table, in the order written."""

    schema: str
    rows: dict[str, int] = field(default_factory=dict)
    keys_opened: int = 0  # sealed keys opened with every KEK given


@contextmanager
def _quiet(_: int) -> Iterator[Callable[[int], None]]:
    yield lambda done: None


def where(url: str) -> str:
    """A database URL fit to print (its password hidden)."""
    return make_url(url).render_as_string(hide_password=True)


# -- the two ends ----------------------------------------------------------------------


@contextmanager
def _engine(url: str) -> Iterator[Engine]:
    engine = make_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()


@contextmanager
def _snapshot(engine: Engine) -> Iterator[Connection]:
    """One read transaction: every table as of one moment."""
    with engine.connect() as conn:
        postgres = engine.dialect.name == "postgresql"
        if postgres:
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            _unbounded(conn)
            yield conn


@contextmanager
def _writing(engine: Engine) -> Iterator[Connection]:
    """One write transaction (SQLite: ``BEGIN IMMEDIATE``), committed only if all went well."""
    with engine.connect() as conn:
        conn = conn.execution_options(keyrotor_write=True)
        with conn.begin():
            _unbounded(conn)
            yield conn


def _unbounded(conn: Connection) -> None:
    """A long copy is not a stuck request: no statement timeout, no watchdog deadline."""
    if conn.dialect.name == "postgresql":
        exempt(conn)
        conn.execute(text("SET LOCAL statement_timeout = 0"))


def _check_schema(conn: Connection, url: str, role: str) -> str:
    found = MigrationContext.configure(conn).get_current_revision()
    problem = schema_refusal(found, url, role)
    if problem:
        raise TransferError(problem)
    return str(found)


def schema_refusal(found: str | None, url: str, role: str) -> str | None:
    """Why a store whose schema is at revision ``found`` cannot be the ``role`` (source or
    target) of a copy, or ``None``: it must be at this keyrotor's."""
    head = migrate.head()
    if found == head:
        return None
    upgrade = f"`keyrotor db upgrade --database {where(url)}`"
    if found is None:
        return f"the {role} {where(url)} has no keyrotor schema: run {upgrade} first"
    return (
        f"the schema of the {role} {where(url)} is revision {found}, this keyrotor's is {head}: "
        f"run {upgrade} (with the newer of the two keyrotor versions) first"
    )


def _check_empty(conn: Connection, url: str) -> None:
    held = {}
    for table in TABLES:
        count = conn.execute(select(func.count()).select_from(table)).scalar_one()
        if count:
            held[table.name] = count
    if held:
        listed = ", ".join(f"{name}: {n} rows" for name, n in held.items())
        fresh = (
            "name a SQLite file that does not exist yet"
            if conn.dialect.name == "sqlite"
            else "give an empty database with keyrotor's schema (createdb, then `keyrotor db "
            "upgrade`)"
        )
        raise TransferError(
            f"the target {where(url)} is not empty ({listed}): nothing was written; {fresh}"
        )


def _counts(conn: Connection) -> dict[str, int]:
    return {t.name: conn.execute(select(func.count()).select_from(t)).scalar_one() for t in TABLES}


@contextmanager
def _rows(conn: Connection, table: Table) -> Iterator[Iterator[list[dict[str, Any]]]]:
    """The rows of ``table`` in batches, read as they are used (a server-side cursor on
    PostgreSQL), closed however the reader stops."""
    query = select(table).order_by(*table.primary_key.columns)
    with conn.execution_options(yield_per=BATCH).execute(query) as result:
        yield ([dict(row) for row in part] for part in result.mappings().partitions())


def _open_all(table: Table, rows: Sequence[dict[str, Any]], keks: Sequence[Kek]) -> int:
    """Refuse unless every KEK given opens every sealed key among ``rows``."""
    if table.name not in _SEALED:
        return 0
    for row in rows:
        owner = row.get("server_id")  # a server's key is sealed for that server (crypto.py)
        for kek in keks:
            if not kek.sealer.opens(bytes(row["sealed_private"]), row["kid"], owner):
                raise TransferError(
                    f"the key-encryption key from {kek.source} does not open the key "
                    f"{row['kid']} ({table.name}): nothing was written; give the KEK "
                    "these keys are sealed with"
                )
    return len(rows) if keks else 0


def _insert(conn: Connection, table: Table, rows: list[dict[str, Any]], line: str = "") -> None:
    try:
        conn.execute(insert(table), rows)
    except StatementError as exc:  # the database's refusal, or a value of the wrong type
        reason = " ".join(str(exc.orig or exc).split())
        raise TransferError(
            f"the target refused a row of {table.name}{line}: {reason}; nothing was written"
        ) from None


def _follow_sequences(conn: Connection) -> None:
    """PostgreSQL: numbers made by the target from now on follow the copied ones."""
    if conn.dialect.name != "postgresql":
        return  # SQLite numbers from the largest rowid (and AUTOINCREMENT keeps track)
    for table in TABLES:
        keys = list(table.primary_key.columns)
        if len(keys) == 1 and isinstance(keys[0].type, Integer):
            name = keys[0].name
            conn.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence(:table, :column), "  # noqa: S608
                    f"COALESCE(MAX({name}), 1), MAX({name}) IS NOT NULL) FROM {table.name}"
                ),
                {"table": table.name, "column": name},
            )


# -- copy ------------------------------------------------------------------------------


def copy(source: str, target: str, keks: Sequence[Kek], progress: Progress = _quiet) -> Summary:
    """Copy the store at ``source`` into the empty, migrated store at ``target``."""
    with (
        _engine(source) as read_engine,
        _engine(target) as write_engine,
        _snapshot(read_engine) as read,
        _writing(write_engine) as write,
    ):
        schema = _check_schema(read, source, "source")
        _check_schema(write, target, "target")
        _check_empty(write, target)
        summary = Summary(schema, _counts(read))
        with progress(sum(summary.rows.values())) as advance:
            for table in TABLES:
                with _rows(read, table) as batches:
                    for rows in batches:
                        summary.keys_opened += _open_all(table, rows, keks)
                        _insert(write, table, rows)
                        advance(len(rows))
        _follow_sequences(write)
    return summary


# -- backup ----------------------------------------------------------------------------


def _encode(table: Table, row: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for column in table.columns:
        value = row[column.name]
        if value is not None and isinstance(column.type, LargeBinary):
            value = base64.b64encode(bytes(value)).decode("ascii")
        elif isinstance(value, datetime):
            value = value.astimezone(UTC).isoformat().replace("+00:00", "Z")
        out[column.name] = value
    return out


def _decode(table: Table, row: Any) -> dict[str, Any]:
    if not isinstance(row, dict) or set(row) != set(table.c.keys()):
        raise ValueError(f"not a row of {table.name}")
    out = {}
    for column in table.columns:
        value = row[column.name]
        if value is not None and isinstance(column.type, LargeBinary):
            value = base64.b64decode(value, validate=True)
        elif value is not None and isinstance(column.type, UTCDateTime):
            value = datetime.fromisoformat(value)
            if value.tzinfo is None:
                raise ValueError(f"{column.name}: a time without its zone")
        out[column.name] = value
    return out


def _line(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


def backup(source: str, path: Path, keks: Sequence[Kek], progress: Progress = _quiet) -> Summary:
    """Write the store at ``source`` to a new file ``path`` (mode 0600), which must not
    exist; it appears whole or not at all."""
    if path.exists():
        raise TransferError(f"{path} already exists: nothing was written; name a new file")
    draft = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise TransferError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as out, _engine(source) as engine, _snapshot(engine) as read:
            summary = _write_backup(read, source, out, keks, progress)
            out.flush()
            os.fsync(out.fileno())
        try:
            os.link(draft, path)  # never over a file that appeared meanwhile
        except FileExistsError:
            raise TransferError(f"{path} already exists: nothing was written") from None
    finally:
        draft.unlink(missing_ok=True)
    return summary


def _write_backup(
    read: Connection, source: str, out: IO[bytes], keks: Sequence[Kek], progress: Progress
) -> Summary:
    summary = Summary(_check_schema(read, source, "source"), _counts(read))
    digest = hashlib.sha256()

    def put(value: Any) -> None:
        line = _line(value)
        digest.update(line)
        out.write(line)

    put(
        {
            "format": FORMAT,
            "version": VERSION,
            "schema": summary.schema,
            "keyrotor": __version__,
            "created": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "rows": summary.rows,
        }
    )
    with progress(sum(summary.rows.values())) as advance:
        for table in TABLES:
            with _rows(read, table) as batches:
                for rows in batches:
                    summary.keys_opened += _open_all(table, rows, keks)
                    for row in rows:
                        put({"table": table.name, "row": _encode(table, row)})
                    advance(len(rows))
    out.write(_line({"end": {"rows": summary.rows, "sha256": digest.hexdigest()}}))
    return summary


# -- restore ---------------------------------------------------------------------------


def read_header(path: Path) -> dict[str, Any]:
    """The header of the backup at ``path``, refused unless this keyrotor can restore it."""
    try:
        with path.open("rb") as file:
            first = file.readline(1 << 16)
    except OSError as exc:
        raise TransferError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        header = json.loads(first)
    except ValueError:
        header = None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise TransferError(f"{path} is not a keyrotor backup (`keyrotor db backup` writes one)")
    version, schema, head = header.get("version"), header.get("schema"), migrate.head()
    if not isinstance(version, int) or version > VERSION:
        raise TransferError(
            f"{path} is a backup in format {version}, newer than this keyrotor reads "
            f"({VERSION}): restore it with the keyrotor that wrote it "
            f"({header.get('keyrotor')}) or a newer one"
        )
    if schema != head:
        newer = not isinstance(schema, str) or schema > str(head)
        raise TransferError(
            f"{path} is a backup of schema revision {schema}, "
            + (
                f"newer than this keyrotor's ({head}): restore it with the keyrotor that "
                f"wrote it ({header.get('keyrotor')}) or a newer one"
                if newer
                else f"older than this keyrotor's ({head}): restore it with the keyrotor "
                f"that wrote it ({header.get('keyrotor')}), then upgrade"
            )
        )
    if not isinstance(header.get("rows"), dict):
        raise TransferError(f"{path} is not a keyrotor backup: its header names no row counts")
    return header


def restore(path: Path, target: str, keks: Sequence[Kek], progress: Progress = _quiet) -> Summary:
    """Restore the backup at ``path`` into the empty, migrated store at ``target``."""
    header = read_header(path)
    summary = Summary(str(header["schema"]), {t.name: 0 for t in TABLES})
    total = sum(n for n in header["rows"].values() if isinstance(n, int))
    order = [t.name for t in TABLES]
    with (
        _engine(target) as engine,
        _writing(engine) as write,
        path.open("rb") as file,
        progress(total) as advance,
    ):
        _check_schema(write, target, "target")
        _check_empty(write, target)
        digest = hashlib.sha256(file.readline(1 << 16))
        table: Table | None = None
        pending: list[dict[str, Any]] = []
        end: Any = None
        for number, line in enumerate(file, start=2):
            found, row = _parse(path, number, line)
            if table is not None and pending and (found is not table or len(pending) >= BATCH):
                summary.keys_opened += _open_all(table, pending, keks)
                _insert(write, table, pending, f" (at or before line {number - 1})")
                advance(len(pending))
                pending = []
            if found is None:
                end = row
                if file.read(1):
                    raise TransferError(f"{path} is damaged: lines after its end")
                break
            if table is not None and order.index(found.name) < order.index(table.name):
                raise TransferError(f"{path} is damaged at line {number}: tables out of order")
            digest.update(line)
            table = found
            pending.append(row)
            summary.rows[found.name] += 1
        if end is None:
            raise TransferError(f"{path} is cut short (its end is missing): nothing was restored")
        if not isinstance(end, dict) or end.get("sha256") != digest.hexdigest():
            raise TransferError(f"{path} is damaged (its checksum differs): nothing was restored")
        if end.get("rows") != summary.rows:
            raise TransferError(f"{path} is damaged (rows are missing): nothing was restored")
        _follow_sequences(write)
    return summary


def _parse(path: Path, number: int, line: bytes) -> tuple[Table | None, Any]:
    """One line of a backup: a table and its row, or ``None`` and the trailer's ``end``."""
    try:
        item = json.loads(line)
        if not isinstance(item, dict):
            raise ValueError("not a JSON object")
        if "end" in item:
            return None, item["end"]
        table = _BY_NAME.get(str(item.get("table")))
        if table is None:
            raise ValueError(f"no table {item.get('table')!r}")
        return table, _decode(table, item.get("row"))
    except (ValueError, TypeError) as exc:
        raise TransferError(
            f"{path} is damaged at line {number} ({exc}): nothing was restored"
        ) from None
