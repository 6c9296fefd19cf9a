"""Every failure of the command line is one line on stderr, ``Error: …`` with its cause, and
exit code 1: no traceback, no secret, and nothing created on the way.

The main cases run ``python -m keyrotor`` as a subprocess, as an operator would, against real
SQLite files and the real PostgreSQL server.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy.engine import make_url
from starlette.testclient import TestClient

from keyrotor.cli import main
from keyrotor.crypto import encode_kek
from keyrotor.storage import migrate
from keyrotor.storage.sql import make_engine
from tests.conftest import TEST_KEK, free_port, postgres_base_url

KEK = encode_kek(TEST_KEK)


def keyrotor(*args: str, cwd: Path | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    """``python -m keyrotor ARGS`` with no KEYROTOR_ settings but ``env``."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("KEYROTOR_")}
    return subprocess.run(
        [sys.executable, "-m", "keyrotor", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env={**clean, **env},
    )


def one_error_line(run: subprocess.CompletedProcess[str]) -> str:
    assert run.returncode == 1, (run.stdout, run.stderr)
    assert run.stdout == ""
    assert "Traceback" not in run.stderr
    lines = run.stderr.splitlines()
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith("Error: ")
    return lines[0]


def files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# -- SQLite: a store that is not there is refused, and not made ------------------------

STORE_COMMANDS = [
    ["servers", "list"],
    ["servers", "show", "default"],
    ["servers", "create", "x", "--audience", "api://x"],
    ["keys", "list", "default"],
    ["keys", "rotate", "default"],
    ["tokens", "create"],
    ["clients", "create", "x"],
    ["clients", "list"],
    ["db", "upgrade"],
]


@pytest.mark.parametrize("args", STORE_COMMANDS, ids=" ".join)
def test_a_command_in_another_directory_creates_no_store(tmp_path: Path, args: list[str]) -> None:
    """``cd elsewhere && keyrotor …``: refused, naming the file looked for; nothing made."""
    line = one_error_line(keyrotor(*args, cwd=tmp_path))
    assert f"no keyrotor store at {tmp_path / 'keyrotor.db'}" in line
    assert "`keyrotor init --database sqlite:///keyrotor.db` creates one" in line
    assert files(tmp_path) == []


def test_a_typo_in_the_database_creates_nothing(tmp_path: Path) -> None:
    assert keyrotor("init", "--database", f"sqlite:///{tmp_path / 'keyrotor.db'}").returncode == 0
    before = files(tmp_path)
    typo = f"sqlite:///{tmp_path / 'keyrotr.db'}"
    line = one_error_line(keyrotor("tokens", "create", "--database", typo))
    assert f"no keyrotor store at {tmp_path / 'keyrotr.db'}" in line
    assert files(tmp_path) == before


def test_a_file_without_a_store_is_refused_as_it_is(tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    empty.touch()
    line = one_error_line(keyrotor("servers", "list", "--database", f"sqlite:///{empty}"))
    assert f"{empty} has no keyrotor store in it" in line and "keyrotor init" in line
    assert empty.stat().st_size == 0 and not (tmp_path / "empty.db.kek").exists()
    text = tmp_path / "notes.db"
    text.write_text("not a database\n" * 100)
    line = one_error_line(keyrotor("keys", "list", "default", "--database", f"sqlite:///{text}"))
    assert "file is not a database" in line


def test_a_path_that_cannot_be_written(tmp_path: Path) -> None:
    """``init`` in a place it cannot create the file: refused before the KEK file is made."""
    (tmp_path / "afile").write_text("x")
    line = one_error_line(keyrotor("init", "--database", f"sqlite:///{tmp_path}/afile/k.db"))
    assert f"cannot create {tmp_path}/afile/k.db: {tmp_path}/afile is not a directory" in line
    line = one_error_line(keyrotor("init", "--database", f"sqlite:///{tmp_path}/no/k.db"))
    assert f"the directory {tmp_path}/no does not exist" in line
    assert files(tmp_path) == ["afile"]
    if os.geteuid() == 0:  # root writes anywhere but where no file can be made at all
        line = one_error_line(keyrotor("init", "--database", "sqlite:////proc/keyrotor.db"))
        assert "/proc/keyrotor.db" in line
    else:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        line = one_error_line(keyrotor("init", "--database", f"sqlite:///{locked}/k.db"))
        assert f"this user may not write to {locked}" in line


@pytest.mark.parametrize(
    "url",
    [
        "foo",
        "sqlite:relative.db",
        "mysql://me:pw-s3cret@db.example/keys",
        "postgresql://me:pw-s3cret@db.example:port/keys",
    ],
)
@pytest.mark.parametrize("args", [["servers", "list"], ["serve", "--port", "0"]], ids=" ".join)
def test_a_database_url_that_is_not_understood(url: str, args: list[str]) -> None:
    line = one_error_line(keyrotor(*args, "--database", url))
    assert "database URL not understood" in line and "postgresql://user@host:5432/db" in line
    assert "pw-s3cret" not in line


# -- PostgreSQL ------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.parametrize(
    "args",
    [["servers", "list"], ["init"], ["db", "upgrade"], ["serve", "--port", "0"]],
    ids=" ".join,
)
def test_postgres_that_refuses_connections(args: list[str]) -> None:
    postgres_base_url()  # run with the PostgreSQL tests (and fail, not skip, in CI)
    url = f"postgresql://postgres:pw-s3cret@127.0.0.1:{free_port()}/keyrotor"
    line = one_error_line(keyrotor(*args, "--database", url, KEYROTOR_KEK=KEK))
    assert "connection refused" in line
    assert "postgresql://postgres:***@127.0.0.1" in line and "pw-s3cret" not in line


@pytest.mark.postgres
@pytest.mark.parametrize(
    "args", [["keys", "list", "default"], ["init"], ["serve", "--port", "0"]], ids=" ".join
)
def test_postgres_database_that_does_not_exist(args: list[str]) -> None:
    name = f"keyrotor_missing_{uuid.uuid4().hex[:8]}"
    url = make_url(postgres_base_url()).set(database=name).render_as_string(hide_password=False)
    line = one_error_line(keyrotor(*args, "--database", url, KEYROTOR_KEK=KEK))
    assert f'database "{name}" does not exist: create it (createdb)' in line


@pytest.mark.postgres
@pytest.mark.parametrize("args", STORE_COMMANDS[:-1], ids=" ".join)
def test_postgres_database_without_a_schema_is_left_alone(
    postgres_url: str, args: list[str]
) -> None:
    line = one_error_line(keyrotor(*args, "--database", postgres_url, KEYROTOR_KEK=KEK))
    assert "has no keyrotor store in it" in line and "keyrotor init --database" in line
    engine = make_engine(postgres_url)
    try:
        assert migrate.current(engine) is None
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_postgres_without_a_key_encryption_key(postgres_url: str) -> None:
    assert keyrotor("init", "--database", postgres_url, KEYROTOR_KEK=KEK).returncode == 0
    line = one_error_line(keyrotor("tokens", "create", "--database", postgres_url))
    assert "KEYROTOR_KEK" in line


# -- validation: the API's causes, through the API's parser --------------------------

SERVER_CASES: list[tuple[list[str], dict[str, Any]]] = [
    ([""], {"name": ""}),
    (["x" * 1000, "--audience", "api://x"], {"name": "x" * 1000, "audiences": ["api://x"]}),
    (["x", "--audience", " "], {"name": "x", "audiences": [" "]}),
    (["x", "--audience", "a" * 1025], {"name": "x", "audiences": ["a" * 1025]}),
    (
        ["x", "--audience", "a", "--description", "d" * 1025],
        {"name": "x", "audiences": ["a"], "description": "d" * 1025},
    ),
    (
        ["x", "--audience", "a", "--rotation-mode", "SOMETIMES"],
        {
            "name": "x",
            "audiences": ["a"],
            "credentials": {"signing": {"rotationMode": "SOMETIMES"}},
        },
    ),
    (
        ["x", "--audience", "a", "--issuer-mode", "NOPE"],
        {"name": "x", "audiences": ["a"], "issuerMode": "NOPE"},
    ),
]


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    for name in ("KEYROTOR_KEK", "KEYROTOR_KEK_FILE", "KEYROTOR_DEBUG", "KEYROTOR_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    url = f"sqlite:///{tmp_path / 'keyrotor.db'}"
    assert CliRunner().invoke(main, ["init", "--database", url]).exit_code == 0
    return url


def cli_error(*args: str) -> str:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 1, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    return lines[0]


@pytest.mark.parametrize(("args", "body"), SERVER_CASES)
def test_servers_create_refuses_what_the_api_refuses(
    client: TestClient, store: str, args: list[str], body: dict[str, Any]
) -> None:
    answer = client.post("/api/v1/authorizationServers", json=body)
    assert answer.status_code == 400
    error = answer.json()
    causes = "; ".join(c["errorSummary"].rstrip(".") for c in error["errorCauses"])
    line = cli_error("servers", "create", *args, "--database", store)
    assert line == f"Error: {error['errorSummary']}: {causes}"


def test_clients_create_refuses_what_the_api_refuses(
    client: TestClient, store: str, tmp_path: Path
) -> None:
    body = {"client_name": "x", "token_endpoint_auth_method": "private_key_jwt"}
    answer = client.post("/oauth2/v1/clients", json={**body, "jwks_uri": "ftp://keys"})
    assert answer.status_code == 400
    args = ["clients", "create", "x", "--auth-method", "private_key_jwt", "--database", store]
    line = cli_error(*args, "--jwks-uri", "ftp://keys")
    assert line == f"Error: {answer.json()['error_description']}"
    (tmp_path / "jwks.json").write_text("{not json")
    assert "the --jwks file is not JSON" in cli_error(*args, "--jwks", str(tmp_path / "jwks.json"))


# -- anything else: one line, unless KEYROTOR_DEBUG=1 asks for the traceback ----------


def test_an_unexpected_error_is_one_line(store: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from keyrotor.service import KeyService

    def broken(self: KeyService, *args: object, **kwargs: object) -> None:
        raise RuntimeError("the disk is on fire")

    monkeypatch.setattr(KeyService, "rotate", broken)
    line = cli_error("keys", "rotate", "default", "--database", store)
    assert line == (
        "Error: unexpected RuntimeError: the disk is on fire (set KEYROTOR_DEBUG=1 to see where)"
    )
    monkeypatch.setenv("KEYROTOR_DEBUG", "1")
    result = CliRunner().invoke(main, ["keys", "rotate", "default", "--database", store])
    assert isinstance(result.exception, RuntimeError)


def test_a_reader_that_leaves_early_gets_no_error(tmp_path: Path) -> None:
    """``keyrotor keys list default --value kid | head -n 1``: no ``Error: Broken pipe``."""
    url = f"sqlite:///{tmp_path / 'keyrotor.db'}"
    assert keyrotor("init", "--database", url).returncode == 0
    clean = {k: v for k, v in os.environ.items() if not k.startswith("KEYROTOR_")}
    command = [sys.executable, "-m", "keyrotor", "keys", "list", "default", "--database", url]
    run = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=clean)
    assert run.stdout is not None and run.stderr is not None
    run.stdout.close()  # before the command writes a line
    with run.stderr:
        assert run.stderr.read() == b""
    assert run.wait(60) == 1
