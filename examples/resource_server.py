"""A resource server that accepts keyrotor access tokens, verified with PyJWT's PyJWKClient.

    python examples/resource_server.py http://127.0.0.1:8080/oauth2/default api://default

``GET /whoami`` with ``Authorization: Bearer <access token>`` answers the token's client and
scopes; ``GET /things`` also needs the scope ``things:read``. A token is accepted when its
RS256 signature verifies with the key its ``kid`` names in ``{issuer}/v1/keys`` (PyJWKClient
caches that JWKS and fetches it again on an unknown kid: a rotation needs nothing from here),
and ``iss``, ``aud`` and ``exp`` are right.
"""

from __future__ import annotations

import sys
from typing import Any

import jwt
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

LEEWAY_SECONDS = 60


class TokenVerifier:
    """``iss``, ``aud``, ``exp`` and an RS256 signature by a key of the issuer's JWKS."""

    def __init__(self, issuer: str, audience: str, jwks: jwt.PyJWKClient | None = None) -> None:
        self.issuer = issuer.rstrip("/")
        self.audience = audience
        self.jwks = jwks or jwt.PyJWKClient(f"{self.issuer}/v1/keys")

    def verify(self, token: str) -> dict[str, Any]:
        key = self.jwks.get_signing_key_from_jwt(token)
        claims: dict[str, Any] = jwt.decode(
            token,
            key.key,
            algorithms=["RS256"],
            audience=self.audience,
            issuer=self.issuer,
            leeway=LEEWAY_SECONDS,
            options={"require": ["iss", "aud", "exp", "sub"]},
        )
        return claims


def _challenge(status: int, error: str, description: str) -> Response:
    header = f'Bearer error="{error}", error_description="{description}"'
    body = {"error": error, "error_description": description}
    return JSONResponse(body, status_code=status, headers={"WWW-Authenticate": header})


async def _claims(request: Request) -> dict[str, Any] | Response:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return _challenge(401, "invalid_token", "A Bearer access token is required.")
    verifier: TokenVerifier = request.app.state.verifier
    try:
        return await run_in_threadpool(verifier.verify, token.strip())
    except jwt.PyJWTError as exc:
        return _challenge(401, "invalid_token", f"The access token is not valid: {exc}.")


async def whoami(request: Request) -> Response:
    claims = await _claims(request)
    if isinstance(claims, Response):
        return claims
    return JSONResponse({"client": claims["sub"], "scopes": claims.get("scp", [])})


async def things(request: Request) -> Response:
    claims = await _claims(request)
    if isinstance(claims, Response):
        return claims
    if "things:read" not in claims.get("scp", []):
        return _challenge(403, "insufficient_scope", "The scope things:read is required.")
    return JSONResponse({"things": ["a", "b"]})


def create_resource_server(verifier: TokenVerifier) -> Starlette:
    app = Starlette(
        routes=[
            Route("/whoami", whoami, methods=["GET"]),
            Route("/things", things, methods=["GET"]),
        ]
    )
    app.state.verifier = verifier
    return app


if __name__ == "__main__":
    import uvicorn

    issuer, audience = sys.argv[1], sys.argv[2]
    uvicorn.run(create_resource_server(TokenVerifier(issuer, audience)), port=9090)
