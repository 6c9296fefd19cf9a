"""``keyrotor servers`` and ``keyrotor keys``: authorization servers and their signing keys.

A server is named by its id or, where only one server has it, its name. Input is checked
by the API's own parser (``keyrotor.servers.parse_server``), and ``--json`` prints the
API's shapes (``keyrotor.http.render``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import click

from keyrotor.audit import CLI
from keyrotor.cli.common import (
    database_option,
    emit,
    every_server,
    json_option,
    print_table,
    public_base,
    server_id_of,
    service_at,
)
from keyrotor.clock import iso
from keyrotor.keys import SigningKey
from keyrotor.servers import AuthorizationServer, IssuerMode, RotationMode, parse_server
from keyrotor.service import KeyService

_SERVER_COLUMNS = ["id", "name", "status", "rotationMode", "kid", "nextRotation"]


@click.group()
def servers() -> None:
    """Authorization servers."""


@servers.command("list")
@database_option
@json_option
def servers_list(database: str, as_json: bool) -> None:
    """Every authorization server (the API's list: an array)."""
    found = list(every_server(service_at(database)))
    _print_servers(as_json, found, many=True)


@servers.command("show")
@click.argument("server")
@database_option
@json_option
def servers_show(server: str, database: str, as_json: bool) -> None:
    """One authorization server, by id or name."""
    service = service_at(database)
    _print_servers(as_json, [service.get_server(server_id_of(service, server))])


@servers.command("create")
@click.argument("name")
@click.option("--audience", "audiences", multiple=True, help="Repeat for several (one needed).")
@click.option("--description", default="")
@click.option(
    "--rotation-mode",
    default=RotationMode.AUTO.value,
    show_default=True,
    metavar="|".join(m.value for m in RotationMode),
)
@click.option(
    "--issuer-mode",
    default=IssuerMode.ORG_URL.value,
    show_default=True,
    metavar="|".join(m.value for m in IssuerMode),
)
@database_option
@json_option
def servers_create(
    name: str,
    audiences: Sequence[str],
    description: str,
    rotation_mode: str,
    issuer_mode: str,
    database: str,
    as_json: bool,
) -> None:
    """Create an authorization server, checked as the API checks one."""
    spec = parse_server(
        {
            "name": name,
            "audiences": list(audiences),
            "description": description,
            "issuerMode": issuer_mode,
            "credentials": {"signing": {"rotationMode": rotation_mode}},
        }
    )
    _print_servers(as_json, [service_at(database).create_server(spec, CLI)])


@click.group()
def keys() -> None:
    """Signing keys of one authorization server (named by id or name)."""


@keys.command("list")
@click.argument("server")
@database_option
@json_option
def keys_list(server: str, database: str, as_json: bool) -> None:
    """The published keys: ACTIVE, NEXT and EXPIRED ones still in their retention."""
    _keys_command(database, as_json, server, lambda s, sid: s.list_keys(sid))


@keys.command("rotate")
@click.argument("server")
@database_option
@json_option
def keys_rotate(server: str, database: str, as_json: bool) -> None:
    """ACTIVE -> EXPIRED, NEXT -> ACTIVE, and a fresh NEXT key; prints the new list."""
    _keys_command(database, as_json, server, lambda s, sid: s.rotate(sid, CLI))


@keys.command("revoke")
@click.argument("server")
@click.argument("kid")
@database_option
@json_option
def keys_revoke(server: str, kid: str, database: str, as_json: bool) -> None:
    """Emergency revoke of key KID (keyrotor's extension); prints the key, REVOKED.

    It leaves the JWKS at once and never signs again. An ACTIVE key is replaced as a
    rotation would (NEXT becomes ACTIVE, a fresh NEXT); a NEXT key by a fresh NEXT.
    Revoking a REVOKED key again changes nothing. Asks no confirmation.
    """
    from keyrotor.http.render import key_json

    service = service_at(database)
    sid = server_id_of(service, server)
    key = service.revoke_key(sid, kid, CLI)
    emit(
        as_json,
        key_json(key, public_base(), sid),
        lambda: print_table([_key_row(key)], ["kid", "status", "created"]),
    )


def _keys_command(
    database: str,
    as_json: bool,
    server: str,
    action: Callable[[KeyService, str], list[SigningKey]],
) -> None:
    from keyrotor.http.render import key_json

    service = service_at(database)
    sid = server_id_of(service, server)
    found = action(service, sid)
    base = public_base()
    emit(
        as_json,
        [key_json(k, base, sid) for k in found],
        lambda: print_table([_key_row(k) for k in found], ["kid", "status", "created"]),
    )


def _print_servers(as_json: bool, found: list[AuthorizationServer], many: bool = False) -> None:
    """One server as an object, a list as an array (the API's shapes)."""
    from keyrotor.http.render import server_json

    base = public_base()
    shapes = [server_json(s, base) for s in found]
    emit(
        as_json,
        shapes if many else shapes[0],
        lambda: print_table([_server_row(s) for s in found], _SERVER_COLUMNS),
    )


def _server_row(s: AuthorizationServer) -> dict[str, Any]:
    return {
        "id": s.id,
        "name": s.name,
        "status": s.status.value,
        "rotationMode": s.rotation_mode.value,
        "kid": s.kid,
        "nextRotation": iso(s.next_rotation) if s.next_rotation else "",
    }


def _key_row(k: SigningKey) -> dict[str, Any]:
    return {"kid": k.kid, "status": k.status.value, "created": iso(k.created)}
