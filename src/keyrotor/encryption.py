"""Access-token encryption: the resource server's public encryption keys (Okta's
``resourceservercredentials/keys``) and their rules, and the JWE that wraps a signed token.

A resource server keeps its private key; keyrotor stores only the public RSA key (``kty``
RSA, ``use`` enc, 2048 bits or more). A server has at most ``MAX_KEYS`` of them, one ACTIVE
at most; a new key is INACTIVE, activating one deactivates the ACTIVE one, only an INACTIVE
key can be deleted, and while the server encrypts (``accessTokenEncryptedResponseAlgorithm``
set) its ACTIVE key cannot be deactivated. The server's ``jwks`` member is the same keys:
answered as their view, and when a create or replace sends it, the keys become what it
lists (``replace_all``).

Everything here is pure but ``Encrypter``, which encrypts (no I/O either).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import secrets
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicNumbers
from joserfc import jwe
from joserfc.jwk import RSAKey

from keyrotor.crypto import thumbprint
from keyrotor.errors import ValidationFailed
from keyrotor.members import check_members

ALGORITHM = "RSA-OAEP-256"  # the one accessTokenEncryptedResponseAlgorithm keyrotor does
CONTENT_ENCRYPTION = "A256GCM"
OKTA_ALGORITHMS = ("RSA-OAEP-256", "RSA-OAEP-384", "RSA-OAEP-512")  # Okta's enum
MAX_KEYS = 5  # per server (Okta's ErrorJsonWebKeyTooManyKids)
MIN_BITS, MAX_BITS = 2048, 8192
KEY_TYPE = "OAuth2ResourceServerJsonWebKey"  # what a 404 names
WHAT = "JsonWebKey"  # "Api validation failed: JsonWebKey", as Okta says
ALGORITHM_MEMBER = "accessTokenEncryptedResponseAlgorithm"
PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")
_BASE62 = string.ascii_letters + string.digits
_B64URL = frozenset(string.ascii_letters + string.digits + "-_")

# Okta's words (its examples), with its doubled quotes made single
TOO_MANY = (
    f"You can't create a new key. You have reached the maximum number of keys allowed "
    f"({MAX_KEYS}). To add another key, you must first delete an existing one."
)
DUPLICATE_KID = "Each key must have a unique 'kid'."
TOO_SHORT = "RSA key length in the 'jwks' is less than '2,048' bits for the given key."
ADDED_ACTIVE = (
    "Keys cannot be created with an 'ACTIVE' status. Create an 'INACTIVE' key and then activate it."
)
DELETE_ACTIVE = "'ACTIVE' keys cannot be deleted. Activate another key before deleting this one."
DEACTIVATE_ACTIVE = "You cannot deactivate the active key when access token encryption is enabled."
ONE_ACTIVE = "Only one key in the 'jwks' can be ACTIVE."
NEEDS_ACTIVE = (
    f"{ALGORITHM_MEMBER}: Access token encryption needs an ACTIVE encryption key: add one "
    "(resourceservercredentials/keys, or jwks) and activate it first."
)

# the members of Okta's request body, then the read-only ones its SDK sends back (ignored)
REQUEST_MEMBERS = (
    *("e", "kid", "kty", "n", "status", "use"),
    *("id", "created", "lastUpdated", "_links"),
)
JWKS_KEY_MEMBERS = ("e", "kid", "kty", "n", "status", "use", "id")  # ResourceServerJsonWebKey


class EncryptionKeyStatus(StrEnum):
    ACTIVE = "ACTIVE"
    INACTIVE = "INACTIVE"


def new_key_id() -> str:
    """Okta's shape: ``apk`` followed by 17 base62 characters."""
    return "apk" + "".join(secrets.choice(_BASE62) for _ in range(17))


@dataclass(frozen=True, slots=True)
class EncryptionKey:
    """One public encryption key of one authorization server, as stored."""

    id: str
    server_id: str
    kid: str
    n: str
    e: str
    status: EncryptionKeyStatus
    created: datetime
    last_updated: datetime
    position: int = 0  # 1, 2, 3… per server in the order added: the order keys are listed

    @property
    def is_active(self) -> bool:
        return self.status is EncryptionKeyStatus.ACTIVE

    def with_status(self, status: EncryptionKeyStatus, now: datetime) -> EncryptionKey:
        return dataclasses.replace(self, status=status, last_updated=now)

    def jwks_member(self) -> dict[str, str]:
        """The key in the server's ``jwks`` (Okta's ``ResourceServerJsonWebKey``, and its
        examples' ``id``)."""
        return {
            "kty": "RSA",
            "id": self.id,
            "status": self.status.value,
            "kid": self.kid,
            "use": "enc",
            "e": self.e,
            "n": self.n,
        }


@dataclass(frozen=True, slots=True)
class KeySpec:
    """A key as a caller sent it: checked, the kid given or its RFC 7638 thumbprint;
    ``status`` ``None`` when not sent."""

    kid: str
    n: str
    e: str
    status: EncryptionKeyStatus | None = None


# -- parsing --------------------------------------------------------------------------------


def parse_key(body: Any) -> KeySpec:
    """An ``OAuth2ResourceServerJsonWebKeyRequestBody`` (the add operation): a public RSA
    key for ``use`` enc, added INACTIVE (``status`` ACTIVE is refused, as Okta does)."""
    if not isinstance(body, dict):
        raise ValidationFailed(WHAT, "The request body must be a JSON object.")
    causes: list[str] = []
    spec = _key(body, "", REQUEST_MEMBERS, "OAuth2ResourceServerJsonWebKeyRequestBody", causes)
    if spec is not None and spec.status is EncryptionKeyStatus.ACTIVE:
        causes.append(ADDED_ACTIVE)
    if causes or spec is None:
        raise ValidationFailed(WHAT, *causes)
    return spec


def parse_algorithm(raw: Any, causes: list[str]) -> str | None:
    """``accessTokenEncryptedResponseAlgorithm``: ``None`` (no encryption) or RSA-OAEP-256;
    Okta's other two values are refused by name."""
    if raw is None:
        return None
    if raw == ALGORITHM:
        return ALGORITHM
    if raw in OKTA_ALGORITHMS:
        causes.append(f"{ALGORITHM_MEMBER}: keyrotor encrypts access tokens with {ALGORITHM} only.")
    else:
        causes.append(f"{ALGORITHM_MEMBER}: Must be {ALGORITHM} (or null: no encryption).")
    return None


def parse_jwks(raw: Any, causes: list[str]) -> tuple[KeySpec, ...] | None:
    """A server body's ``jwks`` (``ResourceServerJsonWebKeys``): ``None`` when not sent
    (the keys stay as they are), else every key the server is to have."""
    if raw is None:
        return None
    if not isinstance(raw, dict) or not isinstance(raw.get("keys", []), list):
        causes.append("jwks: Must be an object with a 'keys' array.")
        return None
    check_members(raw, "ResourceServerJsonWebKeys", ("keys",), {}, causes, "jwks.")
    found: list[KeySpec] = []
    for index, key in enumerate(raw.get("keys") or []):
        prefix = f"jwks.keys[{index}]."
        if not isinstance(key, dict):
            causes.append(f"jwks.keys[{index}]: Must be a JSON object.")
            continue
        spec = _key(key, prefix, JWKS_KEY_MEMBERS, "ResourceServerJsonWebKey", causes)
        if spec is not None:
            found.append(spec)
    if len(raw.get("keys") or []) > MAX_KEYS:
        causes.append(f"jwks.keys: {TOO_MANY}")
    kids = [s.kid for s in found]
    if len(set(kids)) != len(kids):
        causes.append(f"jwks.keys: {DUPLICATE_KID}")
    if sum(1 for s in found if s.status is EncryptionKeyStatus.ACTIVE) > 1:
        causes.append(f"jwks.keys: {ONE_ACTIVE}")
    return tuple(found)


def _key(
    body: Mapping[str, Any], prefix: str, known: Sequence[str], schema: str, causes: list[str]
) -> KeySpec | None:
    """One JWK's checks; its causes are added to ``causes``, ``None`` when any was."""
    before = len(causes)
    private = [m for m in PRIVATE_MEMBERS if m in body]
    for member in private:
        causes.append(
            f"{prefix}{member}: A private key member. Send the public key only: the resource "
            "server keeps its private key."
        )
    rest = {k: v for k, v in body.items() if k not in private}
    check_members(rest, schema, known, {}, causes, prefix)
    if body.get("kty") != "RSA":
        causes.append(f"{prefix}kty: Must be RSA.")
    if body.get("use") != "enc":
        causes.append(f"{prefix}use: Must be enc.")
    status = body.get("status")
    if status is not None and status not in ("ACTIVE", "INACTIVE"):
        causes.append(f"{prefix}status: Must be one of ACTIVE, INACTIVE.")
    kid = body.get("kid")
    if kid is not None and (
        not isinstance(kid, str)
        or not 1 <= len(kid) <= 255
        or not kid.isprintable()
        or kid != kid.strip()
    ):
        causes.append(f"{prefix}kid: Must be 1 to 255 printable characters.")
    n, e = body.get("n"), body.get("e")
    numbers = _numbers(n, e)
    if numbers is None:
        causes.append(f"{prefix}n, e: Must be the base64url modulus and exponent of an RSA key.")
    elif numbers[0].bit_length() < MIN_BITS:
        causes.append(TOO_SHORT if not prefix else f"{prefix}n: {TOO_SHORT}")
    elif numbers[0].bit_length() > MAX_BITS:
        causes.append(f"{prefix}n: RSA keys of more than {MAX_BITS} bits are refused.")
    if len(causes) > before:
        return None
    assert isinstance(n, str) and isinstance(e, str)
    return KeySpec(
        kid=kid if isinstance(kid, str) else thumbprint(n, e),
        n=n,
        e=e,
        status=None if status is None else EncryptionKeyStatus(status),
    )


def _numbers(n: Any, e: Any) -> tuple[int, int] | None:
    """The modulus and exponent, if they make an RSA public key."""
    if not isinstance(n, str) or not isinstance(e, str) or not n or not e:
        return None
    if len(n) > MAX_BITS or len(e) > 16 or not set(n + e) <= _B64URL:
        return None
    try:
        modulus = int.from_bytes(base64.urlsafe_b64decode(n + "=" * (-len(n) % 4)), "big")
        exponent = int.from_bytes(base64.urlsafe_b64decode(e + "=" * (-len(e) % 4)), "big")
        RSAPublicNumbers(exponent, modulus).public_key()
    except (binascii.Error, ValueError):
        return None
    return modulus, exponent


# -- the rules --------------------------------------------------------------------------------


def added(
    server_id: str, keys: Sequence[EncryptionKey], spec: KeySpec, now: datetime
) -> EncryptionKey:
    """A new INACTIVE key, unless the server has ``MAX_KEYS`` already or the kid."""
    if len(keys) >= MAX_KEYS:
        raise ValidationFailed(WHAT, TOO_MANY)
    if any(k.kid == spec.kid for k in keys):
        raise ValidationFailed(WHAT, DUPLICATE_KID)
    return EncryptionKey(
        id=new_key_id(),
        server_id=server_id,
        kid=spec.kid,
        n=spec.n,
        e=spec.e,
        status=EncryptionKeyStatus.INACTIVE,
        created=now,
        last_updated=now,
        position=_next_position(keys),
    )


def _next_position(keys: Sequence[EncryptionKey]) -> int:
    return max((k.position for k in keys), default=0) + 1


def activated(
    keys: Sequence[EncryptionKey], key: EncryptionKey, now: datetime
) -> list[EncryptionKey]:
    """The keys that change when ``key`` is activated: the ACTIVE one first (deactivated),
    then ``key``; nothing when it is ACTIVE already."""
    if key.is_active:
        return []
    previous = [k.with_status(EncryptionKeyStatus.INACTIVE, now) for k in keys if k.is_active]
    return [*previous, key.with_status(EncryptionKeyStatus.ACTIVE, now)]


def deactivated(key: EncryptionKey, encrypting: bool, now: datetime) -> list[EncryptionKey]:
    """The key deactivated (nothing when it is INACTIVE already); refused for the ACTIVE
    key of a server that encrypts its tokens."""
    if not key.is_active:
        return []
    if encrypting:
        raise ValidationFailed(WHAT, DEACTIVATE_ACTIVE)
    return [key.with_status(EncryptionKeyStatus.INACTIVE, now)]


def check_deletable(key: EncryptionKey) -> None:
    if key.is_active:
        raise ValidationFailed(WHAT, DELETE_ACTIVE)


@dataclass(frozen=True, slots=True)
class KeyChange:
    """What a server body's ``jwks`` does to the keys: written in this order (deletions,
    then status changes with deactivations first, then new keys), so at no statement are
    two keys ACTIVE."""

    deleted: tuple[EncryptionKey, ...] = ()
    updated: tuple[EncryptionKey, ...] = ()
    added: tuple[EncryptionKey, ...] = ()

    def applied_to(self, keys: Sequence[EncryptionKey]) -> list[EncryptionKey]:
        gone = {k.id for k in self.deleted}
        changed = {k.id: k for k in self.updated}
        kept = [changed.get(k.id, k) for k in keys if k.id not in gone]
        return [*kept, *self.added]


def replace_all(
    server_id: str,
    keys: Sequence[EncryptionKey],
    wanted: Sequence[KeySpec] | None,
    now: datetime,
    what: str = "authorizationServer",
) -> KeyChange:
    """The keys become ``wanted`` (``None``: unchanged), matched by kid: a kid the server
    has keeps its key (its id and creation time) and takes the status sent, if one was; a
    new kid is a new key, INACTIVE unless sent ACTIVE; a key not listed is deleted. A kid
    the server has must name the same public key."""
    if wanted is None:
        return KeyChange()
    current = {k.kid: k for k in keys}
    updated, new = [], []
    position = _next_position(keys)
    for index, spec in enumerate(wanted):
        found = current.get(spec.kid)
        if found is None:
            status = spec.status or EncryptionKeyStatus.INACTIVE
            made = (new_key_id(), server_id, spec.kid, spec.n, spec.e, status, now, now, position)
            new.append(EncryptionKey(*made))
            position += 1
        elif (found.n, found.e) != (spec.n, spec.e):
            raise ValidationFailed(
                what,
                f"jwks.keys[{index}].kid: The server has another key with kid '{spec.kid}'; "
                "delete it first to reuse its kid.",
            )
        elif spec.status is not None and spec.status is not found.status:
            updated.append(found.with_status(spec.status, now))
    listed = {s.kid for s in wanted}
    deleted = tuple(k for k in keys if k.kid not in listed)
    updated.sort(key=lambda k: k.is_active)  # deactivations before the activation
    return KeyChange(deleted, tuple(updated), tuple(new))


def check_encryption(algorithm: str | None, keys: Sequence[EncryptionKey], what: str) -> None:
    """A server that encrypts its tokens has an ACTIVE key to encrypt them for."""
    if algorithm is not None and not any(k.is_active for k in keys):
        raise ValidationFailed(what, NEEDS_ACTIVE)


def active_key(keys: Sequence[EncryptionKey]) -> EncryptionKey | None:
    return next((k for k in keys if k.is_active), None)


# -- the JWE --------------------------------------------------------------------------------


class Encrypter:
    """The ACTIVE key of a server that encrypts its tokens, parsed once (a snapshot keeps
    it): ``encrypt`` nests a signed JWT in a compact JWE (RSA-OAEP-256, A256GCM) with the
    key's ``kid`` and ``cty: JWT``."""

    __slots__ = ("_header", "_key", "kid")
    _ALGORITHMS = (ALGORITHM, CONTENT_ENCRYPTION)

    def __init__(self, key: EncryptionKey) -> None:
        self.kid = key.kid
        self._key = RSAKey.import_key({"kty": "RSA", "n": key.n, "e": key.e})
        self._header = {"alg": ALGORITHM, "enc": CONTENT_ENCRYPTION, "kid": key.kid, "cty": "JWT"}

    def encrypt(self, signed: str) -> str:
        return jwe.encrypt_compact(
            dict(self._header), signed, self._key, algorithms=list(self._ALGORITHMS)
        )
