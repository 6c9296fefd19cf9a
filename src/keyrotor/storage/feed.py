"""The change feed: how every process learns what the store's write transactions changed.

A write transaction names what it touched as subjects (see ``keyrotor.cache``). After it
commits, the store publishes them to this process's subscribers at once, before the
caller is answered. Other processes learn of it from a watcher thread:

- PostgreSQL: the transaction sends ``NOTIFY keyrotor_changes`` (delivered at commit);
  every replica ``LISTEN``s on a connection of its own. Delivery takes milliseconds.
- SQLite: the transaction appends to the ``store_changes`` table; every process polls it
  every ``POLL_INTERVAL`` seconds (another ``serve`` worker, or a CLI command).

The feed is ``live`` only while its watcher has heard from the database recently. When it
is not (the listener lost its connection, the database froze), caches bypass themselves
and every request reads the store; when the watcher is back, it invalidates everything
before the feed is live again, so nothing missed meanwhile is ever served.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, Engine, delete, func, insert, select, text

from keyrotor.cache import EVERYTHING
from keyrotor.storage.tables import store_changes

log = logging.getLogger("keyrotor.feed")

CHANNEL = "keyrotor_changes"
POLL_INTERVAL = 0.1  # seconds between SQLite polls
HEARTBEAT = 0.5  # seconds between PostgreSQL pings when nothing is heard
STALE_AFTER = 5.0  # seconds without word from the database before the feed is not live
KEEP_CHANGES = timedelta(hours=1)  # SQLite change rows older than this are pruned
_PAYLOAD_LIMIT = 7000  # bytes; PostgreSQL refuses NOTIFY payloads of 8000 or more

Subscriber = Callable[[list[str]], None]


class Feed:
    """Subscribers of one store's changes, and whether they can trust what they cached."""

    def __init__(self, *, always_live: bool = False) -> None:
        self._subscribers: list[Subscriber] = []
        self._always_live = always_live
        self._heard = 0.0  # monotonic time the watcher last heard from the database
        self._up = False

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.append(subscriber)

    def publish(self, subjects: list[str]) -> None:
        for subscriber in self._subscribers:
            subscriber(subjects)

    @property
    def live(self) -> bool:
        if self._always_live:
            return True
        return self._up and time.monotonic() - self._heard < STALE_AFTER

    def heard(self) -> None:
        self._heard = time.monotonic()

    def up(self) -> None:
        """The watcher (re)connected: forget everything cached, then trust the feed."""
        self.publish([EVERYTHING])
        self.heard()
        self._up = True

    def down(self) -> None:
        self._up = False
        self.publish([EVERYTHING])


class Watcher:
    """A daemon thread that feeds other processes' changes into ``feed``."""

    def __init__(self, engine: Engine, feed: Feed) -> None:
        self._engine = engine
        self._feed = feed
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="keyrotor-feed", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._feed.down()

    def _run(self) -> None:
        watch = self._listen if self._engine.dialect.name == "postgresql" else self._poll
        while not self._stop.is_set():
            try:
                watch()
            except Exception as exc:  # the database went away: retry, caches off meanwhile
                reason = type(exc).__name__
                log.warning("change feed interrupted (%s); caches are off until it is back", reason)
            self._feed.down()
            self._stop.wait(1.0)

    def _poll(self) -> None:
        """SQLite: read the change rows other processes appended."""
        with self._engine.connect() as conn:
            last = conn.execute(select(func.max(store_changes.c.seq))).scalar() or 0
            conn.rollback()
            self._feed.up()
            pruned = time.monotonic()
            while not self._stop.wait(POLL_INTERVAL):
                rows = conn.execute(
                    select(store_changes.c.seq, store_changes.c.subject)
                    .where(store_changes.c.seq > last)
                    .order_by(store_changes.c.seq)
                ).all()
                conn.rollback()  # end the read transaction: the next poll sees new commits
                self._feed.heard()
                if rows:
                    last = rows[-1][0]
                    self._feed.publish(sorted({row[1] for row in rows}))
                if time.monotonic() - pruned > 60:
                    pruned = time.monotonic()
                    prune_changes(self._engine)

    def _listen(self) -> None:
        """PostgreSQL: LISTEN on a connection of its own, with a heartbeat."""
        import psycopg

        url = self._engine.url.set(drivername="postgresql")
        conninfo = url.render_as_string(hide_password=False)
        with psycopg.connect(
            conninfo,
            autocommit=True,
            connect_timeout=2,
            keepalives=1,
            keepalives_idle=5,
            keepalives_interval=2,
            keepalives_count=2,
        ) as conn:
            conn.execute(f"LISTEN {CHANNEL}")
            self._feed.up()
            while not self._stop.is_set():
                for note in conn.notifies(timeout=HEARTBEAT):
                    self._feed.publish(note.payload.split())  # at once, one by one
                    self._feed.heard()
                    if self._stop.is_set():
                        return
                conn.execute("SELECT 1")  # a frozen database stops this: the feed goes stale
                self._feed.heard()


def record(conn: Connection, postgres: bool, subjects: list[str]) -> None:
    """Inside a write transaction: tell the other processes what it changed."""
    if postgres:
        notify = text("SELECT pg_notify(:channel, :payload)")
        for payload in _payloads(subjects):
            conn.execute(notify, {"channel": CHANNEL, "payload": payload})
        return
    now = datetime.now(UTC)
    conn.execute(insert(store_changes), [{"subject": s, "at": now} for s in subjects])


def prune_changes(engine: Engine) -> None:
    with contextlib.suppress(Exception), engine.begin() as conn:
        old = store_changes.c.at < datetime.now(UTC) - KEEP_CHANGES
        conn.execute(delete(store_changes).where(old))


def _payloads(subjects: list[str]) -> list[str]:
    payloads, current = [], ""
    for subject in subjects:
        if current and len(current) + len(subject) + 1 > _PAYLOAD_LIMIT:
            payloads.append(current)
            current = ""
        current = f"{current} {subject}" if current else subject
    if current:
        payloads.append(current)
    return payloads
