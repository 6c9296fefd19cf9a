"""Custom scopes of an authorization server (Okta's scopes API). Pure data and validation.

A client may request, at a server's token endpoint, any scope that server defines (access
policies are not modelled). ``default``, ``consent``, ``optional`` and ``displayName`` are
stored and shown as Okta shows them; the token endpoint still requires an explicit ``scope``.
Every member of Okta's ``OAuth2Scope`` is stored or, when read-only, accepted as Okta's SDK
sends it back; any other member is refused.
"""

from __future__ import annotations

import dataclasses
import re
import secrets
import string
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar

from keyrotor.errors import ValidationFailed
from keyrotor.members import check_members

_BASE62 = string.ascii_letters + string.digits
# RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")
RESERVED_PREFIX = "okta."
MAX_NAME = 255
MAX_DESCRIPTION = 1024
MAX_DISPLAY_NAME = 255
# Okta's OAuth2Scope: the members a body may carry (``id``, ``system`` and ``_links`` are
# read-only: Okta's SDK sends them back, and they are accepted as long as they say so)
MEMBERS = (
    "name",
    "description",
    "displayName",
    "consent",
    "default",
    "optional",
    "metadataPublish",
    "id",
    "system",
    "_links",
)


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
    display_name: str | None = None  # shown in a consent dialog; absent when not set
    optional: bool = False  # the user may skip consent to it


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
    display_name: str | None = None
    optional: bool = False

    @classmethod
    def new(cls, server_id: str, spec: ScopeSpec, now: datetime) -> Scope:
        return cls(new_scope_id(), server_id, created=now, last_updated=now, **_fields(spec))

    def replaced(self, spec: ScopeSpec, now: datetime) -> Scope:
        return dataclasses.replace(self, last_updated=now, **_fields(spec))


def _fields(spec: ScopeSpec) -> dict[str, Any]:
    """What a client sets on a scope, by the name ``Scope`` gives it too."""
    return {f.name: getattr(spec, f.name) for f in dataclasses.fields(spec)}


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
    description = _text(body.get("description") or "", "description", MAX_DESCRIPTION, causes)
    default = _flag(body, "default", causes)
    consent = _enum(Consent, body.get("consent", "IMPLICIT"), "consent", causes)
    publish = _enum(
        MetadataPublish, body.get("metadataPublish", "NO_CLIENTS"), "metadataPublish", causes
    )
    display_name = body.get("displayName")
    if display_name is not None:
        display_name = _text(display_name, "displayName", MAX_DISPLAY_NAME, causes)
    optional = _flag(body, "optional", causes)
    system = body.get("system")
    if system is not None and system is not False:
        causes.append("system: Only Okta's own scopes are system scopes; must be false.")
    check_members(body, "OAuth2Scope", MEMBERS, {}, causes)
    if causes or consent is None or publish is None:
        raise ValidationFailed("scope", *causes)
    return ScopeSpec(name, description, consent, default, publish, display_name, optional)


def _text(value: Any, field: str, limit: int, causes: list[str]) -> str:
    """A string of at most ``limit`` characters, without NUL (PostgreSQL cannot store it)."""
    if not isinstance(value, str) or len(value) > limit:
        causes.append(f"{field}: Must be a string of at most {limit} characters.")
        return ""
    if "\x00" in value:
        causes.append(f"{field}: Must not contain NUL characters.")
    return value


def _flag(body: Mapping[str, Any], field: str, causes: list[str]) -> bool:
    value = body.get(field, False)
    if not isinstance(value, bool):
        causes.append(f"{field}: Must be true or false.")
        return False
    return value


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
