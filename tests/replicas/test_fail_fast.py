"""How fast a store on PostgreSQL gives up when the database goes away, in flight too.

A ``TcpProxy`` between the store and PostgreSQL cuts or freezes the connection at a chosen
moment: a request must then fail with ``StoreUnavailable`` (an Okta 503) within the
configured bounds, and the next one after the database returns must simply work.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from keyrotor.errors import StoreUnavailable
from keyrotor.storage import migrate
from keyrotor.storage.sql import (
    CONNECT_TIMEOUT,
    DEADLINE,
    STATEMENT_TIMEOUT,
    SqlStore,
    make_engine,
    normalise_url,
)
from keyrotor.storage.watchdog import Watchdog, exempt, guard
from tests.replicas.proxy import TcpProxy

pytestmark = pytest.mark.postgres


@pytest.fixture
def proxy(postgres_url: str) -> Iterator[TcpProxy]:
    real = make_url(postgres_url)
    with TcpProxy(real.host or "127.0.0.1", real.port or 5432) as made:
        yield made


@pytest.fixture
def store(postgres_url: str, proxy: TcpProxy) -> Iterator[SqlStore]:
    """A migrated store that reaches its database through ``proxy``."""
    engine = make_engine(postgres_url)
    migrate.upgrade(engine)
    engine.dispose()
    url = make_url(postgres_url).set(host="127.0.0.1", port=proxy.port)
    opened = SqlStore(url.render_as_string(hide_password=False))
    yield opened
    opened.close()


def sleep_in_transaction(store: SqlStore, seconds: float) -> None:
    with store.transaction() as tx:
        tx._c.execute(text("SELECT pg_sleep(:s)"), {"s": seconds})


def timed(call: Callable[[], object]) -> tuple[BaseException | None, float]:
    started = time.monotonic()
    try:
        call()
    except BaseException as exc:
        return exc, time.monotonic() - started
    return None, time.monotonic() - started


def later(seconds: float, action: Callable[[], None]) -> threading.Timer:
    timer = threading.Timer(seconds, action)
    timer.start()
    return timer


def test_a_query_in_flight_when_the_database_freezes_fails_at_the_deadline(
    store: SqlStore, proxy: TcpProxy
) -> None:
    """Frozen mid-query (no reset, no answer, ``statement_timeout`` cannot fire): the
    watchdog cuts the connection at the deadline; the store works again once restored."""
    store.check()
    later(0.3, proxy.freeze)
    error, elapsed = timed(lambda: sleep_in_transaction(store, 1))
    assert isinstance(error, StoreUnavailable), error
    assert DEADLINE - 0.5 < elapsed < DEADLINE + 1.5
    proxy.restore()
    store.check()


def test_a_query_in_flight_when_the_database_goes_down_fails_at_once(
    store: SqlStore, proxy: TcpProxy
) -> None:
    """Connections reset mid-query: ``StoreUnavailable`` at once, and fine after restore."""
    store.check()
    later(0.3, proxy.cut)
    error, elapsed = timed(lambda: sleep_in_transaction(store, 2))
    assert isinstance(error, StoreUnavailable), error
    assert elapsed < 1.5
    error, elapsed = timed(store.check)  # new connections are refused too
    assert isinstance(error, StoreUnavailable) and elapsed < 1.5
    proxy.restore()
    store.check()


def test_new_connections_to_a_frozen_database_give_up_after_the_connect_timeout(
    store: SqlStore, proxy: TcpProxy
) -> None:
    """Nothing pooled: opening a connection that never answers takes ``CONNECT_TIMEOUT``."""
    proxy.freeze()
    store.engine.dispose()
    error, elapsed = timed(store.check)
    assert isinstance(error, StoreUnavailable), error
    assert CONNECT_TIMEOUT - 0.5 < elapsed < CONNECT_TIMEOUT + 1.5
    proxy.restore()
    store.check()


def test_stale_pooled_connections_are_replaced_without_an_error(
    store: SqlStore, proxy: TcpProxy
) -> None:
    """After an outage the pool holds dead connections: the checkout ping drops them and
    the request goes through on a fresh one (nothing fails once the database is back)."""
    calls = [lambda: sleep_in_transaction(store, 0.2) for _ in range(5)]
    threads = [threading.Thread(target=c) for c in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert store.engine.pool.checkedin() >= 2  # type: ignore[attr-defined]
    proxy.cut()
    proxy.restore()
    for _ in range(5):
        store.check()


def test_a_long_lock_wait_ends_with_the_statement_timeout(
    store: SqlStore, postgres_url: str
) -> None:
    """A writer stuck behind a lock for longer than ``STATEMENT_TIMEOUT`` gets a 503."""
    holder = make_engine(postgres_url)
    try:
        with holder.connect() as conn, conn.begin():
            conn.execute(text("LOCK TABLE auth_servers IN ACCESS EXCLUSIVE MODE"))
            error, elapsed = timed(lambda: store.check())
        assert isinstance(error, StoreUnavailable), error
        assert STATEMENT_TIMEOUT - 0.5 < elapsed < STATEMENT_TIMEOUT + 1.5
    finally:
        holder.dispose()


# -- the watchdog itself, with a short limit ----------------------------------------------


@pytest.fixture
def watched(postgres_url: str) -> Iterator[tuple[Engine, Watchdog]]:
    """An engine whose connections may stay out of the pool 0.5 s, and its watchdog."""
    engine = create_engine(normalise_url(postgres_url))
    yield engine, guard(engine, 0.5)
    engine.dispose()


@pytest.fixture
def guarded(watched: tuple[Engine, Watchdog]) -> Engine:
    return watched[0]


def test_the_watchdog_cuts_a_connection_out_past_its_limit(guarded: Engine) -> None:
    """Out of the pool past the limit: the call in progress fails with a disconnect."""
    with guarded.connect() as conn:
        error, elapsed = timed(lambda: conn.execute(text("SELECT pg_sleep(3)")))
    assert isinstance(error, OperationalError) and error.connection_invalidated, error
    assert elapsed < 1.5
    with guarded.connect() as conn:  # the pool recovers
        assert conn.execute(text("SELECT 1")).scalar() == 1


def test_the_watchdog_spares_connections_back_in_time(guarded: Engine) -> None:
    """Returned before the limit, again and again: never cut, even when idle in the pool."""
    for _ in range(3):
        with guarded.connect() as conn:
            conn.execute(text("SELECT pg_sleep(0.2)"))
    time.sleep(0.8)
    with guarded.connect() as conn:
        assert conn.execute(text("SELECT 1")).scalar() == 1


def test_an_exempt_connection_has_no_deadline(guarded: Engine) -> None:
    """Migrations are exempt: they may rightly take longer than any request."""
    with guarded.connect() as conn:
        exempt(conn)
        conn.execute(text("SELECT pg_sleep(1)"))
    with guarded.connect() as conn:  # the exemption ended with that use
        error, _ = timed(lambda: conn.execute(text("SELECT pg_sleep(3)")))
    assert isinstance(error, OperationalError), error


def test_the_watchdog_thread_runs_only_while_connections_are_out(
    watched: tuple[Engine, Watchdog],
) -> None:
    """No connection out of the pool, no thread."""
    engine, watchdog = watched
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
        thread = watchdog._thread
        assert thread is not None and thread.is_alive()
    thread.join(1)
    assert not thread.is_alive() and watchdog._thread is None
