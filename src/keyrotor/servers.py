"""Authorization servers: the resource that owns a set of signing keys. Pure data."""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

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

    @property
    def is_active(self) -> bool:
        return self.status is ServerStatus.ACTIVE
