"""A client's secrets, as Okta's app credentials keep them
(``/api/v1/apps/{appId}/credentials/secrets``). Pure data and validation.

A client that authenticates with a secret (``client_secret_basic``, ``client_secret_post``)
holds at most ``MAX_SECRETS`` secret objects, each ACTIVE or INACTIVE. Any ACTIVE one opens
the token endpoints, so a client moves to a new secret without a gap: add a second one,
switch the client over, deactivate the old one, delete it. Only an INACTIVE secret can be
deleted, and the only ACTIVE secret cannot be deactivated.

A value is shown once, in the answer to its creation, and stored only as its SHA-256 digest
(``crypto.token_digest``, as API tokens are). ``secret_hash`` identifies a secret in later
answers without giving a way to test a guess: an HMAC of the value under a key derived from
the KEK (``secret_hash``), never the stored digest or a plain hash of the value.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import re
import secrets
import string
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from keyrotor.clients import AuthMethod
from keyrotor.crypto import token_digest
from keyrotor.errors import ValidationFailed

MAX_SECRETS = 2  # Okta: "You can create up to two secret objects."
MIN_LENGTH = 14  # a caller's own value, in characters (Okta's bounds)
MAX_LENGTH = 100
HASH_PURPOSE = "keyrotor client secret hash"  # the KEK-derived key of ``secret_hash``
SECRET_TYPE = "OAuth2ClientSecret"  # the type named by a 404 and the audit record
_MEDIATED = "OAuth2ClientSecretMediated"  # what Okta's rule errors name
_BASE62 = string.ascii_letters + string.digits
_PRINTABLE = re.compile(r"[\x20-\x7e]+")
_MEMBERS = {"client_secret", "status"}
# members of Okta's answer a caller may send back; ignored, as Okta ignores read-only members
_READ_ONLY = {"id", "secret_hash", "created", "lastUpdated", "_links"}


class SecretStatus(StrEnum):
    ACTIVE = "ACTIVE"
    INACTIVE = "INACTIVE"


@dataclass(frozen=True, slots=True)
class ClientSecret:
    """A stored secret: its digest, never its value."""

    id: str
    client_id: str
    digest: str = dataclasses.field(repr=False)
    secret_hash: str
    status: SecretStatus
    created: datetime
    last_updated: datetime

    @property
    def active(self) -> bool:
        return self.status is SecretStatus.ACTIVE

    def with_status(self, status: SecretStatus, now: datetime) -> ClientSecret:
        return dataclasses.replace(self, status=status, last_updated=now)


def new_secret_id() -> str:
    """Okta's shape: ``ocs`` followed by 17 base62 characters."""
    return "ocs" + "".join(secrets.choice(_BASE62) for _ in range(17))


def secret_hash(value: str, key: bytes) -> str:
    """Okta's shape (22 base64url characters: 128 bits), keyed so that only the server
    can compute it: who reads it cannot check a guessed value against it."""
    mac = hmac.new(key, value.encode(), hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def new_secret(
    client_id: str, value: str, status: SecretStatus, now: datetime, hash_key: bytes
) -> ClientSecret:
    return ClientSecret(
        id=new_secret_id(),
        client_id=client_id,
        digest=token_digest(value),
        secret_hash=secret_hash(value, hash_key),
        status=status,
        created=now,
        last_updated=now,
    )


@dataclass(frozen=True, slots=True)
class SecretRequest:
    """A create body, checked: the caller's own value (``None``: the server makes one)."""

    value: str | None = None
    status: SecretStatus = SecretStatus.ACTIVE


def parse_request(body: Any) -> SecretRequest:
    """Okta's ``OAuth2ClientSecretRequestBody`` (no body at all is ``{}``); every error
    names its member as Okta's do."""
    if body is None:
        return SecretRequest()
    if not isinstance(body, Mapping):
        raise ValidationFailed(
            "OAuth2ClientSecretRequestBody", "The request body must be a JSON object."
        )
    unknown = sorted(set(body) - _MEMBERS - _READ_ONLY)
    if unknown:
        raise ValidationFailed(unknown[0], f"{unknown[0]}: Unknown property.")
    value = body.get("client_secret")
    if value is not None:
        check_value(value)
    status = body.get("status")
    if status is None:
        return SecretRequest(value)
    if status not in (SecretStatus.ACTIVE.value, SecretStatus.INACTIVE.value):
        raise ValidationFailed("status", "status: 'status' must be one of: ACTIVE, INACTIVE.")
    return SecretRequest(value, SecretStatus(status))


def check_value(value: Any) -> str:
    """A caller's own secret: printable ASCII, 14 to 100 characters (Okta's rules and
    error texts, copied as Okta writes them)."""
    if not isinstance(value, str):
        raise ValidationFailed("client_secret", "client_secret: 'client_secret' must be a string.")
    if not _PRINTABLE.fullmatch(value):
        raise ValidationFailed(
            "client_secret",
            "client_secret: ''client_secret'' must only contain printable ASCII: [x20-x7E]+",
        )
    if len(value) < MIN_LENGTH:
        raise ValidationFailed(
            "client_secret",
            f"client_secret: 'client_secret' must be at least '{MIN_LENGTH}' characters long.",
        )
    if len(value) > MAX_LENGTH:
        raise ValidationFailed(
            "client_secret",
            f"client_secret: 'client_secret' can't be more than '{MAX_LENGTH}' characters long.",
        )
    return value


def check_uses_secrets(method: AuthMethod) -> None:
    """A ``private_key_jwt`` client has no secrets (Okta's refusal)."""
    if not method.uses_secret:
        raise ValidationFailed(
            "client_secret",
            "'client_secret' can't be used when 'token_endpoint_auth_method' is 'private_key_jwt'.",
        )


def check_room(existing: list[ClientSecret]) -> None:
    if len(existing) >= MAX_SECRETS:
        raise ValidationFailed(
            _MEDIATED, "You've reached the maximum number of client secrets per client."
        )


def check_deactivate(secret: ClientSecret, existing: list[ClientSecret]) -> None:
    if secret.active and not any(s.active and s.id != secret.id for s in existing):
        raise ValidationFailed(_MEDIATED, "You can't deactivate the only active client secret.")


def check_delete(secret: ClientSecret) -> None:
    if secret.active:
        raise ValidationFailed(
            _MEDIATED,
            "You can't delete an active client secret. Deactivate the secret before deleting it.",
        )
