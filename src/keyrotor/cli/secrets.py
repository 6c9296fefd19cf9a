"""``keyrotor clients secrets``: a client's secrets, as the API's
``/api/v1/apps/{appId}/credentials/secrets`` manages them (the same rules, the same record).

A rotation without a gap: ``create`` a second secret (its value printed once), move the
client to it, ``deactivate`` the old one, then ``delete`` it.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from keyrotor.audit import CLI
from keyrotor.cli.common import (
    database_option,
    emit,
    json_option,
    print_table,
    public_base,
    service_at,
)
from keyrotor.client_secrets import ClientSecret, SecretRequest, SecretStatus, check_value
from keyrotor.clock import iso
from keyrotor.oauth import OAuthService
from keyrotor.secret_service import ClientSecretService

_COLUMNS = ["id", "status", "secret_hash", "created", "lastUpdated"]


def _secrets(database: str) -> ClientSecretService:
    return OAuthService(service_at(database)).secrets


def _json(secret: ClientSecret, value: str | None = None) -> dict[str, Any]:
    from keyrotor.http.client_secrets import secret_json

    return secret_json(secret, public_base(), value)


def _row(secret: ClientSecret) -> dict[str, Any]:
    return {
        "id": secret.id,
        "status": secret.status.value,
        "secret_hash": secret.secret_hash,
        "created": iso(secret.created),
        "lastUpdated": iso(secret.last_updated),
    }


@click.group("secrets")
def secrets() -> None:
    """A client's secrets (at most two; any ACTIVE one opens the token endpoints)."""


@secrets.command("list")
@click.argument("client_id")
@database_option
@json_option
def secrets_list(client_id: str, database: str, as_json: bool) -> None:
    """The client's secrets, oldest first (never their values)."""
    found = _secrets(database).list(client_id)
    emit(
        as_json,
        [_json(s) for s in found],
        lambda: print_table([_row(s) for s in found], _COLUMNS),
    )


@secrets.command("create")
@click.argument("client_id")
@click.option(
    "--inactive", is_flag=True, help="Make it INACTIVE (activate it when the client has it)."
)
@click.option(
    "--value-from-stdin",
    "from_stdin",
    is_flag=True,
    help="Read the secret from stdin (printable ASCII, 14 to 100 characters) instead of "
    "generating one.",
)
@database_option
@json_option
def secrets_create(
    client_id: str, inactive: bool, from_stdin: bool, database: str, as_json: bool
) -> None:
    """Add a secret; its value is printed once and stored only as a digest."""
    value = None
    if from_stdin:  # not an argument: it would stay in the shell's history and in ps
        value = check_value(sys.stdin.read().strip("\r\n"))
    status = SecretStatus.INACTIVE if inactive else SecretStatus.ACTIVE
    made, shown = _secrets(database).create(client_id, SecretRequest(value, status), CLI)
    emit(
        as_json,
        _json(made, shown),
        lambda: print_table([{**_row(made), "client_secret": shown}], [*_COLUMNS, "client_secret"]),
    )


@secrets.command("activate")
@click.argument("client_id")
@click.argument("secret_id", metavar="ID")
@database_option
@json_option
def secrets_activate(client_id: str, secret_id: str, database: str, as_json: bool) -> None:
    """Activate a secret: it opens the token endpoints again."""
    done = _secrets(database).activate(client_id, secret_id, CLI)
    emit(as_json, _json(done), lambda: print_table([_row(done)], _COLUMNS))


@secrets.command("deactivate")
@click.argument("client_id")
@click.argument("secret_id", metavar="ID")
@database_option
@json_option
def secrets_deactivate(client_id: str, secret_id: str, database: str, as_json: bool) -> None:
    """Deactivate a secret (never the client's only ACTIVE one): refused from then on."""
    done = _secrets(database).deactivate(client_id, secret_id, CLI)
    emit(as_json, _json(done), lambda: print_table([_row(done)], _COLUMNS))


@secrets.command("delete")
@click.argument("client_id")
@click.argument("secret_id", metavar="ID")
@database_option
@json_option
def secrets_delete(client_id: str, secret_id: str, database: str, as_json: bool) -> None:
    """Delete an INACTIVE secret."""
    _secrets(database).delete(client_id, secret_id, CLI)
    emit(as_json, None, f"deleted {secret_id}")
