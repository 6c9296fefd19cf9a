"""What is refused before any handler, cache or store sees a request.

A NUL character or a lone UTF-16 surrogate has no place in a path, a query or a header
(PostgreSQL refuses NUL in text; no UTF-8 encoding holds a surrogate), and a body larger
than ``MAX_BODY_BYTES`` is not read. ``refusal`` looks at the request line and headers
only, so it costs a few byte searches; bodies are checked where they are parsed
(``body.json_body``, the token endpoints' form).

The answers are Okta's: 404 E0000007 for a path no resource can have, 400 E0000001 for a
query or header, 413 for a body too large; on the token endpoints, whose errors are
RFC 6749's, 400 and 413 are ``invalid_request``.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from starlette.datastructures import QueryParams
from starlette.types import ASGIApp, Scope

from keyrotor.config import MAX_BODY_BYTES
from keyrotor.errors import (
    BodyTooLarge,
    InvalidRequest,
    KeyrotorError,
    NotFound,
    PayloadTooLarge,
    UnknownClientId,
    ValidationFailed,
)
from keyrotor.http.body import HOSTILE_TEXT, NOT_HOSTILE, is_hostile
from keyrotor.http.render import error_response, oauth_error_response

_TOKEN_PATH = re.compile(r"/oauth2/(?:[^/]+/)?v1/token")
_DISCOVERY = re.compile(r"/\.well-known/(?:openid-configuration|oauth-authorization-server)$")


def refusal(scope: Scope) -> ASGIApp | None:
    """The answer to a request refused at the edge, or ``None`` to let it in."""
    error = _problem(scope)
    if error is None:
        return None
    if _TOKEN_PATH.fullmatch(scope["path"]) and error.status != 404:
        said = error.causes[0] if error.causes else error.summary
        token_error = (
            BodyTooLarge(said) if isinstance(error, PayloadTooLarge) else InvalidRequest(said)
        )
        return oauth_error_response(token_error)
    return error_response(error)


def _problem(scope: Scope) -> KeyrotorError | None:
    path = scope["path"]
    if "\x00" in path if path.isascii() else is_hostile(path):  # ASCII: no surrogate
        # never echo it raw: a surrogate cannot even be encoded into the answer
        shown = quote(path.encode("utf-8", "surrogatepass"), safe="/")
        return NotFound(shown, "Resource")
    query: bytes = scope.get("query_string", b"")
    if b"%00" in query or b"\x00" in query:  # decoded, the query may hold a NUL
        return _query_problem(path, query)
    for name, value in scope["headers"]:
        if b"\x00" in value or b"\x00" in name:  # bytes: NUL is the one thing to look for
            return ValidationFailed("headers", f"A header {HOSTILE_TEXT}.")
        if name == b"content-length" and _too_long(value):
            return PayloadTooLarge(MAX_BODY_BYTES)
    return None


def _query_problem(path: str, query: bytes) -> KeyrotorError | None:
    """Name the parameters that hold a NUL (``%2500`` is a literal ``%00``, say, no NUL).
    Discovery's ``client_id`` gets Okta's documented answer to a client that is not there."""
    names = sorted({k for k, v in QueryParams(query).multi_items() if is_hostile(k + v)})
    if not names:
        return None
    if names == ["client_id"] and _DISCOVERY.search(path):
        return UnknownClientId()
    shown = ", ".join(name if not is_hostile(name) else "(a name)" for name in names)
    return ValidationFailed(shown, f"{shown}: Must {NOT_HOSTILE}.")


def _too_long(declared: bytes) -> bool:
    digits = declared.strip()
    return digits.isdigit() and (len(digits) > 9 or int(digits) > MAX_BODY_BYTES)
