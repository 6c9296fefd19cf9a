"""``keyrotor clients keys``: a client's public keys, as the API's
``/api/v1/apps/{appId}/credentials/jwks`` manages them (the same rules, the same record).

A rotation: ``add`` the new public key (``--inactive`` to stage it), ``activate`` it once
the client signs with it, ``deactivate`` the old one, then ``delete`` it.
"""

from __future__ import annotations

import json
from typing import IO, Any

import click

from keyrotor.audit import CLI
from keyrotor.cli.common import (
    database_option,
    emit,
    fail,
    json_option,
    print_table,
    public_base,
    service_at,
)
from keyrotor.client_jwk_service import ClientJwkService
from keyrotor.client_jwks import ClientJwk, JwkStatus, parse_jwk
from keyrotor.clock import iso
from keyrotor.oauth import OAuthService

_COLUMNS = ["id", "kid", "kty", "status", "created", "lastUpdated"]


def _keys(database: str) -> ClientJwkService:
    return OAuthService(service_at(database)).jwks


def _json(key: ClientJwk) -> dict[str, Any]:
    from keyrotor.http.client_jwks import jwk_json

    return jwk_json(key, public_base())


def _row(key: ClientJwk) -> dict[str, Any]:
    return {
        "id": key.id,
        "kid": key.kid or "",
        "kty": key.jwk.get("kty", ""),
        "status": key.status.value,
        "created": iso(key.created),
        "lastUpdated": iso(key.last_updated),
    }


@click.group("keys")
def client_keys() -> None:
    """A private_key_jwt client's public keys (only ACTIVE ones verify its assertions)."""


@client_keys.command("list")
@click.argument("client_id")
@database_option
@json_option
def keys_list(client_id: str, database: str, as_json: bool) -> None:
    """The client's keys, oldest first."""
    found = _keys(database).list_keys(client_id)
    emit(
        as_json, [_json(k) for k in found], lambda: print_table([_row(k) for k in found], _COLUMNS)
    )


@client_keys.command("add")
@click.argument("client_id")
@click.argument("jwk_file", metavar="JWK_FILE", type=click.File("r"))
@click.option("--inactive", is_flag=True, help="Add it INACTIVE (activate it later).")
@database_option
@json_option
def keys_add(
    client_id: str, jwk_file: IO[str], inactive: bool, database: str, as_json: bool
) -> None:
    """Add the public key in JWK_FILE (a JSON Web Key; '-' reads stdin), ACTIVE unless
    --inactive or the file's own "status" says otherwise."""
    try:
        body = json.loads(jwk_file.read())
    except (ValueError, UnicodeError):
        fail(f"{jwk_file.name} is not a JSON Web Key: not JSON")
    jwk, status = parse_jwk(body)
    if inactive:
        status = JwkStatus.INACTIVE
    made = _keys(database).add(client_id, jwk, status, CLI)
    emit(as_json, _json(made), lambda: print_table([_row(made)], _COLUMNS))


@client_keys.command("activate")
@click.argument("client_id")
@click.argument("key_id", metavar="ID")
@database_option
@json_option
def keys_activate(client_id: str, key_id: str, database: str, as_json: bool) -> None:
    """Activate a key: it verifies the client's assertions from now on."""
    done = _keys(database).activate(client_id, key_id, CLI)
    emit(as_json, _json(done), lambda: print_table([_row(done)], _COLUMNS))


@client_keys.command("deactivate")
@click.argument("client_id")
@click.argument("key_id", metavar="ID")
@database_option
@json_option
def keys_deactivate(client_id: str, key_id: str, database: str, as_json: bool) -> None:
    """Deactivate a key (never a private_key_jwt client's only ACTIVE one)."""
    done = _keys(database).deactivate(client_id, key_id, CLI)
    emit(as_json, _json(done), lambda: print_table([_row(done)], _COLUMNS))


@client_keys.command("delete")
@click.argument("client_id")
@click.argument("key_id", metavar="ID")
@database_option
@json_option
def keys_delete(client_id: str, key_id: str, database: str, as_json: bool) -> None:
    """Delete an INACTIVE key."""
    _keys(database).delete(client_id, key_id, CLI)
    emit(as_json, None, f"deleted {key_id}")
