"""The record of key events: who changed which key, server or token, and when. Pure.

Events are made here and stored by the store transaction of the change they describe
(``Transaction.record_event``), so a change and its record commit or roll back together;
after the commit the store logs one line per event (``log_committed``).

Key events are derived from a lifecycle ``Change`` and the keys before it (``key_events``):
the service records them wherever it applies a change, so no path changes keys unrecorded.
Event types are Okta's where Okta has one (``oauth2.as.*``, ``app.oauth2.as.key.rollover``,
``system.api_token.*``), keyrotor's own under ``keyrotor.``. An event holds ids, names,
statuses and times, never a secret: no key material, no token value or digest.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from keyrotor.apitokens import ApiToken
from keyrotor.clock import iso
from keyrotor.keys import KeyStatus, SigningKey
from keyrotor.lifecycle import Change, RotationPolicy, published, stopped
from keyrotor.servers import AuthorizationServer, ServerStatus

# Okta's event types
SERVER_CREATED = "oauth2.as.created"
SERVER_UPDATED = "oauth2.as.updated"
SERVER_ACTIVATED = "oauth2.as.activated"
SERVER_DEACTIVATED = "oauth2.as.deactivated"
SERVER_DELETED = "oauth2.as.deleted"
KEY_ROLLOVER = "app.oauth2.as.key.rollover"  # a rotation: MANUAL, AUTO, or REVOKE of the ACTIVE key
TOKEN_CREATED = "system.api_token.create"
TOKEN_REVOKED = "system.api_token.revoke"
# a client's credentials, its secrets and keys (/api/v1/apps/{appId}/credentials/…)
CREDENTIAL_CREATED = "app.oauth2.credentials.lifecycle.create"
CREDENTIAL_ACTIVATED = "app.oauth2.credentials.lifecycle.activate"
CREDENTIAL_DEACTIVATED = "app.oauth2.credentials.lifecycle.deactivate"
CREDENTIAL_DELETED = "app.oauth2.credentials.lifecycle.delete"
# keyrotor's own
KEY_CREATED = "keyrotor.key.lifecycle.create"
KEY_PUBLISHED_NEXT = "keyrotor.key.lifecycle.publish_next"
KEY_ACTIVATED = "keyrotor.key.lifecycle.activate"
KEY_EXPIRED = "keyrotor.key.lifecycle.expire"
KEY_RETIRED = "keyrotor.key.lifecycle.retire"
KEY_REVOKED = "keyrotor.key.lifecycle.revoke"  # the emergency revoke (keyrotor's extension)
ROTATION_MODE_CHANGED = "keyrotor.as.rotation_mode.update"
KEK_REWRAPPED = "keyrotor.kek.rewrap"
# a server's resource-server encryption keys (resourceservercredentials/keys)
ENCRYPTION_KEY_ADDED = "keyrotor.as.encryption_key.create"
ENCRYPTION_KEY_ACTIVATED = "keyrotor.as.encryption_key.activate"
ENCRYPTION_KEY_DEACTIVATED = "keyrotor.as.encryption_key.deactivate"
ENCRYPTION_KEY_DELETED = "keyrotor.as.encryption_key.delete"
KEY_ROTATION_UPCOMING = "keyrotor.key.rotation.upcoming"  # notice before an AUTO rotation
# Okta's event types of event hooks (keyrotor.hooks)
HOOK_CREATED = "event_hook.created"
HOOK_UPDATED = "event_hook.updated"
HOOK_DELETED = "event_hook.deleted"
HOOK_ACTIVATED = "event_hook.activated"
HOOK_DEACTIVATED = "event_hook.deactivated"
HOOK_VERIFIED = "event_hook.verified"

MESSAGES = {
    SERVER_CREATED: "Create authorization server",
    SERVER_UPDATED: "Update authorization server",
    SERVER_ACTIVATED: "Activate authorization server",
    SERVER_DEACTIVATED: "Deactivate authorization server",
    SERVER_DELETED: "Delete authorization server",
    KEY_ROLLOVER: "Authorization server signing key rollover",
    TOKEN_CREATED: "Create API token",
    TOKEN_REVOKED: "Revoke API token",
    CREDENTIAL_CREATED: "Create OAuth client credential",
    CREDENTIAL_ACTIVATED: "Activate OAuth client credential",
    CREDENTIAL_DEACTIVATED: "Deactivate OAuth client credential",
    CREDENTIAL_DELETED: "Delete OAuth client credential",
    KEY_CREATED: "Create signing key",
    KEY_PUBLISHED_NEXT: "Publish signing key as NEXT",
    KEY_ACTIVATED: "Activate signing key",
    KEY_EXPIRED: "Expire signing key",
    KEY_RETIRED: "Retire signing key (no longer published)",
    KEY_REVOKED: "Revoke signing key (never published nor used to sign again)",
    ROTATION_MODE_CHANGED: "Change key rotation mode",
    KEK_REWRAPPED: "Re-seal private keys under the first key-encryption key",
    ENCRYPTION_KEY_ADDED: "Add access-token encryption key",
    ENCRYPTION_KEY_ACTIVATED: "Activate access-token encryption key",
    ENCRYPTION_KEY_DEACTIVATED: "Deactivate access-token encryption key",
    ENCRYPTION_KEY_DELETED: "Delete access-token encryption key",
    KEY_ROTATION_UPCOMING: "AUTO rotation upcoming: the NEXT key becomes ACTIVE soon",
    HOOK_CREATED: "Create event hook",
    HOOK_UPDATED: "Update event hook",
    HOOK_DELETED: "Delete event hook",
    HOOK_ACTIVATED: "Activate event hook",
    HOOK_DEACTIVATED: "Deactivate event hook",
    HOOK_VERIFIED: "Verify event hook",
}


def event_types() -> tuple[str, ...]:
    """Every event type the record knows (the registry: ``MESSAGES``), sorted; event hooks
    may subscribe to any of them."""
    return tuple(sorted(MESSAGES))


SERVER_TYPE = "AuthorizationServer"
KEY_TYPE = "AuthorizationServerJsonWebKey"
TOKEN_TYPE = "ApiToken"
KEK_TYPE = "KeyEncryptionKey"

log = logging.getLogger("keyrotor.audit")


@dataclass(frozen=True, slots=True)
class Actor:
    """Who made a change: an API token, an OAuth client (org-server Bearer/DPoP tokens),
    the server itself (``system``: AUTO steps, start-up) or the command line (``cli``)."""

    id: str
    type: str
    name: str = ""

    @classmethod
    def api_token(cls, token: ApiToken) -> Actor:
        return cls(token.id, "ApiToken", token.name[:255])

    @classmethod
    def client(cls, client_id: str) -> Actor:
        return cls(client_id, "PublicClientApp", client_id)


SYSTEM = Actor("system", "SystemPrincipal", "keyrotor")
CLI = Actor("cli", "SystemPrincipal", "keyrotor CLI")


class Principal(Protocol):
    """What the HTTP layer knows of its caller (``keyrotor.http.auth.Principal``)."""

    @property
    def id(self) -> str: ...


def actor_of(principal: Principal | None) -> Actor:
    """The actor of an authenticated API caller: its token, or its OAuth client."""
    if principal is None:
        return SYSTEM
    if isinstance(principal, ApiToken):
        return Actor.api_token(principal)
    return Actor.client(principal.id)


@dataclass(frozen=True, slots=True)
class Target:
    id: str
    type: str
    name: str = ""


@dataclass(frozen=True)
class AuditEvent:
    """One recorded event. ``transaction_id`` is set by the store: the events of one
    transaction share it."""

    uuid: str
    published: datetime
    event_type: str
    actor: Actor
    target: Target
    server_id: str | None = None
    outcome: str = "SUCCESS"
    details: Mapping[str, Any] = field(default_factory=dict)
    transaction_id: str = ""

    @property
    def message(self) -> str:
        return MESSAGES.get(self.event_type, self.event_type)


def event(
    event_type: str,
    actor: Actor,
    target: Target,
    now: datetime,
    *,
    server_id: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> AuditEvent:
    """A new event (a fresh uuid)."""
    return AuditEvent(
        uuid=str(uuid.uuid4()),
        published=now,
        event_type=event_type,
        actor=actor,
        target=target,
        server_id=server_id,
        details=dict(details or {}),
    )


@dataclass(frozen=True, slots=True)
class EventQuery:
    """A read of the record: bounds on ``published``, equalities, keywords, a page.

    ``after`` is the position of the last event already read; ``descending`` reads newest
    first. ``target_id`` matches an event's target or its server.
    """

    since: datetime | None = None
    until: datetime | None = None
    server_id: str | None = None
    event_type: str | None = None
    target_id: str | None = None
    actor_id: str | None = None
    keywords: tuple[str, ...] = ()
    limit: int = 100
    after: int | None = None
    descending: bool = False

    def matches(self, position: int, found: AuditEvent) -> bool:
        """The same filter as the SQL query (the memory store uses it)."""
        if self.after is not None and (
            position >= self.after if self.descending else position <= self.after
        ):
            return False
        if self.since is not None and found.published < self.since:
            return False
        if self.until is not None and found.published >= self.until:
            return False
        if self.server_id is not None and found.server_id != self.server_id:
            return False
        if self.event_type is not None and found.event_type != self.event_type:
            return False
        if self.actor_id is not None and found.actor.id != self.actor_id:
            return False
        if self.target_id is not None and self.target_id not in (
            found.target.id,
            found.server_id,
        ):
            return False
        text = " ".join(searched(found)).lower()
        return all(word.lower() in text for word in self.keywords)


def searched(found: AuditEvent) -> tuple[str, ...]:
    """What ``q`` keywords are looked for in (the details as stored: JSON)."""
    return (
        found.event_type,
        found.actor.id,
        found.actor.name,
        found.target.id,
        found.target.name,
        found.server_id or "",
        details_json(found.details),
    )


def details_json(details: Mapping[str, Any]) -> str:
    return json.dumps(dict(details), ensure_ascii=False, sort_keys=True)


# -- events of the use cases ----------------------------------------------------------------


def server_target(server: AuthorizationServer) -> Target:
    return Target(server.id, SERVER_TYPE, server.name)


def server_created(server: AuthorizationServer, actor: Actor, now: datetime) -> AuditEvent:
    return event(
        SERVER_CREATED,
        actor,
        server_target(server),
        now,
        server_id=server.id,
        details={"rotationMode": server.rotation_mode.value, "audiences": list(server.audiences)},
    )


_COMPARED = ("name", "description", "audiences", "issuer_mode", "rotation_mode", "encryption_alg")
_NAMES = {
    "issuer_mode": "issuerMode",
    "rotation_mode": "rotationMode",
    "encryption_alg": "accessTokenEncryptedResponseAlgorithm",
}


def server_updated(
    before: AuthorizationServer, after: AuthorizationServer, actor: Actor, now: datetime
) -> list[AuditEvent]:
    """``oauth2.as.updated`` with what changed (Okta's ``changeDetails``), and a rotation
    mode event when the mode changed."""
    old, new = {}, {}
    for name in _COMPARED:
        was, now_is = _plain(getattr(before, name)), _plain(getattr(after, name))
        if was != now_is:
            old[_NAMES.get(name, name)], new[_NAMES.get(name, name)] = was, now_is
    target = server_target(after)
    found = [
        event(
            SERVER_UPDATED,
            actor,
            target,
            now,
            server_id=after.id,
            details={"from": old, "to": new},
        )
    ]
    if before.rotation_mode is not after.rotation_mode:
        details = {
            "from": {"rotationMode": before.rotation_mode.value},
            "to": {"rotationMode": after.rotation_mode.value},
            "nextRotation": iso(after.next_rotation) if after.next_rotation else None,
        }
        found.append(
            event(ROTATION_MODE_CHANGED, actor, target, now, server_id=after.id, details=details)
        )
    return found


def server_status(
    server: AuthorizationServer, status: ServerStatus, actor: Actor, now: datetime
) -> AuditEvent:
    kind = SERVER_ACTIVATED if status is ServerStatus.ACTIVE else SERVER_DEACTIVATED
    return event(kind, actor, server_target(server), now, server_id=server.id)


def server_deleted(
    server: AuthorizationServer, keys: int, actor: Actor, now: datetime
) -> AuditEvent:
    details = {"keysDeleted": keys}
    return event(
        SERVER_DELETED, actor, server_target(server), now, server_id=server.id, details=details
    )


def token_created(token: ApiToken, actor: Actor, now: datetime) -> AuditEvent:
    details: dict[str, Any] = {"scopes": list(token.scopes)}
    expires = getattr(token, "expires", None)
    if expires is not None:
        details["expires"] = iso(expires)
    return event(TOKEN_CREATED, actor, _token_target(token), now, details=details)


def token_revoked(token: ApiToken, actor: Actor, now: datetime) -> AuditEvent:
    return event(TOKEN_REVOKED, actor, _token_target(token), now)


def kek_rewrapped(actor: Actor, now: datetime, keys: int, kek_id: str = "") -> AuditEvent:
    """All private keys re-sealed under the first KEK (``kek_id``: a non-secret name or
    fingerprint of it, if there is one)."""
    target = Target(kek_id or "kek", KEK_TYPE, kek_id)
    return event(KEK_REWRAPPED, actor, target, now, details={"keysResealed": keys})


def _token_target(token: ApiToken) -> Target:
    return Target(token.id, TOKEN_TYPE, token.name[:255])


def key_events(
    before: AuthorizationServer | None,
    keys_before: Sequence[SigningKey],
    change: Change,
    now: datetime,
    policy: RotationPolicy,
    actor: Actor,
    *,
    trigger: str,
    noticed_by: str | None = None,
) -> list[AuditEvent]:
    """What ``change`` did to the keys of one server: a rollover when the ACTIVE key
    left (expired, or was revoked), and per key its creation, NEXT, activation, expiry,
    revocation and retirement.

    ``before`` is the server before the change (``None`` for a new server), ``keys_before``
    its keys, including the EXPIRED ones that were still published after its last
    rotation: a key retires when it leaves the published keys, either at this rotation
    (the EXPIRED key it displaces) or, when rotations come closer together than the
    retention, when its retention ended since the last one (recorded here, its moment in
    ``retiredAt``). ``trigger`` is ``MANUAL``, ``AUTO`` or ``REVOKE``; ``noticed_by`` says
    what applied an AUTO step (``sweep``, ``read`` or ``write``).
    """
    server = change.server
    old = {k.kid: k for k in keys_before}
    common: dict[str, Any] = {"trigger": trigger, "serverName": server.name}
    if noticed_by is not None:
        common["noticedBy"] = noticed_by
    made: list[AuditEvent] = []

    def add(kind: str, key: SigningKey, **extra: Any) -> None:
        details = {**common, "generation": key.generation, "status": key.status.value, **extra}
        target = Target(key.kid, KEY_TYPE, key.kid)
        made.append(event(kind, actor, target, now, server_id=server.id, details=details))

    left = [k for k in change.updated if _was(old, k, KeyStatus.ACTIVE)]  # the signing key
    if left:
        details = {
            **common,
            "rotationMode": server.rotation_mode.value,
            "kid": server.kid,
            "previousKid": left[0].kid,
        }
        target = server_target(server)
        made.append(event(KEY_ROLLOVER, actor, target, now, server_id=server.id, details=details))
    for key in change.updated:
        was = old.get(key.kid)
        if was is not None and was.status is key.status:
            continue
        if key.status is KeyStatus.REVOKED:
            add(KEY_REVOKED, key, previousStatus=was.status.value if was else None)
            continue
        add(KEY_EXPIRED if key.status is KeyStatus.EXPIRED else KEY_ACTIVATED, key)
    for key in change.added:
        add(KEY_CREATED, key)
        add(KEY_PUBLISHED_NEXT if key.status is KeyStatus.NEXT else KEY_ACTIVATED, key)
    if before is not None and left:
        for key, moment in _retired(before, keys_before, change, now, policy):
            add(KEY_RETIRED, key, retiredAt=iso(moment))
    return made


def _was(old: Mapping[str, SigningKey], key: SigningKey, status: KeyStatus) -> bool:
    found = old.get(key.kid)
    return found is not None and found.status is status and key.status is not status


def _retired(
    before: AuthorizationServer,
    keys_before: Sequence[SigningKey],
    change: Change,
    now: datetime,
    policy: RotationPolicy,
) -> Iterable[tuple[SigningKey, datetime]]:
    """EXPIRED keys published just after the last rotation and not after this one, each
    with the moment it stopped being published (a key revoked here is recorded as such)."""
    then = {k.kid for k in published(keys_before, before.last_rotated, policy)}
    after = {k.kid for k in published(change.applied_to(keys_before), now, policy)}
    revoked = {k.kid for k in change.updated if k.status is KeyStatus.REVOKED}
    gone = [k for k in keys_before if k.kid in then and k.kid not in after | revoked]
    # the key that held the newest place among those that stopped signing
    newest = next((k.generation for i, k in stopped(keys_before) if i == 0), None)
    for key in sorted(gone, key=lambda k: k.generation):
        if key.status is not KeyStatus.EXPIRED or key.expired is None:
            continue
        # the newest EXPIRED key stays until this rotation; the others until retention ends
        yield key, now if key.generation == newest else key.expired + policy.retention


# -- after the commit: one log line per event ----------------------------------------------


def log_committed(events: Iterable[AuditEvent]) -> None:
    """One INFO line per committed event; ``event`` carries its fields for JSON logs."""
    if not log.isEnabledFor(logging.INFO):
        return
    for found in events:
        of_server = found.server_id if found.target.type != SERVER_TYPE else None
        log.info(
            "%s %s %s%s by %s %s%s",
            found.event_type,
            found.target.type,
            found.target.id,
            f" of server {of_server}" if of_server else "",
            found.actor.type,
            found.actor.id,
            f" ({found.details['trigger']})" if "trigger" in found.details else "",
            extra={"event": summary(found)},
        )


def summary(found: AuditEvent) -> dict[str, Any]:
    """The event's fields as plain JSON values (for logs and ``keyrotor audit``)."""
    return {
        "uuid": found.uuid,
        "published": iso(found.published),
        "eventType": found.event_type,
        "actor": {"id": found.actor.id, "type": found.actor.type},
        "target": {"id": found.target.id, "type": found.target.type},
        "serverId": found.server_id,
        "outcome": found.outcome,
        "transaction": found.transaction_id,
        "details": dict(found.details),
    }


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    return getattr(value, "value", value)
