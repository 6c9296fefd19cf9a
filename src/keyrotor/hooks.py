"""Event hooks, as Okta's Event Hooks API defines them: a URL told of events. Pure.

A hook subscribes to event types of the audit record (``audit.event_types()``, so every
event any part of keyrotor records can be subscribed to) and names where to send them:
an ``https://`` URL on a public host (``targets.py`` checks where the host resolves), or,
in ``serve --test-mode`` only, a loopback URL. Its ``authScheme`` value is a shared
secret sent as a header with every delivery: it is kept sealed (``sealed_secret``) and
never rendered. Each event becomes one ``Delivery``, retried with exponential backoff
until the receiver answers 2xx or the attempts run out.
"""

from __future__ import annotations

import json
import re
import secrets
import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import Enum
from typing import Any
from urllib.parse import urlsplit

from keyrotor import audit
from keyrotor.clock import iso
from keyrotor.errors import ValidationFailed
from keyrotor.members import check_members

HOOK_TYPE = "EventHook"
PREFIX = "/api/v1/eventHooks"
CHALLENGE_HEADER = "X-Okta-Verification-Challenge"
MAX_HEADERS = 20
MAX_URI = 1024
MAX_VALUE = 1024
# headers a hook may not set: the request's own framing, and the verification challenge
RESERVED = frozenset(
    {"host", "content-length", "content-type", "transfer-encoding", "connection"}
    | {"te", "upgrade", "expect", "x-okta-verification-challenge", "accept-encoding"}
)
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,255}")  # RFC 9110's field name
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_READ_ONLY = ("id", "status", "verificationStatus", "created", "createdBy", "lastUpdated")
HOOK_MEMBERS = ("name", "description", "events", "channel", *_READ_ONLY, "_links")
_NO_FILTER = "keyrotor does not filter events by expression; leave it out (or null)."

SECRET_KID = "authScheme"  # what a sealed shared secret is bound to, with its hook's id


class HookStatus(Enum):
    ACTIVE = "ACTIVE"
    INACTIVE = "INACTIVE"


class Verification(Enum):
    VERIFIED = "VERIFIED"
    UNVERIFIED = "UNVERIFIED"


class DeliveryStatus(Enum):
    PENDING = "PENDING"  # to be (re)tried at ``next_attempt``
    DELIVERED = "DELIVERED"  # the receiver answered 2xx
    FAILED = "FAILED"  # every attempt failed: kept for operators to see


def new_hook_id() -> str:
    """Okta's shape: ``who`` followed by 17 base62 characters."""
    return "who" + "".join(secrets.choice(_BASE62) for _ in range(17))


@dataclass(frozen=True, slots=True)
class HookSpec:
    """What a create or replace body asks for. ``auth_value`` is ``None`` when the body
    named the auth header without its value: a replace then keeps the stored secret."""

    name: str
    description: str | None
    events: tuple[str, ...]
    uri: str
    headers: tuple[tuple[str, str], ...]
    auth_key: str | None
    auth_value: str | None = None

    def __repr__(self) -> str:  # never the shared secret
        return f"HookSpec(name={self.name!r}, uri={self.uri!r}, events={self.events!r})"


@dataclass(frozen=True, slots=True)
class EventHook:
    """A stored hook. ``cursor`` is the position of the last audit event it was given
    (or skipped); ``sealed_secret`` the authScheme value, sealed."""

    id: str
    name: str
    description: str | None
    status: HookStatus
    verification: Verification
    events: tuple[str, ...]
    uri: str
    headers: tuple[tuple[str, str], ...]
    auth_key: str | None
    sealed_secret: bytes | None
    created: datetime
    last_updated: datetime
    created_by: str
    cursor: int = 0

    def __repr__(self) -> str:
        return f"EventHook(id={self.id!r}, uri={self.uri!r}, status={self.status.value})"

    @property
    def receives(self) -> bool:
        """Whether events are sent to it: ACTIVE and VERIFIED, as in Okta."""
        return self.status is HookStatus.ACTIVE and self.verification is Verification.VERIFIED


@dataclass(frozen=True, slots=True)
class Delivery:
    """One event for one hook. ``id`` is the payload's ``eventId`` (the same on every
    attempt, so a receiver can drop a repeat); ``payload`` the event as the System Log
    renders it (JSON text, never a secret)."""

    id: str
    hook_id: str
    event_seq: int
    event_uuid: str
    event_type: str
    payload: str
    status: DeliveryStatus
    attempts: int
    next_attempt: datetime
    created: datetime
    last_attempt: datetime | None = None
    last_status: int | None = None
    last_error: str | None = None
    delivered: datetime | None = None


def new_delivery(hook_id: str, seq: int, event: audit.AuditEvent, payload: str) -> Delivery:
    return Delivery(
        id=str(uuid.uuid4()),
        hook_id=hook_id,
        event_seq=seq,
        event_uuid=event.uuid,
        event_type=event.event_type,
        payload=payload,
        status=DeliveryStatus.PENDING,
        attempts=0,
        next_attempt=event.published,
        created=event.published,
    )


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff: ``base`` after the first failure, doubling, at most ``cap``;
    after ``max_attempts`` failures a delivery is FAILED."""

    base: timedelta = timedelta(seconds=30)
    cap: timedelta = timedelta(hours=1)
    max_attempts: int = 10

    def after_failure(
        self, delivery: Delivery, now: datetime, status: int | None, error: str
    ) -> Delivery:
        attempts = delivery.attempts + 1
        gone = attempts >= self.max_attempts
        wait = min(self.cap, self.base * (2 ** min(attempts - 1, 30)))
        return replace(
            delivery,
            status=DeliveryStatus.FAILED if gone else DeliveryStatus.PENDING,
            attempts=attempts,
            next_attempt=now if gone else now + wait,
            last_attempt=now,
            last_status=status,
            last_error=error[:500],
        )

    @staticmethod
    def delivered(delivery: Delivery, now: datetime, status: int) -> Delivery:
        return replace(
            delivery,
            status=DeliveryStatus.DELIVERED,
            attempts=delivery.attempts + 1,
            last_attempt=now,
            last_status=status,
            last_error=None,
            delivered=now,
        )


# -- the body of create and replace ----------------------------------------------------


def parse_hook(body: Any, subscribable: Collection[str]) -> HookSpec:
    """Check an ``EventHook`` body; every problem is named in the ``ValidationFailed``
    causes. Where the URL points is checked apart (``targets.py``): it needs the network."""
    if not isinstance(body, dict):
        raise ValidationFailed("eventHook", "The request body must be a JSON object.")
    causes: list[str] = []
    name = body.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 255:
        causes.append("name: The field cannot be left blank (at most 255 characters).")
    description = body.get("description")
    if description is not None and (not isinstance(description, str) or len(description) > 1024):
        causes.append("description: Must be a string of at most 1024 characters.")
    events = _events(body.get("events"), subscribable, causes)
    uri, headers, auth_key, auth_value = _channel(body.get("channel"), causes)
    for member in ("status", "verificationStatus"):
        value = body.get(member)
        kind = HookStatus if member == "status" else Verification
        if value is not None and (
            not isinstance(value, str) or value not in {m.value for m in kind}
        ):
            causes.append(f"{member}: Must be one of {', '.join(m.value for m in kind)}.")
    check_members(body, "EventHook", HOOK_MEMBERS, {}, causes)
    if causes:
        raise ValidationFailed("eventHook", *causes)
    return HookSpec(
        name=str(name).strip(),
        description=description,
        events=events,
        uri=uri,
        headers=headers,
        auth_key=auth_key,
        auth_value=auth_value,
    )


def _events(raw: Any, subscribable: Collection[str], causes: list[str]) -> tuple[str, ...]:
    if not isinstance(raw, dict):
        causes.append('events: Must be an object: {"type": "EVENT_TYPE", "items": [...]}.')
        return ()
    check_members(
        raw, "EventSubscriptions", ("type", "items"), {"filter": _NO_FILTER}, causes, "events."
    )
    if raw.get("type") != "EVENT_TYPE":
        causes.append("events.type: Must be EVENT_TYPE.")
    items = raw.get("items")
    if not isinstance(items, list) or not items or not all(isinstance(i, str) for i in items):
        causes.append("events.items: Name at least one event type (strings).")
        return ()
    unknown = sorted({i for i in items if i not in subscribable})
    if unknown:
        causes.append(
            f"events.items: Not an event type keyrotor records: {', '.join(unknown[:10])}."
        )
    return tuple(dict.fromkeys(items))  # in the order given, each once


def _channel(
    raw: Any, causes: list[str]
) -> tuple[str, tuple[tuple[str, str], ...], str | None, str | None]:
    empty: tuple[str, tuple[tuple[str, str], ...], str | None, str | None] = ("", (), None, None)
    if not isinstance(raw, dict):
        causes.append("channel: Must be an object (type HTTP, version 1.0.0, config).")
        return empty
    check_members(raw, "EventHookChannel", ("type", "version", "config"), {}, causes, "channel.")
    if raw.get("type") != "HTTP":
        causes.append("channel.type: Must be HTTP.")
    if raw.get("version") != "1.0.0":
        causes.append("channel.version: Must be 1.0.0.")
    config = raw.get("config")
    if not isinstance(config, dict):
        causes.append("channel.config: Must be an object with a uri.")
        return empty
    check_members(
        config,
        "EventHookChannelConfig",
        ("uri", "headers", "authScheme", "method"),
        {},
        causes,
        "channel.config.",
    )
    if config.get("method") not in (None, "POST"):
        causes.append("channel.config.method: Must be POST (event hooks are POSTed).")
    uri = config.get("uri")
    problem = uri_problem(uri)
    if problem:
        causes.append(f"channel.config.uri: {problem}")
    auth_key, auth_value = _auth_scheme(config.get("authScheme"), causes)
    headers = _headers(config.get("headers"), auth_key, causes)
    return (uri if isinstance(uri, str) else ""), headers, auth_key, auth_value


def uri_problem(uri: Any) -> str | None:
    """What is wrong with the form of a hook's URL (where it points is checked apart)."""
    if not isinstance(uri, str) or not uri:
        return "Must be an https:// URL."
    if len(uri) > MAX_URI or any(c.isspace() or ord(c) < 32 for c in uri):
        return f"Must be a URL of at most {MAX_URI} characters, without spaces."
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 -- raises on a bad port
    except ValueError:
        return "Must be a valid URL."
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return "Must be an https:// URL."
    if parts.username is not None or parts.password is not None:
        return "Must not hold credentials (use authScheme or headers)."
    if parts.fragment:
        return "Must not have a fragment."
    return None


def _auth_scheme(raw: Any, causes: list[str]) -> tuple[str | None, str | None]:
    if raw is None:
        return None, None
    if not isinstance(raw, dict):
        causes.append("channel.config.authScheme: Must be an object (type HEADER, key, value).")
        return None, None
    where = "channel.config.authScheme."
    check_members(
        raw, "EventHookChannelConfigAuthScheme", ("type", "key", "value"), {}, causes, where
    )
    if raw.get("type") != "HEADER":
        causes.append(f"{where}type: Must be HEADER.")
    key, value = raw.get("key"), raw.get("value")
    if not isinstance(key, str) or not _TOKEN.fullmatch(key) or key.lower() in RESERVED:
        causes.append(f"{where}key: Must be a header name (not one keyrotor sets itself).")
        key = None
    if value is not None and not _header_value(value):
        causes.append(f"{where}value: Must be 1 to {MAX_VALUE} characters, on one line.")
        value = None
    return key, value


def _headers(raw: Any, auth_key: str | None, causes: list[str]) -> tuple[tuple[str, str], ...]:
    if raw is None:
        return ()
    where = "channel.config.headers"
    if not isinstance(raw, list) or len(raw) > MAX_HEADERS:
        causes.append(f"{where}: Must be a list of at most {MAX_HEADERS} {{key, value}} objects.")
        return ()
    found: list[tuple[str, str]] = []
    seen = {auth_key.lower()} if auth_key else set()
    for index, item in enumerate(raw):
        here = f"{where}[{index}]"
        if not isinstance(item, dict):
            causes.append(f"{here}: Must be an object with key and value.")
            continue
        check_members(
            item, "EventHookChannelConfigHeader", ("key", "value"), {}, causes, f"{here}."
        )
        key, value = item.get("key"), item.get("value")
        if not isinstance(key, str) or not _TOKEN.fullmatch(key) or key.lower() in RESERVED:
            causes.append(f"{here}.key: Must be a header name (not one keyrotor sets itself).")
        elif key.lower() in seen:
            causes.append(f"{here}.key: {key} is named twice (or is the authScheme key).")
        elif not _header_value(value):
            causes.append(f"{here}.value: Must be 1 to {MAX_VALUE} characters, on one line.")
        else:
            seen.add(key.lower())
            found.append((key, str(value)))
    return tuple(found)


def _header_value(value: Any) -> bool:
    return (
        isinstance(value, str)
        and 0 < len(value) <= MAX_VALUE
        and value.isprintable()
        and value.isascii()
    )


# -- Okta's shapes ---------------------------------------------------------------------


def hook_json(hook: EventHook, base: str) -> dict[str, Any]:
    """Okta's ``EventHook``: never the authScheme value."""
    href = f"{base}{PREFIX}/{hook.id}"
    auth = {"type": "HEADER", "key": hook.auth_key} if hook.auth_key else None
    toggle = "deactivate" if hook.status is HookStatus.ACTIVE else "activate"
    return {
        "id": hook.id,
        "status": hook.status.value,
        "verificationStatus": hook.verification.value,
        "name": hook.name,
        "description": hook.description,
        "created": iso(hook.created),
        "createdBy": hook.created_by,
        "lastUpdated": iso(hook.last_updated),
        "events": {"type": "EVENT_TYPE", "items": list(hook.events), "filter": None},
        "channel": {
            "type": "HTTP",
            "version": "1.0.0",
            "config": {
                "uri": hook.uri,
                "headers": [{"key": k, "value": v} for k, v in hook.headers],
                "method": "POST",
                "authScheme": auth,
            },
        },
        "_links": {
            "self": _link(href, "GET", "PUT", "DELETE"),
            "verify": _link(f"{href}/lifecycle/verify", "POST"),
            toggle: _link(f"{href}/lifecycle/{toggle}", "POST"),
        },
    }


def _link(href: str, *allow: str) -> dict[str, Any]:
    return {"href": href, "hints": {"allow": list(allow)}}


def payload(delivery: Delivery, source: str) -> dict[str, Any]:
    """Okta's event hook request body: one System Log event."""
    return {
        "eventType": "com.okta.event_hook",
        "eventTypeVersion": "1.0",
        "cloudEventsVersion": "0.1",
        "source": source,
        "eventId": delivery.id,
        "eventTime": iso(delivery.created),
        "contentType": "application/json",
        "data": {"events": [json.loads(delivery.payload)]},
    }


def delivery_json(delivery: Delivery) -> dict[str, Any]:
    """A delivery as operators see it (``keyrotor hooks deliveries``)."""
    when = {"nextAttempt": delivery.next_attempt, "lastAttempt": delivery.last_attempt}
    return {
        "id": delivery.id,
        "hookId": delivery.hook_id,
        "eventUuid": delivery.event_uuid,
        "eventType": delivery.event_type,
        "status": delivery.status.value,
        "attempts": delivery.attempts,
        **{k: iso(v) if v else None for k, v in when.items()},
        "lastStatus": delivery.last_status,
        "lastError": delivery.last_error,
        "delivered": iso(delivery.delivered) if delivery.delivered else None,
        "created": iso(delivery.created),
    }


# -- the audit record of hooks ---------------------------------------------------------


def hook_event(
    kind: str, hook: EventHook, actor: audit.Actor, now: datetime, **details: Any
) -> audit.AuditEvent:
    """An event about a hook: ids, names, the URL and event types; never a header value."""
    facts: Mapping[str, Any] = {"uri": hook.uri, "events": list(hook.events), **details}
    target = audit.Target(hook.id, HOOK_TYPE, hook.name[:255])
    return audit.event(kind, actor, target, now, details=facts)
