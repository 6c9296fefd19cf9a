"""``keyrotor audit`` on a real SQLite file made by ``keyrotor init``: what the CLI changed,
by ``cli``, as a table and as the System Log's JSON (Okta's ``LogEvent`` schema)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from keyrotor.cli import main
from tests.okta_spec import OktaSpec

SPEC = OktaSpec.load()
LOG_EVENTS = {"type": "array", "items": SPEC.component("LogEvent")}


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    for name in ("KEYROTOR_KEK", "KEYROTOR_KEK_FILE", "KEYROTOR_DEBUG", "KEYROTOR_PUBLIC_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KEYROTOR_DATABASE_URL", f"sqlite:///{tmp_path / 'audit.db'}")
    runner = CliRunner()

    def invoke(*args: str) -> str:
        result = runner.invoke(main, list(args), catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    invoke("init")
    return invoke


def audit_json(run: Any, *args: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = json.loads(run("audit", "--json", *args))
    SPEC.validate(LOG_EVENTS, found, "keyrotor audit --json")
    return found


def test_audit_shows_what_the_cli_did(run: Any) -> None:
    server_id = run("servers", "create", "orders", "--audience", "api://orders", "--value", "id")
    server_id = server_id.strip()
    run("keys", "rotate", "orders")
    token_id = run("tokens", "create", "--name", "ci", "--value", "id").strip()
    found = audit_json(run, "--server", "orders")
    assert [e["eventType"] for e in found][:2] == [
        "oauth2.as.created",
        "keyrotor.key.lifecycle.create",
    ]
    assert "app.oauth2.as.key.rollover" in [e["eventType"] for e in found]
    assert {e["actor"]["id"] for e in found} == {"cli"}
    assert all(server_id in [t["id"] for t in e["target"]] for e in found)
    every = audit_json(run)
    made = [e for e in every if e["eventType"] == "system.api_token.create"]
    assert [e["target"][0]["id"] for e in made] == [token_id]
    assert made[0]["actor"]["id"] == "cli"
    newest = audit_json(run, "--limit", "1")
    assert newest == every[-1:]
    table = run("audit", "--server", server_id).splitlines()
    assert table[0].split() == ["published", "eventType", "actor", "target", "server", "details"]
    assert any("trigger=MANUAL" in line for line in table)


def test_bounds_and_a_server_deleted_since(run: Any) -> None:
    assert (
        audit_json(run, "--since", "2000-01-01T00:00:00Z", "--until", "2000-01-02T00:00:00Z") == []
    )
    assert audit_json(run, "--server", "aus-no-such-server") == []


@pytest.mark.parametrize(
    "args",
    [
        ("--since", "yesterday"),
        ("--until", "2026-02-30T00:00:00Z"),
        ("--since", "2026-02-01", "--until", "2026-01-01"),
    ],
)
def test_bad_times_are_one_line_errors(run: Any, args: tuple[str, ...]) -> None:
    result = CliRunner().invoke(main, ["audit", *args])
    assert result.exit_code == 1, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
