"""``keyrotor tokens`` and ``keyrotor clients``: who may call the APIs."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

import click

from keyrotor.apitokens import ALL_SCOPES, ApiToken, okta_json
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
from keyrotor.clients import AuthMethod, OAuthClient, parse_metadata
from keyrotor.clock import iso
from keyrotor.oauth import OAuthService


@click.group()
def tokens() -> None:
    """API tokens of the management API (``Authorization: SSWS …``)."""


@tokens.command("create")
@click.option("--name", default="api", show_default=True)
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    type=click.Choice(ALL_SCOPES),
    help="Repeat for several (default: both).",
)
@click.option(
    "--expires-in",
    type=click.IntRange(1, 36_500),
    metavar="DAYS",
    help="Expire this many days from now [default: never].",
)
@click.option(
    "--expires-at",
    metavar="ISO",
    help="Expire at this moment, ISO 8601 (2026-12-31T00:00:00Z; UTC without an offset).",
)
@database_option
@json_option
def tokens_create(
    name: str,
    scopes: Sequence[str],
    expires_in: int | None,
    expires_at: str | None,
    database: str,
    as_json: bool,
) -> None:
    """Create an API token; its value is printed once and stored only as a digest."""
    if expires_in is not None and expires_at is not None:
        fail("give --expires-in or --expires-at, not both")
    moment = _moment(expires_at) if expires_at is not None else None
    service = service_at(database)
    if expires_in is not None:
        moment = service.clock() + timedelta(days=expires_in)
    token, value = service.api_tokens.create(
        name, tuple(scopes) or ALL_SCOPES, expires=moment, actor=CLI
    )
    emit(
        as_json,
        {**okta_json(token, public_base()), "token": value},
        lambda: print_table([{**_token_row(token), "token": value}], [*_TOKEN_COLUMNS, "token"]),
    )


@tokens.command("list")
@database_option
@json_option
def tokens_list(database: str, as_json: bool) -> None:
    """The active API tokens, oldest first, never their values (revoked and expired ones
    are not listed; a last use shows within a minute or so)."""
    found = service_at(database).api_tokens.list_active()
    base = public_base()
    emit(
        as_json,
        [okta_json(token, base) for token in found],
        lambda: print_table([_token_row(token) for token in found], _TOKEN_COLUMNS),
    )


@tokens.command("revoke")
@click.argument("token_id", metavar="ID")
@database_option
@json_option
def tokens_revoke(token_id: str, database: str, as_json: bool) -> None:
    """Revoke an API token: every replica refuses it (401) from then on."""
    service_at(database).api_tokens.revoke(token_id, CLI)
    emit(as_json, None, f"revoked {token_id}")


_TOKEN_COLUMNS = ["id", "name", "scopes", "created", "expires", "lastUsed"]


def _moment(text: str) -> datetime:
    try:
        found = datetime.fromisoformat(text)
    except ValueError:
        fail(f"--expires-at {text!r} is not an ISO 8601 moment (e.g. 2026-12-31T00:00:00Z)")
    return found.replace(tzinfo=UTC) if found.tzinfo is None else found.astimezone(UTC)


def _token_row(token: ApiToken) -> dict[str, Any]:
    return {
        "id": token.id,
        "name": token.name,
        "scopes": " ".join(token.scopes),
        "created": iso(token.created),
        "expires": iso(token.expires) if token.expires else "never",
        "lastUsed": iso(token.last_used) if token.last_used else "never",
    }


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
    from keyrotor.http.clients import client_json

    if jwks_file is not None:
        try:
            body["jwks"] = json.load(jwks_file)
        except ValueError as exc:
            fail(f"the --jwks file is not JSON ({exc})")
    spec = dataclasses.replace(parse_metadata(body), org_scopes=tuple(org_scopes))
    client, secret = OAuthService(service_at(database)).register_client(spec)
    row = {**_client_row(client), "client_secret": secret or ""}
    emit(
        as_json,
        client_json(client, secret),
        lambda: print_table([row], ["client_id", "client_name", "client_secret", "org_scopes"]),
    )


@clients.command("list")
@database_option
@json_option
def clients_list(database: str, as_json: bool) -> None:
    """Every client (the API's shape; secrets are never shown again)."""
    from keyrotor.http.clients import client_json

    found = OAuthService(service_at(database)).list_clients()
    emit(
        as_json,
        [client_json(c) for c in found],
        lambda: print_table([_client_row(c) for c in found], list(_CLIENT_COLUMNS)),
    )


@clients.command("delete")
@click.argument("client_id")
@database_option
@json_option
def clients_delete(client_id: str, database: str, as_json: bool) -> None:
    """Delete a client: no new tokens, and its tokens stop opening the management API
    (resource servers accept its unexpired tokens until they expire)."""
    OAuthService(service_at(database)).delete_client(client_id)
    emit(as_json, None, f"deleted {client_id}")


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
