"""``keyrotor tokens create|list|revoke`` on a real SQLite store, through click's runner, and
``serve``'s refusal of a weak ``KEYROTOR_BOOTSTRAP_TOKEN``."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from keyrotor.apitokens import ALL_SCOPES, SCOPE_READ, new_token_value
from keyrotor.cli import main
from keyrotor.cli.serve import _bootstrap
from keyrotor.clock import ManualClock, iso
from keyrotor.service import KeyService
from tests.conftest import START

Run = Callable[..., Result]


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Run:
    """``keyrotor …`` on a store made by ``keyrotor init`` in a temporary folder."""
    for name in ("KEYROTOR_KEK", "KEYROTOR_KEK_FILE", "KEYROTOR_PUBLIC_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KEYROTOR_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        return runner.invoke(main, list(args))

    made = invoke("init")
    assert made.exit_code == 0, made.output
    return invoke


def ok(result: Result) -> str:
    assert result.exit_code == 0, result.output
    return result.output


def refused(result: Result) -> str:
    """One line, ``Error: …``, exit code 1, no traceback."""
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    assert "Traceback" not in result.output
    return lines[0]


def created(run: Run, *args: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(ok(run("tokens", "create", *args, "--json")))
    return found


def test_create_list_revoke(run: Run) -> None:
    made = created(run, "--name", "ci", "--scope", SCOPE_READ)
    value = made.pop("token")
    assert value.startswith("00") and len(value) == 42
    assert made["name"] == "ci" and made["scopes"] == [SCOPE_READ]
    assert made["network"] == {"connection": "ANYWHERE"} and "expiresAt" not in made
    base = "http://127.0.0.1:8080"  # `serve`'s address: KEYROTOR_PUBLIC_URL is not set
    assert made["_links"]["self"]["href"] == f"{base}/api/v1/api-tokens/{made['id']}"

    listed = json.loads(ok(run("tokens", "list", "--json")))
    assert made in listed  # the API's shape, without the value
    table = ok(run("tokens", "list"))
    assert table.splitlines()[0].split() == [
        "id",
        "name",
        "scopes",
        "created",
        "expires",
        "lastUsed",
    ]
    assert made["id"] in table and value not in table + json.dumps(listed)

    assert ok(run("tokens", "revoke", made["id"])).strip() == f"revoked {made['id']}"
    assert made["id"] not in ok(run("tokens", "list"))
    again = refused(run("tokens", "revoke", made["id"]))
    assert again == f"Error: Not found: Resource not found: {made['id']} (ApiToken)"


def test_revoke_json_is_null(run: Run) -> None:
    made = created(run)
    assert json.loads(ok(run("tokens", "revoke", made["id"], "--json"))) is None
    assert refused(run("tokens", "revoke", "00Tnope", "--json")).endswith("00Tnope (ApiToken)")


def test_expires_in_days(run: Run) -> None:
    made = created(run, "--expires-in", "7")
    lifetime = _moment(made["expiresAt"]) - _moment(made["created"])
    assert lifetime == timedelta(days=7)
    assert made["expiresAt"] in ok(run("tokens", "list"))


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("2999-01-01T00:00:00Z", "2999-01-01T00:00:00.000Z"),
        ("2999-01-01T02:00:00+02:00", "2999-01-01T00:00:00.000Z"),
        ("2999-01-01T00:00:00", "2999-01-01T00:00:00.000Z"),  # UTC without an offset
        ("2999-01-01", "2999-01-01T00:00:00.000Z"),
    ],
)
def test_expires_at(run: Run, given: str, stored: str) -> None:
    assert created(run, "--expires-at", given)["expiresAt"] == stored


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--expires-at", "2000-01-01T00:00:00Z"],
            "Api validation failed: apiToken|expiresAt: the expiry must be in the future",
        ),
        (
            ["--expires-at", "next tuesday"],
            "--expires-at 'next tuesday' is not an ISO 8601 moment (e.g. 2026-12-31T00:00:00Z)",
        ),
        (
            ["--expires-in", "1", "--expires-at", "2999-01-01"],
            "give --expires-in or --expires-at, not both",
        ),
        (["--name", " "], "Api validation failed: apiToken|name: a token needs a name"),
        (["--name", "x" * 256], "Api validation failed: apiToken|name: at most 255 characters"),
    ],
)
def test_bad_input_is_one_line(run: Run, args: list[str], message: str) -> None:
    line = refused(run("tokens", "create", *args))
    for part in message.split("|"):  # the summary, then the cause
        assert part in line
    assert json.loads(ok(run("tokens", "list", "--json"))) == []  # nothing made


def test_expires_in_is_a_positive_number_of_days(run: Run) -> None:
    result = run("tokens", "create", "--expires-in", "0")
    assert result.exit_code == 2 and "Traceback" not in result.output


# -- serve and KEYROTOR_BOOTSTRAP_TOKEN -------------------------------------------------------


@pytest.mark.parametrize("weak", ["Zq9", "00" + "x" * 40, "correcthorsebatterystaplecorrecthorse"])
def test_serve_refuses_a_weak_bootstrap_token_before_making_anything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, weak: str
) -> None:
    monkeypatch.setenv("KEYROTOR_BOOTSTRAP_TOKEN", weak)
    monkeypatch.setenv("KEYROTOR_KEK", "x")  # never read: the refusal comes first
    database = tmp_path / "new.db"
    result = CliRunner().invoke(
        main, ["serve", "--port", "0", "--database", f"sqlite:///{database}"]
    )
    line = refused(result)
    assert line.startswith("Error: KEYROTOR_BOOTSTRAP_TOKEN is too weak to be an admin API token")
    assert "openssl rand -hex 32" in line
    assert weak not in line
    assert list(tmp_path.iterdir()) == []  # no store, no key file


def test_a_revoked_bootstrap_token_stays_revoked_and_serve_says_so(
    make_service: Callable[..., KeyService], monkeypatch: pytest.MonkeyPatch
) -> None:
    service = make_service()
    value = new_token_value()
    monkeypatch.setenv("KEYROTOR_BOOTSTRAP_TOKEN", value)
    assert _bootstrap(service) == "Admin API token: the value of $KEYROTOR_BOOTSTRAP_TOKEN"
    (token,) = service.list_tokens()
    service.api_tokens.revoke(token.id)
    assert "is revoked or expired" in _bootstrap(service)  # the next start
    assert service.authenticate(value) is None and service.list_tokens() == []


def test_without_a_bootstrap_token_the_first_start_prints_one(
    make_service: Callable[..., KeyService], monkeypatch: pytest.MonkeyPatch, clock: ManualClock
) -> None:
    monkeypatch.delenv("KEYROTOR_BOOTSTRAP_TOKEN", raising=False)
    service = make_service()
    first = _bootstrap(service)
    assert first.startswith("Admin API token (shown once, keep it): 00")
    assert service.authenticate(first.rsplit(" ", 1)[1]) is not None
    assert _bootstrap(service).startswith("Admin API token: the one printed at first start")
    (token,) = service.list_tokens()
    assert token.scopes == ALL_SCOPES and iso(token.created) == iso(START)


def _moment(text: str) -> Any:
    from datetime import datetime

    return datetime.fromisoformat(text)
