"""The HTTP layer: one pooled ``httpx.Client``, 429 retries, transport errors mapped.

Also re-exports the exceptions, as Okta's generated ``okta.rest`` does, so that the seed's
``from okta.rest import ApiException`` works.
"""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import Callable

import httpx

from okta.configuration import Configuration
from okta.exceptions import (
    ApiConnectionError,
    ApiException,
    ApiTimeoutError,
    ApiValueError,
    BadRequestException,
    ForbiddenException,
    NotFoundException,
    OpenApiException,
    ServiceException,
    TooManyRequestsException,
    UnauthorizedException,
    UnexpectedResponseError,
)
from okta.rate_limit import retry_wait

__all__ = [
    "ApiConnectionError",
    "ApiException",
    "ApiTimeoutError",
    "ApiValueError",
    "BadRequestException",
    "ForbiddenException",
    "NotFoundException",
    "OpenApiException",
    "RESTClient",
    "ServiceException",
    "TooManyRequestsException",
    "UnauthorizedException",
    "UnexpectedResponseError",
]

logger = logging.getLogger("okta")

Sleep = Callable[[float], None]


class RESTClient:
    """Sends requests over a pooled connection; retries 429 answers as configured.

    ``transport`` replaces the network (an ``httpx.MockTransport`` in tests); ``sleep``
    (default ``time.sleep``) waits between retries.
    """

    def __init__(
        self,
        configuration: Configuration,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Sleep | None = None,
    ) -> None:
        self.configuration = configuration
        self._sleep = sleep if sleep is not None else time.sleep
        self._client = httpx.Client(
            verify=ssl_verification(configuration),
            timeout=configuration.timeout,
            proxy=configuration.proxy,
            transport=transport,
            follow_redirects=False,
        )

    def send(self, request: httpx.Request) -> httpx.Response:
        """The answer to ``request``, after waiting out and retrying 429s."""
        retries = 0
        while True:
            response = self._send_once(request)
            wait = self._retry_wait(response, retries)
            if wait is None:
                return response
            logger.info("429 on %s %s; retrying in %.1f s", request.method, request.url, wait)
            self._sleep(wait)
            retries += 1

    def close(self) -> None:
        """Close the pooled connections."""
        self._client.close()

    def _send_once(self, request: httpx.Request) -> httpx.Response:
        where = f"{request.method} {request.url}"
        try:
            return self._client.send(request)
        except httpx.TimeoutException as exc:
            raise ApiTimeoutError(
                f"{where}: timed out ({type(exc).__name__}: {exc})",
                method=request.method,
                url=str(request.url),
            ) from exc
        except httpx.TransportError as exc:
            raise ApiConnectionError(
                f"{where}: cannot reach the server ({type(exc).__name__}: {exc})",
                method=request.method,
                url=str(request.url),
            ) from exc

    def _retry_wait(self, response: httpx.Response, retries: int) -> float | None:
        if response.status_code != 429 or retries >= self.configuration.max_retries:
            return None
        wait = retry_wait(response.headers)
        return wait if wait <= self.configuration.max_retry_wait else None


def ssl_verification(configuration: Configuration) -> ssl.SSLContext | bool:
    """What ``httpx`` should verify TLS with: ``False``, or a context with the CA bundle."""
    if not configuration.verify_ssl:
        return False
    if configuration.ssl_ca_cert:
        context = ssl.create_default_context(cafile=configuration.ssl_ca_cert)
    else:
        context = httpx.create_ssl_context()
    if configuration.cert_file:
        context.load_cert_chain(configuration.cert_file, configuration.key_file)
    return context
