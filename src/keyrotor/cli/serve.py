"""``keyrotor serve``: start the server."""

from __future__ import annotations

import functools
import importlib.util
import json
import logging
import os
import sys
import tempfile
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import click

from keyrotor import __version__, keks, logconfig
from keyrotor.apitokens import ALL_SCOPES, weakness
from keyrotor.cli.common import (
    database_option,
    database_url,
    describe,
    fail,
    redact,
    settings_for,
)
from keyrotor.cli.workers import run_workers
from keyrotor.clock import OffsetClock, system_clock
from keyrotor.config import (
    DEFAULT_CLOCK_SKEW,
    DEFAULT_PUBLIC_RATE_LIMIT,
    DEFAULT_RATE_LIMIT,
    DEFAULT_SWEEP_INTERVAL,
    DEFAULT_TOKEN_LIFETIME,
    DEFAULT_TOKEN_RATE_LIMIT,
    ConfigError,
    Settings,
)
from keyrotor.errors import KeyrotorError
from keyrotor.keypool import DEFAULT_POOL_SIZE
from keyrotor.lifecycle import DEFAULT_ROTATION_PERIOD, RotationPolicy
from keyrotor.service import KeyService

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from keyrotor.http.metrics import MetricsOptions

BOOTSTRAP_ENV = "KEYROTOR_BOOTSTRAP_TOKEN"
_WORKER_OPTIONS = "KEYROTOR_WORKER_OPTIONS"  # serve's options, handed to its workers


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535))
@database_option
@click.option(
    "--public-url",
    envvar="KEYROTOR_PUBLIC_URL",
    help="Base URL clients see: every issuer and link is built from it (needed to bind "
    "anything but loopback).",
)
@click.option(
    "--allowed-host",
    "allowed_hosts",
    multiple=True,
    envvar="KEYROTOR_ALLOWED_HOSTS",
    help="Another Host name requests may name (repeat); loopback and the public URL's "
    "host always may.",
)
@click.option(
    "--forwarded-allow-ips",
    envvar="KEYROTOR_FORWARDED_ALLOW_IPS",
    help="Proxies (comma-separated IPs) whose X-Forwarded-For/-Proto are trusted [default: none].",
)
@click.option(
    "--rate-limit",
    default=DEFAULT_RATE_LIMIT,
    show_default=True,
    envvar="KEYROTOR_RATE_LIMIT",
    help="Requests per token per minute.",
)
@click.option(
    "--token-rate-limit",
    default=DEFAULT_TOKEN_RATE_LIMIT,
    show_default=True,
    envvar="KEYROTOR_TOKEN_RATE_LIMIT",
    type=click.IntRange(1),
    help="Token requests per client per minute.",
)
@click.option(
    "--public-rate-limit",
    default=DEFAULT_PUBLIC_RATE_LIMIT,
    show_default=True,
    envvar="KEYROTOR_PUBLIC_RATE_LIMIT",
    type=click.IntRange(1),
    help="Requests per IP address per minute to what needs no credentials (JWKS, "
    "discovery, token endpoints).",
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
@click.option(
    "--log-level",
    type=click.Choice(logconfig.LEVELS),
    default="info",
    show_default=True,
    envvar="KEYROTOR_LOG_LEVEL",
    help="Least severe log lines shown (key events are logged at info).",
)
@click.option(
    "--log-format",
    type=click.Choice(logconfig.FORMATS),
    default="text",
    show_default=True,
    envvar="KEYROTOR_LOG_FORMAT",
    help="json: one JSON object per line (time, level, logger, message, event).",
)
@click.option(
    "--access-log/--no-access-log",
    default=False,
    envvar="KEYROTOR_ACCESS_LOG",
    help="One line per request, secret-looking query values masked [default: off].",
)
@click.option(
    "--console/--no-console",
    default=True,
    show_default=True,
    envvar="KEYROTOR_CONSOLE",
    help="Serve the web console at /console (it signs in with an API token; "
    "--no-console answers 404 there).",
)
@click.option(
    "--metrics/--no-metrics",
    default=True,
    show_default=True,
    envvar="KEYROTOR_METRICS",
    help="Serve Prometheus metrics at /metrics (--no-metrics answers 404 there and counts "
    "nothing).",
)
@click.option(
    "--metrics-token",
    envvar="KEYROTOR_METRICS_TOKEN",
    help="Scrapes of /metrics must send 'Authorization: Bearer <this>' [default: open to "
    "whoever reaches the port; docs/operations.md]. Prefer the variable to the flag.",
)
@click.option(
    "--rotation-notice",
    default="7d",
    show_default=True,
    envvar="KEYROTOR_ROTATION_NOTICE",
    callback=lambda ctx, param, value: _duration(value, param),
    help="Record keyrotor.key.rotation.upcoming this long before an AUTO rotation makes "
    "the NEXT key ACTIVE (e.g. 7d, 36h, 90m; 0: never), for event hooks and log pollers.",
)
@click.option(
    "--hook-retry-base",
    default=30.0,
    show_default=True,
    envvar="KEYROTOR_HOOK_RETRY_BASE",
    type=click.FloatRange(0.01),
    help="Seconds before an event hook delivery that failed is tried again (doubling "
    "each time, at most an hour).",
)
@click.option(
    "--hook-max-attempts",
    default=10,
    show_default=True,
    envvar="KEYROTOR_HOOK_MAX_ATTEMPTS",
    type=click.IntRange(1, 100),
    help="Attempts of an event hook delivery before it is marked FAILED.",
)
@click.option(
    "--test-mode",
    is_flag=True,
    help="For test suites only: a clock tests can move, faults on the JWKS and token "
    "endpoints and a fast reset, under /_test/ (loopback binds only; "
    "docs/testing-your-resource-server.md).",
)
def serve(
    host: str, port: int, workers: int, migrate: bool | None, test_mode: bool, **options: Any
) -> None:
    """Start the server (the embedded SQLite store by default)."""
    import uvicorn

    from keyrotor.http import create_app
    from keyrotor.runtime import open_service

    database, public_url = options["database"], options["public_url"]
    if workers > 1 and port == 0:
        fail("--workers needs a fixed --port: each worker binds it")
    from keyrotor.http.hosts import is_loopback

    if test_mode and not is_loopback(host.strip("[]")):
        fail(
            f"--test-mode binds loopback only (127.0.0.1, ::1, localhost), not {host}: "
            "anyone who reaches it can move its clock and break its endpoints"
        )
    if test_mode and workers > 1:
        fail("--test-mode runs one process: its clock and faults live in that process")
    if not public_url and not is_loopback(host.strip("[]")):
        fail(
            f"binding {host} needs --public-url (the URL clients see): without it issuers "
            "would follow each caller's Host header"
        )
    database_url(database)  # a URL it cannot read is refused first, in one line
    _check_bootstrap()  # before anything is opened or created
    _check_metrics_token(options)
    log_config = logconfig.configure(options["log_level"], options["log_format"])
    try:
        settings = _settings(options)
        clock = OffsetClock() if test_mode else system_clock  # test mode: a movable clock
        service = open_service(settings, clock=clock, migrate=migrate)  # KEKs must open
        bound = keks.bind_legacy(service.store, service.factory.sealer)
        service.ensure_default()
        admin = _bootstrap(service)
    except (ConfigError, ValueError, KeyrotorError) as exc:
        fail(describe(exc, database))
    if bound:
        click.echo(f"Re-sealed {bound} stored key(s): each is now bound to its server")
    base = public_url or f"http://{host}:{port}"
    say = functools.partial(logconfig.say, options["log_format"])
    say(f"keyrotor {__version__} on {base}  (store: {redact(database)})")
    if test_mode:  # loud: a warning even when JSON logs hide info lines
        from keyrotor.http.testmode import BANNER

        if options["log_format"] == "json":
            logging.getLogger("keyrotor.serve").warning(BANNER)
        else:
            say(BANNER)
    if "(shown once" in admin:  # a new admin token: printed as is, never as a log line
        click.echo(admin)
    else:
        say(admin)
    say(
        f"Try: curl -H 'Authorization: SSWS <token>' "
        f"{base}/api/v1/authorizationServers/default/credentials/keys"
    )
    if options["console"]:
        say(f"Console: {base}/console (sign in with an API token)")
    if workers > 1:
        say(f"Workers: {workers} processes")
    sys.stdout.flush()
    server = {
        "loop": "uvloop" if _has("uvloop") else "auto",
        "http": "httptools" if _has("httptools") else "auto",
        "date_header": False,  # every answer gets Okta's headers, Date included, from the app
        "server_header": False,
        "log_level": options["log_level"],
        "access_log": options["access_log"],
        "log_config": log_config,
        # X-Forwarded-* only from the proxies named (uvicorn trusts loopback by default)
        "proxy_headers": bool(options["forwarded_allow_ips"]),
        "forwarded_allow_ips": options["forwarded_allow_ips"] or "",
    }
    if workers == 1:
        app = create_app(
            service,
            settings,
            test_mode=test_mode,
            with_console=options["console"],
            metrics=_metrics(options),
        )
        uvicorn.run(app, host=host, port=port, **server)
        return
    service.store.close()  # each worker opens its own store
    # /metrics: the worker a scrape reaches adds the totals the others leave here
    with tempfile.TemporaryDirectory(prefix="keyrotor-metrics-") as folder:
        os.environ[_WORKER_OPTIONS] = json.dumps({**options, "metrics_folder": folder})
        run_workers(workers, host, port, server)


def _settings(options: dict[str, Any]) -> Settings:
    token_lifetime, lead = options["token_lifetime"], options["next_key_lead_days"]
    return settings_for(
        options["database"],
        public_url=options["public_url"],
        allowed_hosts=tuple(options["allowed_hosts"]),
        rate_limit=options["rate_limit"],
        token_rate_limit=options["token_rate_limit"],
        public_rate_limit=options["public_rate_limit"],
        sweep_interval=options["sweep_interval"],
        token_lifetime=timedelta(seconds=token_lifetime),
        key_pool_size=options["key_pool_size"],
        rotation_notice=timedelta(seconds=notice)
        if (notice := options["rotation_notice"])
        else None,
        hook_retry_base=timedelta(seconds=options["hook_retry_base"]),
        hook_max_attempts=options["hook_max_attempts"],
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

    options = json.loads(os.environ[_WORKER_OPTIONS])
    settings = _settings(options)
    service = open_service(settings, migrate=False)
    return create_app(service, settings, with_console=options["console"], metrics=_metrics(options))


def _metrics(options: dict[str, Any]) -> MetricsOptions | None:
    """/metrics as serve's options say: off, open, or behind a token."""
    from keyrotor.http.metrics import MetricsOptions

    if not options["metrics"]:
        return None
    token = (options["metrics_token"] or "").strip() or None
    return MetricsOptions(token=token, shared_folder=options.get("metrics_folder"))


def _check_metrics_token(options: dict[str, Any]) -> None:
    """Refuse a weak metrics token, without showing it."""
    given = (options["metrics_token"] or "").strip()
    weak = weakness(given) if given and options["metrics"] else None
    if weak:
        fail(
            f"the metrics token is too weak ({weak}): use a random value, e.g. "
            "`openssl rand -hex 32`"
        )


_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}


def _duration(value: Any, param: click.Parameter) -> float:
    """Seconds of ``7d``, ``36h``, ``90m``, ``45s`` or a plain number of seconds (a
    number, so that ``serve --workers`` can hand it to its workers as JSON)."""
    text = str(value).strip().lower()
    unit = _UNITS.get(text[-1:], 0)
    number = text[:-1] if unit else text
    try:
        seconds = float(number) * (unit or 1)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= 366 * 86400:
        raise click.BadParameter(
            f"{value!r} is not a duration such as 7d, 36h, 90m or 0", param=param
        )
    return seconds


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _retention(token_lifetime: int, key_retention: int | None) -> timedelta:
    """Safe by default: a key that stopped signing stays published until its last token
    has expired, clock skew included. A shorter ``--key-retention`` is refused by ``Settings``."""
    if key_retention is not None:
        return timedelta(seconds=key_retention)
    return timedelta(seconds=token_lifetime) + DEFAULT_CLOCK_SKEW


def _check_bootstrap() -> None:
    """Refuse a weak $KEYROTOR_BOOTSTRAP_TOKEN (it becomes an admin token), without
    showing it."""
    given = os.environ.get(BOOTSTRAP_ENV, "").strip()
    weak = weakness(given) if given else None
    if weak:
        fail(
            f"{BOOTSTRAP_ENV} is too weak to be an admin API token ({weak}): use a random "
            "value, e.g. `openssl rand -hex 32`"
        )


def _bootstrap(service: KeyService) -> str:
    """On a new store, make the admin token (from $KEYROTOR_BOOTSTRAP_TOKEN if set); the
    line that tells the operator which token that is.

    A given bootstrap token is registered on every start unless it is registered already
    (so a revoked one stays revoked); it is printed only when made here, never when it came
    from the environment.
    """
    given = os.environ.get(BOOTSTRAP_ENV, "").strip()
    if given:
        stored, _ = service.create_token("bootstrap", ALL_SCOPES, given)
        if not stored.active(service.clock()):
            return (
                f"Admin API token: ${BOOTSTRAP_ENV} is revoked or expired "
                "(`keyrotor tokens create` makes a new one)"
            )
        return f"Admin API token: the value of ${BOOTSTRAP_ENV}"
    made = service.create_first_token()
    if made:
        return f"Admin API token (shown once, keep it): {made}"
    return "Admin API token: the one printed at first start (or `keyrotor tokens create`)"
