"""The `keyrotor` command line, through click's runner, on a real SQLite file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from keyrotor.cli import main


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("KEYROTOR_KEK", raising=False)
    monkeypatch.setenv("KEYROTOR_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    runner = CliRunner()

    def invoke(*args: str) -> str:
        result = runner.invoke(main, list(args), catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    return invoke


def test_servers_create_and_list(run) -> None:
    created = json.loads(
        run(
            "servers",
            "create",
            "payments",
            "--audience",
            "api://pay",
            "--rotation-mode",
            "MANUAL",
            "--json",
        )
    )
    assert created[0]["name"] == "payments" and created[0]["rotationMode"] == "MANUAL"
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


def test_keys_list_and_rotate(run) -> None:
    before = json.loads(run("keys", "list", "default", "--json"))
    assert [k["status"] for k in before] == ["ACTIVE", "NEXT"]
    after = json.loads(run("keys", "rotate", "default", "--json"))
    assert [k["status"] for k in after] == ["ACTIVE", "NEXT", "EXPIRED"]
    assert after[0]["kid"] == before[1]["kid"]
    assert "EXPIRED" in run("keys", "list", "default")


def test_keys_of_an_unknown_server_fail_cleanly(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("KEYROTOR_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    result = CliRunner().invoke(main, ["keys", "list", "ausNope"])
    assert result.exit_code == 1
    assert "Not found: Resource not found: ausNope (AuthorizationServer)" in result.output


def test_tokens_create_prints_the_value_once(run) -> None:
    made = json.loads(
        run(
            "tokens",
            "create",
            "--name",
            "ci",
            "--scope",
            "okta.authorizationServers.read",
            "--json",
        )
    )
    assert made[0]["token"].startswith("00") and len(made[0]["token"]) == 42
    assert made[0]["scopes"] == "okta.authorizationServers.read"


def test_kek_new_is_32_bytes_of_base64(run) -> None:
    import base64

    assert len(base64.urlsafe_b64decode(run("kek", "new").strip())) == 32


def test_version(run) -> None:
    assert "keyrotor, version" in run("--version")


def test_serve_refuses_a_next_key_lead_as_long_as_the_rotation_period(tmp_path: Path) -> None:
    """A NEXT lead time of the whole period (or more) is refused before anything starts."""
    database = f"sqlite:///{tmp_path / 'lead.db'}"
    result = CliRunner().invoke(
        main,
        ["serve", "--database", database, "--rotation-days", "10", "--next-key-lead-days", "10"],
    )
    assert result.exit_code == 1
    assert "NEXT key lead time" in result.output
