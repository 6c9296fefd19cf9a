"""Helpers shared by the tests: fixtures as data, Okta error assertions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
from alembic import command

from keyrotor.storage import migrate as migrations
from keyrotor.storage.sql import SqlStore

FIXTURES = Path(__file__).with_name("fixtures")
ERROR_MEMBERS = ["errorCode", "errorSummary", "errorLink", "errorId", "errorCauses"]


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def assert_okta_error(
    response: httpx.Response, status: int, code: str, summary: str, causes: list[str] | None = None
) -> dict[str, Any]:
    """The exact Okta error body: every member, in order, ``errorLink`` = ``errorCode``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    assert list(body) == ERROR_MEMBERS
    assert body["errorCode"] == code
    assert body["errorLink"] == code
    assert body["errorSummary"] == summary
    assert body["errorId"].startswith("oae") and len(body["errorId"]) > 10
    assert body["errorCauses"] == [{"errorSummary": c} for c in (causes or [])]
    return body


def shape(value: Any) -> Any:
    """The structure of a JSON value: member names and order, types; not the values."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(v) for v in value[:1]]
    return type(value).__name__


def migrate_to(store: SqlStore, revision: str, *, down: bool = False) -> None:
    """Upgrade (or, ``down``, downgrade) ``store``'s schema to ``revision``."""
    config = migrations._config()
    with store.engine.begin() as conn:
        config.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(config, revision)
