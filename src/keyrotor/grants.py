"""Okta's app grants: a scope of the org authorization server granted to a client.

A client (an "app"; its app id is its client id) may ask the org server for the
``okta.authorizationServers.*`` scopes it has been granted, and then call the management
API with the token. Pure data and validation.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from keyrotor.apitokens import ALL_SCOPES
from keyrotor.errors import ValidationFailed

_BASE62 = string.ascii_letters + string.digits
_MEMBERS = {"issuer", "scopeId"}
_READ_ONLY = {"id", "status", "created", "createdBy", "lastUpdated", "clientId", "source"}
_READ_ONLY |= {"_embedded", "_links"}


@dataclass(frozen=True, slots=True)
class Grant:
    id: str
    client_id: str
    scope_id: str
    issuer: str
    created: datetime
    created_by: str  # the id of the API token or client that granted it

    @property
    def created_by_type(self) -> str:
        return "Client" if self.created_by.startswith("0oa") else "ApiToken"


def new_grant_id() -> str:
    """Okta's shape: ``oag`` followed by 17 base62 characters."""
    return "oag" + "".join(secrets.choice(_BASE62) for _ in range(17))


def parse_grant(body: Any, org_issuer: str) -> str:
    """The scope a grant request asks for: ``issuer`` must be the org server's."""
    if not isinstance(body, Mapping):
        raise ValidationFailed("OAuth2ScopeConsentGrant", "The request body must be an object.")
    unknown = sorted(set(body) - _MEMBERS - _READ_ONLY)
    if unknown:
        raise ValidationFailed("OAuth2ScopeConsentGrant", f"{unknown[0]}: Unknown property.")
    issuer, scope = body.get("issuer"), body.get("scopeId")
    if not isinstance(issuer, str) or issuer.rstrip("/") != org_issuer.rstrip("/"):
        raise ValidationFailed(
            "OAuth2ScopeConsentGrant",
            f"issuer: The issuer must be the org authorization server, {org_issuer}.",
        )
    if scope not in ALL_SCOPES:
        raise ValidationFailed(
            "OAuth2ScopeConsentGrant",
            f"scopeId: The scope must be one of {', '.join(ALL_SCOPES)}.",
        )
    return str(scope)
