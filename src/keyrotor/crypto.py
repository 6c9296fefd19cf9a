"""Key material: RSA generation, RFC 7638 kids, sealing private keys, JWS signing.

A thin layer over joserfc (JOSE) and cryptography (AES-256-GCM). Private keys exist in the
clear only inside this module's functions; everywhere else they are ``sealed`` bytes.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import secrets
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from joserfc import jwt
from joserfc.jwk import RSAKey

from keyrotor.errors import KeyrotorError
from keyrotor.keys import ALGORITHM, KeyMaterial

DEFAULT_KEY_SIZE = 2048
DEFAULT_MAX_SIGNERS = 4096  # opened private keys kept in memory (two per busy server)
_SEAL_VERSION = b"\x01"  # associated data: the kid (pooled keys; servers' keys of old)
_BOUND_VERSION = b"\x02"  # associated data: server id, NUL, kid
_NONCE_BYTES = 12


class Secret:
    """A secret value whose ``repr``/``str`` never show it."""

    __slots__ = ("_value",)

    def __init__(self, value: bytes) -> None:
        self._value = value

    def reveal(self) -> bytes:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__


class Sealer:
    """Encrypts private keys at rest with AES-256-GCM under key-encryption keys (KEKs).

    The first KEK seals; every KEK given opens (the older ones stay until ``keyrotor kek
    rewrap`` has re-sealed every key under the first). The associated data binds a key to
    where it belongs: a server's key (format 2) to its server id and kid, so a sealed key
    cannot be moved to another kid or another server; a pooled key, which belongs to no
    server yet (format 1), to its kid, until a server takes it (``bind``). Format 1 keys of
    servers, from before format 2, still open, and ``keyrotor kek rewrap`` (run by ``serve``
    at start when there are any) re-seals them as format 2.
    """

    def __init__(self, kek: Secret, *older: Secret) -> None:
        keks = (kek, *older)
        if any(len(k.reveal()) != 32 for k in keks):
            raise ValueError("the key-encryption key must be 32 bytes (AES-256)")
        self._aeads = [AESGCM(k.reveal()) for k in keks]
        self._kek = kek

    @property
    def count(self) -> int:
        """How many KEKs open keys (the first of them seals)."""
        return len(self._aeads)

    def derive(self, purpose: str) -> Secret:
        """A 32-byte key for ``purpose`` (HKDF-SHA256 of the first KEK): the same on every
        replica that shares the KEK, and telling nothing about it."""
        hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose.encode())
        return Secret(hkdf.derive(self._kek.reveal()))

    def seal(self, plaintext: bytes, kid: str, owner: str | None = None) -> bytes:
        """Sealed under the first KEK: bound to ``owner`` (a server id) and ``kid``, or to
        ``kid`` alone for a key that belongs to no server yet."""
        version = _BOUND_VERSION if owner else _SEAL_VERSION
        nonce = os.urandom(_NONCE_BYTES)
        aad = _aad(version, kid, owner)
        return version + nonce + self._aeads[0].encrypt(nonce, plaintext, aad)

    def open(self, sealed: bytes, kid: str, owner: str | None = None) -> bytes:
        """The plaintext, under whichever KEK opens it; ``InvalidTag`` when none does (or
        the key is bound to another server or kid)."""
        return self._open(sealed, kid, owner)[1]

    def opens(self, sealed: bytes, kid: str, owner: str | None = None) -> bool:
        try:
            self._open(sealed, kid, owner)
        except (InvalidTag, ValueError):
            return False
        return True

    def reseal(self, sealed: bytes, kid: str, owner: str | None = None) -> bytes | None:
        """``sealed`` sealed again under the first KEK (and bound to ``owner`` when one is
        given), or ``None`` when it already is; ``InvalidTag`` when no KEK opens it."""
        index, plaintext = self._open(sealed, kid, owner)
        if index == 0 and (owner is None or sealed[:1] == _BOUND_VERSION):
            return None
        return self.seal(plaintext, kid, owner)

    def bind(self, sealed: bytes, kid: str, owner: str) -> bytes:
        """A pooled key sealed again for the server that takes it (AES only: no parsing)."""
        return self.seal(self._open(sealed, kid, None)[1], kid, owner)

    def _open(self, sealed: bytes, kid: str, owner: str | None) -> tuple[int, bytes]:
        version = sealed[:1]
        if version not in (_SEAL_VERSION, _BOUND_VERSION):
            raise ValueError("unknown sealed-key format")
        if version == _BOUND_VERSION and not owner:
            raise InvalidTag()  # bound to a server, and none was named
        aad = _aad(version, kid, owner)
        nonce, body = sealed[1 : 1 + _NONCE_BYTES], sealed[1 + _NONCE_BYTES :]
        for index, aead in enumerate(self._aeads):
            with contextlib.suppress(InvalidTag):
                return index, aead.decrypt(nonce, body, aad)
        raise InvalidTag()


def _aad(version: bytes, kid: str, owner: str | None) -> bytes:
    if version == _BOUND_VERSION:
        return f"{owner}\x00{kid}".encode()
    return kid.encode()


UNBOUND = _SEAL_VERSION  # the first byte of a key sealed for its kid alone


class KeyNotOpened(KeyrotorError, ValueError):
    """A stored private key that none of this process's KEKs opens: requests that need it
    are answered 503, and ``/readyz`` says so."""

    code, status = "E0000009", 503

    def __init__(self, kid: str) -> None:
        super().__init__(
            "Service unavailable: the key-encryption keys of this replica do not open the "
            f"signing key {kid}."
        )


def new_kek() -> Secret:
    return Secret(secrets.token_bytes(32))


def encode_kek(kek: Secret) -> str:
    return base64.urlsafe_b64encode(kek.reveal()).decode()


def decode_kek(text: str) -> Secret:
    """A KEK from its base64 (standard or URL-safe) text form."""
    raw = text.strip().replace("-", "+").replace("_", "/")
    try:
        value = base64.b64decode(raw + "=" * (-len(raw) % 4), validate=True)
    except ValueError as exc:
        raise ValueError("the key-encryption key is not valid base64") from exc
    return Secret(value)


class KeyFactory:
    """Generates RSA signing keys (the kid is the RFC 7638 SHA-256 thumbprint) and signs
    with them.

    Opened private keys are kept in memory, at most ``max_signers`` of them, so that
    signing costs one RSA signature: no decryption and no parsing. ``open`` loads a key
    ahead of need (the service opens NEXT keys before they are promoted); ``forget`` drops
    keys that no longer sign.
    """

    def __init__(
        self,
        sealer: Sealer,
        key_size: int = DEFAULT_KEY_SIZE,
        max_signers: int = DEFAULT_MAX_SIGNERS,
    ) -> None:
        if key_size < 2048:
            raise ValueError("RSA keys shorter than 2048 bits are refused")
        self._sealer = sealer
        self._key_size = key_size
        self._max_signers = max_signers
        self._signers: OrderedDict[str, RSAKey] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def sealer(self) -> Sealer:
        return self._sealer

    def derive(self, purpose: str) -> Secret:
        return self._sealer.derive(purpose)

    def can_open(self, sealed_private: bytes, kid: str, owner: str | None = None) -> bool:
        """Whether ``sign`` would work with this key: it is opened already, or a KEK of
        this process opens it (checked without loading the key)."""
        return kid in self._signers or self._sealer.opens(sealed_private, kid, owner)

    def bind(self, sealed_private: bytes, kid: str, owner: str) -> bytes:
        return self._sealer.bind(sealed_private, kid, owner)

    def generate(self) -> KeyMaterial:
        key = RSAKey.generate_key(self._key_size, private=True)
        kid = key.thumbprint()
        public = key.as_dict(private=False)
        pem = key.as_pem(private=True)
        return KeyMaterial(
            kid=kid,
            n=str(public["n"]),
            e=str(public["e"]),
            sealed_private=self._sealer.seal(pem, kid),
        )

    def sign(
        self, sealed_private: bytes, kid: str, claims: Mapping[str, Any], owner: str | None = None
    ) -> str:
        """A compact JWS (RS256) of ``claims`` with the key ``kid`` of server ``owner``."""
        key = self._signers.get(kid) or self.open(sealed_private, kid, owner)
        header = {"alg": ALGORITHM, "kid": kid, "typ": "JWT"}
        return jwt.encode(header, dict(claims), key, algorithms=[ALGORITHM])

    def open(self, sealed_private: bytes, kid: str, owner: str | None = None) -> RSAKey:
        """Unseal and load a private key, and keep it for ``sign``.

        The AES-GCM seal authenticates the key, so it is the very key this service
        generated: OpenSSL's RSA consistency check (about 35 ms a key) is skipped.
        """
        found = self._signers.get(kid)
        if found is not None:
            return found
        try:
            pem = self._sealer.open(sealed_private, kid, owner)
        except InvalidTag:
            raise KeyNotOpened(kid) from None
        loaded = load_pem_private_key(pem, None, unsafe_skip_rsa_key_validation=True)
        if not isinstance(loaded, RSAPrivateKey):
            raise ValueError("a sealed key is not an RSA private key")
        key = RSAKey.import_key(loaded)
        with self._lock:
            self._signers[kid] = key
            while len(self._signers) > self._max_signers:
                self._signers.popitem(last=False)
        return key

    def forget(self, kids: Iterable[str]) -> None:
        """Drop opened keys (they stopped signing, or their server is gone)."""
        with self._lock:
            for kid in kids:
                self._signers.pop(kid, None)


def thumbprint(n: str, e: str) -> str:
    """RFC 7638 thumbprint of an RSA public key (used by tests to check kids)."""
    canonical = json.dumps({"e": e, "kty": "RSA", "n": n}, separators=(",", ":"))
    digest = hashlib.sha256(canonical.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def token_digest(token: str) -> str:
    """How API tokens and client secrets are stored: SHA-256 of a high-entropy random value."""
    return hashlib.sha256(token.encode()).hexdigest()
