"""SQLite and PostgreSQL through SQLAlchemy Core: the same code, another URL.

Writers of one server are serialised: ``SELECT … FOR UPDATE`` in PostgreSQL; in SQLite
every write transaction starts with ``BEGIN IMMEDIATE`` (the database-wide write lock).
Errors that mean "the database is not there" become ``StoreUnavailable`` (an Okta 503);
a value the database cannot hold (a NUL in text on PostgreSQL, a number out of range: a
``DataError``) is the caller's, a 400 E0000001, never a 500.

Reads see one snapshot: a read transaction is ``REPEATABLE READ`` in PostgreSQL (SQLite's
deferred ``BEGIN`` gives the same). Writes stay ``READ COMMITTED``: after ``FOR UPDATE``
each statement sees what the writer before it committed.

PostgreSQL fails fast when the database goes away, in flight too: a connection takes at
most ``CONNECT_TIMEOUT`` to open, a request waits at most ``POOL_TIMEOUT`` for one, and a
connection out of the pool longer than ``DEADLINE`` is cut by a watchdog (``watchdog.py``).
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    and_,
    bindparam,
    case,
    create_engine,
    delete,
    event,
    exists,
    func,
    insert,
    inspect,
    null,
    or_,
    select,
    text,
    true,
    update,
)
from sqlalchemy.engine import RowMapping, make_url
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.pool import ConnectionPoolEntry

from keyrotor import audit
from keyrotor.apitokens import ApiToken
from keyrotor.crypto import UNBOUND
from keyrotor.errors import StoreUnavailable, ValidationFailed
from keyrotor.keys import KeyMaterial, KeyStatus, SigningKey
from keyrotor.servers import AuthorizationServer, IssuerMode, RotationMode, ServerStatus
from keyrotor.storage import migrate
from keyrotor.storage.base import RESEALED, Conflict, SealedKey
from keyrotor.storage.feed import Feed, Watcher, record
from keyrotor.storage.sql_audit import AuditRows
from keyrotor.storage.sql_encryption import EncryptionRows
from keyrotor.storage.sql_hooks import HookRows
from keyrotor.storage.sql_oauth import OAuthRows
from keyrotor.storage.tables import (
    UTCDateTime,
    api_tokens,
    key_pool,
    oauth_scopes,
    servers,
    signing_keys,
)
from keyrotor.storage.watchdog import guard

_WRITE = "keyrotor_write"
UNSTORABLE = "A value sent is not one the store can hold (a NUL character, say)."

# PostgreSQL: how long a request may wait on the database before it answers 503
CONNECT_TIMEOUT = 2  # seconds to open a connection (the least libpq accepts)
POOL_TIMEOUT = 2  # seconds to wait for a free connection of the pool
STATEMENT_TIMEOUT = 3  # seconds, enforced by PostgreSQL (a long lock wait, say)
DEADLINE = 4  # seconds a connection may stay out of the pool, enforced here


def normalise_url(url: str) -> str:
    """``postgresql://`` means psycopg 3 here (SQLAlchemy would pick psycopg2)."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def make_engine(url: str) -> Engine:
    parsed = make_url(normalise_url(url))
    if parsed.get_backend_name() == "sqlite":
        _create_private(parsed.database)
        engine = create_engine(parsed, connect_args={"timeout": 30, "check_same_thread": False})
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if parsed.get_backend_name() != "postgresql":
        raise ValueError(f"unsupported database URL {parsed.render_as_string()!r}")
    engine = create_engine(
        parsed,
        pool_size=10,
        max_overflow=10,
        pool_timeout=POOL_TIMEOUT,
        connect_args={
            "connect_timeout": CONNECT_TIMEOUT,
            "options": f"-c statement_timeout={STATEMENT_TIMEOUT * 1000}",
        },
    )
    guard(engine, DEADLINE)  # pings on checkout, like pool_pre_ping, but bounded
    return engine


def _create_private(database: str | None) -> None:
    """Make a new SQLite file readable by its owner only (0600) before SQLite opens it:
    SQLite gives the database's -wal and -shm files the mode of the database file."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    with contextlib.suppress(OSError):  # it exists, or cannot be made: SQLite says why
        os.close(os.open(database, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def _sqlite_connect(dbapi_conn: Any, record: ConnectionPoolEntry) -> None:
    dbapi_conn.isolation_level = None  # SQLAlchemy's "begin" event issues BEGIN itself
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    write = conn.get_execution_options().get(_WRITE, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


# the statements of a rotation, built once (each call then only binds its values)
_SERVER = select(servers).where(servers.c.id == bindparam("id"))
_SERVER_FOR_UPDATE = _SERVER.with_for_update()
_UPDATE_SERVER = update(servers).where(servers.c.id == bindparam("server_id"))
_ALL_KEYS = select(signing_keys).where(signing_keys.c.server_id == bindparam("server_id"))
_EXPIRED = signing_keys.c.status == "EXPIRED"
_NEWEST_EXPIRED = select(func.max(signing_keys.c.generation)).where(
    signing_keys.c.server_id == bindparam("server_id"), _EXPIRED
)
_KEYS = _ALL_KEYS.where(
    or_(
        ~_EXPIRED,
        signing_keys.c.expired >= bindparam("since", type_=UTCDateTime),
        signing_keys.c.generation == _NEWEST_EXPIRED.scalar_subquery(),
    )
)
_UPDATE_KEY = update(signing_keys).where(signing_keys.c.kid == bindparam("key_kid"))
_POOLED = (key_pool.c.kid, key_pool.c.n, key_pool.c.e, key_pool.c.sealed_private)
_OLDEST_POOLED = select(key_pool.c.kid).order_by(key_pool.c.created).limit(1)
_TAKE_POOLED = (
    delete(key_pool).where(key_pool.c.kid == _OLDEST_POOLED.scalar_subquery()).returning(*_POOLED)
)
_SEALED = (signing_keys.c.kid, signing_keys.c.server_id, signing_keys.c.sealed_private)
_SEALED_POOLED = (key_pool.c.kid, null().label("server_id"), key_pool.c.sealed_private)
_TAKE_POOLED_SKIP_LOCKED = (
    delete(key_pool)
    .where(key_pool.c.kid == _OLDEST_POOLED.with_for_update(skip_locked=True).scalar_subquery())
    .returning(*_POOLED)
)
# API tokens: a later last use replaces an earlier one, never the reverse
_NOTE_TOKEN_USE = (
    update(api_tokens)
    .where(
        api_tokens.c.id == bindparam("token_id"),
        or_(
            api_tokens.c.last_used.is_(None),
            api_tokens.c.last_used < bindparam("at", type_=UTCDateTime),
        ),
    )
    .values(last_used=bindparam("at", type_=UTCDateTime))
)


class SqlTransaction(OAuthRows, AuditRows, EncryptionRows, HookRows):
    def __init__(self, conn: Connection, *, postgres: bool) -> None:
        self._c = conn
        self._postgres = postgres
        self.touched: set[str] = set()  # the subjects this transaction changed

    def get_server(self, server_id: str, *, lock: bool = False) -> AuthorizationServer | None:
        query = _SERVER_FOR_UPDATE if lock and self._postgres else _SERVER
        row = self._c.execute(query, {"id": server_id}).mappings().first()
        return _server(row) if row else None

    def list_servers(
        self, q: str | None, limit: int, after: int | None
    ) -> list[tuple[int, AuthorizationServer]]:
        query = select(servers).order_by(servers.c.seq).limit(limit)
        if after is not None:
            query = query.where(servers.c.seq > after)
        if q:
            pattern = f"%{_escape_like(q.lower())}%"
            query = query.where(
                or_(
                    servers.c.name.ilike(pattern, escape="\\"),
                    servers.c.audiences.ilike(pattern, escape="\\"),
                )
            )
        return [(row["seq"], _server(row)) for row in self._c.execute(query).mappings()]

    def insert_server(self, server: AuthorizationServer) -> None:
        self.touched.add(f"s:{server.id}")
        self._c.execute(insert(servers).values(**_server_row(server)))

    def update_server(self, server: AuthorizationServer) -> None:
        self.touched.add(f"s:{server.id}")
        self._c.execute(_UPDATE_SERVER, {**_server_row(server), "server_id": server.id})

    def delete_server(self, server_id: str) -> None:
        self.touched.add(f"s:{server_id}")
        self._c.execute(delete(signing_keys).where(signing_keys.c.server_id == server_id))
        self._c.execute(delete(oauth_scopes).where(oauth_scopes.c.server_id == server_id))
        self._c.execute(delete(servers).where(servers.c.id == server_id))

    def keys(self, server_id: str, *, since: datetime | None = None) -> list[SigningKey]:
        query, params = _KEYS, {"server_id": server_id, "since": since}
        if since is None:
            query = _ALL_KEYS
        return [_key(row) for row in self._c.execute(query, params).mappings()]

    def insert_keys(self, keys: Iterable[SigningKey]) -> None:
        rows = [_key_row(k) for k in keys]
        self.touched.update(f"s:{row['server_id']}" for row in rows)
        if rows:
            self._c.execute(insert(signing_keys), rows)

    def update_keys(self, keys: Iterable[SigningKey]) -> None:
        # one statement per key, in the order given: the old ACTIVE key must leave
        # ACTIVE before the new one enters it (the unique index checks each statement)
        for key in keys:
            self.touched.add(f"s:{key.server_id}")
            values = {"status": key.status.value, "activated": key.activated}
            self._c.execute(_UPDATE_KEY, {**values, "expired": key.expired, "key_kid": key.kid})

    # -- API tokens ------------------------------------------------------------------------

    def insert_token(self, token: ApiToken) -> None:
        self.touched.add("t")
        self._c.execute(
            insert(api_tokens).values(
                id=token.id,
                name=token.name,
                digest=token.digest,
                scopes=" ".join(token.scopes),
                created=token.created,
                expires=token.expires,
                revoked=token.revoked,
                last_used=token.last_used,
            )
        )

    def find_token(self, digest: str) -> ApiToken | None:
        row = self._c.execute(select(api_tokens).where(api_tokens.c.digest == digest)).first()
        return _token(row._mapping) if row else None

    def get_token(self, token_id: str) -> ApiToken | None:
        row = self._c.execute(select(api_tokens).where(api_tokens.c.id == token_id)).first()
        return _token(row._mapping) if row else None

    def list_tokens(self) -> list[ApiToken]:
        query = select(api_tokens).order_by(api_tokens.c.created, api_tokens.c.id)
        return [_token(row) for row in self._c.execute(query).mappings()]

    def revoke_token(self, token_id: str, at: datetime) -> bool:
        self.touched.add("t")
        done = self._c.execute(
            update(api_tokens)
            .where(api_tokens.c.id == token_id, api_tokens.c.revoked.is_(None))
            .values(revoked=at)
        )
        return bool(done.rowcount)

    def note_token_uses(self, uses: Mapping[str, datetime]) -> None:
        if uses:  # no subject: a last use changes nothing that authentication reads
            self._c.execute(_NOTE_TOKEN_USE, [{"token_id": i, "at": at} for i, at in uses.items()])

    def due_servers(self, now: datetime, lead: timedelta | None, limit: int) -> list[str]:
        """Servers with a lifecycle step due: an AUTO rotation, or a NEXT key wanted."""
        rotation = and_(servers.c.rotation_mode == "AUTO", servers.c.next_rotation <= now)
        no_next = ~exists().where(
            signing_keys.c.server_id == servers.c.id, signing_keys.c.status == "NEXT"
        )
        wanted = (
            servers.c.next_rotation.is_(None) | (servers.c.next_rotation <= now + lead)
            if lead is not None
            else true()
        )
        query = (
            select(servers.c.id)
            .where(or_(rotation, and_(no_next, wanted)))
            .order_by(case((rotation, 0), else_=1), servers.c.seq)  # rotations first
            .limit(limit)
        )
        return list(self._c.execute(query).scalars())

    def take_pooled(self) -> KeyMaterial | None:
        """One pre-generated key, removed from the pool in this transaction (a rollback
        puts it back; ``SKIP LOCKED`` hands concurrent takers different keys)."""
        query = _TAKE_POOLED_SKIP_LOCKED if self._postgres else _TAKE_POOLED
        row = self._c.execute(query).mappings().first()
        if row is None:
            return None
        return KeyMaterial(row["kid"], row["n"], row["e"], bytes(row["sealed_private"]))

    def add_pooled(self, material: KeyMaterial, now: datetime) -> None:
        self._c.execute(
            insert(key_pool).values(
                kid=material.kid,
                n=material.n,
                e=material.e,
                sealed_private=material.sealed_private,
                created=now,
            )
        )

    def count_pooled(self) -> int:
        return int(self._c.execute(select(func.count()).select_from(key_pool)).scalar() or 0)

    # -- key-encryption keys (keyrotor.keks): checks and rewrap ---------------------------
    # Only the sealed_private column is ever written here, and no server subject is named:
    # a re-sealed key is the same key, so no replica has anything to reload.

    def sealed_sample(self, limit: int) -> list[SealedKey]:
        """Through the partial indexes (one ACTIVE, one NEXT per server): cheap at any size."""
        if not inspect(self._c).has_table(signing_keys.name):
            return []  # a new database, its schema not made yet
        found: list[SealedKey] = []
        for status in ("ACTIVE", "NEXT"):
            query = (
                select(*_SEALED)
                .where(text(f"status = '{status}'"))  # a literal: the partial index applies
                .order_by(signing_keys.c.server_id)
                .limit(limit)
            )
            found += [_sealed(row) for row in self._c.execute(query).mappings()]
        if inspect(self._c).has_table(key_pool.name):
            newest = select(*_SEALED_POOLED).order_by(key_pool.c.created.desc()).limit(1)
            found += [_sealed(row) for row in self._c.execute(newest).mappings()]
        return found

    def active_kids(self) -> list[str]:
        query = select(signing_keys.c.kid).where(text("status = 'ACTIVE'"))
        return list(self._c.execute(query).scalars())

    def sealed_keys(self, kids: Sequence[str]) -> list[SealedKey]:
        query = select(*_SEALED).where(signing_keys.c.kid.in_(list(kids)))
        return [_sealed(row) for row in self._c.execute(query).mappings()]

    def sealed_page(self, pooled: bool, after: str | None, limit: int) -> list[SealedKey]:
        table, columns = (key_pool, _SEALED_POOLED) if pooled else (signing_keys, _SEALED)
        query = select(*columns).order_by(table.c.kid).limit(limit)
        if after is not None:
            query = query.where(table.c.kid > after)
        return [_sealed(row) for row in self._c.execute(query).mappings()]

    def reseal(self, key: SealedKey, sealed_private: bytes) -> bool:
        table = key_pool if key.server_id is None else signing_keys
        done = self._c.execute(
            update(table)
            .where(table.c.kid == key.kid, table.c.sealed_private == key.sealed_private)
            .values(sealed_private=sealed_private)
        )
        return bool(done.rowcount == 1)

    def note_resealed(self) -> None:
        self.touched.add(RESEALED)

    def unbound_count(self) -> int:
        first = func.substr(signing_keys.c.sealed_private, 1, 1)
        query = select(func.count()).select_from(signing_keys).where(first == UNBOUND)
        return int(self._c.execute(query).scalar_one())


class SqlStore:
    def __init__(self, url: str) -> None:
        self.engine = make_engine(url)
        self._postgres = self.engine.dialect.name == "postgresql"
        self.feed = Feed()
        self._watcher = Watcher(self.engine, self.feed)
        # SQLite has one writer at a time: this process's writers queue here, in order,
        # instead of polling the database lock with SQLite's growing sleeps
        self._writer = threading.Lock() if not self._postgres else contextlib.nullcontext()
        self.errors: dict[str, int] = {}  # failures by kind, for /metrics
        self._errors_lock = threading.Lock()

    @contextmanager
    def transaction(self, *, write: bool = False) -> Iterator[SqlTransaction]:
        with self._writer if write else contextlib.nullcontext(), self._transaction(write) as tx:
            yield tx

    @contextmanager
    def _transaction(self, write: bool) -> Iterator[SqlTransaction]:
        try:
            with self.engine.connect() as conn:
                options: dict[str, Any] = {_WRITE: write}
                if self._postgres and not write:
                    options["isolation_level"] = "REPEATABLE READ"
                conn = conn.execution_options(**options)
                with conn.begin():
                    tx = SqlTransaction(conn, postgres=self._postgres)
                    yield tx
                    tx.flush_events()  # the audit record: last, see sql_audit.py
                    changed = sorted(tx.touched)
                    if changed:
                        record(conn, self._postgres, changed)
            if changed:  # committed: this process's caches drop it before anyone is answered
                self.feed.publish(changed)
            audit.log_committed(tx.events)
        except IntegrityError as exc:
            raise Conflict(str(exc.orig)) from exc
        except PoolTimeout as exc:
            self._failed("pool_timeout")
            raise StoreUnavailable() from exc
        except (DataError, UnicodeEncodeError) as exc:  # a value the database cannot hold
            raise ValidationFailed("value", UNSTORABLE) from exc
        except DBAPIError as exc:
            if exc.connection_invalidated or isinstance(exc, OperationalError):
                self._failed("unavailable")
                raise StoreUnavailable() from exc
            self._failed("database")
            raise

    def _failed(self, kind: str) -> None:
        with self._errors_lock:
            self.errors[kind] = self.errors.get(kind, 0) + 1

    def check(self) -> None:
        with self.transaction() as tx:
            tx.get_server("")

    def migrate(self) -> None:
        migrate.upgrade(self.engine)

    def is_migrated(self) -> bool:
        try:
            return migrate.is_current(self.engine)
        except DBAPIError as exc:
            raise StoreUnavailable() from exc

    def watch(self) -> None:
        """Start hearing of other processes' commits (``feed`` is live from then on)."""
        self._watcher.start()

    def close(self) -> None:
        self._watcher.stop()
        self.engine.dispose()


def _sealed(row: RowMapping) -> SealedKey:
    return SealedKey(row["kid"], row["server_id"], bytes(row["sealed_private"]))


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _server_row(s: AuthorizationServer) -> dict[str, Any]:
    return {
        "id": s.id,
        "name": s.name,
        "description": s.description,
        "audiences": json.dumps(list(s.audiences), ensure_ascii=False),  # `q` searches it
        "issuer_mode": s.issuer_mode.value,
        "status": s.status.value,
        "rotation_mode": s.rotation_mode.value,
        "kid": s.kid,
        "last_rotated": s.last_rotated,
        "next_rotation": s.next_rotation,
        "created": s.created,
        "last_updated": s.last_updated,
        "version": s.version,
        "token_encryption": s.encryption_alg,
    }


def _server(row: RowMapping) -> AuthorizationServer:
    return AuthorizationServer(
        id=row["id"],
        name=row["name"],
        description=row["description"],
        audiences=tuple(json.loads(row["audiences"])),
        issuer_mode=IssuerMode(row["issuer_mode"]),
        status=ServerStatus(row["status"]),
        rotation_mode=RotationMode(row["rotation_mode"]),
        kid=row["kid"],
        last_rotated=row["last_rotated"],
        next_rotation=row["next_rotation"],
        created=row["created"],
        last_updated=row["last_updated"],
        version=row["version"],
        encryption_alg=row["token_encryption"],
    )


def _key_row(k: SigningKey) -> dict[str, Any]:
    return {
        "kid": k.kid,
        "server_id": k.server_id,
        "status": k.status.value,
        "n": k.n,
        "e": k.e,
        "sealed_private": k.sealed_private,
        "generation": k.generation,
        "created": k.created,
        "activated": k.activated,
        "expired": k.expired,
    }


def _key(row: RowMapping) -> SigningKey:
    return SigningKey(
        kid=row["kid"],
        server_id=row["server_id"],
        status=KeyStatus(row["status"]),
        n=row["n"],
        e=row["e"],
        sealed_private=bytes(row["sealed_private"]),
        generation=row["generation"],
        created=row["created"],
        activated=row["activated"],
        expired=row["expired"],
    )


def _token(row: RowMapping) -> ApiToken:
    return ApiToken(
        id=row["id"],
        name=row["name"],
        digest=row["digest"],
        scopes=tuple(row["scopes"].split()),
        created=row["created"],
        expires=row["expires"],
        revoked=row["revoked"],
        last_used=row["last_used"],
    )
