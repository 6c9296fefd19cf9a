"""JWTs a caller signs to prove who it is or what key it holds. Pure.

- A **client assertion** (RFC 7523, ``private_key_jwt``): signed by a key the client
  registered; ``iss`` = ``sub`` = the client id, ``aud`` = the token endpoint's URL, an
  ``exp`` at most ``MAX_ASSERTION_LIFETIME`` ahead, and a ``jti`` (the caller records it, so
  a replay is refused).
- A **DPoP proof** (RFC 9449): signed by the key in its own ``jwk`` header; binds one
  request (``htm``, ``htu``), a moment (``iat``) and, at a resource, the access token
  (``ath``). ``Nonces`` makes and checks the server's ``DPoP-Nonce`` values without state,
  so any replica sharing the KEK accepts a nonce another one gave.

Every refusal says what was wrong.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, RSAKey
from joserfc.jws import JWSRegistry

from keyrotor.errors import InvalidClient, InvalidDpopProof

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ALGORITHMS = {"RS256": "RSA", "ES256": "EC"}
MAX_ASSERTION_LIFETIME = timedelta(hours=1)
PROOF_WINDOW = timedelta(minutes=5)  # how old a DPoP proof's iat may be
MAX_JWT_LENGTH = 8192
MAX_HEADER_LENGTH = 2048
MAX_JTI_LENGTH = 255
PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})

PublicKey = RSAKey | ECKey


@dataclass(frozen=True, slots=True)
class Verified:
    """A checked JWT: its id and when the record of that id may be forgotten."""

    jti: str
    expires: datetime


@dataclass(frozen=True, slots=True)
class Proof(Verified):
    """A checked DPoP proof: ``jkt`` is its key's RFC 7638 thumbprint."""

    jkt: str
    nonce: str | None


# -- client assertions -------------------------------------------------------------------


def assertion_client_id(assertion: str) -> str:
    """The client an assertion claims to come from (``iss``), unverified: which client's
    keys to check it with."""
    claims = _unverified_claims(assertion)
    iss = claims.get("iss") if claims else None
    if not isinstance(iss, str) or not iss:
        raise InvalidClient("The client_assertion is not a JWT with an 'iss' claim.")
    return iss


def verify_assertion(
    assertion: str,
    keys: Iterable[PublicKey],
    *,
    client_id: str,
    audience: str,
    now: datetime,
    skew: timedelta,
) -> Verified:
    """Check a client assertion's signature and claims; ``InvalidClient`` says why not."""
    claims = _verified(assertion, list(keys), InvalidClient, "client_assertion")
    if claims.get("iss") != client_id or claims.get("sub") != client_id:
        raise InvalidClient("The client_assertion's 'iss' and 'sub' must both be the client id.")
    aud = claims.get("aud")
    if not (aud == audience or (isinstance(aud, list) and audience in aud)):
        raise InvalidClient(f"The client_assertion's 'aud' must be {audience}.")
    exp = _number(claims.get("exp"))
    if exp is None:
        raise InvalidClient("The client_assertion must have an 'exp' claim.")
    moment, leeway = now.timestamp(), skew.total_seconds()
    if exp <= moment - leeway:
        raise InvalidClient("The client_assertion has expired.")
    if exp > moment + (MAX_ASSERTION_LIFETIME + skew).total_seconds():
        raise InvalidClient("The client_assertion's 'exp' is more than an hour ahead.")
    for name in ("nbf", "iat"):
        value = _number(claims.get(name))
        if name in claims and (value is None or value > moment + leeway):
            raise InvalidClient(f"The client_assertion's '{name}' is in the future.")
    jti = _jti(claims, InvalidClient, "client_assertion")
    return Verified(jti, datetime.fromtimestamp(exp, now.tzinfo) + skew)


# -- DPoP ---------------------------------------------------------------------------------


def verify_proof(
    proof: str,
    *,
    method: str,
    url: str,
    now: datetime,
    skew: timedelta,
    access_token: str | None = None,
) -> Proof:
    """Check a DPoP proof for the request ``method url``; with ``access_token`` (at a
    resource) its ``ath`` must be that token's hash. ``InvalidDpopProof`` says why not."""
    header = _unverified_header(proof, InvalidDpopProof, "DPoP proof")
    if header.get("typ") != "dpop+jwt":
        raise InvalidDpopProof("The DPoP proof's 'typ' must be 'dpop+jwt'.")
    key = _proof_key(header.get("jwk"))
    claims = _verified(proof, [key], InvalidDpopProof, "DPoP proof", header)
    if claims.get("htm") != method:
        raise InvalidDpopProof(f"The DPoP proof's 'htm' must be {method}.")
    htu = claims.get("htu")
    if not isinstance(htu, str) or _normal_url(htu) != _normal_url(url):
        raise InvalidDpopProof(f"The DPoP proof's 'htu' must be {_normal_url(url)}.")
    iat = _number(claims.get("iat"))
    moment = now.timestamp()
    if iat is None or not (
        moment - (PROOF_WINDOW + skew).total_seconds() <= iat <= moment + skew.total_seconds()
    ):
        raise InvalidDpopProof("The DPoP proof's 'iat' is missing or too far from now.")
    if access_token is not None and claims.get("ath") != token_hash(access_token):
        raise InvalidDpopProof("The DPoP proof's 'ath' does not match the access token.")
    nonce = claims.get("nonce")
    return Proof(
        _jti(claims, InvalidDpopProof, "DPoP proof"),
        datetime.fromtimestamp(iat, now.tzinfo) + PROOF_WINDOW + 2 * skew,
        key.thumbprint(),
        nonce if isinstance(nonce, str) else None,
    )


def token_hash(access_token: str) -> str:
    """``ath``: base64url of the SHA-256 of the token."""
    digest = hashlib.sha256(access_token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class Nonces:
    """``DPoP-Nonce`` values: an HMAC of the current five-minute period, so a nonce is good
    for five to ten minutes, on every replica that derives the same secret."""

    PERIOD = 300

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def current(self, now: datetime) -> str:
        return self._nonce(int(now.timestamp()) // self.PERIOD)

    def valid(self, nonce: str | None, now: datetime) -> bool:
        if not nonce:
            return False
        period = int(now.timestamp()) // self.PERIOD
        return any(hmac.compare_digest(nonce, self._nonce(p)) for p in (period, period - 1))

    def _nonce(self, period: int) -> str:
        mac = hmac.new(self._secret, struct.pack(">q", period), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac[:18]).decode()


# -- shared ---------------------------------------------------------------------------------


class _Registry(JWSRegistry):
    """joserfc's checks, with room for a DPoP proof's RSA ``jwk`` in the header."""

    max_header_length = MAX_HEADER_LENGTH


def _segment(token: str, index: int) -> Any:
    """One part of a compact JWT, base64url-decoded and parsed, unverified."""
    part = token.split(".")[index]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def _unverified_header(token: str, error: type[InvalidClient | InvalidDpopProof], what: str) -> Any:
    try:
        if len(token) > MAX_JWT_LENGTH or token.count(".") != 2:
            raise ValueError(token)
        header = _segment(token, 0)
        if not isinstance(header, Mapping) or len(token.split(".")[0]) > MAX_HEADER_LENGTH:
            raise ValueError(token)
    except (ValueError, UnicodeError, binascii.Error):
        raise error(f"The {what} is not a compact JWT.") from None
    return header


def _unverified_claims(token: str) -> Mapping[str, Any] | None:
    try:
        _unverified_header(token, InvalidClient, "client_assertion")
        parsed = _segment(token, 1)
    except (InvalidClient, ValueError, UnicodeError, binascii.Error):
        return None
    return parsed if isinstance(parsed, Mapping) else None


def _verified(
    token: str,
    keys: list[PublicKey],
    error: type[InvalidClient | InvalidDpopProof],
    what: str,
    header: Mapping[str, Any] | None = None,
) -> Mapping[str, Any]:
    """The claims, once the signature verifies with one of ``keys`` (by ``kid`` when the
    header names one) under an allowed algorithm; ``header`` when the caller parsed it."""
    if header is None:
        header = _unverified_header(token, error, what)
    alg = header.get("alg")
    if alg not in ALGORITHMS:
        raise error(f"The {what} must be signed with {' or '.join(ALGORITHMS)}.")
    kid = header.get("kid")
    fitting = [k for k in keys if k.key_type == ALGORITHMS[alg]]
    if kid is not None:
        fitting = [k for k in fitting if k.kid == kid]
    if not fitting:
        raise UnknownKey(f"No registered key fits the {what} (kid {kid!r}, {alg}).")
    for key in fitting:
        try:
            decoded = jwt.decode(token, key, algorithms=[alg], registry=_Registry())
        except (JoseError, ValueError, TypeError):
            continue
        if isinstance(decoded.claims, Mapping):
            return decoded.claims
    raise error(f"The {what}'s signature does not verify.")


class UnknownKey(InvalidClient):
    """No registered key fits the JWT: a client with a ``jwks_uri`` may have a new one."""


def public_key(jwk: Mapping[str, Any]) -> PublicKey:
    """A public RSA (2048 bits or more) or P-256 key from its JWK; ``ValueError`` says
    what is wrong. Private members are never read."""
    given = {k: v for k, v in jwk.items() if v is not None and k not in PRIVATE_MEMBERS}
    try:
        if given.get("kty") == "RSA":
            n = base64.urlsafe_b64decode(str(given["n"]) + "=" * (-len(str(given["n"])) % 4))
            if int.from_bytes(n, "big").bit_length() < 2048:
                raise ValueError("An RSA key must have 2048 bits or more.")
            return RSAKey.import_key(given)
        if given.get("kty") == "EC" and given.get("crv") == "P-256":
            return ECKey.import_key(given)
    except (JoseError, TypeError, KeyError, binascii.Error):
        raise ValueError("It is not a valid public key.") from None
    raise ValueError("It is neither an RSA key nor a P-256 EC key.")


def _proof_key(jwk: Any) -> PublicKey:
    if not isinstance(jwk, Mapping) or PRIVATE_MEMBERS & set(jwk):
        raise InvalidDpopProof("The DPoP proof's 'jwk' header must be a public key.")
    try:
        return public_key(jwk)
    except ValueError as exc:
        raise InvalidDpopProof(f"The DPoP proof's 'jwk' header is not usable: {exc}") from None


def _normal_url(url: str) -> str:
    """Scheme, host and port (lower case, default port dropped) and path."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return ""
    host = (parts.hostname or "").lower()
    default = {"http": 80, "https": 443}.get(parts.scheme.lower())
    netloc = host if port in (None, default) else f"{host}:{port}"
    return f"{parts.scheme.lower()}://{netloc}{parts.path or '/'}"


def _number(value: Any) -> float | None:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    return float(value) if ok else None


def _jti(
    claims: Mapping[str, Any], error: type[InvalidClient | InvalidDpopProof], what: str
) -> str:
    jti = claims.get("jti")
    if not isinstance(jti, str) or not 0 < len(jti) <= MAX_JTI_LENGTH:
        raise error(f"The {what} must have a 'jti' claim (at most {MAX_JTI_LENGTH} characters).")
    return jti
