"""``keyrotor serve``: start the server."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import click

from keyrotor import __version__
from keyrotor.apitokens import ALL_SCOPES
from keyrotor.cli.common import database_option, fail, redact, settings_for
from keyrotor.cli.workers import run_workers
from keyrotor.config import (
    DEFAULT_CLOCK_SKEW,
    DEFAULT_RATE_LIMIT,
    DEFAULT_SWEEP_INTERVAL,
    DEFAULT_TOKEN_LIFETIME,
    ConfigError,
    Settings,
)
from keyrotor.errors import KeyrotorError
from keyrotor.keypool import DEFAULT_POOL_SIZE
from keyrotor.lifecycle import DEFAULT_ROTATION_PERIOD, RotationPolicy
from keyrotor.service import KeyService

if TYPE_CHECKING:
    from starlette.applications import Starlette

BOOTSTRAP_ENV = "KEYROTOR_BOOTSTRAP_TOKEN"
_WORKER_OPTIONS = "KEYROTOR_WORKER_OPTIONS"  # serve's options, handed to its workers


@click.command()
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
    "--key-pool-size",
    default=DEFAULT_POOL_SIZE,
    show_default=True,
    envvar="KEYROTOR_KEY_POOL_SIZE",
    type=click.IntRange(0, 10_000),
    help="Pre-generated keys kept ready, so rotations never wait for RSA generation.",
)
@click.option(
    "--workers",
    default=1,
    show_default=True,
    envvar="KEYROTOR_WORKERS",
    type=click.IntRange(1, 64),
    help="Server processes on the port, connections spread over them by the kernel "
    "(one per core is a good start).",
)
@click.option(
    "--migrate/--no-migrate",
    default=None,
    help="Upgrade the schema first (default: only for SQLite).",
)
def serve(host: str, port: int, workers: int, migrate: bool | None, **options: Any) -> None:
    """Start the server (the embedded SQLite store by default)."""
    import uvicorn

    from keyrotor.http import create_app
    from keyrotor.runtime import open_service

    database, public_url = options["database"], options["public_url"]
    if workers > 1 and port == 0:
        fail("--workers needs a fixed --port: each worker binds it")
    try:
        settings = _settings(options)
        service = open_service(settings, migrate=migrate)
        service.ensure_default()
        if not service.opens_stored_keys():
            raise ConfigError(
                "KEYROTOR_KEK does not open the keys stored in this database: every replica "
                "of one database must use the same key-encryption key"
            )
        token = _bootstrap(service)
    except (ConfigError, ValueError, KeyrotorError) as exc:
        fail(str(exc))
    base = public_url or f"http://{host}:{port}"
    click.echo(f"keyrotor {__version__} on {base}  (store: {redact(database)})")
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
    if workers > 1:
        click.echo(f"Workers: {workers} processes")
    sys.stdout.flush()
    server = {
        "loop": "uvloop" if _has("uvloop") else "auto",
        "http": "httptools" if _has("httptools") else "auto",
        "date_header": False,  # every answer gets Okta's headers, Date included, from the app
        "server_header": False,
        "log_level": "info",
        "access_log": False,
    }
    if workers == 1:
        uvicorn.run(create_app(service, settings), host=host, port=port, **server)  # type: ignore[arg-type]
        return
    service.store.close()  # each worker opens its own store
    os.environ[_WORKER_OPTIONS] = json.dumps(options)
    run_workers(workers, host, port, server)


def _settings(options: dict[str, Any]) -> Settings:
    token_lifetime, lead = options["token_lifetime"], options["next_key_lead_days"]
    return settings_for(
        options["database"],
        public_url=options["public_url"],
        rate_limit=options["rate_limit"],
        sweep_interval=options["sweep_interval"],
        token_lifetime=timedelta(seconds=token_lifetime),
        key_pool_size=options["key_pool_size"],
        policy=RotationPolicy(
            period=timedelta(days=options["rotation_days"]),
            retention=_retention(token_lifetime, options["key_retention"]),
            next_lead=timedelta(days=lead) if lead else None,
        ),
    )


def worker_app() -> Starlette:
    """One ``serve --workers N`` process: the app over its own store (uvicorn's factory)."""
    from keyrotor.http import create_app
    from keyrotor.runtime import open_service

    settings = _settings(json.loads(os.environ[_WORKER_OPTIONS]))
    return create_app(open_service(settings, migrate=False), settings)


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


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
