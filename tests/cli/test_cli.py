"""The `keyrotor` command line, through click's runner, on a real SQLite file made by
``keyrotor init``: servers and keys by id or name, ``--json`` and ``--value``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from keyrotor.cli import main


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    for name in ("KEYROTOR_KEK", "KEYROTOR_KEK_FILE", "KEYROTOR_DEBUG", "KEYROTOR_PUBLIC_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KEYROTOR_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    runner = CliRunner()

    def invoke(*args: str) -> str:
        result = runner.invoke(main, list(args), catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    invoke("init")
    return invoke


def fails(*args: str) -> str:
    """The one line a refused command prints (exit code 1)."""
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    return lines[0]


def test_servers_create_and_list(run) -> None:
    args = ["servers", "create", "payments", "--audience", "api://pay"]
    created = json.loads(run(*args, "--rotation-mode", "MANUAL", "--json"))
    assert created["name"] == "payments"
    assert created["credentials"]["signing"]["rotationMode"] == "MANUAL"
    table = run("servers", "list")
    assert table.splitlines()[0].split() == [
        "id",
        "name",
        "status",
        "rotationMode",
        "kid",
        "nextRotation",
    ]
    assert "payments" in table and "default" in table
    listed = json.loads(run("servers", "list", "--json"))
    assert [s["name"] for s in listed] == ["default", "payments"]  # the org server is hidden


def test_keys_list_and_rotate(run) -> None:
    before = json.loads(run("keys", "list", "default", "--json"))
    assert [k["status"] for k in before] == ["ACTIVE", "NEXT"]
    after = json.loads(run("keys", "rotate", "default", "--json"))
    assert [k["status"] for k in after] == ["ACTIVE", "NEXT", "EXPIRED"]
    assert after[0]["kid"] == before[1]["kid"]
    assert "EXPIRED" in run("keys", "list", "default")


def test_a_server_is_named_by_its_id_or_its_unique_name(run) -> None:
    solo = run("servers", "create", "solo", "--audience", "api://solo", "--value", "id").strip()
    by_name = json.loads(run("keys", "list", "solo", "--json"))
    assert by_name == json.loads(run("keys", "list", solo, "--json"))
    assert json.loads(run("servers", "show", "solo", "--json"))["id"] == solo
    rotated = json.loads(run("keys", "rotate", "solo", "--json"))
    assert rotated[0]["kid"] == by_name[1]["kid"]
    org = json.loads(run("keys", "rotate", "org", "--json"))  # hidden from the API, not here
    assert [k["status"] for k in org] == ["ACTIVE", "NEXT", "EXPIRED"]


def test_an_ambiguous_or_unknown_name_lists_the_candidates(run) -> None:
    ids = [
        run("servers", "create", "pay", "--audience", f"api://pay{i}", "--value", "id").strip()
        for i in range(2)
    ]
    line = fails("keys", "list", "pay")
    assert "2 authorization servers are named 'pay'" in line
    assert all(i in line for i in ids)
    line = fails("keys", "rotate", "nope")
    assert "Not found: Resource not found: nope (AuthorizationServer)" in line
    assert all(f"{i} (pay)" in line for i in ids) and "default (default)" in line
    assert "org" not in line.split("servers:")[1]  # the API hides it (`keys rotate org` works)


def test_value_prints_members_for_shell_variables(run) -> None:
    made = run(
        "servers", "create", "v", "--audience", "api://v", "--value", "id", "--value", "name"
    )
    server_id, name = made.rstrip("\n").split("\t")
    assert server_id.startswith("aus") and name == "v"
    kids = run("keys", "list", "v", "--value", "kid").splitlines()
    assert len(kids) == 2
    assert run("servers", "show", "v", "--value", "credentials.signing.kid").strip() == kids[0]
    line = fails("servers", "show", "v", "--value", "nope")
    assert "--value nope: the answer has no such member" in line


def test_tokens_create_prints_the_value_once(run) -> None:
    args = ["tokens", "create", "--name", "ci", "--scope", "okta.authorizationServers.read"]
    made = json.loads(run(*args, "--json"))
    assert made["token"].startswith("00") and len(made["token"]) == 42
    assert made["scopes"] == ["okta.authorizationServers.read"]
    assert run(*args, "--value", "token").strip().startswith("00")


def test_kek_new_is_32_bytes_of_base64(run) -> None:
    import base64

    assert len(base64.urlsafe_b64decode(run("kek", "new").strip())) == 32


def test_version(run) -> None:
    assert "keyrotor, version" in run("--version")


def test_serve_refuses_a_next_key_lead_as_long_as_the_rotation_period(tmp_path: Path) -> None:
    """A NEXT lead time of the whole period (or more) is refused before anything starts."""
    database = f"sqlite:///{tmp_path / 'lead.db'}"
    args = ["serve", "--database", database, "--rotation-days", "10", "--next-key-lead-days", "10"]
    assert "NEXT key lead time" in fails(*args)
