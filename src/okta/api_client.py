"""``ApiClient``: turns calls into HTTP requests and answers into models or exceptions."""

from __future__ import annotations

import json
import platform
from types import TracebackType
from typing import Any, TypeVar, overload
from urllib.parse import quote

import httpx
from pydantic import TypeAdapter, ValidationError

from okta._version import __version__
from okta.api_response import ApiResponse
from okta.configuration import Configuration
from okta.exceptions import ApiException, ApiValueError, UnexpectedResponseError
from okta.models._base import OktaModel
from okta.rest import RESTClient, Sleep

__all__ = ["USER_AGENT", "ApiClient"]

T = TypeVar("T")

USER_AGENT = f"keyrotor-okta-client/{__version__} python/{platform.python_version()}"

QueryValue = str | int | None


class ApiClient:
    """A connection pool to one server, with its configuration. Use it in ``with``::

        with okta.ApiClient(configuration) as api_client:
            keys = okta.AuthorizationServerKeysApi(api_client).list_authorization_server_keys(
                "default"
            )

    Every request sends ``Accept: application/json`` and ``User-Agent:
    keyrotor-okta-client/<version> python/<version>``; requests with a body send
    ``Content-Type: application/json``. The ``Authorization`` header is computed from the
    configuration at each request (see :class:`~okta.Configuration`).

    For tests: ``transport`` replaces the network (e.g. ``httpx.MockTransport``), and
    ``sleep`` replaces ``time.sleep`` for the waits between 429 retries.
    """

    def __init__(
        self,
        configuration: Configuration | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Sleep | None = None,
    ) -> None:
        self.configuration = configuration if configuration is not None else Configuration()
        self.default_headers: dict[str, str] = {
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }
        self.rest_client = RESTClient(self.configuration, transport=transport, sleep=sleep)

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the pooled connections."""
        self.rest_client.close()

    @property
    def user_agent(self) -> str:
        """The ``User-Agent`` header sent with every request."""
        return self.default_headers["User-Agent"]

    @user_agent.setter
    def user_agent(self, value: str) -> None:
        self.default_headers["User-Agent"] = value

    def set_default_header(self, name: str, value: str) -> None:
        """Send ``name: value`` with every request."""
        self.default_headers[name] = value

    @overload
    def call_api(
        self,
        method: str,
        path: str,
        response_type: type[T],
        *,
        path_params: dict[str, str] | None = None,
        query: dict[str, QueryValue] | None = None,
        body: OktaModel | None = None,
    ) -> ApiResponse[T]: ...

    @overload
    def call_api(
        self,
        method: str,
        path: str,
        response_type: None = None,
        *,
        path_params: dict[str, str] | None = None,
        query: dict[str, QueryValue] | None = None,
        body: OktaModel | None = None,
    ) -> ApiResponse[None]: ...

    def call_api(
        self,
        method: str,
        path: str,
        response_type: type[Any] | None = None,
        *,
        path_params: dict[str, str] | None = None,
        query: dict[str, QueryValue] | None = None,
        body: OktaModel | None = None,
    ) -> ApiResponse[Any]:
        """Send ``method path`` and return the answer, its body parsed as ``response_type``.

        ``path`` is a template (``/api/v1/authorizationServers/{auth_server_id}``) or an
        absolute URL (a ``Link`` to follow: only its path and query are used, sent to the
        configured host, so credentials never go to another host). Raises an
        :class:`~okta.exceptions.ApiException` subclass for an error status.
        """
        request = self.build_request(method, self.url_for(path, path_params or {}), query, body)
        response = self.rest_client.send(request)
        return self.to_api_response(response, response_type)

    def url_for(self, path: str, path_params: dict[str, str]) -> httpx.URL:
        """The absolute URL of a path template (or of a link) on the configured host."""
        for name, value in path_params.items():
            if not isinstance(value, str) or not value:
                raise ApiValueError(f"Missing the required parameter `{name}`")
        base = self.base_url()
        if "://" in path:
            return base.copy_with(raw_path=_parse_url(path).raw_path)
        quoted = {name: _segment(value) for name, value in path_params.items()}
        return _parse_url(self.configuration.base_url + path.format(**quoted))

    def base_url(self) -> httpx.URL:
        """The configured host as a URL; ``ApiValueError`` unless it is an http(s) URL."""
        url = _parse_url(self.configuration.base_url)
        if url.scheme not in ("http", "https") or not url.host:
            raise ApiValueError(
                f"host must be an http:// or https:// URL, not {self.configuration.host!r}"
            )
        return url

    def build_request(
        self,
        method: str,
        url: httpx.URL,
        query: dict[str, QueryValue] | None = None,
        body: OktaModel | None = None,
    ) -> httpx.Request:
        """The request with the default, content and ``Authorization`` headers."""
        headers = dict(self.default_headers)
        authorization = self.configuration.authorization()
        if authorization:
            headers["Authorization"] = authorization
        content = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            content = json.dumps(body.to_dict(exclude_read_only=True), separators=(",", ":"))
        params = {name: str(value) for name, value in (query or {}).items() if value is not None}
        return httpx.Request(method, url, params=params or None, headers=headers, content=content)

    def to_api_response(
        self, response: httpx.Response, response_type: type[Any] | None
    ) -> ApiResponse[Any]:
        """The ``ApiResponse`` of a success answer; raises for an error answer."""
        if not response.is_success:
            raise ApiException.from_response(
                response.status_code, response.reason_phrase, response.headers, response.text
            )
        data = None if response_type is None else deserialize(response, response_type)
        return ApiResponse(
            status_code=response.status_code,
            headers=response.headers,
            data=data,
            raw_data=response.content,
        )


def _segment(value: str) -> str:
    """``value`` as one path segment: ``/``, ``?`` … escaped, and ``.``/``..`` kept literal."""
    segment = quote(value, safe="")
    return segment.replace(".", "%2E") if value in {".", ".."} else segment


def _parse_url(url: str) -> httpx.URL:
    try:
        return httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise ApiValueError(f"invalid URL {url!r}: {exc}") from exc


def deserialize(response: httpx.Response, response_type: type[T]) -> T:
    """The body of a success answer as ``response_type`` (a model or a list of models)."""
    try:
        data: T = _adapter(response_type).validate_json(response.content)
    except ValidationError as exc:
        raise UnexpectedResponseError(
            f"{response.request.method} {response.request.url} answered {response.status_code}"
            f" with a body that is not {_type_name(response_type)}: {exc}",
            status=response.status_code,
            body=response.content,
        ) from exc
    return data


_ADAPTERS: dict[Any, TypeAdapter[Any]] = {}


def _adapter(response_type: Any) -> TypeAdapter[Any]:
    """A validator for ``response_type``, built once (building one takes milliseconds)."""
    if response_type not in _ADAPTERS:
        _ADAPTERS[response_type] = TypeAdapter(response_type)
    return _ADAPTERS[response_type]


def _type_name(response_type: type[Any]) -> str:
    return response_type.__name__ if isinstance(response_type, type) else str(response_type)
