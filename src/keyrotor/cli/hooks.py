"""``keyrotor hooks``: event hooks on the store, and their deliveries.

Input is checked by the API's own parser (``keyrotor.hooks.parse_hook``) and where a URL
points by the same checks (``keyrotor.targets``); ``--json`` prints the API's shapes.
The shared secret of ``--auth-header`` is never an argument (a process list would show
it): it comes from ``$KEYROTOR_HOOK_AUTH_VALUE`` or is asked for without echo.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
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
    service_at,
)
from keyrotor.clock import iso
from keyrotor.hook_service import HookService
from keyrotor.hooks import EventHook, HookStatus, delivery_json, hook_json, parse_hook

AUTH_VALUE_ENV = "KEYROTOR_HOOK_AUTH_VALUE"
_COLUMNS = ["id", "name", "status", "verificationStatus", "uri", "events"]
_DELIVERY_COLUMNS = ["id", "hookId", "eventType", "status", "attempts", "lastStatus", "nextAttempt"]


def _hooks(database: str) -> HookService:
    service = service_at(database)
    return HookService(service.store, service.factory.sealer, service.clock)


@click.group()
def hooks() -> None:
    """Event hooks: URLs told of key events (Okta's Event Hooks)."""


@hooks.command("list")
@database_option
@json_option
def hooks_list(database: str, as_json: bool) -> None:
    """Every event hook (the API's list: an array)."""
    _print(as_json, _hooks(database).list_hooks(), many=True)


@hooks.command("add")
@click.argument("name")
@click.option("--uri", required=True, help="https:// URL on a public host.")
@click.option("--event", "events", multiple=True, required=True, help="An event type (repeat).")
@click.option(
    "--header",
    "headers",
    multiple=True,
    metavar="KEY=VALUE",
    help="Sent with each request (repeat).",
)
@click.option(
    "--auth-header",
    help=f"Header carrying the shared secret (from ${AUTH_VALUE_ENV}, or asked for).",
)
@click.option("--description")
@database_option
@json_option
def hooks_add(
    name: str,
    uri: str,
    events: Sequence[str],
    headers: Sequence[str],
    auth_header: str | None,
    description: str | None,
    database: str,
    as_json: bool,
) -> None:
    """Register an event hook (ACTIVE, UNVERIFIED until `keyrotor hooks verify`)."""
    config: dict[str, Any] = {"uri": uri, "headers": [_header(h) for h in headers]}
    if auth_header:
        value = os.environ.get(AUTH_VALUE_ENV) or click.prompt(
            f"Value of {auth_header}", hide_input=True, err=True
        )
        config["authScheme"] = {"type": "HEADER", "key": auth_header, "value": value}
    service = _hooks(database)
    body = {
        "name": name,
        "description": description,
        "events": {"type": "EVENT_TYPE", "items": list(events)},
        "channel": {"type": "HTTP", "version": "1.0.0", "config": config},
    }
    _print(as_json, [service.create(parse_hook(body, service.subscribable()), CLI)])


@hooks.command("delete")
@click.argument("hook_id")
@database_option
def hooks_delete(hook_id: str, database: str) -> None:
    """Delete an INACTIVE event hook and its deliveries."""
    _hooks(database).delete(hook_id, CLI)
    click.echo(f"Deleted event hook {hook_id}")


@hooks.command("activate")
@click.argument("hook_id")
@database_option
@json_option
def hooks_activate(hook_id: str, database: str, as_json: bool) -> None:
    """Send events to it again (from now on)."""
    _print(as_json, [_hooks(database).set_status(hook_id, HookStatus.ACTIVE, CLI)])


@hooks.command("deactivate")
@click.argument("hook_id")
@database_option
@json_option
def hooks_deactivate(hook_id: str, database: str, as_json: bool) -> None:
    """Stop sending events to it."""
    _print(as_json, [_hooks(database).set_status(hook_id, HookStatus.INACTIVE, CLI)])


@hooks.command("verify")
@click.argument("hook_id")
@database_option
@json_option
def hooks_verify(hook_id: str, database: str, as_json: bool) -> None:
    """Okta's one-time verification, from this machine: a GET with
    X-Okta-Verification-Challenge, to be answered with {"verification": <challenge>}."""
    _print(as_json, [_hooks(database).verify(hook_id, CLI)])


@hooks.command("deliveries")
@click.option("--hook", "hook_id", help="Only this hook's.")
@click.option("--status", type=click.Choice(["PENDING", "DELIVERED", "FAILED"]))
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 1000))
@database_option
@json_option
def hooks_deliveries(
    hook_id: str | None, status: str | None, limit: int, database: str, as_json: bool
) -> None:
    """Deliveries, newest first: attempts, last HTTP status or error, next attempt."""
    found = [delivery_json(d) for d in _hooks(database).deliveries(hook_id, status, limit)]
    emit(as_json, found, lambda: print_table(found, _DELIVERY_COLUMNS))


def _header(raw: str) -> dict[str, str]:
    key, sep, value = raw.partition("=")
    if not sep:
        fail(f"--header {key!r}: give KEY=VALUE")
    return {"key": key.strip(), "value": value}


def _print(as_json: bool, found: list[EventHook], many: bool = False) -> None:
    base = public_base()
    shaped = [hook_json(h, base) for h in found]
    rows = [
        {
            "id": h.id,
            "name": h.name,
            "status": h.status.value,
            "verificationStatus": h.verification.value,
            "uri": h.uri,
            "events": ",".join(h.events),
            "lastUpdated": iso(h.last_updated),
        }
        for h in found
    ]
    emit(as_json, shaped if many else shaped[0], lambda: print_table(rows, _COLUMNS))
