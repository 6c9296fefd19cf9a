"""API tokens (``Authorization: SSWS …``) and the scopes that guard the management API."""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass
from datetime import datetime

from keyrotor.crypto import token_digest

FIRST_TOKEN_ID = "00Tfirst-admin"  # one id, so that only one replica's first token wins
SCOPE_READ = "okta.authorizationServers.read"
SCOPE_MANAGE = "okta.authorizationServers.manage"
ALL_SCOPES = (SCOPE_READ, SCOPE_MANAGE)
_ALPHABET = string.ascii_letters + string.digits + "-_"


@dataclass(frozen=True, slots=True)
class ApiToken:
    """A stored API token: only the SHA-256 digest of its value is kept."""

    id: str
    name: str
    digest: str
    scopes: tuple[str, ...]
    created: datetime

    def allows(self, scope: str) -> bool:
        """``manage`` implies ``read``, as in Okta."""
        return scope in self.scopes or (scope == SCOPE_READ and SCOPE_MANAGE in self.scopes)


def new_token_value() -> str:
    """Okta's shape: 42 characters starting with ``00``."""
    return "00" + "".join(secrets.choice(_ALPHABET) for _ in range(40))


def new_token(
    name: str, scopes: tuple[str, ...], now: datetime, value: str, token_id: str | None = None
) -> ApiToken:
    unknown = set(scopes) - set(ALL_SCOPES)
    if unknown:
        raise ValueError(f"unknown scopes: {', '.join(sorted(unknown))}")
    return ApiToken(
        id=token_id or "00T" + secrets.token_hex(8),
        name=name,
        digest=token_digest(value),
        scopes=tuple(scopes),
        created=now,
    )
