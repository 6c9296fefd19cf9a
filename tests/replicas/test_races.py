"""Several ``KeyService``s on one PostgreSQL database, as several replicas are, in one process.

Each service has its own engine (its own connection pool), so they race exactly as
replicas do; they share one ``ManualClock``, which real processes cannot, so that an AUTO
rotation can be made due for all of them at the same instant.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import timedelta
from subprocess import PIPE, STDOUT

import pytest

from keyrotor import keks
from keyrotor.apitokens import ALL_SCOPES
from keyrotor.clock import ManualClock
from keyrotor.config import Settings
from keyrotor.crypto import encode_kek, new_kek
from keyrotor.keys import KeyStatus
from keyrotor.lifecycle import RotationPolicy
from keyrotor.runtime import open_service
from keyrotor.servers import RotationMode
from keyrotor.service import KeyService, ServerSpec
from keyrotor.storage import migrate
from keyrotor.storage.sql import SqlStore, make_engine
from tests.conftest import TEST_KEK, server_env
from tests.replicas.support import all_at_once, key_counts

pytestmark = pytest.mark.postgres

REPLICAS = 4
Replicas = Callable[..., list[KeyService]]


@pytest.fixture
def replicas(postgres_url: str, clock: ManualClock) -> Iterator[Replicas]:
    """``replicas(n)``: n services on one migrated database, none of them started yet."""
    opened: list[KeyService] = []
    engine = make_engine(postgres_url)
    migrate.upgrade(engine)
    engine.dispose()

    def make(n: int, policy: RotationPolicy | None = None) -> list[KeyService]:
        settings = Settings(
            database_url=postgres_url, kek=TEST_KEK, policy=policy or RotationPolicy()
        )
        made = [open_service(settings, clock=clock) for _ in range(n)]
        opened.extend(made)
        return made

    yield make
    for service in opened:
        service.store.close()


def auto_server(service: KeyService) -> str:
    spec = ServerSpec(name="auto", audiences=("api://auto",), rotation_mode=RotationMode.AUTO)
    return service.create_server(spec).id


def statuses(service: KeyService, server_id: str) -> list[KeyStatus]:
    with service.store.transaction() as tx:
        return sorted(k.status for k in tx.keys(server_id))


def test_first_start_of_several_replicas_makes_one_default_server(
    replicas: Replicas, postgres_url: str
) -> None:
    """``ensure_default`` racing on an empty database: one server, one ACTIVE, one NEXT key."""
    services = replicas(REPLICAS)
    results = all_at_once([s.ensure_default for s in services])
    assert results == [None] * REPLICAS
    assert key_counts(postgres_url, "default") == {"ACTIVE": 1, "NEXT": 1}


def test_the_same_bootstrap_token_registered_at_once_by_every_replica(replicas: Replicas) -> None:
    """Every replica starting with one ``KEYROTOR_BOOTSTRAP_TOKEN``: no error, one token."""
    services = replicas(REPLICAS)
    value = "00" + "x" * 40
    results = all_at_once(
        [lambda s=s: s.create_token("bootstrap", ALL_SCOPES, value) for s in services]
    )
    assert not [r for r in results if isinstance(r, BaseException)], results
    assert len(services[0].list_tokens()) == 1
    assert services[1].authenticate(value) is not None


def test_replicas_starting_together_on_a_new_database_make_one_first_token(
    replicas: Replicas,
) -> None:
    """Without ``KEYROTOR_BOOTSTRAP_TOKEN``: exactly one replica makes (and prints) a token."""
    services = replicas(REPLICAS)
    results = all_at_once([s.create_first_token for s in services])
    assert not [r for r in results if isinstance(r, BaseException)], results
    made = [r for r in results if r is not None]
    assert len(made) == 1
    assert len(services[0].list_tokens()) == 1
    assert services[2].authenticate(made[0]) is not None
    assert services[3].create_first_token() is None


def test_manual_rotations_on_every_replica_are_serialised(replicas: Replicas) -> None:
    """Concurrent rotations from every replica: none lost, none doubled, one ACTIVE key."""
    services = replicas(REPLICAS)
    services[0].ensure_default()
    server_id = auto_server(services[0])
    per_replica = 5
    calls = [lambda s=s: s.rotate(server_id) for s in services for _ in range(per_replica)]
    results = all_at_once(calls)
    assert not [r for r in results if isinstance(r, BaseException)], results
    rotations = REPLICAS * per_replica
    assert statuses(services[0], server_id) == sorted(
        [KeyStatus.ACTIVE, KeyStatus.NEXT] + [KeyStatus.EXPIRED] * rotations
    )


def test_a_due_auto_rotation_is_applied_once_however_many_replicas_sweep(
    replicas: Replicas, clock: ManualClock
) -> None:
    """The rotation falls due for every replica at the same instant; exactly one applies it."""
    services = replicas(REPLICAS)
    services[0].ensure_default()
    server_id = auto_server(services[0])
    for round_ in range(1, 4):
        clock.advance(timedelta(days=90))
        applied = all_at_once([s.sweep for s in services])
        # every replica sweeps `default`, the org server and ours; each rotation once in total,
        # plus each new NEXT key once where the pool had none at the rotation (a replica
        # that generated one for nothing put it in the pool, so that count varies)
        assert 3 <= sum(a for a in applied if isinstance(a, int)) <= 3 + 3, applied
        found = statuses(services[0], server_id)
        assert found.count(KeyStatus.EXPIRED) == round_
        assert found.count(KeyStatus.NEXT) == found.count(KeyStatus.ACTIVE) == 1


def test_a_next_key_falling_due_is_made_once_however_many_replicas_sweep(
    replicas: Replicas, clock: ManualClock
) -> None:
    """With a NEXT lead time, the NEXT key appears once, then the rotation happens once."""
    services = replicas(REPLICAS, RotationPolicy(next_lead=timedelta(days=10)))
    services[0].ensure_default()
    server_id = auto_server(services[0])
    assert statuses(services[0], server_id) == [KeyStatus.ACTIVE]
    clock.advance(timedelta(days=81))  # the lead time has begun: a NEXT key is due
    applied = all_at_once([s.sweep for s in services])
    # `default`, the org server and ours
    assert sum(a for a in applied if isinstance(a, int)) == 3, applied
    assert statuses(services[0], server_id) == [KeyStatus.ACTIVE, KeyStatus.NEXT]
    clock.advance(timedelta(days=10))  # and now the rotation
    applied = all_at_once([s.sweep for s in services])
    assert sum(a for a in applied if isinstance(a, int)) == 3, applied
    assert statuses(services[0], server_id) == [KeyStatus.ACTIVE, KeyStatus.EXPIRED]


def test_a_due_rotation_noticed_by_readers_and_sweepers_at_once(
    replicas: Replicas, clock: ManualClock
) -> None:
    """Reads settle due steps too: sweepers and readers together still rotate once."""
    services = replicas(REPLICAS)
    services[0].ensure_default()
    server_id = auto_server(services[0])
    clock.advance(timedelta(days=91))
    calls: list[Callable[[], object]] = []
    for s in services:
        calls += [s.sweep, lambda s=s: s.list_keys(server_id), lambda s=s: s.jwks(server_id)]
    results = all_at_once(calls)
    assert not [r for r in results if isinstance(r, BaseException)], results
    assert statuses(services[0], server_id).count(KeyStatus.EXPIRED) == 1
    jwks = {s.jwks(server_id) for s in services}
    assert len(jwks) == 1, "every replica renders the same JWKS bytes and ETag"


# a `keyrotor db upgrade` that loads everything, says "ready", and runs when told "go"
UPGRADE_ON_GO = """
import sys
from keyrotor.cli import main
from keyrotor.storage import migrate, sql, watchdog
print("ready", flush=True)
sys.stdin.readline()
main(["db", "upgrade", "--database", sys.argv[1]])
"""


@pytest.mark.e2e
def test_concurrent_upgrades_of_one_database(postgres_url: str) -> None:
    """``keyrotor db upgrade`` started by several replicas at the same instant: all succeed.

    Without a lock, all but one fail (two ``CREATE TABLE`` of one name in PostgreSQL).
    """
    command = [sys.executable, "-c", UPGRADE_ON_GO, postgres_url]
    runs = [
        subprocess.Popen(command, stdin=PIPE, stdout=PIPE, stderr=STDOUT, text=True)
        for _ in range(REPLICAS)
    ]
    try:
        for run in runs:
            assert run.stdout is not None and run.stdout.readline().strip() == "ready"
        for run in runs:
            assert run.stdin is not None
            run.stdin.write("go\n")
            run.stdin.flush()
        outputs = [run.communicate(timeout=60)[0] for run in runs]
    finally:
        for run in runs:
            if run.poll() is None:
                run.kill()
    assert [run.returncode for run in runs] == [0] * len(runs), outputs
    assert all("schema up to date" in out for out in outputs), outputs
    store = SqlStore(postgres_url)
    try:
        assert store.is_migrated()
    finally:
        store.close()


@pytest.mark.e2e
def test_serve_refuses_an_unmigrated_database(postgres_url: str) -> None:
    """``keyrotor serve`` on an empty PostgreSQL database says what to run, and exits."""
    command = [sys.executable, "-m", "keyrotor", "serve", "--port", "0", "--database", postgres_url]
    env = server_env(KEYROTOR_KEK=encode_kek(TEST_KEK))
    run = subprocess.run(command, capture_output=True, text=True, timeout=60, env=env)
    assert run.returncode != 0
    assert "keyrotor db upgrade --database URL" in run.stderr
    assert "Traceback" not in run.stderr


@pytest.mark.e2e
def test_serve_refuses_a_key_encryption_key_other_replicas_do_not_share(
    replicas: Replicas, postgres_url: str
) -> None:
    """A replica started with another ``KEYROTOR_KEK`` could not sign with the stored keys
    (nor the others with its keys): it refuses to start, and says why."""
    first = replicas(1)[0]
    first.ensure_default()
    keks.check(first.store, first.factory.sealer, "the first replica's KEK")  # or raises
    command = [sys.executable, "-m", "keyrotor", "serve", "--port", "0", "--database", postgres_url]
    env = server_env(KEYROTOR_KEK=encode_kek(new_kek()))
    run = subprocess.run(command, capture_output=True, text=True, timeout=60, env=env)
    assert run.returncode != 0
    assert "the key-encryption key from KEYROTOR_KEK does not open the stored keys" in run.stderr
    assert "Traceback" not in run.stderr
