"""The token endpoints (RFC 6749 client credentials) and the org server's public endpoints.

``POST /oauth2/{authServerId}/v1/token`` issues tokens of a custom server; ``POST
/oauth2/v1/token`` those of the org server (issuer = the base URL), whose JWKS is
``/oauth2/v1/keys``. Errors here are OAuth's ``{"error", "error_description"}``, mapped
from ``OAuthError`` in ``oauth_error`` (an unknown or INACTIVE server is Okta's 404).
"""

from __future__ import annotations

import base64
import binascii
from urllib.parse import parse_qsl, unquote_plus

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive

from keyrotor.apitokens import ALL_SCOPES
from keyrotor.clients import CLIENT_CREDENTIALS, AuthMethod
from keyrotor.config import MAX_BODY_BYTES
from keyrotor.errors import (
    BodyTooLarge,
    InvalidClient,
    InvalidRequest,
    OAuthError,
    RateLimited,
    UnsupportedGrantType,
)
from keyrotor.http.body import HOSTILE_TEXT, is_hostile
from keyrotor.http.public import check_client_id, discovery_headers, jwks_response, metadata
from keyrotor.http.ratelimit import token_quota
from keyrotor.http.render import OktaJSON, base_url, issuer, oauth_error_response
from keyrotor.http.state import key_service, oauth_service
from keyrotor.oauth import BAD_CLIENT, TokenRequest
from keyrotor.proofs import ASSERTION_TYPE, assertion_client_id

FORM = "application/x-www-form-urlencoded"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


async def oauth_error(request: Request, exc: Exception) -> Response:
    """The one place ``OAuthError`` becomes a response (registered in ``create_app``)."""
    assert isinstance(exc, OAuthError)
    return oauth_error_response(exc)


async def token(request: Request) -> Response:
    """A custom server's token endpoint."""
    server_id = str(request.path_params["server_id"])
    return await _issue(request, server_id, issuer(base_url(request), server_id))


async def org_token(request: Request) -> Response:
    """The org server's token endpoint: ``okta.authorizationServers.*`` for granted clients."""
    return await _issue(request, None, base_url(request))


async def _issue(request: Request, server_id: str | None, iss: str) -> Response:
    """One use case: from the caches in the event loop when they hold all it needs (one
    RSA signature, no store), else in a worker thread with one read transaction."""
    oauth = oauth_service(request)
    asked = await _token_request(request, server_id, iss)
    if token_quota(request.app.state.token_limiter, request.scope, asked):
        raise RateLimited()
    issued = oauth.issue_cached(asked)
    if issued is None:
        issued = await run_in_threadpool(oauth.issue, asked)
    return OktaJSON(issued.response(), headers=NO_STORE)


async def org_jwks(request: Request) -> Response:
    return jwks_response(request, await run_in_threadpool(oauth_service(request).org_jwks))


async def org_discovery(request: Request) -> Response:
    """The org server's discovery: it issues only the management API's scopes."""
    await check_client_id(request)
    base = base_url(request)
    max_age = key_service(request).jwks_max_age  # a constant document: the cap
    headers = discovery_headers(max_age, request.app.state.public_url)
    return OktaJSON(metadata(base, f"{base}/oauth2", base, ALL_SCOPES), headers=headers)


async def _token_request(request: Request, server_id: str | None, iss: str) -> TokenRequest:
    headers = request.headers
    body, complete = await read_body(request.receive)
    auth = headers.get("authorization", "")
    form = body if complete else None
    content_type, dpop = headers.get("content-type", ""), headers.get("dpop")
    return token_request(content_type, auth, form, server_id, iss, dpop)


async def read_body(receive: Receive) -> tuple[bytes, bool]:
    """The request body as read, and whether it is whole: reading stops past
    ``MAX_BODY_BYTES``, the rest left unread."""
    raw = bytearray()
    while True:
        message = await receive()
        raw.extend(message.get("body", b""))
        if len(raw) > MAX_BODY_BYTES:
            return bytes(raw), False
        if not message.get("more_body", False):
            return bytes(raw), True


def token_request(
    content_type: str,
    authorization: str,
    body: bytes | None,
    server_id: str | None,
    iss: str,
    dpop: str | None = None,
) -> TokenRequest:
    """Form, grant type and client credentials; what is wrong with them is kept as the
    request's ``problem`` (the service reports an unknown server first). ``body`` is
    ``None`` when it was too large to read; ``dpop`` is the DPoP header."""
    try:
        form = _form(content_type, body)
        grant = form.get("grant_type")
        if not grant:
            raise InvalidRequest("The 'grant_type' parameter is required.")
        if grant != CLIENT_CREDENTIALS:
            raise UnsupportedGrantType(f"The grant type '{grant}' is not supported.")
        client_id, secret, method = _client_credentials(authorization, form)
        if is_hostile(client_id) or is_hostile(secret):  # from Basic or an assertion's iss
            raise InvalidClient(f"The client credentials {HOSTILE_TEXT}.")
    except OAuthError as problem:
        return TokenRequest(server_id, iss, problem=problem)
    return TokenRequest(server_id, iss, client_id, secret, method, form.get("scope"), dpop=dpop)


def _form(content_type: str, body: bytes | None) -> dict[str, str]:
    media = content_type.split(";")[0].strip().lower()
    if media != FORM:
        raise InvalidRequest(f"The token request must be sent as {FORM}.")
    if body is None:
        raise BodyTooLarge(f"The request body is larger than {MAX_BODY_BYTES} bytes.")
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=64)
    except (UnicodeDecodeError, ValueError):
        raise InvalidRequest("The request body is not a well-formed form.") from None
    form: dict[str, str] = {}
    for name, value in pairs:
        if is_hostile(name) or is_hostile(value):
            raise InvalidRequest(f"The {name[:40]!a} parameter {HOSTILE_TEXT}.")
        if name in form:
            raise InvalidRequest(f"The '{name}' parameter must not be repeated.")
        form[name] = value
    return form


def _client_credentials(authorization: str, form: dict[str, str]) -> tuple[str, str, AuthMethod]:
    """``client_secret_basic`` (the Authorization header), ``client_secret_post`` or
    ``private_key_jwt`` (a client assertion): the client id and the secret or assertion."""
    header = authorization.strip()
    if "client_assertion" in form or "client_assertion_type" in form:
        if header or "client_secret" in form:
            raise InvalidRequest("Use one client authentication method, not two.")
        return _asserted(form)
    if not header:
        return _posted(form)
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        raise InvalidClient(BAD_CLIENT)
    if "client_secret" in form:
        raise InvalidRequest("Use one client authentication method, not two.")
    client_id, secret = _basic(value.strip())
    if form.get("client_id", client_id) != client_id:
        raise InvalidRequest("The 'client_id' parameter does not match the Authorization header.")
    return client_id, secret, AuthMethod.BASIC


def _posted(form: dict[str, str]) -> tuple[str, str, AuthMethod]:
    client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
    if not client_id:
        raise InvalidClient(
            "Client authentication is required (client_secret_basic or client_secret_post)."
        )
    if not secret:
        raise InvalidClient("The 'client_secret' parameter is required.")
    return client_id, secret, AuthMethod.POST


def _asserted(form: dict[str, str]) -> tuple[str, str, AuthMethod]:
    if form.get("client_assertion_type") != ASSERTION_TYPE:
        raise InvalidClient(f"The 'client_assertion_type' must be {ASSERTION_TYPE}.")
    assertion = form.get("client_assertion", "")
    if not assertion:
        raise InvalidClient("The 'client_assertion' parameter is required.")
    client_id = assertion_client_id(assertion)
    if form.get("client_id", client_id) != client_id:
        raise InvalidClient("The 'client_id' parameter is not the client_assertion's issuer.")
    return client_id, assertion, AuthMethod.PRIVATE_KEY_JWT


def _basic(value: str) -> tuple[str, str]:
    """RFC 6749 §2.3.1: id and secret are form-urlencoded, then joined by ':' in base64."""
    try:
        decoded = base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        decoded = ""
    client_id, colon, secret = decoded.partition(":")
    if not colon or not client_id:
        raise InvalidClient("The Authorization header is not valid HTTP Basic.", basic=True)
    return unquote_plus(client_id), unquote_plus(secret)


routes = [
    Route("/oauth2/v1/token", org_token, methods=["POST"]),
    Route("/oauth2/v1/keys", org_jwks, methods=["GET"]),
    Route("/.well-known/oauth-authorization-server", org_discovery, methods=["GET"]),
    Route("/.well-known/openid-configuration", org_discovery, methods=["GET"]),
    Route("/oauth2/{server_id}/v1/token", token, methods=["POST"]),
]
