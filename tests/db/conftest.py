"""Fixtures of the tests of ``keyrotor db copy|backup|restore``: stores holding rows of every
kind on real SQLite files and the real PostgreSQL server, fresh targets, a dump of every
table to compare two stores by, and the command line."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from alembic.script import ScriptDirectory
from click.testing import CliRunner, Result
from joserfc.jwk import RSAKey
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url
from starlette.testclient import TestClient

from keyrotor.apitokens import ALL_SCOPES, SCOPE_READ
from keyrotor.cli import main
from keyrotor.config import Settings, kek_file_beside, sqlite_path
from keyrotor.crypto import decode_kek, encode_kek, new_kek
from keyrotor.http import create_app
from keyrotor.runtime import open_service
from keyrotor.service import KeyService
from keyrotor.storage import migrate
from keyrotor.storage.sql import SqlStore, make_engine
from keyrotor.storage.transfer import TABLES
from tests.conftest import ADMIN_TOKEN, postgres_base_url

K1, K2 = encode_kek(new_kek()), encode_kek(new_kek())  # the stores' KEK, and another one
HEAD = str(migrate.head())  # this keyrotor's schema revision
BEFORE = str(ScriptDirectory.from_config(migrate._config()).get_revision(HEAD).down_revision)
SERVERS = "/api/v1/authorizationServers"
ROTATE = SERVERS + "/{}/credentials/lifecycle/keyRotate"


@pytest.fixture(autouse=True)
def no_keyrotor_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The commands see only the KEKs a test gives them."""
    for name in list(os.environ):
        if name.startswith("KEYROTOR_") and name != "KEYROTOR_TEST_POSTGRES_URL":
            monkeypatch.delenv(name)


@pytest.fixture
def new_postgres() -> Iterator[Callable[[], str]]:
    """``new_postgres()``: the URL of a new, empty database (no schema); all are dropped."""
    base = make_url(postgres_base_url())
    admin = create_engine(base.set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT")
    made: list[str] = []

    def new() -> str:
        name = f"keyrotor_db_{uuid.uuid4().hex[:12]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        made.append(name)
        return base.set(database=name).render_as_string(hide_password=False)

    yield new
    with admin.connect() as conn:
        for name in made:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def new_store(tmp_path: Path, new_postgres: Callable[[], str]) -> Callable[[str], str]:
    """``new_store(kind)``: the URL of a store that does not hold anything yet (a SQLite file
    not made yet, a PostgreSQL database without schema)."""
    count = iter(range(1000))

    def new(kind: str) -> str:
        if kind == "sqlite":
            return f"sqlite:///{tmp_path / f'store-{next(count)}.db'}"
        return new_postgres()

    return new


# -- a store with rows of every kind --------------------------------------------------------


@dataclass
class Filled:
    """A store ``fill`` made: its URL, its KEK, and tokens minted from it."""

    url: str
    kek: str
    tokens: dict[str, str] = field(default_factory=dict)  # server id -> an access token
    audiences: dict[str, str] = field(default_factory=dict)  # server id -> its audience
    creds: dict[str, str] = field(default_factory=dict)  # the client's id and secret


def open_at(url: str, kek: str = K1) -> KeyService:
    """The service over the store at ``url`` (migrated), sealing with ``kek``."""
    return open_service(Settings(database_url=url, kek=decode_kek(kek)), migrate=True)


def keep_kek_beside(url: str, kek: str = K1) -> None:
    """A SQLite store's own key file, as ``keyrotor init`` makes it (0600)."""
    path = sqlite_path(url)
    assert path is not None
    beside = kek_file_beside(path)
    beside.write_text(kek + "\n")
    beside.chmod(0o600)


def fill(url: str, kek: str = K1) -> Filled:
    """Rows of every kind, made through the API where it can: two servers with ACTIVE, NEXT
    and EXPIRED keys, pooled keys, scopes, an encryption key, a client with metadata and an
    app grant, a client with a public key, API tokens (one expiring, one revoked, one used),
    the audit record, used JWT ids, an event hook and its delivery. A SQLite
    store gets its KEK file beside it; tokens are minted from both servers."""
    if url.startswith("sqlite"):
        keep_kek_beside(url, kek)
    service = open_at(url, kek)
    filled = Filled(url, kek)
    settings = Settings(database_url=url, kek=decode_kek(kek))
    try:
        service.ensure_default()
        service.create_token("admin", ALL_SCOPES, ADMIN_TOKEN)
        app = create_app(service, settings, sweep=False)
        with TestClient(app, headers={"Authorization": f"SSWS {ADMIN_TOKEN}"}) as api:
            body = {"name": "orders", "audiences": ["api://orders"], "description": "Orders ✓"}
            made = api.post(SERVERS, json=body)
            assert made.status_code == 201, made.text
            orders = made.json()["id"]
            for server in ("default", orders, orders):
                assert api.post(ROTATE.format(server), json={"use": "sig"}).status_code == 200
            for server in ("default", orders):
                scope = {"name": "things:read", "displayName": "Things", "optional": True}
                answer = api.post(f"{SERVERS}/{server}/scopes", json=scope)
                assert answer.status_code == 201, answer.text
            encryption = RSAKey.generate_key(2048, parameters={"kid": "enc-1", "use": "enc"})
            answer = api.post(  # a row of encryption_keys
                f"{SERVERS}/{orders}/resourceservercredentials/keys",
                json=encryption.as_dict(private=False),
            )
            assert answer.status_code == 201, answer.text
            client = {"client_name": "billing ✓", "client_uri": "https://billing.example"}
            answer = api.post("/oauth2/v1/clients", json=client)
            assert answer.status_code == 201, answer.text
            creds = answer.json()
            filled.creds = {k: creds[k] for k in ("client_id", "client_secret")}
            grant = {"issuer": "http://testserver", "scopeId": SCOPE_READ}
            answer = api.post(f"/api/v1/apps/{creds['client_id']}/grants", json=grant)
            assert answer.status_code == 201, answer.text
            public = RSAKey.generate_key(2048, parameters={"kid": "signer-1"}).as_dict(
                private=False
            )
            signer = {
                "client_name": "signer",
                "token_endpoint_auth_method": "private_key_jwt",
                "jwks": {"keys": [public]},  # a row of client_jwks
            }
            answer = api.post("/oauth2/v1/clients", json=signer)
            assert answer.status_code == 201, answer.text
            for server, audience in (("default", "api://default"), (orders, "api://orders")):
                filled.tokens[server] = mint(api, server, filled.creds)
                filled.audiences[server] = audience
        soon = datetime.now(UTC) + timedelta(days=30)
        expiring, _ = service.create_token("ci", (SCOPE_READ,), expires=soon)
        revoked, _ = service.create_token("old", (SCOPE_READ,))
        service.api_tokens.revoke(revoked.id)
        with service.store.transaction(write=True) as tx:
            tx.note_token_uses({expiring.id: datetime.now(UTC)})
            tx.use_jti("https://client.example", "jti-1 ✓", soon)
            for _ in range(2):
                tx.add_pooled(service.factory.generate(), datetime.now(UTC))
        _fill_hooks(service, soon)
    finally:
        service.store.close()
    return filled


def _fill_hooks(service: KeyService, soon: datetime) -> None:
    """An event hook (its secret sealed), one delivery of it, a rotation notice."""
    from keyrotor.audit import CLI, EventQuery
    from keyrotor.hook_service import HookService
    from keyrotor.hooks import new_delivery, parse_hook

    hooks = HookService(service.store, service.factory.sealer, service.clock)
    body = {
        "name": "keys ✓",
        "events": {"type": "EVENT_TYPE", "items": ["app.oauth2.as.key.rollover"]},
        "channel": {
            "type": "HTTP",
            "version": "1.0.0",
            "config": {
                "uri": "https://93.184.215.14/hook",
                "authScheme": {"type": "HEADER", "key": "X-Secret", "value": "hook-secret"},
            },
        },
    }
    hook = hooks.create(parse_hook(body, hooks.subscribable()), CLI)
    with service.store.transaction(write=True) as tx:
        [(seq, event)] = tx.list_events(EventQuery(target_id=hook.id))
        tx.insert_deliveries([new_delivery(hook.id, seq, event, "{}")])
        tx.mark_notice("default", soon, datetime.now(UTC))


def mint(api: TestClient, server: str, creds: dict[str, str]) -> str:
    """An access token of ``server`` for the client ``creds`` (client_credentials)."""
    answer = api.post(
        f"/oauth2/{server}/v1/token",
        data={"grant_type": "client_credentials", "scope": "things:read"},
        auth=(creds["client_id"], creds["client_secret"]),
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


# -- comparing stores -----------------------------------------------------------------------


def dump(url: str) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table keyrotor moves, in key order, as Python values."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return {
                table.name: [
                    dict(row)
                    for row in conn.execute(
                        select(table).order_by(*table.primary_key.columns)
                    ).mappings()
                ]
                for table in TABLES
            }
    finally:
        engine.dispose()


def served(url: str, kek: str = K1) -> dict[str, bytes]:
    """What the store at ``url`` serves at each JWKS (server id, or ``org``): the bytes."""
    service = open_at(url, kek)
    settings = Settings(database_url=url, kek=decode_kek(kek))
    try:
        app = create_app(service, settings, sweep=False)
        with TestClient(app) as public:
            found = {}
            for server in service.all_servers():
                path = "/oauth2/v1/keys" if server.id == "org" else f"/oauth2/{server.id}/v1/keys"
                answer = public.get(path)
                assert answer.status_code == 200, answer.text
                found[server.id] = answer.content
            return found
    finally:
        service.store.close()


def verify(token: str, jwks: bytes, audience: str) -> dict[str, Any]:
    """The claims of ``token``, checked with the key of its kid in ``jwks`` (PyJWT)."""
    kid = jwt.get_unverified_header(token)["kid"]
    key = jwt.PyJWKSet.from_json(jwks.decode())[kid]
    claims: dict[str, Any] = jwt.decode(token, key, algorithms=["RS256"], audience=audience)
    return claims


def migrated(url: str) -> str:
    """``url`` with keyrotor's schema and nothing else (``keyrotor db upgrade``)."""
    store = SqlStore(url)
    try:
        store.migrate()
    finally:
        store.close()
    return url


# -- the command line -----------------------------------------------------------------------


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
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]
