"""``Authorization: Bearer …`` on the management API: access tokens of the org server.

A token is accepted when its RS256 signature verifies with the published org key named
by its ``kid``, its ``iss``/``aud`` are the org issuer, it has not expired (clock skew
allowed), and its client is still registered; the caller then has the token's ``scp``
that the client is still granted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, RSAKey

from keyrotor.apitokens import SCOPE_MANAGE, SCOPE_READ
from keyrotor.keys import ALGORITHM, SigningKey
from keyrotor.oauth import OAuthService
from keyrotor.tokens import claims_valid

MAX_TOKEN_LENGTH = 8192


@dataclass(frozen=True, slots=True)
class TokenPrincipal:
    """A caller holding an org-server access token (rate-limited per client)."""

    id: str
    scopes: tuple[str, ...]

    def allows(self, scope: str) -> bool:
        return scope in self.scopes or (scope == SCOPE_READ and SCOPE_MANAGE in self.scopes)


class OrgTokenVerifier:
    """The ``bearer_verifier`` of ``create_app``.

    ``issuer`` is the org issuer tokens must carry (the public URL); ``None`` accepts an
    ``iss`` that is an origin (scheme://host[:port]) equal to ``aud``: the signature by the
    org server's own keys is what proves the token was issued here.
    """

    def __init__(self, oauth: OAuthService, issuer: str | None = None) -> None:
        self._oauth = oauth
        self._issuer = issuer.rstrip("/") if issuer else None

    def __call__(self, token: str) -> TokenPrincipal | None:
        found = self._claims(token)
        if found is None:
            return None
        client = self._oauth.find_client(str(found.get("cid", "")))
        scp = found.get("scp")
        if client is None or found.get("sub") != client.client_id or not isinstance(scp, list):
            return None
        granted = tuple(s for s in scp if isinstance(s, str) and client.granted_org_scope(s))
        return TokenPrincipal(client.client_id, granted)

    def _claims(self, token: str) -> dict[str, Any] | None:
        if len(token) > MAX_TOKEN_LENGTH or token.count(".") != 2:
            return None
        keys = self._oauth.org_keys()
        if not keys:
            return None
        try:
            decoded = jwt.decode(token, _key_set(keys), algorithms=[ALGORITHM])
        except (JoseError, ValueError, TypeError, KeyError):
            return None
        if decoded.header.get("kid") not in {k.kid for k in keys}:
            return None
        ok = claims_valid(
            decoded.claims,
            issuer=self._issuer,
            now=self._oauth.clock(),
            skew=self._oauth.clock_skew,
        )
        return decoded.claims if ok else None


def _key_set(keys: list[SigningKey]) -> KeySet:
    return KeySet([RSAKey.import_key(dict(k.public_jwk())) for k in keys])
