"""Custom scopes of an authorization server (Okta's scopes API). Pure data and validation.

A client may request, at a server's token endpoint, any scope that server defines (access
policies are not modelled). ``default`` and ``consent`` are stored and shown as Okta shows
them; the token endpoint still requires an explicit ``scope``.
"""

from __future__ import annotations

import re
import secrets
import string
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar

from keyrotor.errors import ValidationFailed

_BASE62 = string.ascii_letters + string.digits
# RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")
RESERVED_PREFIX = "okta."
MAX_NAME = 255
MAX_DESCRIPTION = 1024


class Consent(StrEnum):
    IMPLICIT = "IMPLICIT"
    REQUIRED = "REQUIRED"
    FLEXIBLE = "FLEXIBLE"


class MetadataPublish(StrEnum):
    """``ALL_CLIENTS`` lists the scope in the server's discovery documents."""

    NO_CLIENTS = "NO_CLIENTS"
    ALL_CLIENTS = "ALL_CLIENTS"


@dataclass(frozen=True, slots=True)
class ScopeSpec:
    name: str
    description: str = ""
    consent: Consent = Consent.IMPLICIT
    default: bool = False
    metadata_publish: MetadataPublish = MetadataPublish.NO_CLIENTS


@dataclass(frozen=True, slots=True)
class Scope:
    id: str
    server_id: str
    name: str
    description: str
    consent: Consent
    default: bool
    metadata_publish: MetadataPublish
    created: datetime
    last_updated: datetime
    system: bool = False

    @classmethod
    def new(cls, server_id: str, spec: ScopeSpec, now: datetime) -> Scope:
        return cls(new_scope_id(), server_id, *_fields(spec), created=now, last_updated=now)

    def replaced(self, spec: ScopeSpec, now: datetime) -> Scope:
        return Scope(self.id, self.server_id, *_fields(spec), self.created, now, self.system)


def _fields(spec: ScopeSpec) -> tuple[str, str, Consent, bool, MetadataPublish]:
    return spec.name, spec.description, spec.consent, spec.default, spec.metadata_publish


def new_scope_id() -> str:
    """Okta's shape: ``scp`` followed by 17 base62 characters."""
    return "scp" + "".join(secrets.choice(_BASE62) for _ in range(17))


def is_scope_token(name: str) -> bool:
    return _SCOPE_TOKEN.fullmatch(name) is not None


def parse_scope(body: Any) -> ScopeSpec:
    """Validate a scope body (create and replace); every problem is named in the causes."""
    if not isinstance(body, Mapping):
        raise ValidationFailed("scope", "The request body must be a JSON object.")
    causes: list[str] = []
    name = _name(body.get("name"), causes)
    description = body.get("description") or ""
    if not isinstance(description, str) or len(description) > MAX_DESCRIPTION:
        causes.append(f"description: Must be a string of at most {MAX_DESCRIPTION} characters.")
    default = body.get("default", False)
    if not isinstance(default, bool):
        causes.append("default: Must be true or false.")
    consent = _enum(Consent, body.get("consent", "IMPLICIT"), "consent", causes)
    publish = _enum(
        MetadataPublish, body.get("metadataPublish", "NO_CLIENTS"), "metadataPublish", causes
    )
    if causes or consent is None or publish is None:
        raise ValidationFailed("scope", *causes)
    return ScopeSpec(name, str(description), consent, bool(default), publish)


def _name(raw: Any, causes: list[str]) -> str:
    if not isinstance(raw, str) or not raw or len(raw) > MAX_NAME or not is_scope_token(raw):
        causes.append(
            f"name: Required; at most {MAX_NAME} printable characters, "
            "without spaces, quotes or backslashes."
        )
        return ""
    if raw.startswith(RESERVED_PREFIX):
        causes.append(f"name: Names starting with '{RESERVED_PREFIX}' are reserved.")
    return raw


E = TypeVar("E", Consent, MetadataPublish)


def _enum(kind: type[E], raw: Any, field: str, causes: list[str]) -> E | None:
    try:
        return kind(raw)
    except ValueError:
        causes.append(f"{field}: Must be one of {', '.join(m.value for m in kind)}.")
        return None
