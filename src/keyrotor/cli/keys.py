"""``keyrotor servers`` and ``keyrotor keys``: authorization servers and their signing keys."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import click

from keyrotor.cli.common import database_option, fail, json_option, print_rows, service_at
from keyrotor.clock import iso
from keyrotor.errors import KeyrotorError
from keyrotor.keys import SigningKey
from keyrotor.servers import AuthorizationServer, RotationMode
from keyrotor.service import KeyService, ServerSpec


@click.group()
def servers() -> None:
    """Authorization servers."""


@servers.command("list")
@database_option
@json_option
def servers_list(database: str, as_json: bool) -> None:
    service = service_at(database)
    rows = list(service.all_servers())
    print_rows(
        as_json,
        [_server_row(s) for s in rows],
        ["id", "name", "status", "rotationMode", "kid", "nextRotation"],
    )


@servers.command("create")
@click.argument("name")
@click.option("--audience", "audiences", multiple=True, required=True)
@click.option("--description", default="")
@click.option(
    "--rotation-mode",
    type=click.Choice([m.value for m in RotationMode]),
    default="AUTO",
    show_default=True,
)
@database_option
@json_option
def servers_create(
    name: str,
    audiences: Sequence[str],
    description: str,
    rotation_mode: str,
    database: str,
    as_json: bool,
) -> None:
    service = service_at(database)
    spec = ServerSpec(
        name=name,
        audiences=tuple(audiences),
        description=description,
        rotation_mode=RotationMode(rotation_mode),
    )
    server = service.create_server(spec)
    print_rows(as_json, [_server_row(server)], ["id", "name", "status", "rotationMode", "kid"])


@click.group()
def keys() -> None:
    """Signing keys of one authorization server."""


@keys.command("list")
@click.argument("server")
@database_option
@json_option
def keys_list(server: str, database: str, as_json: bool) -> None:
    _keys_command(database, as_json, lambda s: s.list_keys(server))


@keys.command("rotate")
@click.argument("server")
@database_option
@json_option
def keys_rotate(server: str, database: str, as_json: bool) -> None:
    """ACTIVE -> EXPIRED, NEXT -> ACTIVE, and a fresh NEXT key."""
    _keys_command(database, as_json, lambda s: s.rotate(server))


def _keys_command(
    database: str, as_json: bool, action: Callable[[KeyService], list[SigningKey]]
) -> None:
    service = service_at(database)
    try:
        found = action(service)
    except KeyrotorError as exc:
        fail(exc.summary)
    print_rows(as_json, [_key_row(k) for k in found], ["kid", "status", "created"])


def _server_row(s: AuthorizationServer) -> dict[str, Any]:
    return {
        "id": s.id,
        "name": s.name,
        "status": s.status.value,
        "rotationMode": s.rotation_mode.value,
        "kid": s.kid,
        "lastRotated": iso(s.last_rotated),
        "nextRotation": iso(s.next_rotation) if s.next_rotation else "",
    }


def _key_row(k: SigningKey) -> dict[str, Any]:
    return {
        "kid": k.kid,
        "status": k.status.value,
        "created": iso(k.created),
        "alg": "RS256",
        "use": "sig",
    }
