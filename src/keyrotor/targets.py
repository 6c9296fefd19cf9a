"""Where an event hook may send (server-side request forgery): checked when a hook is
registered and again before every request it sends.

A URL passes when its host resolves only to public addresses and its scheme is
``https``; ``serve --test-mode`` also lets ``http://`` and ``https://`` URLs whose host
resolves only to loopback through. Anything else (private, link-local such as
``169.254.169.254``, shared, multicast, reserved, unspecified, loopback outside test
mode, a host that resolves to a mix, or not at all) is refused. A request then connects to
the address just checked, not to a second lookup of the name, so a DNS answer that
changes in between (DNS rebinding) cannot turn it elsewhere.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

Resolver = Callable[[str, int], list[str]]  # host, port → IP addresses
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class TargetRefused(ValueError):
    """A hook URL keyrotor will not send to; the message says why (and holds no secret)."""


def system_resolve(host: str, port: int) -> list[str]:
    """The addresses the system resolver gives for ``host``."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True, slots=True)
class Target:
    """A checked URL: where to connect (``address``) and what to name (``host``)."""

    scheme: str
    host: str
    port: int
    path: str  # with its query
    address: str

    @property
    def pinned_url(self) -> str:
        """The URL with the checked address in place of the host name."""
        ip = ipaddress.ip_address(self.address)
        where = f"[{ip}]" if ip.version == 6 else str(ip)
        return f"{self.scheme}://{where}:{self.port}{self.path}"

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        name = f"[{self.host}]" if ":" in self.host else self.host
        return name if self.port == default else f"{name}:{self.port}"


def kind(address: Address) -> str:
    """``public``, ``loopback`` or ``other`` (what no hook may reach)."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return kind(address.ipv4_mapped)
        if address.sixtofour is not None or address.teredo is not None:
            return "other"  # an IPv4 address inside: judged as other, to be safe
    if address.is_loopback:
        return "loopback"
    if address.is_global and not (address.is_multicast or address.is_reserved):
        return "public"
    return "other"


def check(uri: str, *, loopback_ok: bool, resolve: Resolver = system_resolve) -> Target:
    """The checked target of ``uri``, or ``TargetRefused`` saying why not."""
    try:
        parts = urlsplit(uri)
        host, scheme = parts.hostname or "", parts.scheme
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:  # a port out of range or not a number, a broken IPv6 literal
        raise TargetRefused("Must be a valid URL.") from None
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        found = [ipaddress.ip_address(a.split("%")[0]) for a in resolve(host, port)]
    except (OSError, UnicodeError, ValueError):
        found = []
    if not found:
        raise TargetRefused(f"The host {host} cannot be resolved.")
    kinds = {kind(a) for a in found}
    if "other" in kinds:
        bad = next(a for a in found if kind(a) == "other")
        raise TargetRefused(
            f"The host {host} resolves to {bad}, a private, link-local or otherwise "
            "non-public address: keyrotor does not send there."
        )
    if kinds == {"public"}:
        if scheme != "https":
            raise TargetRefused("Must be an https:// URL.")
    elif not loopback_ok:
        raise TargetRefused(
            f"The host {host} resolves to loopback: only `serve --test-mode` sends there."
        )
    elif kinds != {"loopback"}:
        raise TargetRefused(f"The host {host} resolves to loopback and public addresses.")
    return Target(scheme, host, port, path, str(found[0]))
