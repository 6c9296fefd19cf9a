"""``keyrotor tokens`` and ``keyrotor clients``: who may call the APIs."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from typing import Any, TextIO

import click

from keyrotor.apitokens import ALL_SCOPES
from keyrotor.cli.common import database_option, fail, json_option, print_rows, service_at
from keyrotor.clients import AuthMethod, OAuthClient, parse_metadata
from keyrotor.clock import iso
from keyrotor.errors import KeyrotorError
from keyrotor.oauth import OAuthService


@click.group()
def tokens() -> None:
    """API tokens for the management API."""


@tokens.command("create")
@click.option("--name", default="api", show_default=True)
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    type=click.Choice(ALL_SCOPES),
    help="Repeat for several (default: both).",
)
@database_option
@json_option
def tokens_create(name: str, scopes: Sequence[str], database: str, as_json: bool) -> None:
    """Create an API token; its value is printed once and stored only as a digest."""
    service = service_at(database)
    token, value = service.create_token(name, tuple(scopes) or ALL_SCOPES)
    print_rows(
        as_json,
        [{"id": token.id, "name": token.name, "scopes": " ".join(token.scopes), "token": value}],
        ["id", "name", "scopes", "token"],
    )


@click.group()
def clients() -> None:
    """OAuth clients (client credentials) of the token endpoints."""


@clients.command("create")
@click.argument("name")
@click.option(
    "--auth-method",
    type=click.Choice([m.value for m in AuthMethod]),
    default=AuthMethod.BASIC.value,
    show_default=True,
    help="How the client authenticates at the token endpoint.",
)
@click.option(
    "--jwks",
    "jwks_file",
    type=click.File("r"),
    help="private_key_jwt: a file holding the client's public JSON Web Key Set.",
)
@click.option("--jwks-uri", help="private_key_jwt: the URL of the client's public key set.")
@click.option("--dpop", is_flag=True, help="Bind its access tokens to a DPoP key (RFC 9449).")
@click.option(
    "--org-scope",
    "org_scopes",
    multiple=True,
    type=click.Choice(ALL_SCOPES),
    help="Grant a scope of the org server, for the management API (repeat; default: none).",
)
@database_option
@json_option
def clients_create(
    name: str,
    auth_method: str,
    jwks_file: TextIO | None,
    jwks_uri: str | None,
    dpop: bool,
    org_scopes: Sequence[str],
    database: str,
    as_json: bool,
) -> None:
    """Register a service client, checked as the API checks a registration; its secret
    (if it uses one) is printed once and stored only as a digest."""
    body: dict[str, Any] = {
        "client_name": name,
        "token_endpoint_auth_method": auth_method,
        "jwks_uri": jwks_uri,
        "dpop_bound_access_tokens": dpop,
    }
    try:
        if jwks_file is not None:
            body["jwks"] = json.load(jwks_file)
        spec = parse_metadata(body)
    except ValueError as exc:
        fail(f"the --jwks file is not JSON ({exc})")
    except KeyrotorError as exc:
        fail(getattr(exc, "description", exc.summary))
    spec = dataclasses.replace(spec, org_scopes=tuple(org_scopes))
    client, secret = OAuthService(service_at(database)).register_client(spec)
    row = {**_client_row(client), "client_secret": secret or ""}
    print_rows(as_json, [row], ["client_id", "client_name", "client_secret", "org_scopes"])


@clients.command("list")
@database_option
@json_option
def clients_list(database: str, as_json: bool) -> None:
    found = OAuthService(service_at(database)).list_clients()
    print_rows(as_json, [_client_row(c) for c in found], list(_CLIENT_COLUMNS))


@clients.command("delete")
@click.argument("client_id")
@database_option
def clients_delete(client_id: str, database: str) -> None:
    """Delete a client: no new tokens, and its tokens stop opening the management API
    (resource servers accept its unexpired tokens until they expire)."""
    try:
        OAuthService(service_at(database)).delete_client(client_id)
    except KeyrotorError as exc:
        fail(exc.summary)
    click.echo(f"deleted {client_id}")


_CLIENT_COLUMNS = (
    "client_id",
    "client_name",
    "token_endpoint_auth_method",
    "org_scopes",
    "created",
)


def _client_row(c: OAuthClient) -> dict[str, Any]:
    return {
        "client_id": c.client_id,
        "client_name": c.name,
        "token_endpoint_auth_method": c.auth_method.value,
        "org_scopes": " ".join(c.org_scopes),
        "created": iso(c.created),
    }
