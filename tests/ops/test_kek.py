"""Key-encryption keys: every refusal (a KEK that does not open the store, a leftover
``KEYROTOR_KEK`` beside the store's own key file, a KEK file open to others, a store with
keys and no KEK), several KEKs, the files' modes, ``/readyz``, and ``keyrotor kek rewrap``,
at rest and under load with real ``keyrotor serve`` processes, on SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
import json
import os
import stat
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from click.testing import CliRunner, Result
from sqlalchemy import MetaData, create_engine, select
from starlette.testclient import TestClient

from keyrotor import keks
from keyrotor.apitokens import ALL_SCOPES
from keyrotor.cli import main
from keyrotor.clock import ManualClock
from keyrotor.config import ConfigError, Settings
from keyrotor.crypto import KeyFactory, Sealer, decode_kek, encode_kek, new_kek
from keyrotor.http import create_app
from keyrotor.keys import KeyStatus
from keyrotor.service import KeyService, ServerSpec
from keyrotor.storage.base import RESEALED
from keyrotor.storage.sql import normalise_url
from tests.conftest import ADMIN_TOKEN, TEST_KEK, UNLIMITED, ServerProcess, server_env
from tests.support import assert_okta_error

K1, K2, K3 = (encode_kek(new_kek()) for _ in range(3))
REFUSAL = "does not open the stored keys (kid "
ROTATE = "/api/v1/authorizationServers/{}/credentials/lifecycle/keyRotate"
SCOPE = "things:read"

# every command that opens a store: the ones that write, then the ones that only read
WRITES = [
    ["keys", "rotate", "default"],
    ["servers", "create", "billing", "--audience", "api://billing"],
    ["tokens", "create"],
    ["tokens", "revoke", "00tnosuchtoken"],
    ["clients", "create", "svc"],
    ["clients", "delete", "0oanosuchclient"],
    ["kek", "rewrap"],
]
READS = [
    ["servers", "list"],
    ["servers", "show", "default"],
    ["keys", "list", "default"],
    ["tokens", "list"],
    ["clients", "list"],
    ["audit"],
]


@pytest.fixture(autouse=True)
def no_keyrotor_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("KEYROTOR_") and name != "KEYROTOR_TEST_POSTGRES_URL":
            monkeypatch.delenv(name)


@dataclass
class Store:
    url: str
    kek: str  # the KEK its keys are sealed with


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    """A store made by ``keyrotor init`` with ``KEYROTOR_KEK=K1``."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'keyrotor.db'}"
    else:
        url = str(request.getfixturevalue("postgres_url"))
    ok(cli("init", "--database", url, KEYROTOR_KEK=K1))
    return Store(url, K1)


def cli(*args: str, **env: str) -> Result:
    return CliRunner().invoke(main, list(args), env=env)


def ok(result: Result) -> str:
    assert result.exit_code == 0, result.output
    return result.stdout


def refused(result: Result, *needles: str) -> str:
    """One line on stderr, ``Error: …``, exit code 1, nothing on stdout, no traceback."""
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def serve_refusal(database: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "keyrotor", "serve", "--port", "0", "--database", database]
    run = subprocess.run(command, env=server_env(**env), capture_output=True, text=True, timeout=60)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "Traceback" not in run.stderr
    assert len(run.stderr.splitlines()) == 1 and run.stderr.startswith("Error: "), run.stderr
    return run


def fingerprint(url: str) -> dict[str, list[str]]:
    """Every row of every table, to show that nothing was written."""
    engine = create_engine(normalise_url(url))
    try:
        meta = MetaData()
        meta.reflect(engine)
        with engine.connect() as conn:
            return {
                table.name: sorted(repr(tuple(row)) for row in conn.execute(select(table)))
                for table in meta.sorted_tables
            }
    finally:
        engine.dispose()


def stored(url: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The signing keys and the pooled keys as stored."""
    engine = create_engine(normalise_url(url))
    try:
        with engine.connect() as conn:
            signing = conn.exec_driver_sql(
                "SELECT kid, server_id, status, n, e, sealed_private FROM signing_keys"
            )
            keys = [dict(row._mapping) for row in signing]
            pooled = [
                dict(row._mapping)
                for row in conn.exec_driver_sql("SELECT kid, n, e, sealed_private FROM key_pool")
            ]
    finally:
        engine.dispose()
    return keys, pooled


def opens(kek: str, key: dict[str, Any]) -> bool:
    owner = key.get("server_id")  # a pooled key belongs to no server yet
    return Sealer(decode_kek(kek)).opens(bytes(key["sealed_private"]), key["kid"], owner)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def write_private(path: Path, text: str, file_mode: int = 0o600) -> Path:
    path.write_text(text)
    path.chmod(file_mode)
    return path


# -- a KEK that does not open the store -----------------------------------------------


def test_a_wrong_kek_is_refused_by_every_command_before_it_writes(store: Store) -> None:
    """The issue's case: ``KEYROTOR_KEK=<another key> keyrotor keys rotate …`` stored a NEXT
    key nobody could open. Every command now refuses, in one line naming the variable and
    the kid, and the store is left exactly as it was."""
    before = fingerprint(store.url)
    for command in WRITES + READS:
        result = cli(*command, "--database", store.url, KEYROTOR_KEK=K2)
        line = refused(result, "the key-encryption key from KEYROTOR_KEK", REFUSAL)
        assert line.endswith("): set the KEK this store was sealed with"), line
    assert fingerprint(store.url) == before
    run = serve_refusal(store.url, {"KEYROTOR_KEK": K2})
    assert "the key-encryption key from KEYROTOR_KEK " + REFUSAL in run.stderr
    assert fingerprint(store.url) == before
    # with the right KEK the same commands work
    ok(cli("keys", "rotate", "default", "--database", store.url, KEYROTOR_KEK=K1))


def test_a_wrong_kek_file_is_named_by_its_path(store: Store, tmp_path: Path) -> None:
    wrong = write_private(tmp_path / "wrong.kek", K2 + "\n")
    result = cli("keys", "rotate", "default", "--database", store.url, KEYROTOR_KEK_FILE=str(wrong))
    refused(result, f"the key-encryption key from {wrong} {REFUSAL}")
    several = write_private(tmp_path / "several.kek", f"{K2}\n{K3}\n")
    result = cli("tokens", "create", "--database", store.url, KEYROTOR_KEK_FILE=str(several))
    refused(result, f"none of the 2 key-encryption keys from {several} opens the stored keys")


def test_kek_and_kek_file_together_are_refused(store: Store, tmp_path: Path) -> None:
    path = write_private(tmp_path / "kek", K1)
    result = cli(
        "servers", "list", "--database", store.url, KEYROTOR_KEK=K1, KEYROTOR_KEK_FILE=str(path)
    )
    refused(result, "both KEYROTOR_KEK and KEYROTOR_KEK_FILE are set")


def test_a_kek_that_is_not_one_is_refused(store: Store) -> None:
    result = cli("servers", "list", "--database", store.url, KEYROTOR_KEK="not-a-kek")
    refused(result, "KEYROTOR_KEK holds a value that is not a key-encryption key")
    result = cli("servers", "list", "--database", store.url, KEYROTOR_KEK=f"{K1},{K1[:20]}")
    refused(result, "KEYROTOR_KEK holds a value that is not a key-encryption key")


# -- several KEKs ----------------------------------------------------------------------


def test_several_keks_the_first_seals_and_every_one_opens(store: Store, tmp_path: Path) -> None:
    """``KEYROTOR_KEK=NEW,OLD`` (or a file of lines): old keys open, new ones are sealed
    under the first."""
    old_kids = {key["kid"] for key in stored(store.url)[0]}
    ok(cli("keys", "rotate", "default", "--database", store.url, KEYROTOR_KEK=f"{K2},{K1}"))
    path = write_private(tmp_path / "keks", f"{K3}\n{K2}\n\n{K1}\n")
    ok(cli("keys", "rotate", "default", "--database", store.url, KEYROTOR_KEK_FILE=str(path)))
    keys = {key["kid"]: key for key in stored(store.url)[0]}
    new = [kid for kid in keys if kid not in old_kids]
    assert len(new) == 2
    sealed_by = sorted(next(k for k in (K2, K3) if opens(k, keys[kid])) for kid in new)
    assert sealed_by == sorted([K2, K3])
    assert all(opens(K1, keys[kid]) for kid in old_kids)
    assert not any(opens(K1, keys[kid]) for kid in new)


# -- the SQLite store's own key file ---------------------------------------------------


@pytest.fixture
def own_file(tmp_path: Path) -> tuple[str, Path]:
    """A SQLite store with its own key file beside it (made by ``init`` without a KEK)."""
    url = f"sqlite:///{tmp_path / 'keyrotor.db'}"
    ok(cli("init", "--database", url))
    return url, tmp_path / "keyrotor.db.kek"


def test_a_leftover_kek_does_not_override_the_stores_own_key_file(
    own_file: tuple[str, Path], tmp_path: Path
) -> None:
    """A ``KEYROTOR_KEK`` still exported from another store is refused, naming both."""
    url, beside = own_file
    before = fingerprint(url)
    result = cli("keys", "rotate", "default", "--database", url, KEYROTOR_KEK=K2)
    refused(result, "from KEYROTOR_KEK differs from", str(beside), "unset KEYROTOR_KEK")
    other = write_private(tmp_path / "other.kek", K2)
    result = cli("keys", "rotate", "default", "--database", url, KEYROTOR_KEK_FILE=str(other))
    refused(result, f"KEYROTOR_KEK_FILE ({other}) differs from {beside}")
    run = serve_refusal(url, {"KEYROTOR_KEK": K2})
    assert str(beside) in run.stderr and "KEYROTOR_KEK" in run.stderr
    assert fingerprint(url) == before
    same = beside.read_text().strip()
    ok(cli("keys", "rotate", "default", "--database", url, KEYROTOR_KEK=same))


def test_no_kek_is_made_beside_a_store_that_holds_keys(own_file: tuple[str, Path]) -> None:
    url, beside = own_file
    beside.unlink()
    before = fingerprint(url)
    for command in [*WRITES, *READS, ["init"]]:
        result = cli(*command, "--database", url)
        assert result.exit_code == 1, result.output
        assert not beside.exists(), command
    refused(
        cli("keys", "rotate", "default", "--database", url),
        "holds keys but no key-encryption key was found",
        str(beside),
    )
    run = serve_refusal(url, {})
    assert "holds keys but no key-encryption key was found" in run.stderr
    assert not beside.exists()
    assert fingerprint(url) == before


def test_serve_makes_no_directory_for_a_mistyped_path(tmp_path: Path) -> None:
    run = serve_refusal(f"sqlite:///{tmp_path / 'mistyped' / 'keyrotor.db'}", {})
    assert f"the directory {tmp_path / 'mistyped'} does not exist" in run.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_postgres_store_without_a_kek_is_refused(postgres_url: str) -> None:
    ok(cli("init", "--database", postgres_url, KEYROTOR_KEK=K1))
    before = fingerprint(postgres_url)
    for command in WRITES:
        refused(cli(*command, "--database", postgres_url), "set KEYROTOR_KEK")
    assert fingerprint(postgres_url) == before


# -- files -----------------------------------------------------------------------------


@pytest.mark.parametrize("file_mode", [0o640, 0o604, 0o620, 0o644])
def test_a_kek_file_open_to_group_or_others_is_refused(
    store: Store, tmp_path: Path, file_mode: int
) -> None:
    path = write_private(tmp_path / "kek", store.kek, file_mode)
    result = cli("servers", "list", "--database", store.url, KEYROTOR_KEK_FILE=str(path))
    refused(result, str(path), f"mode {file_mode:04o}", f"chmod 600 {path}")
    path.chmod(0o600)
    ok(cli("servers", "list", "--database", store.url, KEYROTOR_KEK_FILE=str(path)))


def test_the_stores_own_key_file_open_to_others_is_refused(own_file: tuple[str, Path]) -> None:
    url, beside = own_file
    beside.chmod(0o644)
    refused(cli("servers", "list", "--database", url), str(beside), "chmod 600")
    serve_refusal(url, {})


@pytest.fixture
def umask_022() -> Iterator[None]:
    """The usual umask, under which files are made readable by everyone unless asked."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def test_init_makes_the_store_and_its_key_file_for_the_owner_only(
    tmp_path: Path, umask_022: None
) -> None:
    ok(cli("init", "--database", f"sqlite:///{tmp_path / 'new.db'}"))
    assert mode(tmp_path / "new.db") == 0o600
    assert mode(tmp_path / "new.db.kek") == 0o600


def test_serve_makes_the_store_its_wal_and_its_key_file_for_the_owner_only(
    start_server: Callable[..., ServerProcess], tmp_path: Path, umask_022: None
) -> None:
    server = start_server()
    with httpx.Client(base_url=server.url, headers={"Authorization": f"SSWS {ADMIN_TOKEN}"}) as h:
        assert h.post(ROTATE.format("default"), json={"use": "sig"}).status_code == 200
        names = ["keyrotor.db", "keyrotor.db-wal", "keyrotor.db-shm", "keyrotor.db.kek"]
        assert {name: mode(tmp_path / name) for name in names} == dict.fromkeys(names, 0o600)


# -- rewrap at rest --------------------------------------------------------------------


def _key_rows(service: KeyService) -> dict[str, tuple[Any, ...]]:
    """Every signing key, all but its sealed private part."""
    rows = {}
    with service.store.transaction() as tx:
        for server in service.all_servers():
            for k in tx.keys(server.id):
                rows[k.kid] = (k.server_id, k.status, k.n, k.e, k.generation, k.created)
                rows[k.kid] += (k.activated, k.expired)
    return rows


def _every_sealed(service: KeyService) -> list[Any]:
    found = []
    with service.store.transaction() as tx:
        for pooled in (False, True):
            found += tx.sealed_page(pooled, None, 10_000)
    return found


def test_rewrap_reseals_every_key_and_changes_nothing_else(
    database_url: str, make_service: Callable[..., KeyService], clock: ManualClock
) -> None:
    """Signing keys (ACTIVE, NEXT, EXPIRED) and pooled keys re-sealed under the first KEK;
    kid, numbers, status and times untouched; no server named as changed (no replica
    reloads anything); again, it re-seals nothing."""
    service = make_service(database_url)
    for i in range(3):
        service.create_server(ServerSpec(name=f"s{i}", audiences=(f"api://s{i}",)))
    service.rotate("default")
    service.rotate("default")
    with service.store.transaction(write=True) as tx:
        for _ in range(3):
            tx.add_pooled(service.factory.generate(), clock())
    before = _key_rows(service)
    assert {row[1] for row in before.values()} == set(KeyStatus) - {KeyStatus.REVOKED}
    heard: list[list[str]] = []
    service.store.feed.subscribe(heard.append)
    first = new_kek()
    done = keks.rewrap(service.store, Sealer(first, TEST_KEK), batch=2)
    signing = len(before)
    assert done.resealed == {"signing": signing, "pooled": 3}
    assert done.total == {"signing": signing, "pooled": 3}
    assert (done.unopened, done.behind) == ([], 0)
    assert _key_rows(service) == before
    assert heard == [[RESEALED]]
    sealed = _every_sealed(service)
    assert len(sealed) == signing + 3
    assert all(Sealer(first).opens(k.sealed_private, k.kid, k.server_id) for k in sealed)
    assert not any(Sealer(TEST_KEK).opens(k.sealed_private, k.kid, k.server_id) for k in sealed)
    again = keks.rewrap(service.store, Sealer(first, TEST_KEK))
    assert again.resealed == {"signing": 0, "pooled": 0} and again.total == done.total
    # the old KEK can go: the new one alone passes the start-up check and signs
    keks.check(service.store, Sealer(first), "the new KEK")
    with pytest.raises(ConfigError, match="from the old KEK does not open the stored keys"):
        keks.check(service.store, Sealer(TEST_KEK), "the old KEK")
    alone = KeyService(service.store, KeyFactory(Sealer(first)), clock=clock)
    alone.rotate("default")  # the NEXT key becomes ACTIVE, a pooled key NEXT
    _, active = alone.active_key("default")
    signed = alone.factory.sign(active.sealed_private, active.kid, {"sub": "x"}, "default")
    assert signed.count(".") == 2


def test_rewrap_reports_keys_no_kek_opens(tmp_path: Path, clock: ManualClock) -> None:
    """A key sealed under a KEK that is not given is left as it is and named; the command
    fails in one line after re-sealing every other key."""
    url = f"sqlite:///{tmp_path / 'keyrotor.db'}"
    ok(cli("init", "--database", url, KEYROTOR_KEK=K1))
    from keyrotor.runtime import open_service

    service = open_service(Settings(database_url=url, kek=decode_kek(K1)), clock=clock)
    stray = KeyFactory(Sealer(decode_kek(K3))).generate()
    with service.store.transaction(write=True) as tx:
        tx.add_pooled(stray, clock())
        clock.advance(timedelta(seconds=1))
        tx.add_pooled(service.factory.generate(), clock())  # the newest: the check's sample
    service.store.close()
    result = cli("kek", "rewrap", "--database", url, KEYROTOR_KEK=f"{K2},{K1}")
    refused(result, "1 stored keys open with none of the key-encryption keys", stray.kid)
    keys, pooled = stored(url)
    assert all(opens(K2, key) for key in keys)
    assert [opens(K2, key) for key in pooled if key["kid"] != stray.kid] == [True]


def test_rewrap_from_the_command_line_prints_counts(store: Store) -> None:
    env = {"KEYROTOR_KEK": f"{K2},{K1}"}
    text = ok(cli("kek", "rewrap", "--database", store.url, "--batch", "1", **env))
    signing = len(stored(store.url)[0])
    assert f"signing keys: {signing} re-sealed under the first key-encryption key" in text
    assert "the others can be removed" in text
    answer = json.loads(ok(cli("kek", "rewrap", "--database", store.url, "--json", **env)))
    assert answer["signingKeys"] == {"resealed": 0, "stored": signing}
    assert answer["kekSource"] == "KEYROTOR_KEK" and answer["keks"] == 2
    ok(cli("keys", "rotate", "default", "--database", store.url, KEYROTOR_KEK=K2))
    refused(cli("servers", "list", "--database", store.url, KEYROTOR_KEK=K1), REFUSAL)


# -- /readyz and requests while a key does not open ------------------------------------


def test_readyz_fails_while_an_active_key_does_not_open(
    make_service: Callable[..., KeyService], clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A replica whose KEKs do not open an ACTIVE key is not ready (503, Okta's body), and
    a token it cannot sign is a 503, not a 500; the probe opens keys only after a change."""
    service = make_service()
    app = create_app(service, Settings(database_url="memory://", kek=TEST_KEK), sweep=False)
    service.create_token("admin", ALL_SCOPES, ADMIN_TOKEN)
    tried: list[str] = []
    can_open = service.factory.can_open

    def counted(sealed: bytes, kid: str, owner: str | None = None) -> bool:
        tried.append(kid)
        return can_open(sealed, kid, owner)

    monkeypatch.setattr(service.factory, "can_open", counted)
    with TestClient(app, headers={"Authorization": f"SSWS {ADMIN_TOKEN}"}) as http:
        assert http.get("/readyz").json() == {"status": "ready"}
        assert tried and http.get("/readyz").status_code == 200
        tried.clear()
        assert http.get("/readyz").status_code == 200 and tried == []  # nothing changed
        scope = http.post("/api/v1/authorizationServers/default/scopes", json={"name": SCOPE})
        assert scope.status_code == 201
        creds = http.post("/oauth2/v1/clients", json={"client_name": "svc"}).json()
        # another KEK seals keys into the same store (what the CLI call did)
        other = new_kek()
        foreign = KeyService(service.store, KeyFactory(Sealer(other)), clock=clock)
        foreign.rotate("default")  # its NEXT key is sealed under the other KEK …
        foreign.rotate("default")  # … and is ACTIVE now
        _, active = service.active_key("default")
        tried.clear()
        response = http.get("/readyz")
        assert tried == [active.kid]  # only the ACTIVE key it had not seen
        summary = (
            "Service unavailable: the key-encryption keys of this replica do not open the "
            f"signing key {active.kid}."
        )
        assert_okta_error(response, 503, "E0000009", summary)
        answer = TestClient(app).post(
            "/oauth2/default/v1/token",
            data={"grant_type": "client_credentials", "scope": SCOPE},
            auth=(creds["client_id"], creds["client_secret"]),
        )
        assert_okta_error(answer, 503, "E0000009", summary)
        # a rewrap with both KEKs puts the key under this replica's KEK: ready again
        keks.rewrap(service.store, Sealer(TEST_KEK, other))
        assert http.get("/readyz").status_code == 200


# -- rewrap under load -----------------------------------------------------------------


@pytest.mark.e2e
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_rewrap_under_load_then_the_old_kek_can_go(
    backend: str,
    request: pytest.FixtureRequest,
    start_server: Callable[..., ServerProcess],
    tmp_path: Path,
) -> None:
    """Two replicas with ``KEYROTOR_KEK=NEW,OLD`` keep rotating and issuing tokens while
    ``keyrotor kek rewrap`` re-seals every key in small transactions; restarted with only
    the new KEK, every key (ACTIVE, NEXT, EXPIRED, pooled) opens and signs."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'keyrotor.db'}"
        migrate: tuple[str, ...] = ()
    else:
        url = str(request.getfixturevalue("postgres_url"))
        migrate = ("--migrate",)
    pool = 16  # more than the rotations before and during the rewrap take
    args = (*UNLIMITED, "--key-pool-size", str(pool), "--sweep-interval", "0.5")
    first = start_server(url, *args, *migrate, KEYROTOR_KEK=K1)
    servers, creds = _setup(first)
    _wait_for_pool(url, pool)
    first.stop()
    keys, pooled = stored(url)
    assert all(opens(K1, key) for key in keys + pooled) and pooled
    numbers = {key["kid"]: (key["n"], key["e"]) for key in keys + pooled}

    replicas = [start_server(url, *args, KEYROTOR_KEK=f"{K2},{K1}") for _ in range(2)]
    load = Load(replicas, servers, creds)
    with load.running():
        load.wait_for(rotations=2, tokens=4)
        started = time.monotonic()
        rewrap = subprocess.run(
            [
                sys.executable,
                "-m",
                "keyrotor",
                "kek",
                "rewrap",
                "--database",
                url,
                "--batch",
                "3",
                "--json",
            ],
            env=server_env(KEYROTOR_KEK=f"{K2},{K1}"),
            capture_output=True,
            text=True,
            timeout=180,
        )
        window = (started, time.monotonic())
        load.wait_for(rotations=load.count["rotate"] + 2, tokens=load.count["token"] + 2)
    assert rewrap.returncode == 0, rewrap.stderr
    answer = json.loads(rewrap.stdout)
    assert answer["signingKeys"]["resealed"] >= len(keys)
    assert answer["pooledKeys"]["resealed"] > 0
    assert not load.failures, load.failures[:5]
    during = [kind for kind, at in load.done if window[0] <= at <= window[1]]
    assert "rotate" in during and "token" in during, Counter(during)
    for replica in replicas:
        replica.stop()

    keys, pooled = stored(url)
    assert all(opens(K2, key) for key in keys + pooled)
    assert not any(opens(K1, key) for key in keys + pooled)
    assert {key["status"] for key in keys} == {"ACTIVE", "NEXT", "EXPIRED"} and pooled
    for key in keys + pooled:  # the same keys: only their seal changed
        assert numbers.get(key["kid"], (key["n"], key["e"])) == (key["n"], key["e"])

    restarted = [start_server(url, *args, KEYROTOR_KEK=K2) for _ in range(2)]
    for replica in restarted:
        assert httpx.get(f"{replica.url}/readyz").status_code == 200
    live = Load(restarted, servers, creds)
    for _ in range(2):  # NEXT and pooled keys become ACTIVE and sign
        for server_id in ["default", *servers]:
            assert live.rotate(restarted[0], server_id) == 200
        for replica in restarted:
            live.verified_token(replica)
    again = json.loads(ok(cli("kek", "rewrap", "--database", url, "--json", KEYROTOR_KEK=K2)))
    assert again["signingKeys"]["resealed"] == 0 and again["pooledKeys"]["resealed"] == 0


def _setup(server: ServerProcess) -> tuple[list[str], dict[str, Any]]:
    """Three more servers, rotated (EXPIRED keys), a scope and a client on ``default``."""
    with httpx.Client(base_url=server.url, headers={"Authorization": f"SSWS {ADMIN_TOKEN}"}) as h:
        ids = []
        for i in range(3):
            body = {"name": f"load-{i}", "audiences": [f"api://load-{i}"]}
            made = h.post("/api/v1/authorizationServers", json=body)
            assert made.status_code == 201, made.text
            ids.append(made.json()["id"])
        for server_id in ["default", *ids]:
            assert h.post(ROTATE.format(server_id), json={"use": "sig"}).status_code == 200
        scopes = "/api/v1/authorizationServers/default/scopes"
        assert h.post(scopes, json={"name": SCOPE}).status_code == 201
        creds = h.post("/oauth2/v1/clients", json={"client_name": "load"}).json()
    return ids, creds


def _wait_for_pool(url: str, size: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while len(stored(url)[1]) < size:
        assert time.monotonic() < deadline, "the key pool did not fill"
        time.sleep(0.2)


class Load:
    """Rotations and token requests, spread over replicas, from two threads."""

    def __init__(
        self, replicas: list[ServerProcess], servers: list[str], creds: dict[str, Any]
    ) -> None:
        self.replicas = replicas
        self.servers = ["default", *servers]
        self.creds = creds
        self.failures: list[str] = []
        self.done: list[tuple[str, float]] = []
        self.count: Counter[str] = Counter()
        self._stop = threading.Event()

    def rotate(self, replica: ServerProcess, server_id: str) -> int:
        response = httpx.post(
            replica.url + ROTATE.format(server_id),
            json={"use": "sig"},
            headers={"Authorization": f"SSWS {ADMIN_TOKEN}"},
            timeout=30,
        )
        if response.status_code != 200:
            self.failures.append(f"rotate {server_id}: {response.status_code} {response.text}")
        return response.status_code

    def token(self, replica: ServerProcess) -> httpx.Response:
        response = httpx.post(
            replica.url + "/oauth2/default/v1/token",
            data={"grant_type": "client_credentials", "scope": SCOPE},
            auth=(self.creds["client_id"], self.creds["client_secret"]),
            timeout=30,
        )
        if response.status_code != 200:
            self.failures.append(f"token: {response.status_code} {response.text}")
        return response

    def verified_token(self, replica: ServerProcess) -> None:
        """A token that verifies against the published JWKS, signed by the ACTIVE key."""
        response = self.token(replica)
        assert response.status_code == 200, response.text
        token = response.json()["access_token"]
        jwks = httpx.get(f"{replica.url}/oauth2/default/v1/keys").json()
        kid = jwt.get_unverified_header(token)["kid"]
        key = next(jwt.PyJWK(k) for k in jwks["keys"] if k["kid"] == kid)
        claims = jwt.decode(token, key.key, algorithms=["RS256"], audience="api://default")
        assert claims["scp"] == [SCOPE]

    def _rotations(self) -> None:
        turn = 0
        while not self._stop.is_set():
            replica = self.replicas[turn % len(self.replicas)]
            self.rotate(replica, self.servers[turn % len(self.servers)])
            self._note("rotate")
            turn += 1
            self._stop.wait(0.2)

    def _tokens(self) -> None:
        turn = 0
        while not self._stop.is_set():
            self.token(self.replicas[turn % len(self.replicas)])
            self._note("token")
            turn += 1
            self._stop.wait(0.02)

    def _note(self, kind: str) -> None:
        self.count[kind] += 1
        self.done.append((kind, time.monotonic()))

    def wait_for(self, rotations: int, tokens: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while self.count["rotate"] < rotations or self.count["token"] < tokens:
            assert time.monotonic() < deadline, self.count
            time.sleep(0.05)

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        threads = [
            threading.Thread(target=self._rotations, daemon=True),
            threading.Thread(target=self._tokens, daemon=True),
        ]
        for thread in threads:
            thread.start()
        try:
            yield
        finally:
            self._stop.set()
            for thread in threads:
                thread.join(timeout=60)
