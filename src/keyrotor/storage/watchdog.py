"""PostgreSQL connections that fail fast: a ping on checkout and a deadline while in use.

libpq has no client-side query timeout. A query sent to a database that stopped answering
(a network partition, a frozen host or proxy) waits as long as TCP lets it, which can be
many minutes, and ``statement_timeout`` is enforced by that same silent server. So the
``Watchdog`` notes when each connection leaves the pool; one still out after ``limit``
seconds has its socket shut down, which fails the waiting call at once with a disconnect
error (a ``StoreUnavailable``, an Okta 503, for the request) and the pool drops it.

``guard(engine, limit)`` wires it into an engine's pool, together with a ping on checkout
(what ``pool_pre_ping`` does, but under the deadline: SQLAlchemy's own pre-ping runs before
any pool event, where nothing could bound it). The watchdog holds a duplicate of each
watched socket's descriptor, so it never shuts down another socket that reused the number;
its thread runs only while some connection is out of the pool.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from typing import Any

from sqlalchemy import Connection, Engine, event
from sqlalchemy.exc import InvalidatePoolError
from sqlalchemy.pool import ConnectionPoolEntry

_FRESH = "keyrotor.fresh"
_NO_DEADLINE = "keyrotor.no_deadline"


def guard(engine: Engine, limit: float) -> Watchdog:
    """Ping each connection as it leaves the pool, and shut down any out for over ``limit``."""
    watchdog = Watchdog(limit)

    def connected(dbapi_conn: Any, record: ConnectionPoolEntry) -> None:
        record.info[_FRESH] = True

    def checkout(dbapi_conn: Any, record: ConnectionPoolEntry, proxy: Any) -> None:
        try:
            watchdog.watch(record, dbapi_conn.fileno())
            if not record.info.pop(_FRESH, False):  # a fresh one just answered the handshake
                engine.dialect.do_ping(dbapi_conn)
        except Exception as exc:
            # stale (the database went away since): drop every pooled connection, retry fresh
            raise InvalidatePoolError(str(exc)) from exc

    def checkin(dbapi_conn: Any, record: ConnectionPoolEntry) -> None:
        record.info.pop(_NO_DEADLINE, None)
        watchdog.release(record)

    event.listen(engine, "connect", connected)
    event.listen(engine, "checkout", checkout)
    event.listen(engine, "checkin", checkin)
    return watchdog


def exempt(conn: Connection) -> None:
    """No deadline for this use of ``conn`` (a migration may rightly take long)."""
    conn.connection.info[_NO_DEADLINE] = True


class Watchdog:
    """Shuts down the socket of any connection out of the pool for longer than ``limit``."""

    def __init__(self, limit: float, tick: float = 0.1) -> None:
        self.limit = limit
        self._tick = tick
        self._watched: dict[ConnectionPoolEntry, tuple[float, socket.socket]] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def watch(self, owner: ConnectionPoolEntry, fileno: int) -> None:
        """``owner`` (a pooled connection) uses the socket ``fileno`` from now on."""
        sock = socket.socket(fileno=os.dup(fileno))
        with self._lock:
            old = self._watched.pop(owner, None)
            self._watched[owner] = (time.monotonic() + self.limit, sock)
            self._start()
        if old is not None:
            old[1].close()

    def release(self, owner: ConnectionPoolEntry) -> None:
        """``owner`` is back in the pool (or gone)."""
        with self._lock:
            found = self._watched.pop(owner, None)
        if found is not None:
            found[1].close()

    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="db-watchdog", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            time.sleep(self._tick)
            now = time.monotonic()
            with self._lock:
                late = [
                    owner
                    for owner, (deadline, _) in self._watched.items()
                    if deadline <= now and not owner.info.get(_NO_DEADLINE)
                ]
                expired = [self._watched.pop(owner)[1] for owner in late]
                idle = not self._watched
                if idle:
                    self._thread = None  # the next watch() starts a new thread
            for sock in expired:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            if idle:
                return
