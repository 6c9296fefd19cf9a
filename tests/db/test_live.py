"""With real ``keyrotor serve`` processes: copies taken while a server rotates keys are each
one consistent state, and the final copy after writes stop holds every acknowledged
rotation; a resource server verifying with PyJWT's ``PyJWKClient`` keeps accepting tokens
across the documented cut-over from SQLite to PostgreSQL (stop writes, copy, switch)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from keyrotor.audit import KEY_CREATED
from tests.conftest import ADMIN_TOKEN, UNLIMITED, ServerProcess, free_port, server_env
from tests.db.conftest import K1, ROTATE, SERVERS, cli, dump, migrated, ok

pytestmark = [pytest.mark.postgres, pytest.mark.e2e]
OTHER = {"sqlite": "postgresql", "postgresql": "sqlite"}
ADMIN = {"Authorization": f"SSWS {ADMIN_TOKEN}"}


def _empty(kind: str, new_store: Callable[[str], str]) -> str:
    url = new_store(kind)
    return migrated(url) if kind == "postgresql" else url


def assert_consistent(url: str) -> dict[str, list[dict[str, Any]]]:
    """The key invariants in a copy, and keys and audit record from one moment: each
    server has exactly one ACTIVE key (the one its row names), at most one NEXT, and one
    recorded creation per key (the record is written in each rotation's transaction)."""
    rows = dump(url)
    created = Counter(
        e["server_id"] for e in rows["audit_events"] if e["event_type"] == KEY_CREATED
    )
    keys: dict[str, list[dict[str, Any]]] = {}
    for key in rows["signing_keys"]:
        keys.setdefault(key["server_id"], []).append(key)
    for server in rows["auth_servers"]:
        mine = keys[server["id"]]
        active = [k["kid"] for k in mine if k["status"] == "ACTIVE"]
        assert active == [server["kid"]], server["id"]
        assert sum(k["status"] == "NEXT" for k in mine) <= 1
        assert len({k["generation"] for k in mine}) == len(mine)
        assert created[server["id"]] == len(mine), server["id"]
    return keys


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_copies_taken_while_keys_rotate(
    kind: str, new_store: Callable[[str], str], start_server: Callable[..., ServerProcess]
) -> None:
    source = _empty(kind, new_store)
    server = start_server(source, "--key-pool-size", "0", *UNLIMITED, KEYROTOR_KEK=K1)
    ids = ["default"]
    for n in range(3):
        body = {"name": f"s{n}", "audiences": [f"api://s{n}"]}
        made = httpx.post(server.url + SERVERS, json=body, headers=ADMIN)
        assert made.status_code == 201, made.text
        ids.append(made.json()["id"])
    before = {sid: len(keys) for sid, keys in assert_consistent(source).items()}
    acknowledged: Counter[str] = Counter()
    answers: Counter[int] = Counter()
    stop = threading.Event()

    def rotate(server_id: str) -> None:
        with httpx.Client(base_url=server.url, headers=ADMIN, timeout=30) as client:
            while not stop.is_set():
                answer = client.post(ROTATE.format(server_id), json={"use": "sig"})
                answers[answer.status_code] += 1
                if answer.status_code == 200:
                    acknowledged[server_id] += 1

    threads = [threading.Thread(target=rotate, args=(sid,)) for sid in ids]
    for thread in threads:
        thread.start()
    copies = []
    try:
        for _ in range(3):
            target = _empty(OTHER[kind], new_store)
            ok(cli("db", "copy", "--from", source, "--to", target, KEYROTOR_KEK=K1))
            copies.append(target)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    final = _empty(OTHER[kind], new_store)  # writes have stopped: the cut-over's last copy
    ok(cli("db", "copy", "--from", source, "--to", final, KEYROTOR_KEK=K1))

    assert set(answers) == {200}
    seen = [sum(len(keys) for keys in assert_consistent(url).values()) for url in copies]
    kept = assert_consistent(final)
    assert seen[0] < sum(len(keys) for keys in kept.values())  # copied while rotations went on
    for sid in ids:  # every acknowledged rotation made one key, and every one is there
        assert len(kept[sid]) == before[sid] + acknowledged[sid], sid


class Verifier:
    """A resource server: PyJWT's ``PyJWKClient`` on one JWKS URL, checking audience and
    issuer."""

    def __init__(self, base: str) -> None:
        self.issuer = f"{base}/oauth2/default"
        self.jwks = PyJWKClientCounting(f"{self.issuer}/v1/keys")

    def accepts(self, token: str) -> bool:
        key = self.jwks.get_signing_key_from_jwt(token)
        jwt.decode(
            token, key.key, algorithms=["RS256"], audience="api://default", issuer=self.issuer
        )
        return True


class PyJWKClientCounting(jwt.PyJWKClient):
    """Keys cached, and fetched again at once on an unknown kid (no cooldown, so the test
    need not wait 30 s); counts its fetches."""

    def __init__(self, uri: str) -> None:
        super().__init__(uri, cache_keys=True, cooldown_duration=0)
        self.fetches = 0

    def fetch_data(self) -> Any:
        self.fetches += 1
        return super().fetch_data()


def test_a_resource_server_keeps_accepting_tokens_across_the_cut_over(
    tmp_path: Path, new_postgres: Callable[[], str]
) -> None:
    """SQLite → PostgreSQL as docs/deployment.md says: stop the SQLite server (no more
    writes), copy, start the PostgreSQL server at the same address. The JWKS is the same
    bytes, the client and its secret carry over, and a verifier that cached the keys, and
    one that did not, accept tokens from before and after."""
    sqlite_store = f"sqlite:///{tmp_path / 'keyrotor.db'}"
    port = free_port()
    started: list[ServerProcess] = []
    api = httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=ADMIN, timeout=30)

    def start(database: str, **env: str) -> ServerProcess:
        process = ServerProcess(
            database, server_env(**env), port=port, log=tmp_path / f"{len(started)}.log"
        )
        started.append(process)
        return process.start()

    try:
        old = start(sqlite_store)  # an embedded store, its KEK in keyrotor.db.kek beside it
        assert (
            api.post(f"{SERVERS}/default/scopes", json={"name": "things:read"}).status_code == 201
        )
        creds = api.post("/oauth2/v1/clients", json={"client_name": "billing"}).json()

        def token() -> str:
            answer = httpx.post(
                f"{old.url}/oauth2/default/v1/token",
                data={"grant_type": "client_credentials", "scope": "things:read"},
                auth=(creds["client_id"], creds["client_secret"]),
            )
            assert answer.status_code == 200, answer.text
            return str(answer.json()["access_token"])

        verifier = Verifier(old.url)
        first = token()
        assert verifier.accepts(first) and verifier.jwks.fetches == 1
        assert api.post(ROTATE.format("default"), json={"use": "sig"}).status_code == 200
        second = token()  # the NEXT key it fetched with the first is ACTIVE now
        assert verifier.accepts(second) and verifier.jwks.fetches == 1
        jwks = httpx.get(verifier.jwks.uri).content
        keys = api.get(f"{SERVERS}/default/credentials/keys").json()

        old.stop()  # 1. stop writes
        postgres = migrated(new_postgres())  # 2. the final copy, into an empty database
        ok(cli("db", "copy", "--from", sqlite_store, "--to", postgres))
        kek = (tmp_path / "keyrotor.db.kek").read_text().strip()
        start(postgres, KEYROTOR_KEK=kek)  # 3. switch: the same address, the same KEK

        assert httpx.get(verifier.jwks.uri).content == jwks
        assert api.get(f"{SERVERS}/default/credentials/keys").json() == keys  # no rotation lost
        assert verifier.accepts(first) and verifier.accepts(second)  # from its cache
        fresh = Verifier(old.url)  # a resource server that starts now fetches from PostgreSQL
        assert fresh.accepts(first) and fresh.accepts(second) and fresh.jwks.fetches == 1
        third = token()  # signed by the PostgreSQL server, with the same ACTIVE key
        assert verifier.accepts(third) and verifier.jwks.fetches == 1
        assert api.post(ROTATE.format("default"), json={"use": "sig"}).status_code == 200
        fourth = token()  # the key PostgreSQL published as NEXT: new to the first verifier
        assert fresh.accepts(fourth) and fresh.jwks.fetches == 1
        assert verifier.accepts(fourth) and verifier.jwks.fetches == 2  # fetched again there
        assert verifier.accepts(first)  # an EXPIRED key stays published past the tokens' life
    finally:
        api.close()
        for process in started:
            process.stop()
