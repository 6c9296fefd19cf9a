"""``keyrotor clients …`` and the token settings of ``keyrotor serve``."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from keyrotor.cli import main
from keyrotor.cli.serve import _retention
from keyrotor.config import ConfigError, Settings
from keyrotor.lifecycle import RotationPolicy
from tests.conftest import ADMIN_TOKEN, ServerProcess


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.delenv("KEYROTOR_KEK", raising=False)
    monkeypatch.delenv("KEYROTOR_KEK_FILE", raising=False)
    monkeypatch.delenv("KEYROTOR_DATABASE_URL", raising=False)
    url = f"sqlite:///{tmp_path / 'keyrotor.db'}"
    run("init", "--database", url)
    return url


def run(*args: str) -> str:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_clients_create_list_delete(database: str) -> None:
    made = json.loads(run("clients", "create", "svc", "--database", database, "--json"))
    assert made["client_id"].startswith("0oa")
    assert made["client_secret"]
    assert made["token_endpoint_auth_method"] == "client_secret_basic"
    listed = json.loads(run("clients", "list", "--database", database, "--json"))
    assert [c["client_id"] for c in listed] == [made["client_id"]]
    assert "client_secret" not in listed[0]
    table = run("clients", "list", "--database", database)
    assert table.splitlines()[0].split() == [
        "client_id",
        "client_name",
        "token_endpoint_auth_method",
        "org_scopes",
        "created",
    ]
    assert made["client_secret"] not in table
    assert run("clients", "delete", made["client_id"], "--database", database) == (
        f"deleted {made['client_id']}\n"
    )
    assert json.loads(run("clients", "list", "--database", database, "--json")) == []


def test_clients_create_with_org_scopes_and_post(database: str) -> None:
    args = ["clients", "create", "ops", "--database", database, "--json"]
    args += ["--org-scope", "okta.authorizationServers.read"]
    args += ["--org-scope", "okta.authorizationServers.manage"]
    args += ["--auth-method", "client_secret_post"]
    made = json.loads(run(*args))
    assert made["token_endpoint_auth_method"] == "client_secret_post"
    table = run("clients", "list", "--database", database)
    row = table.splitlines()[1]
    assert "okta.authorizationServers.read" in row and "okta.authorizationServers.manage" in row


def test_unknown_org_scope_and_client(database: str) -> None:
    result = CliRunner().invoke(
        main, ["clients", "create", "x", "--org-scope", "okta.users.manage", "--database", database]
    )
    assert result.exit_code == 2
    result = CliRunner().invoke(main, ["clients", "delete", "0oaNope", "--database", database])
    assert result.exit_code == 1
    assert "Resource not found: 0oaNope (OAuth2Client)" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--token-lifetime", "7200", "--key-retention", "3600"],
            "key retention 1:00:00 is shorter than the token lifetime plus clock skew (2:05:00)",
        ),
        (["--key-retention", "60"], "key retention 0:01:00 is shorter than the token lifetime"),
        (
            ["--token-lifetime", "86400", "--rotation-days", "1"],
            "the rotation period must be longer than token lifetime plus skew",
        ),
    ],
)
def test_serve_refuses_a_retention_that_would_break_tokens(
    database: str, args: list[str], message: str
) -> None:
    result = CliRunner().invoke(main, ["serve", "--database", database, *args])
    assert result.exit_code == 1
    assert message in result.output


@pytest.mark.parametrize("lifetime", ["0", "86401", "abc"])
def test_serve_refuses_a_lifetime_out_of_range(database: str, lifetime: str) -> None:
    result = CliRunner().invoke(
        main, ["serve", "--database", database, "--token-lifetime", lifetime]
    )
    assert result.exit_code == 2


def test_retention_is_derived_from_the_token_lifetime() -> None:
    assert _retention(3600, None) == timedelta(hours=1, minutes=5)
    assert _retention(7200, None) == timedelta(hours=2, minutes=5)
    assert _retention(60, 90_000) == timedelta(seconds=90_000)
    lifetime = timedelta(hours=6)
    settings = Settings(
        token_lifetime=lifetime, policy=RotationPolicy(retention=_retention(6 * 3600, None))
    )
    assert settings.policy.retention == lifetime + settings.clock_skew
    with pytest.raises(ConfigError):
        Settings(token_lifetime=lifetime)  # the default retention does not cover it


@pytest.mark.e2e
def test_serve_issues_tokens_of_the_configured_lifetime(
    start_server: Callable[..., ServerProcess],
) -> None:
    server = start_server(None, "--token-lifetime", "7200")
    admin = {"Authorization": f"SSWS {ADMIN_TOKEN}"}
    scopes = f"{server.url}/api/v1/authorizationServers/default/scopes"
    httpx.post(scopes, json={"name": "a"}, headers=admin)
    creds = httpx.post(
        f"{server.url}/oauth2/v1/clients", json={"client_name": "x"}, headers=admin
    ).json()
    response = httpx.post(
        f"{server.url}/oauth2/default/v1/token",
        data={"grant_type": "client_credentials", "scope": "a"},
        auth=(creds["client_id"], creds["client_secret"]),
    )
    assert response.json()["expires_in"] == 7200
    assert "client_secret" not in server.output()
    assert creds["client_secret"] not in server.output()
