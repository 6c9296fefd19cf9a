"""``keyrotor servers encryption-keys``: a server's access-token encryption keys (the
resource server's public keys) and switching encryption on or off.

Keys are checked by the API's own parser (``keyrotor.encryption.parse_key``) and ``--json``
prints the API's shapes. A server is named by its id or, where only one has it, its name.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import click

from keyrotor.audit import CLI
from keyrotor.cli.common import (
    database_option,
    emit,
    fail,
    json_option,
    print_table,
    public_base,
    server_id_of,
    service_at,
)
from keyrotor.clock import iso
from keyrotor.encryption import ALGORITHM, EncryptionKey, parse_key
from keyrotor.encryption_service import EncryptionService

_COLUMNS = ["id", "kid", "status", "created"]


@click.group("encryption-keys")
def encryption_keys() -> None:
    """Access-token encryption: the resource server's public keys (RSA, use enc)."""


@encryption_keys.command("list")
@click.argument("server")
@database_option
@json_option
def keys_list(server: str, database: str, as_json: bool) -> None:
    """The server's encryption keys, oldest first."""
    _emit(database, as_json, server, lambda s, sid: s.list_keys(sid))


@encryption_keys.command("add")
@click.argument("server")
@click.argument("jwk_file", type=click.File("r"))
@database_option
@json_option
def keys_add(server: str, jwk_file: Any, database: str, as_json: bool) -> None:
    """Add a public key (a JWK in JWK_FILE, '-' for stdin); it starts INACTIVE."""
    try:
        body = json.loads(jwk_file.read())
    except ValueError:
        fail("JWK_FILE is not JSON: give the public key as a JWK object.")
    spec = parse_key(body)
    _emit(database, as_json, server, lambda s, sid: [s.add_key(sid, spec, CLI)], one=True)


@encryption_keys.command("activate")
@click.argument("server")
@click.argument("key_id")
@database_option
@json_option
def keys_activate(server: str, key_id: str, database: str, as_json: bool) -> None:
    """Activate a key (by its id): tokens are encrypted for it; the ACTIVE one goes INACTIVE."""
    _emit(database, as_json, server, lambda s, sid: [s.activate_key(sid, key_id, CLI)], one=True)


@encryption_keys.command("deactivate")
@click.argument("server")
@click.argument("key_id")
@database_option
@json_option
def keys_deactivate(server: str, key_id: str, database: str, as_json: bool) -> None:
    """Deactivate a key (refused for the ACTIVE key while the server encrypts)."""
    _emit(database, as_json, server, lambda s, sid: [s.deactivate_key(sid, key_id, CLI)], one=True)


@encryption_keys.command("delete")
@click.argument("server")
@click.argument("key_id")
@database_option
def keys_delete(server: str, key_id: str, database: str) -> None:
    """Delete an INACTIVE key."""
    service = service_at(database)
    service.encryption.delete_key(server_id_of(service, server), key_id, CLI)
    click.echo(f"Deleted {key_id}.")


@encryption_keys.command("enable")
@click.argument("server")
@database_option
def keys_enable(server: str, database: str) -> None:
    """Encrypt the server's access tokens (RSA-OAEP-256, A256GCM) for its ACTIVE key."""
    service = service_at(database)
    service.encryption.set_algorithm(server_id_of(service, server), ALGORITHM, CLI)
    click.echo(f"Access tokens are encrypted ({ALGORITHM}).")


@encryption_keys.command("disable")
@click.argument("server")
@database_option
def keys_disable(server: str, database: str) -> None:
    """Issue plain signed access tokens again."""
    service = service_at(database)
    service.encryption.set_algorithm(server_id_of(service, server), None, CLI)
    click.echo("Access tokens are not encrypted.")


def _emit(
    database: str,
    as_json: bool,
    server: str,
    action: Callable[[EncryptionService, str], list[EncryptionKey]],
    one: bool = False,
) -> None:
    from keyrotor.http.encryption import encryption_key_json

    service = service_at(database)
    found = action(service.encryption, server_id_of(service, server))
    base = public_base()
    shapes = [encryption_key_json(k, base) for k in found]
    emit(
        as_json,
        shapes[0] if one else shapes,
        lambda: print_table([_row(k) for k in found], _COLUMNS),
    )


def _row(k: EncryptionKey) -> dict[str, Any]:
    return {"id": k.id, "kid": k.kid, "status": k.status.value, "created": iso(k.created)}
