"""The JSON objects of the Authorization Server APIs, one module each, as Okta names them."""

from okta.models.auth_server_links import AuthServerLinks
from okta.models.authorization_server import AuthorizationServer
from okta.models.authorization_server_credentials import AuthorizationServerCredentials
from okta.models.authorization_server_credentials_rotation_mode import (
    AuthorizationServerCredentialsRotationMode,
)
from okta.models.authorization_server_credentials_signing_config import (
    AuthorizationServerCredentialsSigningConfig,
)
from okta.models.authorization_server_credentials_use import AuthorizationServerCredentialsUse
from okta.models.authorization_server_json_web_key import AuthorizationServerJsonWebKey
from okta.models.error import Error
from okta.models.error_cause import ErrorCause
from okta.models.href_hints import HrefHints
from okta.models.href_object import HrefObject
from okta.models.http_method import HttpMethod
from okta.models.issuer_mode import IssuerMode
from okta.models.jwk_use import JwkUse
from okta.models.jwk_use_type import JwkUseType
from okta.models.lifecycle_status import LifecycleStatus
from okta.models.links_self import LinksSelf

__all__ = [
    "AuthServerLinks",
    "AuthorizationServer",
    "AuthorizationServerCredentials",
    "AuthorizationServerCredentialsRotationMode",
    "AuthorizationServerCredentialsSigningConfig",
    "AuthorizationServerCredentialsUse",
    "AuthorizationServerJsonWebKey",
    "Error",
    "ErrorCause",
    "HrefHints",
    "HrefObject",
    "HttpMethod",
    "IssuerMode",
    "JwkUse",
    "JwkUseType",
    "LifecycleStatus",
    "LinksSelf",
]
