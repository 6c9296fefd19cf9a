"""Which ``Host`` a request may name: issuers and links must never come from a caller.

With a public URL, every issuer and link is built from it. Without one, they are built
from the request, so ``serve`` refuses a non-loopback bind. Either way a request may name
only a loopback host, the public URL's host, or a host given with ``--allowed-host``; any
other is refused before anything renders an issuer. Liveness and readiness probes and
``/metrics`` are answered for any host, since they name none (a scraper names the
replica's own address).
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.types import Scope

LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
MAX_SEEN = 1024  # distinct Host values whose verdict is remembered
PROBES = frozenset({"/healthz", "/readyz", "/metrics"})  # no issuer, no rate limit


def host_name(value: str) -> str | None:
    """The host of a ``Host`` header (port dropped, lower case), or ``None`` if malformed."""
    try:
        parts = urlsplit(f"//{value.strip()}")
        name = parts.hostname
        parts.port  # noqa: B018  (a port that is not a number raises here)
    except ValueError:
        return None
    if not name or parts.username is not None or parts.path or parts.query:
        return None
    return name


def is_loopback(host: str) -> bool:
    return host in LOOPBACK or host.startswith("127.")


class AllowedHosts:
    def __init__(self, public_url: str | None, extra: Iterable[str] = ()) -> None:
        self._seen: dict[bytes, bool] = {}
        self._names = {n.lower().strip("[]") for n in extra}
        if public_url:
            public = urlsplit(public_url).hostname
            if public:
                self._names.add(public.lower())

    def allows(self, scope: Scope) -> bool:
        if scope["path"] in PROBES:
            return True
        raw = None
        for name, value in scope["headers"]:
            if name == b"host":
                raw = value
                break
        if raw is None:  # HTTP/1.0: the address the request came in on
            server = scope.get("server")
            return server is not None and is_loopback(str(server[0]))
        return self.allows_host(raw)

    def allows_host(self, raw: bytes) -> bool:
        """The verdict on one ``Host`` value (the hot paths pass the one they found)."""
        known = self._seen.get(raw)  # a hot path: each Host value is judged once
        if known is None:
            name = host_name(raw.decode("latin-1"))
            known = name is not None and (name in self._names or is_loopback(name))
            if len(self._seen) < MAX_SEEN:
                self._seen[raw] = known
        return known
