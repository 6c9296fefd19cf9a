"""API tokens (``Authorization: SSWS …``) and the scopes that guard the management API.

A token may expire (``expires``) and may be revoked (``revoked``, the moment it was); a
token that is neither is *active*, and only active tokens authenticate or are listed.
Revoked and expired tokens stay stored (their ids may be named elsewhere) and are never
active again.
"""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from keyrotor.clock import iso
from keyrotor.crypto import token_digest

FIRST_TOKEN_ID = "00Tfirst-admin"  # one id, so that only one replica's first token wins
SCOPE_READ = "okta.authorizationServers.read"
SCOPE_MANAGE = "okta.authorizationServers.manage"
ALL_SCOPES = (SCOPE_READ, SCOPE_MANAGE)
_ALPHABET = string.ascii_letters + string.digits + "-_"

# what a token value given from outside (the bootstrap token) must have at least
MIN_LENGTH = 32
MIN_DISTINCT = 10
_CLASSES = (string.ascii_lowercase, string.ascii_uppercase, string.digits)


@dataclass(frozen=True, slots=True)
class ApiToken:
    """A stored API token: only the SHA-256 digest of its value is kept."""

    id: str
    name: str
    digest: str
    scopes: tuple[str, ...]
    created: datetime
    expires: datetime | None = None  # None: never
    revoked: datetime | None = None  # None: not revoked
    last_used: datetime | None = None  # recorded coarsely, see ``ApiTokenService``

    def allows(self, scope: str) -> bool:
        """``manage`` implies ``read``, as in Okta."""
        return scope in self.scopes or (scope == SCOPE_READ and SCOPE_MANAGE in self.scopes)

    def active(self, now: datetime) -> bool:
        """Neither revoked nor expired at ``now``."""
        return self.revoked is None and (self.expires is None or now < self.expires)


def weakness(value: str) -> str | None:
    """Why ``value`` is too weak to be an API token, or ``None`` if it is not: shorter
    than ``MIN_LENGTH``, fewer than ``MIN_DISTINCT`` distinct characters, or made of one
    class only (all lowercase letters, all capitals, or all digits). The value itself is
    never part of the answer."""
    if len(value) < MIN_LENGTH:
        return f"{len(value)} characters, at least {MIN_LENGTH} are needed"
    if len(set(value)) < MIN_DISTINCT:
        return f"{len(set(value))} distinct characters, at least {MIN_DISTINCT} are needed"
    if any(set(value) <= set(chars) for chars in _CLASSES):
        return "it is made of one kind of character only (mix letters, digits, symbols)"
    return None


def new_token_value() -> str:
    """Okta's shape: 42 characters starting with ``00``, 240 random bits; never weak."""
    while True:
        value = "00" + "".join(secrets.choice(_ALPHABET) for _ in range(40))
        if weakness(value) is None:  # practically always at the first draw
            return value


def new_token(
    name: str,
    scopes: tuple[str, ...],
    now: datetime,
    value: str,
    token_id: str | None = None,
    expires: datetime | None = None,
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
        expires=expires,
    )


def okta_json(token: ApiToken, base: str) -> dict[str, Any]:
    """Okta's ``ApiToken`` for a keyrotor token, in the order of Okta's examples.

    - ``name``, ``id``, ``created``: the token's own.
    - ``network``: ``{"connection": "ANYWHERE"}``, what Okta answers for a token without
      network restrictions (keyrotor has none).
    - ``expiresAt``: the token's expiry; left out for a token that never expires (Okta's
      tokens always expire, so it has no value for "never", and the member is optional).
    - ``lastUpdated``: the token's last recorded use, else its creation. Okta renews a token
      on each use, so there this is the last use too (``expiresAt`` is 30 days after it);
      keyrotor's expiry is fixed and is not moved by use.
    - ``scopes``: keyrotor's own member (Okta's tokens carry their user's roles instead).
    - ``_links.self`` (``GET``, ``DELETE``) under ``base``. Okta's examples send ``_links``
      (its schema says ``_link``, a typo the examples and servers do not follow).
    - Left out, as Okta's schema allows: ``userId`` and the ``user`` link (keyrotor has no
      users), ``clientName`` (tokens are made by ``keyrotor`` itself, through no client),
      ``tokenWindow`` (Okta's idle timeout; keyrotor's tokens have none).
    """
    found: dict[str, Any] = {
        "name": token.name,
        "network": {"connection": "ANYWHERE"},
        "id": token.id,
    }
    if token.expires is not None:
        found["expiresAt"] = iso(token.expires)
    found["created"] = iso(token.created)
    last = token.last_used if token.last_used and token.last_used > token.created else None
    found["lastUpdated"] = iso(last or token.created)
    found["scopes"] = list(token.scopes)
    href = f"{base}/api/v1/api-tokens/{token.id}"
    found["_links"] = {"self": {"href": href, "hints": {"allow": ["GET", "DELETE"]}}}
    return found
