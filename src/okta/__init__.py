"""A synchronous Python client for Okta's Authorization Server and Keys APIs.

It runs Okta's documented ``AuthorizationServerKeysApi`` example unchanged against a
keyrotor server or Okta itself; see ``help(okta.AuthorizationServerKeysApi)`` and
``docs/client.md``. It needs only ``httpx`` and ``pydantic``.
"""

from okta._version import __version__
from okta.api.authorization_server_api import AuthorizationServerApi
from okta.api.authorization_server_keys_api import AuthorizationServerKeysApi
from okta.api_client import ApiClient
from okta.api_response import ApiResponse
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
from okta.models import (
    AuthorizationServer,
    AuthorizationServerCredentials,
    AuthorizationServerCredentialsRotationMode,
    AuthorizationServerCredentialsSigningConfig,
    AuthorizationServerCredentialsUse,
    AuthorizationServerJsonWebKey,
    AuthServerLinks,
    Error,
    ErrorCause,
    HrefHints,
    HrefObject,
    HttpMethod,
    IssuerMode,
    JwkUse,
    JwkUseType,
    LifecycleStatus,
    LinksSelf,
)

__all__ = [
    "ApiClient",
    "ApiConnectionError",
    "ApiException",
    "ApiResponse",
    "ApiTimeoutError",
    "ApiValueError",
    "AuthServerLinks",
    "AuthorizationServer",
    "AuthorizationServerApi",
    "AuthorizationServerCredentials",
    "AuthorizationServerCredentialsRotationMode",
    "AuthorizationServerCredentialsSigningConfig",
    "AuthorizationServerCredentialsUse",
    "AuthorizationServerJsonWebKey",
    "AuthorizationServerKeysApi",
    "BadRequestException",
    "Configuration",
    "Error",
    "ErrorCause",
    "ForbiddenException",
    "HrefHints",
    "HrefObject",
    "HttpMethod",
    "IssuerMode",
    "JwkUse",
    "JwkUseType",
    "LifecycleStatus",
    "LinksSelf",
    "NotFoundException",
    "OpenApiException",
    "ServiceException",
    "TooManyRequestsException",
    "UnauthorizedException",
    "UnexpectedResponseError",
    "__version__",
]
