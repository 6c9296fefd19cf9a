"""The public keys a ``private_key_jwt`` client signs its assertions with.

Keys stored for the client (``client_jwks``: only its ACTIVE ones verify) are parsed once
per set, when the client is loaded into the cache (``prime``), and found again by the ids of
its ACTIVE keys, so a token request parses nothing; a key activated or deactivated changes
that set, and the client's change subject drops the cached client. A ``jwks_uri`` is
fetched with a timeout and a size limit, kept for ``TTL``, and fetched again early when an
assertion names a key the cached set lacks (at most once per ``MIN_REFETCH``, so unknown
kids cannot make keyrotor hammer the client's server). Fetching is blocking I/O: callers
run it in a worker thread.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from keyrotor.clients import OAuthClient
from keyrotor.errors import InvalidClient
from keyrotor.proofs import PublicKey, public_key

TTL = 300.0
MIN_REFETCH = 10.0
TIMEOUT = 5.0
MAX_BYTES = 64 * 1024
MAX_ENTRIES = 10_000

Fetch = Callable[[str], bytes]


def fetch(uri: str) -> bytes:
    """GET ``uri``: 200 and at most ``MAX_BYTES``, no redirects, within ``TIMEOUT``."""
    try:
        with httpx.stream("GET", uri, timeout=TIMEOUT, follow_redirects=False) as response:
            if response.status_code != 200:
                raise InvalidClient(f"The client's jwks_uri answered HTTP {response.status_code}.")
            body = bytearray()
            for chunk in response.iter_bytes():
                body.extend(chunk)
                if len(body) > MAX_BYTES:
                    raise InvalidClient(
                        f"The client's jwks_uri answered more than {MAX_BYTES} bytes."
                    )
            return bytes(body)
    except httpx.HTTPError as exc:
        raise InvalidClient(
            f"The client's jwks_uri could not be fetched ({type(exc).__name__})."
        ) from None


class ClientKeys:
    def __init__(self, fetcher: Fetch = fetch, clock: Callable[[], float] = time.monotonic) -> None:
        self._fetch = fetcher
        self._clock = clock
        self._lock = threading.Lock()
        self._inline: OrderedDict[tuple[str, ...], list[PublicKey]] = OrderedDict()
        self._fetched: OrderedDict[str, tuple[float, list[PublicKey]]] = OrderedDict()

    def keys(self, client: OAuthClient, *, refresh: bool = False) -> list[PublicKey]:
        """The client's keys; ``refresh`` asks a ``jwks_uri`` again (an unknown kid)."""
        uri = client.jwks_uri
        if uri is not None:
            return self._from_uri(uri, refresh)
        # a stored key's material never changes: the ids of the ACTIVE keys name the set
        marker = (client.client_id, *(k.id for k in client.keys if k.active))
        with self._lock:
            found = self._inline.get(marker)
        if found is None:
            found = parse_keys(client.jwks)
            self._remember(self._inline, marker, found)
        return found

    def prime(self, client: OAuthClient) -> None:
        """Parse a client's stored keys as it is loaded, before any request needs them."""
        if client.keys and client.jwks_uri is None:
            self.keys(client)

    def _from_uri(self, uri: str, refresh: bool) -> list[PublicKey]:
        now = self._clock()
        with self._lock:
            cached = self._fetched.get(uri)
        if cached is not None:
            age = now - cached[0]
            if age < TTL and not (refresh and age >= MIN_REFETCH):
                return cached[1]
        try:
            document = json.loads(self._fetch(uri))
        except (ValueError, UnicodeError):
            raise InvalidClient(
                "The client's jwks_uri did not answer a JSON Web Key Set."
            ) from None
        keys = document.get("keys") if isinstance(document, Mapping) else None
        if not isinstance(keys, list):
            raise InvalidClient("The client's jwks_uri did not answer a JSON Web Key Set.")
        found = parse_keys(keys)
        self._remember(self._fetched, uri, (now, found))
        return found

    def _remember(self, cache: OrderedDict[Any, Any], marker: Any, value: Any) -> None:
        with self._lock:
            cache[marker] = value
            cache.move_to_end(marker)
            while len(cache) > MAX_ENTRIES:
                cache.popitem(last=False)


def parse_keys(raw: list[Any]) -> list[PublicKey]:
    """The signing keys of a set that keyrotor can verify with; others are passed over."""
    found: list[PublicKey] = []
    for jwk in raw:
        if not isinstance(jwk, Mapping) or jwk.get("use") not in (None, "sig"):
            continue
        with contextlib.suppress(ValueError):
            found.append(public_key(jwk))
    return found
