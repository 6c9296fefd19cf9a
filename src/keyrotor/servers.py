"""Authorization servers: the resource that owns a set of signing keys, and the checks of
what a caller may set on one (the API and the CLI both parse with ``parse_server``). Pure."""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar

from keyrotor.encryption import EncryptionKey, KeySpec, parse_algorithm, parse_jwks
from keyrotor.errors import ValidationFailed
from keyrotor.members import check_members

DEFAULT_SERVER_ID = "default"
# The org authorization server (issuer = the base URL, keys at /oauth2/v1/keys): a server row
# with this reserved id, hidden from the management API and from /oauth2/{id}/… routes.
ORG_SERVER_ID = "org"
_BASE62 = string.ascii_letters + string.digits


class ServerStatus(StrEnum):
    ACTIVE = "ACTIVE"
    INACTIVE = "INACTIVE"


class RotationMode(StrEnum):
    AUTO = "AUTO"
    MANUAL = "MANUAL"


class IssuerMode(StrEnum):
    ORG_URL = "ORG_URL"
    CUSTOM_URL = "CUSTOM_URL"
    DYNAMIC = "DYNAMIC"


def new_server_id() -> str:
    """Okta's shape: ``aus`` followed by 17 base62 characters."""
    return "aus" + "".join(secrets.choice(_BASE62) for _ in range(17))


@dataclass(frozen=True, slots=True)
class AuthorizationServer:
    """An authorization server and its signing configuration.

    ``version`` grows with every change to the server's keys; replicas compare it to know
    whether a cached JWKS is still current.
    """

    id: str
    name: str
    audiences: tuple[str, ...]
    created: datetime
    last_updated: datetime
    rotation_mode: RotationMode
    last_rotated: datetime
    description: str = ""
    issuer_mode: IssuerMode = IssuerMode.ORG_URL
    status: ServerStatus = ServerStatus.ACTIVE
    next_rotation: datetime | None = None
    kid: str = ""
    version: int = 0
    extra: dict[str, object] = field(default_factory=dict, compare=False)
    # access-token encryption (keyrotor.encryption): the algorithm, None when off; the
    # resource server's encryption keys as the read that made this value saw them
    encryption_alg: str | None = None
    encryption_keys: tuple[EncryptionKey, ...] = field(default=(), compare=False)

    @property
    def is_active(self) -> bool:
        return self.status is ServerStatus.ACTIVE


@dataclass(frozen=True, slots=True)
class ServerSpec:
    """What a client may set on a server (create and replace)."""

    name: str
    audiences: tuple[str, ...]
    description: str = ""
    issuer_mode: IssuerMode = IssuerMode.ORG_URL
    rotation_mode: RotationMode | None = None
    encryption_alg: str | None = None  # accessTokenEncryptedResponseAlgorithm
    jwks: tuple[KeySpec, ...] | None = None  # None: not sent, the keys stay as they are


# Okta's AuthorizationServer: the members keyrotor sets, then the read-only ones Okta's SDK
# sends back (accepted and ignored, as Okta ignores them; status changes by its lifecycle
# operations, the issuer follows issuerMode)
SERVER_MEMBERS = (
    *("name", "description", "audiences", "issuerMode", "credentials"),
    *("accessTokenEncryptedResponseAlgorithm", "jwks"),
    *("id", "issuer", "status", "created", "lastUpdated", "_links"),
)
SIGNING_MEMBERS = ("rotationMode", "use", "kid", "lastRotated", "nextRotation")
UNSUPPORTED = {
    "jwks_uri": "keyrotor does not fetch encryption keys from a URL; send them in 'jwks' "
    "or add them at resourceservercredentials/keys (or leave it out, or null).",
}


def parse_server(body: Any, what: str = "authorizationServer") -> ServerSpec:
    """Check an ``AuthorizationServer`` body (create or replace); every problem is named in
    the ``ValidationFailed`` causes."""
    if not isinstance(body, dict):
        raise ValidationFailed(what, "The request body must be a JSON object.")
    causes: list[str] = []
    name = body.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 255:
        causes.append("name: The field cannot be left blank (at most 255 characters).")
    audiences = body.get("audiences")
    if (
        not isinstance(audiences, list)
        or not audiences
        or not all(isinstance(a, str) and a.strip() and len(a) <= 1024 for a in audiences)
    ):
        causes.append("audiences: Provide at least one audience (a non-empty string).")
    description = body.get("description", "")
    if description is None:
        description = ""
    if not isinstance(description, str) or len(description) > 1024:
        causes.append("description: Must be a string of at most 1024 characters.")
    issuer_mode = _enum(IssuerMode, body.get("issuerMode", "ORG_URL"), "issuerMode", causes)
    mode = _rotation_mode(body, causes)
    encryption_alg = parse_algorithm(body.get("accessTokenEncryptedResponseAlgorithm"), causes)
    jwks = parse_jwks(body.get("jwks"), causes)
    if body.get("status") is not None:
        _enum(ServerStatus, body["status"], "status", causes)
    check_members(body, "AuthorizationServer", SERVER_MEMBERS, UNSUPPORTED, causes)
    if causes:
        raise ValidationFailed(what, *causes)
    return ServerSpec(
        name=str(name).strip(),
        audiences=tuple(str(a) for a in audiences or ()),
        description=str(description),
        issuer_mode=issuer_mode or IssuerMode.ORG_URL,
        rotation_mode=mode,
        encryption_alg=encryption_alg,
        jwks=jwks,
    )


def _rotation_mode(body: dict[str, Any], causes: list[str]) -> RotationMode | None:
    """``credentials.signing.rotationMode``; its read-only siblings are accepted as sent."""
    credentials = body.get("credentials") or {}
    signing = credentials.get("signing") if isinstance(credentials, dict) else None
    if not isinstance(credentials, dict) or not isinstance(signing, dict | None):
        causes.append("credentials.signing: Must be an object.")
        return None
    signing = signing or {}
    check_members(
        credentials, "AuthorizationServerCredentials", ("signing",), {}, causes, "credentials."
    )
    check_members(
        signing,
        "AuthorizationServerCredentialsSigningConfig",
        SIGNING_MEMBERS,
        {},
        causes,
        "credentials.signing.",
    )
    if signing.get("use") not in (None, "sig"):
        causes.append("credentials.signing.use: Must be sig.")
    raw = signing.get("rotationMode")
    return None if raw is None else _enum(RotationMode, raw, "rotationMode", causes)


E = TypeVar("E", IssuerMode, RotationMode, ServerStatus)


def _enum(kind: type[E], raw: Any, field: str, causes: list[str]) -> E | None:
    try:
        return kind(raw)
    except ValueError:
        allowed = ", ".join(m.value for m in kind)
        causes.append(f"{field}: Must be one of {allowed}.")
        return None
