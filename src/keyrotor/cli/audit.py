"""``keyrotor audit``: the record of key events, newest last (``keyrotor.audit``).

``--json`` prints the System Log's shape (an array of Okta ``LogEvent``s, as
``GET /api/v1/logs`` answers).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import click

from keyrotor.audit import KEK_TYPE, KEY_TYPE, SERVER_TYPE, TOKEN_TYPE, AuditEvent, EventQuery
from keyrotor.cli.common import (
    database_option,
    emit,
    every_server,
    fail,
    json_option,
    print_table,
    service_at,
)
from keyrotor.clock import iso
from keyrotor.errors import NotFound
from keyrotor.service import KeyService

_COLUMNS = ["published", "eventType", "actor", "target", "server", "details"]
_KINDS = {
    SERVER_TYPE: "server",
    KEY_TYPE: "key",
    TOKEN_TYPE: "token",
    KEK_TYPE: "kek",
}
_SHOWN = ("trigger", "noticedBy", "status", "rotationMode", "from", "to", "retiredAt")


@click.command()
@click.option("--server", help="Only events of this server (its id, or its name if unique).")
@click.option("--since", help="Only events at or after this ISO 8601 time.")
@click.option("--until", help="Only events before this ISO 8601 time.")
@click.option(
    "--limit",
    default=100,
    show_default=True,
    type=click.IntRange(1, 100_000),
    help="At most this many events: the newest ones.",
)
@database_option
@json_option
def audit(
    server: str | None,
    since: str | None,
    until: str | None,
    limit: int,
    database: str,
    as_json: bool,
) -> None:
    """The record of key events: keys made, published, activated, expired, retired and
    revoked, rotations and who asked for them, server and API token changes."""
    from keyrotor.http.logs import log_event_json

    start, end = _moment(since, "--since"), _moment(until, "--until")
    if start is not None and end is not None and start > end:
        fail("--since is later than --until")
    service = service_at(database)
    query = EventQuery(
        since=start,
        until=end,
        server_id=_server_id(service, server) if server else None,
        limit=limit,
        descending=True,  # the newest ``limit``, then shown oldest first
    )
    found = [event for _, event in reversed(service.events(query))]
    emit(
        as_json,
        [log_event_json(e) for e in found],
        lambda: print_table([_row(e) for e in found], _COLUMNS),
    )


def _server_id(service: KeyService, ref: str) -> str:
    """A server's id from its id or unique name; an unknown one is taken as the id of a
    server deleted since (its events stay recorded)."""
    try:
        return service.get_server(ref).id
    except NotFound:
        pass
    named = [s.id for s in every_server(service) if s.name == ref]
    if len(named) > 1:
        fail(f"{len(named)} authorization servers are named {ref!r}: name one by its id")
    return named[0] if named else ref


def _moment(raw: str | None, option: str) -> datetime | None:
    if raw is None:
        return None
    try:
        found = datetime.fromisoformat(raw.strip())
    except ValueError:
        fail(f"{option} {raw!r} is not an ISO 8601 time (e.g. 2026-01-01T00:00:00Z)")
    return found.replace(tzinfo=UTC) if found.tzinfo is None else found.astimezone(UTC)


def _row(e: AuditEvent) -> dict[str, Any]:
    shown = {k: e.details[k] for k in _SHOWN if k in e.details}
    return {
        "published": iso(e.published),
        "eventType": e.event_type,
        "actor": f"{e.actor.id} ({e.actor.type})",
        "target": f"{_KINDS.get(e.target.type, e.target.type)} {e.target.id}",
        "server": e.server_id or "",
        "details": " ".join(f"{k}={_plain(v)}" for k, v in shown.items()),
    }


def _plain(value: Any) -> str:
    if isinstance(value, dict):
        return ",".join(f"{k}:{v}" for k, v in value.items())
    return str(value)
