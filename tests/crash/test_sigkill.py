"""Crash safety with real processes: ``keyrotor serve`` is SIGKILLed at random moments while
several clients create servers, rotate keys, register clients and get tokens; then it is
restarted on the same store (and the same KEK), on SQLite and on PostgreSQL.

After every kill, on the store the dead process left: the database passes its own checks
(SQLite ``PRAGMA integrity_check``, PostgreSQL ``amcheck``); every server has one ACTIVE key
(the one its row names) and at most one NEXT; no key went back to an earlier status or
changed its ``n``; every kid an acknowledged rotation answered is stored, at least as far
along as answered; every acknowledged server and client exists; each server holds as many
EXPIRED keys as rotations were acknowledged, plus at most the unanswered ones; no pooled
key is also a server's key; no private key is in the clear in the database's bytes. After
every restart: it starts, serves each server's JWKS, the tokens issued before the kill
still verify against it, and every acknowledged client gets a token.

Some starts are killed too (the first one always: SQLite migrates there; on PostgreSQL
``keyrotor db upgrade`` is killed first). Kill moments and the operations each client
picks come from one seeded RNG; on failure the seed is in the report. A second test kills
``serve --workers 2``: its workers must stop with it.

    KEYROTOR_CRASH_CYCLES=50 pytest tests/crash              # a longer run (default 5)
    KEYROTOR_CRASH_SEED=1234 pytest tests/crash              # the same kill moments again
"""

from __future__ import annotations

import contextlib
import os
import random
import secrets
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import jwt
import pytest
from sqlalchemy import create_engine, inspect, select, text

from keyrotor.crypto import encode_kek, new_kek
from keyrotor.storage.sql import normalise_url
from keyrotor.storage.tables import key_pool, oauth_clients, servers, signing_keys
from tests.conftest import ADMIN_TOKEN, ServerProcess, server_env
from tests.crash.stream import ORG_JWKS, SCOPE, SCOPES, Ledger, Stream, kid_of, request_token
from tests.replicas.cluster import REPLICA_ARGS, db_upgrade
from tests.replicas.load import JWKS, Load
from tests.replicas.support import stored_keys

pytestmark = pytest.mark.e2e

CYCLES_ENV, SEED_ENV = "KEYROTOR_CRASH_CYCLES", "KEYROTOR_CRASH_SEED"
CYCLES = int(os.environ.get(CYCLES_ENV) or 5)
# a small pool: rotations take pooled keys and, once it is empty, generate their own
ARGS = (*REPLICA_ARGS, "--key-pool-size", "3")
RUN_FOR = (0.2, 2.0)  # seconds of load before a kill
START_KILL = (0.1, 2.5)  # seconds after launch that a start is killed (ready or not)
KILL_A_RESTART = 0.3  # the chance that a restart is killed too
RECENT_TOKENS = 500  # the newest tokens are verified after each restart (long runs stay linear)
# private keys in the clear: PEM, PKCS#8 DER of an RSA key, a private JWK's members
CLEAR = (
    b"-----BEGIN",
    b"PRIVATE KEY",
    b"\x02\x01\x000\r\x06\t*\x86H\x86\xf7\r\x01\x01\x01",
    b'"qi"',
)


# PostgreSQL's checks (amcheck): the B-tree indexes, then every table's pages
BTREE_INDEXES = text(
    "SELECT c.oid FROM pg_class c JOIN pg_am a ON a.oid = c.relam "
    "WHERE c.relkind = 'i' AND a.amname = 'btree' AND c.relnamespace = 'public'::regnamespace"
)
HEAP_PROBLEMS = text(
    "SELECT c.relname, v.msg FROM pg_class c, verify_heapam(c.oid) v "
    "WHERE c.relkind = 'r' AND c.relnamespace = 'public'::regnamespace"
)
# PostgreSQL: the files of this database's tables, TOAST tables and indexes
RELATION_FILES = text(
    "SELECT pg_relation_filepath(c.oid) FROM pg_class c WHERE c.relkind IN ('r', 't', 'i') "
    "AND c.relnamespace IN ('public'::regnamespace, 'pg_toast'::regnamespace) "
    "AND pg_relation_filepath(c.oid) IS NOT NULL"
)


@dataclass(frozen=True)
class Database:
    url: str
    file: Path | None  # SQLite: the database file (its -wal and -shm sit beside it)

    @property
    def postgres(self) -> bool:
        return self.file is None

    @property
    def kind(self) -> str:
        return "postgresql" if self.postgres else "sqlite"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Database:
    if request.param == "sqlite":
        file = tmp_path / "keyrotor.db"
        return Database(f"sqlite:///{file}", file)
    return Database(str(request.getfixturevalue("postgres_url")), None)


def test_acknowledged_writes_survive_sigkill_and_restart(
    database: Database, tmp_path: Path
) -> None:
    seed = int(os.environ.get(SEED_ENV) or secrets.randbits(32))
    print(f"{SEED_ENV}={seed} {CYCLES_ENV}={CYCLES}")
    try:
        _run(database, tmp_path, seed)
    except BaseException as exc:
        again = f"{SEED_ENV}={seed} {CYCLES_ENV}={CYCLES} pytest {__file__} -k {database.kind}"
        exc.add_note(f"reproduce: {again}")
        raise


def _run(db: Database, tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    env = server_env(KEYROTOR_KEK=encode_kek(new_kek()))  # one KEK across every restart
    server = ServerProcess(db.url, env, args=ARGS, log=tmp_path / "serve.log")
    ledger = Ledger()
    try:
        if db.postgres:  # an upgrade killed half-way, then run to the end
            _kill_upgrade(db, rng.uniform(*START_KILL), tmp_path / "upgrade.log")
            db_upgrade(db.url)
        _kill_during_start(server, rng.uniform(*START_KILL))
        _check_store(db, ledger, "after a killed first start")
        server.start()
        _prepare(server, ledger)
        for cycle in range(1, CYCLES + 1):
            where = f"cycle {cycle}"
            stream = Stream(server.url, ledger, f"{seed}/{cycle}").start()
            readers = Load([server.url], "default", ADMIN_TOKEN)
            readers.readers(1)  # live checks of the answers (load.py)
            time.sleep(rng.uniform(*RUN_FOR))
            _sigkill(server)
            stream.stop()
            readers.finish()
            assert not readers.violations, (where, readers.violations[:5])
            odd = [
                (o.status, o.body[:300]) for o in readers.outcomes if o.status not in (200, None)
            ]
            assert not odd, (where, odd[:5])
            _check_clear(db, server, where)
            _check_store(db, ledger, where)
            if rng.random() < KILL_A_RESTART:
                _kill_during_start(server, rng.uniform(*START_KILL))
                _check_store(db, ledger, f"{where}, after a killed restart")
            server.start()
            _check_serving(server, db, ledger, where)
    finally:
        server.stop()
    _check_clear(db, server, "after the last stop")
    _check_store(db, ledger, "after the last stop")
    assert "Traceback" not in server.output(), server.output()[-3000:]
    answered = {s for s in ledger.statuses if s is not None}
    assert answered <= {200, 201}, (ledger.statuses, ledger.problems[:5])
    assert sum(ledger.rotated.values()) >= CYCLES, ledger.rotated
    print(
        f"{CYCLES} kills: {sum(ledger.rotated.values())} rotations, {len(ledger.servers)} "
        f"servers, {len(ledger.clients)} clients, {len(ledger.tokens)} tokens acknowledged; "
        f"{sum(ledger.unanswered.values())} rotations unanswered"
    )


def test_a_killed_supervisor_leaves_no_worker_serving(tmp_path: Path) -> None:
    """``serve --workers 2`` SIGKILLed under load: its workers stop too, so none of them
    keeps answering on the port beside the next start; that start serves the same store."""
    db = Database(f"sqlite:///{tmp_path / 'keyrotor.db'}", tmp_path / "keyrotor.db")
    env = server_env(KEYROTOR_KEK=encode_kek(new_kek()))
    args = (*ARGS, "--workers", "2")
    server = ServerProcess(db.url, env, args=args, log=tmp_path / "serve.log")
    ledger = Ledger()
    children: list[int] = []
    try:
        server.start()
        _prepare(server, ledger)
        stream = Stream(server.url, ledger, "workers").start()
        time.sleep(1.0)
        assert server.process is not None
        children += _children(server.process.pid)
        _sigkill(server)
        stream.stop()
        assert len(children) >= 2, children  # the workers (and multiprocessing's helper)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and any(_alive(pid) for pid in children):
            time.sleep(0.1)
        left = [pid for pid in children if _alive(pid)]
        assert not left, f"workers still running after their supervisor was killed: {left}"
        with pytest.raises(httpx.ConnectError):
            httpx.get(server.url + "/healthz", timeout=5)
        _check_store(db, ledger, "after the supervisor was killed")
        server.start()
        _check_serving(server, db, ledger, "after the restart")
    finally:
        server.stop()
        for pid in filter(_alive, children):  # none, unless the test failed: no orphans
            os.kill(pid, signal.SIGKILL)


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (Linux ``/proc``)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    """Running (a zombie whose new parent does not reap it counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


# -- killing ------------------------------------------------------------------------------


def _sigkill(server: ServerProcess) -> None:
    assert server.process is not None and server.process.poll() is None, server.output()
    server.process.kill()
    server.process.wait(10)


def _kill_during_start(server: ServerProcess, delay: float) -> None:
    """Launch ``server`` and SIGKILL it ``delay`` seconds later, whether it is ready or not."""
    server.process = None
    failed: list[BaseException] = []

    def start() -> None:
        try:
            server.start()
        except RuntimeError as exc:  # killed before it was ready: expected
            failed.append(exc)

    thread = threading.Thread(target=start)
    thread.start()
    while server.process is None:
        time.sleep(0.005)
    time.sleep(delay)
    server.process.kill()
    server.process.wait(10)
    thread.join(30)
    for exc in failed:  # only a kill may have stopped it
        assert "exited" in str(exc) and "Traceback" not in str(exc), exc


def _kill_upgrade(db: Database, delay: float, log: Path) -> None:
    command = [sys.executable, "-m", "keyrotor", "db", "upgrade", "--database", db.url]
    with log.open("a") as out:
        run = subprocess.Popen(command, env=server_env(), stdout=out, stderr=subprocess.STDOUT)
    time.sleep(delay)
    run.kill()
    run.wait(10)


def _prepare(server: ServerProcess, ledger: Ledger) -> None:
    """A scope on ``default`` and one client, so tokens can be asked for from the start."""
    headers = {"Authorization": f"SSWS {ADMIN_TOKEN}"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=15) as api:
        scope = api.post(SCOPES.format("default"), json={"name": SCOPE})
        assert scope.status_code == 201, scope.text
        client = api.post("/oauth2/v1/clients", json={"client_name": "crash"})
        assert client.status_code == 201, client.text
    ledger.servers.add("default")  # made by a start that was ready
    ledger.scoped.add("default")
    ledger.clients.append({k: client.json()[k] for k in ("client_id", "client_secret")})


# -- the store the dead process left ------------------------------------------------------


@dataclass(frozen=True)
class Stored:
    servers: dict[str, str]  # id -> the kid its row names as ACTIVE
    pooled: set[str]
    clients: set[str]


def _check_store(db: Database, ledger: Ledger, where: str) -> Stored | None:
    _check_integrity(db)
    stored = _read(db)
    if stored is None:  # killed before the schema was made: nothing was acknowledged yet
        assert not ledger.rotated and not ledger.clients, where
        return None
    missing = ledger.servers - set(stored.servers)
    assert not missing, f"{where}: acknowledged servers lost: {missing}"
    lost = {c["client_id"] for c in ledger.clients} - stored.clients
    assert not lost, f"{where}: acknowledged clients lost: {lost}"
    kids: set[str] = set()
    for server_id, active in stored.servers.items():
        keys = stored_keys(db.url, server_id)
        counts = Counter(status for status, _ in keys.values())
        assert counts["ACTIVE"] == 1 and counts["NEXT"] <= 1, (where, server_id, counts)
        assert keys[active][0] == "ACTIVE", (where, server_id, active, keys[active][0])
        acknowledged, unanswered = ledger.rotated[server_id], ledger.unanswered[server_id]
        assert acknowledged <= counts["EXPIRED"] <= acknowledged + unanswered, (
            f"{where}: {server_id} has {counts['EXPIRED']} EXPIRED keys after {acknowledged} "
            f"acknowledged rotations and {unanswered} unanswered"
        )
        for kid, (status, n) in keys.items():
            ledger.saw_key(kid, status, n, f"{where}, stored")
        kids |= set(keys)
    # every kid ever answered or stored is still stored (the store deletes no key here)
    gone = set(ledger.ranks) - kids
    assert not gone, f"{where}: acknowledged keys lost: {sorted(gone)[:5]}"
    assert not stored.pooled & kids, f"{where}: pooled keys also belong to a server"
    assert not ledger.problems, ledger.problems[:10]
    return stored


def _read(db: Database) -> Stored | None:
    engine = create_engine(normalise_url(db.url))
    try:
        with engine.connect() as conn:
            if not inspect(conn).has_table(signing_keys.name):
                return None
            rows = conn.execute(select(servers.c.id, servers.c.kid)).all()
            pooled: set[str] = set(conn.execute(select(key_pool.c.kid)).scalars())
            clients: set[str] = set(conn.execute(select(oauth_clients.c.client_id)).scalars())
    finally:
        engine.dispose()
    return Stored({str(server_id): str(kid) for server_id, kid in rows}, pooled, clients)


def _check_integrity(db: Database) -> None:
    """The database's own checks: SQLite's, or PostgreSQL's ``amcheck`` (B-tree indexes
    against their tables, and the tables' pages)."""
    if db.file is None:
        _check_postgres(db.url)
    elif db.file.exists():  # a start killed early may not have made it
        sqlite = sqlite3.connect(db.file)
        try:
            assert sqlite.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
            assert sqlite.execute("PRAGMA foreign_key_check").fetchall() == []
        finally:
            sqlite.close()


def _check_postgres(url: str) -> None:
    engine = create_engine(normalise_url(url), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS amcheck"))
            indexes: list[int] = list(conn.execute(BTREE_INDEXES).scalars())
            for oid in indexes:  # raises on any inconsistency
                conn.execute(text("SELECT bt_index_check(:oid, true)"), {"oid": oid})
            corrupt = conn.execute(HEAP_PROBLEMS).all()
            assert not corrupt, corrupt
    finally:
        engine.dispose()


def _check_clear(db: Database, server: ServerProcess, where: str) -> None:
    """No private key in the clear in the database's bytes on disk, nor in the log."""
    for name, raw in [*_database_bytes(db), ("the server log", server.output().encode())]:
        found = [marker for marker in CLEAR if marker in raw]
        assert not found, f"{where}: {found} in {name}"


def _database_bytes(db: Database) -> Iterator[tuple[str, bytes]]:
    if db.file is not None:  # as the kill left them: the WAL not checkpointed
        for file in sorted(db.file.parent.glob(db.file.name + "*")):
            yield file.name, file.read_bytes()
        return
    # PostgreSQL's files of this database, read by the server itself (it may be elsewhere)
    engine = create_engine(normalise_url(db.url), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text("CHECKPOINT"))  # every page written to its file
            paths: list[str] = list(conn.execute(RELATION_FILES).scalars())
            for path in paths:
                read = text("SELECT pg_read_binary_file(:path)")
                yield path, bytes(conn.execute(read, {"path": path}).scalar_one())
    finally:
        engine.dispose()


# -- the restarted server -----------------------------------------------------------------


def _check_serving(server: ServerProcess, db: Database, ledger: Ledger, where: str) -> None:
    """Every acknowledged server's JWKS is served with its stored ACTIVE key; the tokens
    issued before (the newest ``RECENT_TOKENS``) verify against it; every acknowledged
    client gets a new token, signed with the stored ACTIVE key."""
    stored = _read(db)
    assert stored is not None
    published: dict[str, dict[str, jwt.PyJWK]] = {}
    issuers: dict[str, str] = {}
    with httpx.Client(base_url=server.url, timeout=15) as http:
        for server_id in sorted(ledger.servers):
            jwks = http.get(JWKS.format(server_id))
            assert jwks.status_code == 200, (where, server_id, jwks.text)
            published[server_id] = {k["kid"]: jwt.PyJWK(k) for k in jwks.json()["keys"]}
            assert stored.servers[server_id] in published[server_id], (where, server_id)
        org = http.get(ORG_JWKS)
        assert org.status_code == 200 and org.json()["keys"], (where, org.text)
        for server_id in sorted(ledger.scoped):
            found = http.get(f"/oauth2/{server_id}/.well-known/oauth-authorization-server")
            assert found.status_code == 200, (where, server_id, found.text)
            issuers[server_id] = found.json()["issuer"]
        for server_id, token in ledger.tokens[-RECENT_TOKENS:]:
            key = published[server_id].get(kid_of(token))
            assert key is not None, f"{where}: a token's key is no longer published"
            jwt.decode(
                token,
                key.key,
                algorithms=["RS256"],
                issuer=issuers[server_id],
                options={"verify_aud": False},
            )
        for i, creds in enumerate(ledger.clients):
            scoped = sorted(ledger.scoped)
            server_id = scoped[i % len(scoped)]
            response = request_token(http, server_id, creds)
            assert response.status_code == 200, (where, server_id, response.text)
            assert kid_of(response.json()["access_token"]) == stored.servers[server_id]
