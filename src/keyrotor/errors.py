"""The one error tree of keyrotor.

Every error the service raises on purpose is a ``KeyrotorError`` carrying Okta's machine
code; ``keyrotor.http.errors`` maps them to Okta's JSON error body in exactly one place::

    KeyrotorError
    ├── ValidationFailed      E0000001  400  Api validation failed: {what}
    ├── MalformedBody         E0000003  400  The request body was not well-formed.
    ├── PermissionDenied      E0000006  403
    ├── NotFound              E0000007  404  Not found: Resource not found: {id} ({Type})
    ├── InvalidToken          E0000011  401
    ├── UnsupportedMedia      E0000021  400
    ├── MethodNotAllowed      E0000022  405
    ├── RateLimited           E0000047  429
    ├── PayloadTooLarge       E0000001  413  (a body over ``MAX_BODY_BYTES``, Okta's body)
    ├── StoreUnavailable      E0000009  503
    ├── UnknownClientId       invalid_client  400  (discovery's ``?client_id=``, Okta's body)
    └── OAuthError            (RFC 6749 / RFC 7591 ``{"error", "error_description"}`` bodies,
        │                      mapped in ``keyrotor.http.oauth``)
        ├── InvalidRequest          invalid_request          400
        │   └── BodyTooLarge        invalid_request          413
        ├── InvalidClient           invalid_client           401
        ├── UnsupportedGrantType    unsupported_grant_type   400
        ├── InvalidScope            invalid_scope            400
        ├── InvalidClientMetadata   invalid_client_metadata  400
        ├── InvalidDpopProof        invalid_dpop_proof       400
        └── UseDpopNonce            use_dpop_nonce           400 (+ a DPoP-Nonce header)
"""

from __future__ import annotations


class KeyrotorError(Exception):
    """Base class: ``code`` is Okta's ``errorCode``, ``status`` the HTTP status."""

    code = "E0000009"
    status = 500
    summary = "Internal Server Error"

    def __init__(self, summary: str | None = None, causes: tuple[str, ...] = ()) -> None:
        self.summary = summary or type(self).summary
        self.causes = causes
        super().__init__(self.summary)


class ValidationFailed(KeyrotorError):
    code, status = "E0000001", 400

    def __init__(self, what: str, *causes: str) -> None:
        super().__init__(f"Api validation failed: {what}", causes)


class MalformedBody(KeyrotorError):
    code, status = "E0000003", 400
    summary = "The request body was not well-formed."


class PermissionDenied(KeyrotorError):
    code, status = "E0000006", 403
    summary = "You do not have permission to perform the requested action"


class NotFound(KeyrotorError):
    code, status = "E0000007", 404

    def __init__(self, resource_id: str, resource_type: str) -> None:
        super().__init__(f"Not found: Resource not found: {resource_id} ({resource_type})")


class InvalidToken(KeyrotorError):
    code, status = "E0000011", 401
    summary = "Invalid token provided"


class UnsupportedMedia(KeyrotorError):
    code, status = "E0000021", 400
    summary = (
        "Bad request.  Accept and/or Content-Type headers likely do not match supported values."
    )


class MethodNotAllowed(KeyrotorError):
    code, status = "E0000022", 405
    summary = "The endpoint does not support the provided HTTP method"


class RateLimited(KeyrotorError):
    code, status = "E0000047", 429
    summary = "API call exceeded rate limit due to too many requests."


class PayloadTooLarge(KeyrotorError):
    """A request body over the limit: Okta's validation error, with HTTP's 413."""

    code, status = "E0000001", 413

    def __init__(self, limit: int) -> None:
        super().__init__(
            "Api validation failed: body", (f"The request body is larger than {limit} bytes.",)
        )


class StoreUnavailable(KeyrotorError):
    code, status = "E0000009", 503
    summary = "Service unavailable: the key store cannot be reached. Try again later."


class UnknownHost(KeyrotorError):
    """The ``Host`` of a request is not one this server answers for (see ``http.hosts``)."""

    code, status = "E0000007", 404
    summary = (
        "Not found: this server does not answer for that host "
        "(its public URL, loopback, or --allowed-host)"
    )


class UnknownClientId(KeyrotorError):
    """Discovery named a client that does not exist: Okta answers its usual error body,
    with ``invalid_client`` as the code."""

    code, status = "invalid_client", 400
    summary = "Invalid value for `client_id` parameter"


class OAuthError(KeyrotorError):
    """An error of the OAuth endpoints (token, registration): ``error`` is the RFC code."""

    error = "invalid_request"
    status = 400

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


class InvalidRequest(OAuthError):
    error = "invalid_request"


class BodyTooLarge(InvalidRequest):
    """A token request body over the limit (RFC 6749's error, with HTTP's 413)."""

    status = 413


class InvalidClient(OAuthError):
    error, status = "invalid_client", 401

    def __init__(self, description: str, *, basic: bool = False) -> None:
        super().__init__(description)
        self.basic = basic  # the client tried HTTP Basic: answer with WWW-Authenticate


class UnsupportedGrantType(OAuthError):
    error = "unsupported_grant_type"


class InvalidScope(OAuthError):
    error = "invalid_scope"


class InvalidClientMetadata(OAuthError):
    error = "invalid_client_metadata"


class InvalidDpopProof(OAuthError):
    error = "invalid_dpop_proof"


class UseDpopNonce(OAuthError):
    """RFC 9449 §8: try again with this nonce in the proof."""

    error = "use_dpop_nonce"

    def __init__(self, nonce: str) -> None:
        super().__init__("Authorization server requires nonce in DPoP proof.")
        self.nonce = nonce
