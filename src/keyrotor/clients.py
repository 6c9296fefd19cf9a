"""OAuth clients: Okta's service apps, registered with RFC 7591. Pure data and validation.

A client authenticates at the token endpoints with a secret (``client_secret_basic``,
``client_secret_post``) or with a JWT it signs with its own key (``private_key_jwt``,
RFC 7523; its public keys registered inline as ``jwks`` or fetched from ``jwks_uri``).
Only the ``client_credentials`` grant exists, so only Okta's ``service`` application type:
the types that sign users in need an authorization endpoint keyrotor does not have. A
client's secrets (one or two, client_secrets.py) are shown once and only their SHA-256
digests are stored. Members of Okta's client schema
that keyrotor keeps (URIs, keys, ``response_types``) are stored as ``metadata`` and answered
back as sent; members it cannot honour are refused by name. ``org_scopes`` are the org
server's scopes granted to the client (``/api/v1/apps/{appId}/grants``).
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
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from keyrotor.apitokens import ALL_SCOPES, SCOPE_MANAGE, SCOPE_READ
from keyrotor.crypto import token_digest
from keyrotor.errors import InvalidClientMetadata
from keyrotor.proofs import PRIVATE_MEMBERS, public_key

if TYPE_CHECKING:
    from keyrotor.client_jwks import ClientJwk
    from keyrotor.client_secrets import ClientSecret

CLIENT_CREDENTIALS = "client_credentials"
GRANT_TYPES = (CLIENT_CREDENTIALS,)
SERVICE = "service"
MAX_KEYS = 50  # Okta's cap on a client's JSON Web Keys
MAX_URI = 1024
_BASE62 = string.ascii_letters + string.digits
_URIS = ("client_uri", "logo_uri", "policy_uri", "tos_uri")
_SIGN_IN_ONLY = {  # members of Okta's schema that only mean something when users sign in
    "post_logout_redirect_uris": "sign-in flows",
    "initiate_login_uri": "sign-in flows",
    "frontchannel_logout_uri": "sign-in flows",
    "frontchannel_logout_session_required": "sign-in flows",
    "request_object_signing_alg": "the authorization endpoint",
    "id_token_encrypted_response_alg": "ID tokens",
}
_SERVER_SET = ("client_id_issued_at", "client_secret_expires_at")
_KNOWN = {
    "client_name",
    "application_type",
    "response_types",
    "grant_types",
    "redirect_uris",
    "token_endpoint_auth_method",
    "jwks",
    "jwks_uri",
    "dpop_bound_access_tokens",
    "client_id",
    "client_secret",
    *_URIS,
    *_SIGN_IN_ONLY,
    *_SERVER_SET,
}
_JWK_MEMBERS = {"kty", "kid", "use", "alg", "n", "e", "crv", "x", "y", "key_ops"}
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class AuthMethod(StrEnum):
    """How a client proves itself at the token endpoint (``token_endpoint_auth_method``)."""

    BASIC = "client_secret_basic"
    POST = "client_secret_post"
    PRIVATE_KEY_JWT = "private_key_jwt"

    @property
    def uses_secret(self) -> bool:
        return self is not AuthMethod.PRIVATE_KEY_JWT


@dataclass(frozen=True, slots=True)
class ClientSpec:
    """What a registration asks for, once validated. ``metadata`` holds the members that
    are stored and answered back as sent (see ``parse_metadata``)."""

    name: str
    auth_method: AuthMethod = AuthMethod.BASIC
    grant_types: tuple[str, ...] = GRANT_TYPES
    org_scopes: tuple[str, ...] = ()
    metadata: Mapping[str, Any] = dataclasses.field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class OAuthClient:
    """A stored client. ``secrets`` are its secret objects, any status, each holding a
    digest, never the value (client_secrets.py); none for ``private_key_jwt``."""

    client_id: str
    name: str
    auth_method: AuthMethod
    grant_types: tuple[str, ...]
    created: datetime
    org_scopes: tuple[str, ...] = ()
    metadata: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    keys: tuple[ClientJwk, ...] = ()  # its stored public keys, any status (client_jwks.py)
    secrets: tuple[ClientSecret, ...] = dataclasses.field(default=(), repr=False)

    def secret_matches(self, secret: str) -> bool:
        """Whether ``secret`` is one of its ACTIVE secrets (each compared in constant time)."""
        digest = token_digest(secret)
        found = [hmac.compare_digest(s.digest, digest) for s in self.secrets if s.active]
        return any(found)

    def granted_org_scope(self, scope: str) -> bool:
        """``manage`` implies ``read``, as for API tokens."""
        return scope in self.org_scopes or (scope == SCOPE_READ and SCOPE_MANAGE in self.org_scopes)

    @property
    def jwks(self) -> list[dict[str, Any]]:
        """The ACTIVE public keys stored for it (``private_key_jwt``); empty otherwise."""
        return [dict(k.jwk) for k in self.keys if k.active]

    @property
    def jwks_uri(self) -> str | None:
        found = self.metadata.get("jwks_uri")
        return found if isinstance(found, str) else None

    @property
    def dpop_bound(self) -> bool:
        """Its access tokens are bound to a DPoP key (RFC 9449)."""
        return self.metadata.get("dpop_bound_access_tokens") is True

    def replaced(self, spec: ClientSpec) -> OAuthClient:
        return dataclasses.replace(
            self,
            name=spec.name,
            auth_method=spec.auth_method,
            grant_types=spec.grant_types,
            metadata=dict(spec.metadata),
        )


def new_client_id() -> str:
    """Okta's shape: ``0oa`` followed by 17 base62 characters."""
    return "0oa" + "".join(secrets.choice(_BASE62) for _ in range(17))


def new_client_secret() -> str:
    """256 bits of randomness, base64url (43 characters)."""
    return secrets.token_urlsafe(32)


def check_org_scopes(scopes: tuple[str, ...]) -> None:
    unknown = set(scopes) - set(ALL_SCOPES)
    if unknown:
        raise ValueError(f"unknown org scopes: {', '.join(sorted(unknown))}")


def new_client(spec: ClientSpec, now: datetime) -> OAuthClient:
    """A client, without secrets yet (the service adds its first one)."""
    check_org_scopes(spec.org_scopes)
    return OAuthClient(
        client_id=new_client_id(),
        name=spec.name,
        auth_method=spec.auth_method,
        grant_types=spec.grant_types,
        created=now,
        org_scopes=tuple(spec.org_scopes),
        metadata=dict(spec.metadata),
    )


def parse_metadata(body: Any, current: OAuthClient | None = None) -> ClientSpec:
    """Validate an RFC 7591 registration (``current`` is the client a PUT replaces).

    Every member of Okta's client schema is either kept or refused by name, and so is a
    member outside it.
    """
    if not isinstance(body, Mapping):
        raise InvalidClientMetadata("The request body must be a JSON object.")
    unknown = sorted(set(body) - _KNOWN)
    if unknown:
        raise InvalidClientMetadata(f"Unknown client metadata: '{unknown[0]}'.")
    _server_set(body, current)
    _service_only(body)
    method = _auth_method(body.get("token_endpoint_auth_method"))
    metadata: dict[str, Any] = {
        "application_type": SERVICE,
        "response_types": _response_types(body.get("response_types")),
    }
    for name in _URIS:
        uri = _optional_uri(name, body.get(name))
        if uri is not None:
            metadata[name] = uri
    metadata.update(_keys(body, method))
    dpop = body.get("dpop_bound_access_tokens", False)
    if not isinstance(dpop, bool):
        raise InvalidClientMetadata("'dpop_bound_access_tokens' must be true or false.")
    metadata["dpop_bound_access_tokens"] = dpop
    return ClientSpec(
        name=_name(body.get("client_name")),
        auth_method=method,
        grant_types=_grant_types(body.get("grant_types")),
        metadata=metadata,
    )


def _server_set(body: Mapping[str, Any], current: OAuthClient | None) -> None:
    """Members the server assigns: refused, except a PUT may repeat the client's own id
    and secret, as Okta's SDK sends a client back whole."""
    for name in _SERVER_SET:
        if name in body:
            raise InvalidClientMetadata(f"'{name}' is set by the server and cannot be sent.")
    given = body.get("client_id")
    if given is not None and (current is None or given != current.client_id):
        raise InvalidClientMetadata("'client_id' is assigned by the server and cannot be chosen.")
    secret = body.get("client_secret")
    if secret is not None and (
        current is None or not isinstance(secret, str) or not current.secret_matches(secret)
    ):
        raise InvalidClientMetadata(
            "'client_secret' cannot be chosen: the server generates it "
            "(POST /oauth2/v1/clients/{clientId}/lifecycle/newSecret)."
        )


def _service_only(body: Mapping[str, Any]) -> None:
    """Refuse what needs an authorization endpoint: other application types, redirect
    URIs and the sign-in members of Okta's schema."""
    kind = body.get("application_type")
    if kind is not None and kind != SERVICE:
        if kind in ("web", "native", "browser"):
            raise InvalidClientMetadata(
                f"'application_type' {kind} signs users in through an authorization "
                "endpoint, which keyrotor does not have: register a 'service' client."
            )
        raise InvalidClientMetadata("'application_type' must be 'service'.")
    if body.get("redirect_uris") not in (None, []):
        raise InvalidClientMetadata(
            "'redirect_uris' must be empty: a service client has no redirect URIs."
        )
    for name, needs in _SIGN_IN_ONLY.items():
        if body.get(name) not in (None, False):
            raise InvalidClientMetadata(
                f"'{name}' is not supported: it is for {needs}, which a service client "
                "does not use."
            )


def _response_types(raw: Any) -> list[str]:
    if raw is None:
        return ["token"]
    if not isinstance(raw, list) or not all(isinstance(r, str) for r in raw):
        raise InvalidClientMetadata("'response_types' must be an array of strings.")
    other = [r for r in raw if r != "token"]
    if other:
        raise InvalidClientMetadata(
            f"'response_types' {other[0]} needs an authorization endpoint, which keyrotor "
            "does not have: a service client has only 'token'."
        )
    return sorted(set(raw))


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


def _optional_uri(name: str, raw: Any) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, str) or len(raw) > MAX_URI or not _absolute(raw):
        raise InvalidClientMetadata(f"'{name}' must be an absolute URL.")
    return raw


def _absolute(uri: str) -> bool:
    try:
        parts = urlsplit(uri)
    except ValueError:
        return False
    return parts.scheme in ("https", "http") and bool(parts.hostname)


def _keys(body: Mapping[str, Any], method: AuthMethod) -> dict[str, Any]:
    """``jwks`` or ``jwks_uri``: exactly one for ``private_key_jwt``, neither otherwise."""
    jwks, uri = body.get("jwks"), body.get("jwks_uri")
    if method.uses_secret:
        for name, value in (("jwks", jwks), ("jwks_uri", uri)):
            if value is not None:
                raise InvalidClientMetadata(
                    f"'{name}' is used only with token_endpoint_auth_method private_key_jwt."
                )
        return {}
    if (jwks is None) == (uri is None):
        raise InvalidClientMetadata(
            "A private_key_jwt client registers its public keys: 'jwks' or 'jwks_uri', "
            "exactly one of them."
        )
    if uri is not None:
        return {"jwks_uri": jwks_uri(uri)}
    return {"jwks": {"keys": _key_set(jwks)}}


def jwks_uri(raw: Any) -> str:
    """An https URL (plain http only to a loopback host, for local testing)."""
    if isinstance(raw, str) and len(raw) <= MAX_URI and _absolute(raw):
        parts = urlsplit(raw)
        if parts.scheme == "https" or parts.hostname in _LOOPBACK:
            return raw
    raise InvalidClientMetadata(
        "'jwks_uri' must be an https URL (http only to a loopback address)."
    )


def _key_set(raw: Any) -> list[dict[str, Any]]:
    if not isinstance(raw, Mapping) or set(raw) != {"keys"}:
        raise InvalidClientMetadata("'jwks' must be a JSON Web Key Set: {\"keys\": [...]}.")
    keys = raw["keys"]
    if not isinstance(keys, list) or not 1 <= len(keys) <= MAX_KEYS:
        raise InvalidClientMetadata(f"'jwks' must hold between 1 and {MAX_KEYS} keys.")
    parsed = [public_jwk(k) for k in keys]
    kids = [k.get("kid") for k in parsed]
    if len(kids) != len(set(kids)) or (len(kids) > 1 and None in kids):
        raise InvalidClientMetadata("Each key in 'jwks' needs its own 'kid'.")
    return parsed


def public_jwk(raw: Any) -> dict[str, Any]:
    """A public RSA (2048 bits or more) or P-256 signing key, as sent; refuses private
    members (it is then not stored anywhere) and members JWK does not define for it."""
    if not isinstance(raw, Mapping):
        raise InvalidClientMetadata("Each key in 'jwks' must be a JSON object.")
    if PRIVATE_MEMBERS & set(raw):
        raise InvalidClientMetadata(
            "A key in 'jwks' holds private key material: register the public key only."
        )
    extra = sorted(set(raw) - _JWK_MEMBERS)
    if extra:
        raise InvalidClientMetadata(f"A key in 'jwks' has an unsupported member '{extra[0]}'.")
    if raw.get("use") not in (None, "sig"):
        raise InvalidClientMetadata("A key in 'jwks' must be a signing key ('use': 'sig').")
    if raw.get("kid") is not None and not (
        isinstance(raw["kid"], str) and 0 < len(raw["kid"]) <= 255
    ):
        raise InvalidClientMetadata("A key's 'kid' must be a non-empty string.")
    if raw.get("alg") not in (None, "RS256", "ES256"):
        raise InvalidClientMetadata("A key's 'alg' must be RS256 or ES256.")
    try:
        public_key(raw)
    except ValueError as exc:
        raise InvalidClientMetadata(f"A key in 'jwks' is not usable: {exc}") from None
    return dict(raw)
