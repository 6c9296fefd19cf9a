"""The client's one error tree, and the one place HTTP statuses map onto it::

    OpenApiException                 anything this client raises
    ├── ApiValueError                a call made with a missing or invalid argument
    ├── ApiConnectionError           no HTTP answer: DNS, refused, TLS, proxy, timeout
    │   └── ApiTimeoutError          … because a timeout ran out
    ├── UnexpectedResponseError      a success answer the client cannot read
    └── ApiException                 an HTTP error answer (status >= 300)
        ├── BadRequestException          400  E0000001, E0000003, E0000021
        ├── UnauthorizedException        401  E0000011
        ├── ForbiddenException           403  E0000006
        ├── NotFoundException            404  E0000007
        ├── TooManyRequestsException     429  E0000047, after the retries ran out
        └── ServiceException             5xx

An ``ApiException`` carries the parsed Okta error body (``data``, an :class:`Error`) and
its parts (``error_code``, ``error_summary``, ``error_causes``, ``error_id``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from pydantic import ValidationError

from okta.models.error import Error

__all__ = [
    "ApiConnectionError",
    "ApiException",
    "ApiTimeoutError",
    "ApiValueError",
    "BadRequestException",
    "ForbiddenException",
    "NotFoundException",
    "OpenApiException",
    "ServiceException",
    "TooManyRequestsException",
    "UnauthorizedException",
    "UnexpectedResponseError",
]

_BODY_EXCERPT = 200


class OpenApiException(Exception):
    """Base of every error this client raises."""


class ApiValueError(OpenApiException, ValueError):
    """An argument is missing or invalid; nothing was sent."""


class ApiConnectionError(OpenApiException):
    """The request got no HTTP answer (connection, TLS, proxy or timeout failure)."""

    def __init__(self, message: str, *, method: str, url: str) -> None:
        super().__init__(message)
        self.method = method
        self.url = url


class ApiTimeoutError(ApiConnectionError):
    """A connect, read, write or pool timeout ran out."""


class UnexpectedResponseError(OpenApiException):
    """A success answer whose body is not what the operation returns."""

    def __init__(self, message: str, *, status: int, body: bytes) -> None:
        super().__init__(message)
        self.status = status
        self.body = body


class ApiException(OpenApiException):
    """An HTTP error answer: its status, reason, headers, body, and the parsed Okta error."""

    def __init__(
        self,
        status: int | None = None,
        reason: str | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        body: str | None = None,
        data: Error | None = None,
    ) -> None:
        self.status = status
        self.reason = reason
        self.headers: Mapping[str, str] = headers if headers is not None else {}
        self.body = body
        self.data = data
        super().__init__(str(self))

    @classmethod
    def from_response(
        cls, status: int, reason: str, headers: Mapping[str, str], body: str
    ) -> ApiException:
        """The exception for an error answer, of the class its status maps to."""
        return exception_class(status)(
            status, reason, headers=headers, body=body, data=parse_error(body)
        )

    @property
    def error_code(self) -> str | None:
        """Okta's ``errorCode``, e.g. ``E0000007``."""
        return self.data.error_code if self.data else None

    @property
    def error_summary(self) -> str | None:
        """Okta's ``errorSummary``."""
        return self.data.error_summary if self.data else None

    @property
    def error_id(self) -> str | None:
        """Okta's ``errorId``, to quote to the server's operators."""
        return self.data.error_id if self.data else None

    @property
    def error_causes(self) -> list[str]:
        """The ``errorSummary`` of each of Okta's ``errorCauses``."""
        causes = self.data.error_causes if self.data else None
        return [cause.error_summary for cause in causes or [] if cause.error_summary]

    def __str__(self) -> str:
        text = f"({self.status}) {self.reason or ''}".rstrip()
        if self.error_code or self.error_summary:
            text += f": {self.error_code}: {self.error_summary}"
            text += "".join(f"\n  cause: {cause}" for cause in self.error_causes)
            text += f"\n  errorId: {self.error_id}" if self.error_id else ""
        elif self.body:
            text += f"\n  body: {self.body[:_BODY_EXCERPT]}"
        return text


class BadRequestException(ApiException):
    """400: the request was invalid (``E0000001``, ``E0000003``, ``E0000021``)."""


class UnauthorizedException(ApiException):
    """401: missing or unknown credentials (``E0000011``)."""


class ForbiddenException(ApiException):
    """403: the credentials lack the scope (``E0000006``)."""


class NotFoundException(ApiException):
    """404: no such server or key (``E0000007``)."""


class TooManyRequestsException(ApiException):
    """429: rate limited, and the retries ran out or would wait too long (``E0000047``)."""


class ServiceException(ApiException):
    """5xx: the server failed."""


_BY_STATUS: dict[int, type[ApiException]] = {
    400: BadRequestException,
    401: UnauthorizedException,
    403: ForbiddenException,
    404: NotFoundException,
    429: TooManyRequestsException,
}


def exception_class(status: int) -> type[ApiException]:
    """The ``ApiException`` subclass for an HTTP error status."""
    if 500 <= status <= 599:
        return ServiceException
    return _BY_STATUS.get(status, ApiException)


def parse_error(body: str) -> Error | None:
    """The Okta error in an error body, or ``None`` when it holds none."""
    try:
        document = json.loads(body)
        return Error.model_validate(document) if isinstance(document, dict) else None
    except (ValueError, ValidationError):
        return None
