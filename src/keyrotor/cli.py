"""``keyrotor``: start the server, and administer servers, keys and tokens on its store."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

import click

from keyrotor import __version__
from keyrotor.apitokens import ALL_SCOPES
from keyrotor.clients import AuthMethod, ClientSpec, OAuthClient
from keyrotor.clock import iso
from keyrotor.config import (
    DEFAULT_CLOCK_SKEW,
    DEFAULT_DATABASE_URL,
    DEFAULT_RATE_LIMIT,
    DEFAULT_SWEEP_INTERVAL,
    DEFAULT_TOKEN_LIFETIME,
    ConfigError,
    Settings,
    load_kek,
)
from keyrotor.crypto import encode_kek, new_kek
from keyrotor.errors import KeyrotorError
from keyrotor.keys import SigningKey
from keyrotor.lifecycle import DEFAULT_ROTATION_PERIOD, RotationPolicy
from keyrotor.oauth import OAuthService
from keyrotor.servers import AuthorizationServer, RotationMode
from keyrotor.service import KeyService, ServerSpec

BOOTSTRAP_ENV = "KEYROTOR_BOOTSTRAP_TOKEN"

database_option = click.option(
    "--database",
    envvar="KEYROTOR_DATABASE_URL",
    default=DEFAULT_DATABASE_URL,
    show_default=True,
    help="sqlite:///relative.db, sqlite:////absolute.db or postgresql://user@host/db",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


def _settings(database: str, **overrides: Any) -> Settings:
    return Settings(database_url=database, kek=load_kek(database), **overrides)


def _open(database: str, **overrides: Any) -> KeyService:
    from keyrotor.runtime import open_service

    service = open_service(_settings(database, **overrides))
    service.ensure_default()
    return service


def _fail(message: str) -> None:
    raise click.ClickException(message)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="keyrotor")
def main() -> None:
    """Okta-compatible signing keys for OAuth 2.0 / OpenID Connect authorization servers."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535))
@database_option
@click.option("--public-url", envvar="KEYROTOR_PUBLIC_URL", help="Base URL clients see.")
@click.option(
    "--rate-limit",
    default=DEFAULT_RATE_LIMIT,
    show_default=True,
    envvar="KEYROTOR_RATE_LIMIT",
    help="Requests per token per minute.",
)
@click.option(
    "--rotation-days",
    default=DEFAULT_ROTATION_PERIOD.days,
    show_default=True,
    type=click.IntRange(1),
    help="AUTO rotation period.",
)
@click.option(
    "--next-key-lead-days",
    type=click.IntRange(1),
    help="AUTO mode: make the NEXT key this many days before the rotation that promotes "
    "it [default: a NEXT key always exists].",
)
@click.option(
    "--sweep-interval",
    default=DEFAULT_SWEEP_INTERVAL,
    show_default=True,
    envvar="KEYROTOR_SWEEP_INTERVAL",
    type=click.FloatRange(0.05),
    help="Seconds between sweeps for due AUTO rotations.",
)
@click.option(
    "--token-lifetime",
    default=int(DEFAULT_TOKEN_LIFETIME.total_seconds()),
    show_default=True,
    envvar="KEYROTOR_TOKEN_LIFETIME",
    type=click.IntRange(1, 86400),
    help="Seconds an issued access token is valid.",
)
@click.option(
    "--key-retention",
    envvar="KEYROTOR_KEY_RETENTION",
    type=click.IntRange(1),
    help="Seconds an EXPIRED key stays published after it stopped signing "
    "[default: token lifetime + clock skew; never less].",
)
@click.option(
    "--migrate/--no-migrate",
    default=None,
    help="Upgrade the schema first (default: only for SQLite).",
)
def serve(
    host: str,
    port: int,
    database: str,
    public_url: str | None,
    rate_limit: int,
    rotation_days: int,
    next_key_lead_days: int | None,
    sweep_interval: float,
    token_lifetime: int,
    key_retention: int | None,
    migrate: bool | None,
) -> None:
    """Start the server (the embedded SQLite store by default)."""
    import uvicorn

    from keyrotor.http import create_app
    from keyrotor.runtime import open_service

    try:
        settings = _settings(
            database,
            public_url=public_url,
            rate_limit=rate_limit,
            sweep_interval=sweep_interval,
            token_lifetime=timedelta(seconds=token_lifetime),
            policy=RotationPolicy(
                period=timedelta(days=rotation_days),
                retention=_retention(token_lifetime, key_retention),
                next_lead=timedelta(days=next_key_lead_days) if next_key_lead_days else None,
            ),
        )
        service = open_service(settings, migrate=migrate)
        service.ensure_default()
        if not service.opens_stored_keys():
            raise ConfigError(
                "KEYROTOR_KEK does not open the keys stored in this database: every replica "
                "of one database must use the same key-encryption key"
            )
        token = _bootstrap(service)
    except (ConfigError, ValueError, KeyrotorError) as exc:
        _fail(str(exc))
    base = public_url or f"http://{host}:{port}"
    click.echo(f"keyrotor {__version__} on {base}  (store: {_redact(database)})")
    if token:
        click.echo(f"Admin API token (shown once, keep it): {token}")
    elif os.environ.get(BOOTSTRAP_ENV):
        click.echo(f"Admin API token: the value of ${BOOTSTRAP_ENV}")
    else:
        click.echo("Admin API token: the one printed at first start (or `keyrotor tokens create`)")
    click.echo(
        f"Try: curl -H 'Authorization: SSWS <token>' "
        f"{base}/api/v1/authorizationServers/default/credentials/keys"
    )
    sys.stdout.flush()
    app = create_app(service, settings)
    uvicorn.run(
        app,
        host=host,
        port=port,
        date_header=False,
        server_header=False,
        log_level="info",
        access_log=False,
    )


def _retention(token_lifetime: int, key_retention: int | None) -> timedelta:
    """Safe by default: a key that stopped signing stays published until its last token
    has expired, clock skew included. A shorter ``--key-retention`` is refused by ``Settings``."""
    if key_retention is not None:
        return timedelta(seconds=key_retention)
    return timedelta(seconds=token_lifetime) + DEFAULT_CLOCK_SKEW


def _bootstrap(service: KeyService) -> str | None:
    """On a new store, make the admin token (from $KEYROTOR_BOOTSTRAP_TOKEN if set).

    A given bootstrap token is (re)registered on every start; it is printed only when made
    here, never when it came from the environment.
    """
    given = os.environ.get(BOOTSTRAP_ENV, "").strip()
    if given:
        service.create_token("bootstrap", ALL_SCOPES, given)
        return None
    return service.create_first_token()


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@database_option
def db_upgrade(database: str) -> None:
    """Apply the migrations (safe to run again, and from several machines)."""
    from keyrotor.storage.sql import SqlStore

    store = SqlStore(database)
    try:
        store.migrate()
    except KeyrotorError as exc:
        _fail(str(exc))
    finally:
        store.close()
    click.echo(f"{_redact(database)}: schema up to date")


@main.group()
def kek() -> None:
    """Key-encryption keys."""


@kek.command("new")
def kek_new() -> None:
    """Print a fresh key-encryption key for KEYROTOR_KEK."""
    click.echo(encode_kek(new_kek()))


@main.group()
def servers() -> None:
    """Authorization servers."""


@servers.command("list")
@database_option
@json_option
def servers_list(database: str, as_json: bool) -> None:
    service = _open(database)
    rows = list(service.all_servers())
    _print(
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
    service = _open(database)
    spec = ServerSpec(
        name=name,
        audiences=tuple(audiences),
        description=description,
        rotation_mode=RotationMode(rotation_mode),
    )
    server = service.create_server(spec)
    _print(as_json, [_server_row(server)], ["id", "name", "status", "rotationMode", "kid"])


@main.group()
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
    service = _open(database)
    try:
        found = action(service)
    except KeyrotorError as exc:
        _fail(exc.summary)
    _print(as_json, [_key_row(k) for k in found], ["kid", "status", "created"])


@main.group()
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
    service = _open(database)
    token, value = service.create_token(name, tuple(scopes) or ALL_SCOPES)
    _print(
        as_json,
        [{"id": token.id, "name": token.name, "scopes": " ".join(token.scopes), "token": value}],
        ["id", "name", "scopes", "token"],
    )


@main.group()
def clients() -> None:
    """OAuth clients (client credentials) of the token endpoints."""


@clients.command("create")
@click.argument("name")
@click.option(
    "--auth-method",
    type=click.Choice([m.value for m in AuthMethod]),
    default=AuthMethod.BASIC.value,
    show_default=True,
    help="How the client sends its secret to the token endpoint.",
)
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
    name: str, auth_method: str, org_scopes: Sequence[str], database: str, as_json: bool
) -> None:
    """Register a client; its secret is printed once and stored only as a digest."""
    spec = ClientSpec(name=name, auth_method=AuthMethod(auth_method), org_scopes=tuple(org_scopes))
    client, secret = OAuthService(_open(database)).register_client(spec)
    row = {**_client_row(client), "client_secret": secret}
    _print(as_json, [row], ["client_id", "client_name", "client_secret", "org_scopes"])


@clients.command("list")
@database_option
@json_option
def clients_list(database: str, as_json: bool) -> None:
    found = OAuthService(_open(database)).list_clients()
    _print(as_json, [_client_row(c) for c in found], list(_CLIENT_COLUMNS))


@clients.command("delete")
@click.argument("client_id")
@database_option
def clients_delete(client_id: str, database: str) -> None:
    """Delete a client: no new tokens, and its tokens stop opening the management API
    (resource servers accept its unexpired tokens until they expire)."""
    try:
        OAuthService(_open(database)).delete_client(client_id)
    except KeyrotorError as exc:
        _fail(exc.summary)
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


def _print(as_json: bool, rows: list[dict[str, Any]], columns: list[str]) -> None:
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    widths = {c: max([len(c)] + [len(str(r.get(c, ""))) for r in rows]) for c in columns}
    click.echo("  ".join(c.ljust(widths[c]) for c in columns).rstrip())
    for row in rows:
        click.echo("  ".join(str(row.get(c, "")).ljust(widths[c]) for c in columns).rstrip())
