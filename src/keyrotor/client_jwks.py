"""A client's public keys, each with its own lifecycle: Okta's app credentials ``jwks``
(``/api/v1/apps/{appId}/credentials/jwks``). Pure data and rules.

A ``private_key_jwt`` client signs its assertions with a key whose public half it
registered. Each key is stored on its own (``client_jwks``) with an Okta id (``pks…``) and
a status: only ACTIVE keys verify assertions, so a client rotates by adding a new key,
activating it, deactivating the old one and deleting it. The rules are Okta's: at most
``MAX_KEYS`` keys, each with a ``kid`` of its own once there is more than one, only
INACTIVE keys deleted, and never the last ACTIVE key of a ``private_key_jwt`` client
deactivated. The key checks themselves (RSA of 2048 bits or more, P-256, no private
members) are the registration's (``clients.public_jwk``).

The registration API (``/oauth2/v1/clients``) shows the ACTIVE keys as its ``jwks``; a
registration's ``jwks`` is the ACTIVE set wanted (``replace_set``).
"""

from __future__ import annotations

import dataclasses
import secrets
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from keyrotor import audit
from keyrotor.audit import Actor, AuditEvent, Target
from keyrotor.clients import MAX_KEYS, AuthMethod, OAuthClient, public_jwk
from keyrotor.errors import InvalidClientMetadata, ValidationFailed

WHAT = "JsonWebKey"  # Okta's errorSummary: "Api validation failed: JsonWebKey"
TARGET_TYPE = "OAuth2ClientJsonWebKey"
_BASE62 = string.ascii_letters + string.digits
_READ_ONLY = frozenset({"id", "created", "lastUpdated", "_links"})

TOO_MANY = (
    f"You can't create a new key. You have reached the maximum number of keys allowed "
    f"({MAX_KEYS}). To add another key, you must first delete an existing one."
)
NON_UNIQUE_KID = (
    "Each key should have a unique kid when adding multiple keys. Use the Apps API to update "
    "the JWKS to add a kid for the existing key, or delete the existing key and re-add the "
    "key with a kid using the JWKS APIs."
)
DUPLICATE_KID = "All keys in the 'jwks' must have a unique `kid`."
DELETE_ACTIVE = "You can't delete an active JSON Web Key. Deactivate the key before deleting it."
LAST_ACTIVE = (
    "Can't deactivate the only active JSON Web Key when the value for "
    "`token_endpoint_auth_method` is `private_key_jwt`."
)


class JwkStatus(StrEnum):
    ACTIVE = "ACTIVE"
    INACTIVE = "INACTIVE"


@dataclass(frozen=True, slots=True)
class ClientJwk:
    """One public key of a client: the JWK as registered (public members only) and its
    lifecycle. A key's material never changes; its status and ``last_updated`` do."""

    id: str
    client_id: str
    jwk: Mapping[str, Any]
    status: JwkStatus
    created: datetime
    last_updated: datetime

    @property
    def kid(self) -> str | None:
        found = self.jwk.get("kid")
        return found if isinstance(found, str) else None

    @property
    def active(self) -> bool:
        return self.status is JwkStatus.ACTIVE

    def with_status(self, status: JwkStatus, now: datetime) -> ClientJwk:
        return dataclasses.replace(self, status=status, last_updated=now)


def new_jwk_id() -> str:
    """Okta's shape: ``pks`` followed by 17 base62 characters."""
    return "pks" + "".join(secrets.choice(_BASE62) for _ in range(17))


def new_jwk(client_id: str, jwk: Mapping[str, Any], status: JwkStatus, now: datetime) -> ClientJwk:
    return ClientJwk(new_jwk_id(), client_id, dict(jwk), status, now, now)


def parse_jwk(body: Any) -> tuple[dict[str, Any], JwkStatus]:
    """An ``addJwk`` body: the public signing key to store and the status asked for
    (``ACTIVE`` unless said). Okta's read-only members (``id``, ``created``,
    ``lastUpdated``, ``_links``) are ignored; encryption keys are refused: keyrotor issues
    no ID tokens to encrypt."""
    if not isinstance(body, Mapping):
        raise ValidationFailed(WHAT, "The request body must be a JSON object.")
    raw = body.get("status")
    if raw is None:
        status = JwkStatus.ACTIVE
    elif raw in (JwkStatus.ACTIVE.value, JwkStatus.INACTIVE.value):
        status = JwkStatus(raw)
    else:
        raise ValidationFailed(WHAT, "status: The status must be ACTIVE or INACTIVE.")
    if body.get("use") == "enc":
        raise ValidationFailed(
            WHAT,
            "use: Encryption keys are not supported: keyrotor issues no ID tokens to encrypt. "
            "Add a signing key ('use': 'sig').",
        )
    jwk = {k: v for k, v in body.items() if k not in _READ_ONLY and k != "status"}
    if jwk.get("kid", "") is None:  # Okta's schema: kid is nullable, and null means none
        del jwk["kid"]
    try:
        return public_jwk(jwk), status
    except InvalidClientMetadata as exc:
        raise ValidationFailed(WHAT, exc.description) from None


def check_add(keys: Sequence[ClientJwk], jwk: Mapping[str, Any]) -> None:
    """Refuse a key the client cannot take next to ``keys`` (Okta's 400s)."""
    if len(keys) >= MAX_KEYS:
        raise ValidationFailed(WHAT, TOO_MANY)
    kid = jwk.get("kid")
    if keys and (kid is None or any(k.kid is None for k in keys)):
        raise ValidationFailed(WHAT, NON_UNIQUE_KID)
    if any(k.kid == kid for k in keys):
        raise ValidationFailed(WHAT, DUPLICATE_KID)


def check_deactivate(client: OAuthClient, key: ClientJwk, keys: Sequence[ClientJwk]) -> None:
    """A ``private_key_jwt`` client keeps at least one ACTIVE key."""
    others = [k for k in keys if k.active and k.id != key.id]
    if key.active and client.auth_method is AuthMethod.PRIVATE_KEY_JWT and not others:
        raise ValidationFailed(WHAT, LAST_ACTIVE)


def check_delete(key: ClientJwk) -> None:
    if key.active:
        raise ValidationFailed(WHAT, DELETE_ACTIVE)


def uses_stored_keys(client: OAuthClient) -> bool:
    """Keys can be added to a ``private_key_jwt`` client that registered them inline (not
    one that publishes them at a ``jwks_uri``, nor one that authenticates with a secret)."""
    return client.auth_method is AuthMethod.PRIVATE_KEY_JWT and client.jwks_uri is None


def refusal_to_add(client: OAuthClient) -> ValidationFailed:
    if client.jwks_uri is not None:
        return ValidationFailed(
            WHAT,
            "The client's keys are published at its 'jwks_uri': add the key there, or replace "
            "the client's 'jwks_uri' with 'jwks' (PUT /oauth2/v1/clients/{clientId}).",
        )
    return ValidationFailed(
        WHAT,
        "The client authenticates with a client secret: only a client whose "
        "token_endpoint_auth_method is private_key_jwt has JSON Web Keys.",
    )


@dataclass(frozen=True, slots=True)
class KeySetChange:
    """What a registration does to a client's stored keys."""

    added: tuple[ClientJwk, ...] = ()
    activated: tuple[ClientJwk, ...] = ()  # INACTIVE keys sent again: ACTIVE now
    deleted: tuple[ClientJwk, ...] = ()

    def applied(self, keys: Sequence[ClientJwk]) -> tuple[ClientJwk, ...]:
        gone = {k.id for k in self.deleted} | {k.id for k in self.activated}
        kept = [k for k in keys if k.id not in gone]
        return (*kept, *self.activated, *self.added)


def split_jwks(metadata: Mapping[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]] | None]:
    """A registration's metadata without its ``jwks``, and the keys (``None``: no ``jwks``
    member, the client has no stored keys)."""
    rest = {k: v for k, v in metadata.items() if k != "jwks"}
    found = metadata.get("jwks")
    if not isinstance(found, Mapping):
        return rest, None
    return rest, [dict(k) for k in found["keys"]]


def replace_set(
    client_id: str,
    current: Sequence[ClientJwk],
    sent: list[dict[str, Any]] | None,
    now: datetime,
) -> KeySetChange:
    """The change a registration's ``jwks`` (``sent``, already checked key by key) makes:
    it is the ACTIVE set wanted. A key sent as it is stored (same members) keeps its id (an
    INACTIVE one is activated); ACTIVE keys not sent are deleted; INACTIVE keys not sent
    are kept (the registration never showed them). ``sent`` ``None`` (a client that now
    uses a secret or a ``jwks_uri``) deletes every key."""
    if sent is None:
        return KeySetChange(deleted=tuple(current))
    fresh: list[dict[str, Any]] = []
    matched: set[str] = set()
    activated: list[ClientJwk] = []
    for jwk in sent:
        same = next((k for k in current if dict(k.jwk) == jwk and k.id not in matched), None)
        if same is None:
            fresh.append(jwk)
            continue
        matched.add(same.id)
        if not same.active:
            activated.append(same.with_status(JwkStatus.ACTIVE, now))
    # keys are listed by (created, id): ids in the order sent keep that order
    ids = sorted(new_jwk_id() for _ in fresh)
    added = [
        ClientJwk(key_id, client_id, jwk, JwkStatus.ACTIVE, now, now)
        for key_id, jwk in zip(ids, fresh, strict=True)
    ]
    deleted = tuple(k for k in current if k.active and k.id not in matched)
    change = KeySetChange(tuple(added), tuple(activated), deleted)
    after = change.applied(current)
    if len(after) > MAX_KEYS:
        raise InvalidClientMetadata(TOO_MANY)
    kids = [k.kid for k in after]
    if len(after) > 1 and None in kids:
        raise InvalidClientMetadata(NON_UNIQUE_KID)
    if len(set(kids)) != len(kids):
        raise InvalidClientMetadata(
            "All keys in the 'jwks' must have a unique `kid`: an INACTIVE key of the client "
            "has one sent (delete it first: DELETE /api/v1/apps/{appId}/credentials/jwks/{keyId})."
        )
    return change


def event(kind: str, key: ClientJwk, actor: Actor, now: datetime, **extra: Any) -> AuditEvent:
    """An audit event of a change to ``key`` (one of ``audit.CREDENTIAL_*``): its ids, kid,
    type and status; a public key is no secret, but its material is left out all the same."""
    details = {
        "credential": "jwk",
        "clientId": key.client_id,
        "kid": key.kid,
        "kty": key.jwk.get("kty"),
        "status": key.status.value,
        **extra,
    }
    target = Target(key.id, TARGET_TYPE, key.kid or "")
    return audit.event(kind, actor, target, now, details=details)


def change_events(change: KeySetChange, actor: Actor, now: datetime) -> list[AuditEvent]:
    """The events of what a registration did to the keys."""
    found = [event(audit.CREDENTIAL_CREATED, k, actor, now) for k in change.added]
    found += [event(audit.CREDENTIAL_ACTIVATED, k, actor, now) for k in change.activated]
    found += [event(audit.CREDENTIAL_DELETED, k, actor, now) for k in change.deleted]
    return found
