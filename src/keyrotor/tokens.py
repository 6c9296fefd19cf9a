"""Access tokens: their claims, the scopes a request may ask for, and claim checks. Pure.

An access token is an RS256 JWS signed with the issuing server's ACTIVE key::

    header  {"alg": "RS256", "kid": <ACTIVE kid>, "typ": "JWT"}
    claims  {"ver": 1, "jti": "AT.…", "iss": …, "aud": …, "iat": …, "exp": …,
             "cid": <client id>, "sub": <client id>, "scp": [<scope>, …]}

``aud`` is the server's audience: a string when the server has one (Okta's shape), the
list when it has several. Tokens of the org server have ``aud`` = ``iss`` = the base URL.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from keyrotor.errors import InvalidScope
from keyrotor.scopes import is_scope_token

DEFAULT_LIFETIME = timedelta(hours=1)
TOKEN_TYPE = "Bearer"


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """What the token endpoint answers."""

    access_token: str = ""
    expires_in: int = 0
    scopes: tuple[str, ...] = ()
    token_type: str = TOKEN_TYPE  # "DPoP" for a token bound to a DPoP key

    def response(self) -> dict[str, Any]:
        return {
            "token_type": self.token_type,
            "expires_in": self.expires_in,
            "access_token": self.access_token,
            "scope": " ".join(self.scopes),
        }


def new_jti() -> str:
    return "AT." + secrets.token_urlsafe(32)


def audience(audiences: Sequence[str]) -> str | list[str]:
    """One audience as a string (as Okta sends it), several as a list."""
    return audiences[0] if len(audiences) == 1 else list(audiences)


def claims(
    *,
    issuer: str,
    aud: str | list[str],
    client_id: str,
    scopes: Sequence[str],
    now: datetime,
    lifetime: timedelta,
    jkt: str | None = None,
) -> dict[str, Any]:
    """The claims; ``jkt`` binds the token to a DPoP key (``cnf``, RFC 9449 §6)."""
    iat = int(now.timestamp())
    bound = {"cnf": {"jkt": jkt}} if jkt else {}
    return {
        "ver": 1,
        "jti": new_jti(),
        "iss": issuer,
        "aud": aud,
        "iat": iat,
        "exp": iat + int(lifetime.total_seconds()),
        "cid": client_id,
        "sub": client_id,
        "scp": list(scopes),
        **bound,
    }


def requested_scopes(raw: str | None) -> tuple[str, ...]:
    """The ``scope`` parameter as a tuple, in order, without repeats."""
    if raw is None or not raw.strip():
        raise InvalidScope("The 'scope' parameter is required.")
    names = raw.split(" ")
    if any(not is_scope_token(name) for name in names):
        raise InvalidScope("The 'scope' parameter is malformed.")
    return tuple(dict.fromkeys(names))


def check_allowed(requested: Iterable[str], allowed: Iterable[str]) -> None:
    if not set(requested) <= set(allowed):
        raise InvalidScope("One or more scopes are not configured for the authorization server.")


def claims_valid(
    found: Mapping[str, Any],
    *,
    issuer: str | None,
    now: datetime,
    skew: timedelta,
    max_lifetime: timedelta | None = None,
) -> bool:
    """``iss``, ``aud``, ``exp``, ``iat`` and ``nbf`` of an org-server token, with ``skew``
    either way; ``exp - iat`` at most ``max_lifetime`` (the lifetime this service issues).

    ``issuer=None`` (no public URL configured) accepts an origin-shaped ``iss`` equal to ``aud``.
    """
    iss = found.get("iss")
    if not isinstance(iss, str) or found.get("aud") != iss:
        return False
    if iss != issuer if issuer is not None else not _is_origin(iss):
        return False
    exp, iat = _time(found.get("exp")), _time(found.get("iat"))
    if exp is None or iat is None:
        return False
    if max_lifetime is not None and exp - iat > max_lifetime.total_seconds():
        return False
    moment, leeway = now.timestamp(), skew.total_seconds()
    if "nbf" in found:
        nbf = _time(found["nbf"])
        if nbf is None or nbf > moment + leeway:
            return False
    return moment < exp + leeway and iat <= moment + leeway


def _time(value: Any) -> float | None:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    return float(value) if ok else None


def _is_origin(iss: str) -> bool:
    scheme, sep, rest = iss.partition("://")
    return scheme in ("http", "https") and bool(sep) and bool(rest) and "/" not in rest
