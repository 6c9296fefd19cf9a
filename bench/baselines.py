"""The baselines keyrotor is measured against: bare ASGI apps under the same uvicorn setup.

    .venv/bin/python -m bench.baselines const|sign --port N

``const`` answers every GET with the same ~1 KB of JSON (a JWKS-sized document): the cost
of the HTTP stack alone. ``sign`` answers every POST, after reading its body, with an access
token response carrying one fresh RS256 JWT signed by a key made at start: the unavoidable
cost of the token endpoint. Both also load as uvicorn app factories
(``bench.baselines:const_app``, ``bench.baselines:sign_app``).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import importlib.util
import json
import secrets
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

JSON_HEADERS = [(b"content-type", b"application/json")]
TOKEN_HEADERS = [*JSON_HEADERS, (b"cache-control", b"no-store"), (b"pragma", b"no-cache")]
DEFAULT_SCOPE = "bench:read"


def uvicorn_options() -> dict[str, Any]:
    """The server settings keyrotor's ``serve`` uses: uvloop and httptools when importable."""
    return {
        "loop": "uvloop" if _importable("uvloop") else "auto",
        "http": "httptools" if _importable("httptools") else "auto",
        "access_log": False,
        "server_header": False,
        "date_header": True,
        "log_level": "warning",
    }


def _importable(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def jwks_like_document() -> bytes:
    """Two RSA-2048-shaped public JWKs with fixed filler: the size and shape of a JWKS."""
    keys = []
    for i in range(2):
        seed = hashlib.sha256(f"bench-key-{i}".encode()).digest()
        modulus = base64.urlsafe_b64encode((seed * 8)[:256]).rstrip(b"=").decode()
        kid = base64.urlsafe_b64encode(seed).rstrip(b"=").decode()
        keys.append(
            {"kty": "RSA", "alg": "RS256", "kid": kid, "use": "sig", "e": "AQAB", "n": modulus}
        )
    return json.dumps({"keys": keys}, separators=(",", ":")).encode()


async def read_body(receive: Receive) -> bytes:
    """The whole request body, however many messages it came in."""
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


async def respond(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    length = [(b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers + length})
    await send({"type": "http.response.body", "body": body})


async def _lifespan(receive: Receive, send: Send) -> None:
    """Accept startup and shutdown so uvicorn does not warn about a missing lifespan."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def const_app() -> App:
    """Every GET (and HEAD) answers the same JSON bytes; anything else is 405."""
    document = jwks_like_document()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            return await _lifespan(receive, send)
        if scope["type"] != "http":
            return None
        if scope["method"] not in ("GET", "HEAD"):
            return await respond(send, 405, b"", [])
        return await respond(send, 200, document, JSON_HEADERS)

    return app


class TokenSigner:
    """One RSA-2048 key made at start, and access tokens signed with it like a real issuer's."""

    def __init__(self, issuer: str = "http://127.0.0.1/oauth2/default") -> None:
        from joserfc.jwk import RSAKey

        self.key = RSAKey.generate_key(2048, private=True)
        self.kid = self.key.thumbprint()
        self.issuer = issuer

    def claims(self, scope: str, now: int) -> dict[str, Any]:
        return {
            "ver": 1,
            "jti": "AT." + secrets.token_urlsafe(24),
            "iss": self.issuer,
            "aud": "api://default",
            "iat": now,
            "exp": now + 3600,
            "cid": "0oabenchclient",
            "sub": "0oabenchclient",
            "scp": scope.split(),
        }

    def token_response(self, scope: str) -> bytes:
        from joserfc import jwt

        header = {"alg": "RS256", "kid": self.kid, "typ": "JWT"}
        claims = self.claims(scope, int(time.time()))
        token = jwt.encode(header, claims, self.key, algorithms=["RS256"])
        body = {
            "token_type": "Bearer",
            "expires_in": 3600,
            "access_token": token,
            "scope": scope,
        }
        return json.dumps(body, separators=(",", ":")).encode()


def sign_app() -> App:
    """Every POST reads its form body and answers a freshly signed access token."""
    signer = TokenSigner()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            return await _lifespan(receive, send)
        if scope["type"] != "http":
            return None
        if scope["method"] != "POST":
            return await respond(send, 405, b"", [])
        form = parse_qs((await read_body(receive)).decode("latin-1"))
        requested = form.get("scope", [DEFAULT_SCOPE])[0]
        return await respond(send, 200, signer.token_response(requested), TOKEN_HEADERS)

    return app


APPS: dict[str, Callable[[], App]] = {"const": const_app, "sign": sign_app}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("app", choices=sorted(APPS))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    import uvicorn

    uvicorn.run(APPS[args.app](), host=args.host, port=args.port, **uvicorn_options())


if __name__ == "__main__":
    main()
