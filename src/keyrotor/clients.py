"""OAuth clients registered with RFC 7591 dynamic registration. Pure data and validation.

A client authenticates at the token endpoints with ``client_secret_basic`` or
``client_secret_post``; only the ``client_credentials`` grant exists. The secret is shown
once, at registration, and only its SHA-256 digest is stored. ``org_scopes`` are the scopes
of the org authorization server (``okta.authorizationServers.*``) granted to this client
explicitly (``keyrotor clients create --org-scope …``); a plain registration grants none.
"""

from __future__ import annotations

import dataclasses
import hmac
import secrets
import string
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from keyrotor.apitokens import ALL_SCOPES, SCOPE_MANAGE, SCOPE_READ
from keyrotor.crypto import token_digest
from keyrotor.errors import InvalidClientMetadata

CLIENT_CREDENTIALS = "client_credentials"
GRANT_TYPES = (CLIENT_CREDENTIALS,)
_BASE62 = string.ascii_letters + string.digits


class AuthMethod(StrEnum):
    """How a client proves itself at the token endpoint (``token_endpoint_auth_method``)."""

    BASIC = "client_secret_basic"
    POST = "client_secret_post"


@dataclass(frozen=True, slots=True)
class ClientSpec:
    """What a registration asks for, once validated."""

    name: str
    auth_method: AuthMethod = AuthMethod.BASIC
    grant_types: tuple[str, ...] = GRANT_TYPES
    org_scopes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class OAuthClient:
    """A stored client: the secret itself is never kept, only its digest."""

    client_id: str
    name: str
    secret_digest: str = dataclasses.field(repr=False)
    auth_method: AuthMethod
    grant_types: tuple[str, ...]
    created: datetime
    org_scopes: tuple[str, ...] = ()

    def secret_matches(self, secret: str) -> bool:
        return hmac.compare_digest(self.secret_digest, token_digest(secret))

    def granted_org_scope(self, scope: str) -> bool:
        """``manage`` implies ``read``, as for API tokens."""
        return scope in self.org_scopes or (scope == SCOPE_READ and SCOPE_MANAGE in self.org_scopes)


def new_client_id() -> str:
    """Okta's shape: ``0oa`` followed by 17 base62 characters."""
    return "0oa" + "".join(secrets.choice(_BASE62) for _ in range(17))


def new_client_secret() -> str:
    """256 bits of randomness, base64url (43 characters)."""
    return secrets.token_urlsafe(32)


def new_client(spec: ClientSpec, now: datetime, secret: str) -> OAuthClient:
    unknown = set(spec.org_scopes) - set(ALL_SCOPES)
    if unknown:
        raise ValueError(f"unknown org scopes: {', '.join(sorted(unknown))}")
    return OAuthClient(
        client_id=new_client_id(),
        name=spec.name,
        secret_digest=token_digest(secret),
        auth_method=spec.auth_method,
        grant_types=spec.grant_types,
        created=now,
        org_scopes=tuple(spec.org_scopes),
    )


def parse_metadata(body: Any) -> ClientSpec:
    """Validate an RFC 7591 registration request; members it does not know are ignored."""
    if not isinstance(body, Mapping):
        raise InvalidClientMetadata("The request body must be a JSON object.")
    if body.get("response_types") not in (None, []):
        raise InvalidClientMetadata(
            "'response_types' must be empty: there is no authorization endpoint."
        )
    return ClientSpec(
        name=_name(body.get("client_name")),
        auth_method=_auth_method(body.get("token_endpoint_auth_method")),
        grant_types=_grant_types(body.get("grant_types")),
        org_scopes=(),
    )


def _name(raw: Any) -> str:
    if not isinstance(raw, str) or not raw.strip() or len(raw) > 255:
        raise InvalidClientMetadata(
            "'client_name' is required: a non-empty string of at most 255 characters."
        )
    return raw.strip()


def _auth_method(raw: Any) -> AuthMethod:
    if raw is None:
        return AuthMethod.BASIC
    try:
        return AuthMethod(raw)
    except ValueError:
        allowed = ", ".join(m.value for m in AuthMethod)
        raise InvalidClientMetadata(
            f"'token_endpoint_auth_method' must be one of: {allowed}."
        ) from None


def _grant_types(raw: Any) -> tuple[str, ...]:
    if raw is None:
        return GRANT_TYPES
    if not isinstance(raw, list) or not raw or not all(isinstance(g, str) for g in raw):
        raise InvalidClientMetadata("'grant_types' must be a non-empty array of strings.")
    unsupported = [g for g in raw if g not in GRANT_TYPES]
    if unsupported:
        raise InvalidClientMetadata(
            f"Unsupported grant type '{unsupported[0]}': only client_credentials is supported."
        )
    return GRANT_TYPES
