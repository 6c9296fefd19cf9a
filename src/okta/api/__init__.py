"""The API classes, one per Okta API tag."""

from okta.api.authorization_server_api import AuthorizationServerApi
from okta.api.authorization_server_keys_api import AuthorizationServerKeysApi

__all__ = ["AuthorizationServerApi", "AuthorizationServerKeysApi"]
