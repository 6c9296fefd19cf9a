"""Okta's System Log API, ``GET /api/v1/logs``: the audit record as Okta's ``LogEvent``s.

Query parameters as Okta documents them: ``since`` and ``until`` (ISO 8601; ``since``
defaults to seven days before ``until``, ``until`` to now), ``filter`` (Okta's SCIM-style
expression, here ``eq`` on ``eventType``, ``target.id`` (an event's target or its
server) and ``actor.id``, joined by ``and``; anything else is refused with Okta's 400),
``q`` (keywords, all of which must appear), ``limit`` (0 to 1000, 100 by default),
``sortOrder`` and ``after`` (the opaque cursor of the ``Link: rel="next"`` header). A
polling request (no ``until``, ascending) always gets a ``next`` link, as in Okta, so a
poller can follow it for new events.

Guarded by ``okta.authorizationServers.read`` (keyrotor has no ``okta.logs.read``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from keyrotor.apitokens import SCOPE_READ
from keyrotor.audit import SERVER_TYPE, AuditEvent, EventQuery, Target
from keyrotor.clock import iso
from keyrotor.errors import ValidationFailed
from keyrotor.http.auth import requires
from keyrotor.http.render import JSON_TYPE, base_url, render_json
from keyrotor.http.state import key_service

PATH = "/api/v1/logs"
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
DEFAULT_WINDOW = timedelta(days=7)
MAX_KEYWORDS, MAX_KEYWORD = 10, 40
# what a filter may compare, and the EventQuery field each sets
FILTERABLE = {
    "eventtype": "event_type",
    "target.id": "target_id",
    "actor.id": "actor_id",
}
_TOKEN = re.compile(r'\s*(?:(\()|(\))|"((?:[^"\\]|\\.)*)"|([^\s()"]+))')


@requires(SCOPE_READ)
async def list_logs(request: Request) -> Response:
    service = key_service(request)
    params = request.query_params
    query, polling = parse_query(params, service.clock())
    if query is None:  # a filter no event can match
        rows: list[tuple[int, AuditEvent]] = []
    else:
        rows = await run_in_threadpool(service.events, query)
    links = [f'<{_url(request, params, None)}>; rel="self"']
    limit = query.limit if query is not None else 0
    if rows and len(rows) >= limit:
        links.append(f'<{_url(request, params, str(rows[-1][0]))}>; rel="next"')
    elif polling:
        last = str(rows[-1][0]) if rows else params.get("after")
        links.append(f'<{_url(request, params, last)}>; rel="next"')
    body = render_json([log_event_json(event) for _, event in rows])
    return Response(body, media_type=JSON_TYPE, headers={"Link": ", ".join(links)})


def parse_query(params: Mapping[str, str], now: datetime) -> tuple[EventQuery | None, bool]:
    """The query of a request, and whether it is a polling one; ``None`` for a filter
    that asks for two values of one field (nothing matches). Bad input: Okta's 400."""
    until = _moment(params, "until")
    since = _moment(params, "since")
    order = params.get("sortOrder", "ASCENDING").upper()
    if order not in ("ASCENDING", "DESCENDING"):
        raise ValidationFailed("sortOrder", "sortOrder must be ASCENDING or DESCENDING")
    polling = until is None and order == "ASCENDING"
    if since is None:
        since = (until or now) - DEFAULT_WINDOW
    if until is not None and since > until:
        raise ValidationFailed("since", "since must not be later than until")
    equal = parse_filter(params.get("filter", ""))
    if equal is None:
        return None, polling
    query = EventQuery(
        since=since,
        until=until,
        event_type=equal.get("event_type"),
        target_id=equal.get("target_id"),
        actor_id=equal.get("actor_id"),
        keywords=parse_keywords(params.get("q", "")),
        limit=_limit(params.get("limit")),
        after=_after(params.get("after")),
        descending=order == "DESCENDING",
    )
    return query, polling


def parse_filter(expression: str) -> dict[str, str] | None:
    """``attr eq "value" [and …]`` as field → value; ``None`` when two clauses ask one
    field for different values. Other operators, attributes and ``or``: Okta's 400."""
    tokens = _tokens(expression)
    found: dict[str, str] = {}
    impossible = False
    position = 0

    def refuse(why: str) -> ValidationFailed:
        return ValidationFailed("filter", f"Invalid filter expression: {why}")

    while position < len(tokens):
        while position < len(tokens) and tokens[position] == ("(", ""):
            position += 1
        if position + 3 > len(tokens):
            raise refuse('expected: attribute eq "value"')
        (kind, attribute), (_, operator), (value_kind, value) = tokens[position : position + 3]
        field = FILTERABLE.get(attribute.lower()) if kind == "word" else None
        if field is None:
            allowed = "eventType, target.id, actor.id"
            raise refuse(f"{attribute!r} cannot be filtered on (only {allowed})")
        if operator.lower() != "eq":
            raise refuse(f"operator {operator!r} is not supported (only eq, and)")
        if value_kind != "string":
            raise refuse(f"the value of {attribute} must be a quoted string")
        if field in found and found[field] != value:
            impossible = True
        found[field] = value
        position += 3
        while position < len(tokens) and tokens[position] == (")", ""):
            position += 1
        if position < len(tokens):
            kind, word = tokens[position]
            if kind != "word" or word.lower() != "and":
                raise refuse(f"{word!r}: only 'and' may join clauses")
            position += 1
            if position == len(tokens):
                raise refuse("a clause must follow 'and'")
    depth = 0
    for token in tokens:
        depth += {("(", ""): 1, (")", ""): -1}.get(token, 0)
        if depth < 0:
            break
    if depth != 0:
        raise refuse("unbalanced parentheses")
    return None if impossible else found


def _tokens(expression: str) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    position, text = 0, expression.strip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise ValidationFailed("filter", "Invalid filter expression: unterminated string")
        opened, closed, string, word = match.groups()
        if opened:
            found.append(("(", ""))
        elif closed:
            found.append((")", ""))
        elif string is not None:
            found.append(("string", re.sub(r"\\(.)", r"\1", string)))
        else:
            found.append(("word", word))
        position = match.end()
        while position < len(text) and text[position].isspace():
            position += 1
    return found


def parse_keywords(q: str) -> tuple[str, ...]:
    words = tuple(q.split())
    if len(words) > MAX_KEYWORDS or any(len(w) > MAX_KEYWORD for w in words):
        raise ValidationFailed(
            "q", f"At most {MAX_KEYWORDS} keywords of at most {MAX_KEYWORD} characters each"
        )
    return words


def log_event_json(event: AuditEvent) -> dict[str, Any]:
    """Okta's ``LogEvent``: what keyrotor knows of an event, the rest left out."""
    details = dict(event.details)
    actor = event.actor
    targets = [_target(event.target, details)]
    if event.server_id is not None and event.target.type != SERVER_TYPE:
        server = Target(event.server_id, SERVER_TYPE, str(details.get("serverName", "")))
        targets.append(_target(server, {}))
    web = actor.type in ("ApiToken", "PublicClientApp")
    transaction: dict[str, Any] = {"type": "WEB" if web else "JOB", "id": event.transaction_id}
    transaction["detail"] = {"requestApiTokenId": actor.id} if actor.type == "ApiToken" else {}
    found: dict[str, Any] = {
        "uuid": event.uuid,
        "published": iso(event.published),
        "eventType": event.event_type,
        "version": "0",
        "severity": "INFO",
        "displayMessage": event.message,
        "actor": {
            "id": actor.id,
            "type": actor.type,
            "alternateId": actor.name or actor.id,
            "displayName": actor.name or actor.id,
        },
        "outcome": {"result": event.outcome},
        "target": targets,
        "transaction": transaction,
        "debugContext": {"debugData": details},
        "authenticationContext": {"authenticationStep": 0},
        "securityContext": {},
        "request": {"ipChain": []},
    }
    if actor.type == "PublicClientApp":
        found["client"] = {"id": actor.id}
    return found


def _target(target: Target, details: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = {
        "id": target.id,
        "type": target.type,
        "alternateId": target.name or target.id,
        "displayName": target.name or target.id,
    }
    if isinstance(details.get("from"), dict) and isinstance(details.get("to"), dict):
        found["changeDetails"] = {"from": details["from"], "to": details["to"]}
    return found


def _moment(params: Mapping[str, str], name: str) -> datetime | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    try:
        found = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise ValidationFailed(
            name, f"{name} must be an ISO 8601 timestamp, such as 2026-01-01T00:00:00.000Z"
        ) from None
    return found.replace(tzinfo=UTC) if found.tzinfo is None else found.astimezone(UTC)


def _limit(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_LIMIT
    if not (raw.isascii() and raw.isdigit()) or int(raw) > MAX_LIMIT:  # '²'.isdigit()
        raise ValidationFailed("limit", f"limit must be a whole number from 0 to {MAX_LIMIT}")
    return int(raw)


def _after(raw: str | None) -> int | None:
    if raw is None or raw == "":
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        raise ValidationFailed("after", "Invalid value specified for the 'after' parameter")
    return int(raw)


def _url(request: Request, params: Mapping[str, str], after: str | None) -> str:
    kept = {k: v for k, v in params.items() if k != "after"}
    if after:
        kept["after"] = after
    query = urlencode(kept)
    return f"{base_url(request)}{PATH}" + (f"?{query}" if query else "")


routes = [Route(PATH, list_logs, methods=["GET"])]
