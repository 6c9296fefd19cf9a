"""``Authorization: Bearer …`` or ``DPoP …`` on the management API: org-server tokens.

A token is accepted when its RS256 signature verifies with the published org key named
by its ``kid``, its ``iss``/``aud`` are the org issuer, it has not expired (clock skew
allowed), and its client is still registered; the caller then has the token's ``scp``
that the client is still granted. A DPoP-bound token (``cnf.jkt``) is accepted only as
``Authorization: DPoP`` with a proof (``DPoP`` header) for this request, signed by the
bound key, naming the token (``ath``); a plain token only as ``Bearer``. Proofs are
single-use within this process (a replica remembers the ids of proofs it accepted until
they expire).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, RSAKey

from keyrotor import proofs
from keyrotor.apitokens import SCOPE_MANAGE, SCOPE_READ
from keyrotor.errors import InvalidDpopProof
from keyrotor.keys import ALGORITHM, SigningKey
from keyrotor.oauth import OAuthService
from keyrotor.tokens import claims_valid

MAX_TOKEN_LENGTH = 8192
MAX_PROOFS_KEPT = 100_000


@dataclass(frozen=True, slots=True)
class DpopRequest:
    """What a DPoP proof at the management API must match: the request and its proof."""

    proof: str
    method: str
    url: str


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
        self._proofs: OrderedDict[str, datetime] = OrderedDict()  # accepted proof ids
        self._lock = threading.Lock()

    def __call__(self, token: str, dpop: DpopRequest | None = None) -> TokenPrincipal | None:
        """The caller, or ``None``; ``dpop`` when the token came as ``DPoP``."""
        found = self._claims(token)
        if found is None:
            return None
        cnf = found.get("cnf")
        jkt = cnf.get("jkt") if isinstance(cnf, dict) else None
        if (jkt is None) != (dpop is None):  # a bound token as Bearer, or the reverse
            return None
        if dpop is not None and not self._proven(token, str(jkt), dpop):
            return None
        client = self._oauth.find_client(str(found.get("cid", "")))
        scp = found.get("scp")
        if client is None or found.get("sub") != client.client_id or not isinstance(scp, list):
            return None
        granted = tuple(s for s in scp if isinstance(s, str) and client.granted_org_scope(s))
        return TokenPrincipal(client.client_id, granted)

    def _proven(self, token: str, jkt: str, dpop: DpopRequest) -> bool:
        now = self._oauth.clock()
        try:
            proof = proofs.verify_proof(
                dpop.proof,
                method=dpop.method,
                url=dpop.url,
                now=now,
                skew=self._oauth.clock_skew,
                access_token=token,
            )
        except InvalidDpopProof:
            return False
        if proof.jkt != jkt:
            return False
        seen = f"{proof.jkt}:{proof.jti}"
        with self._lock:
            while self._proofs and (
                len(self._proofs) > MAX_PROOFS_KEPT or next(iter(self._proofs.values())) < now
            ):
                self._proofs.popitem(last=False)
            if seen in self._proofs:
                return False
            self._proofs[seen] = proof.expires
        return True

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
            max_lifetime=self._oauth.token_lifetime,
        )
        return decoded.claims if ok else None


def _key_set(keys: list[SigningKey]) -> KeySet:
    return KeySet([RSAKey.import_key(dict(k.public_jwk())) for k in keys])
