"""``AuthorizationServerKeysApi``: list, get and rotate the signing keys of a server."""

from __future__ import annotations

from okta.api_client import ApiClient
from okta.api_response import ApiResponse
from okta.models.authorization_server_json_web_key import AuthorizationServerJsonWebKey
from okta.models.jwk_use import JwkUse

__all__ = ["AuthorizationServerKeysApi"]

KEYS_PATH = "/api/v1/authorizationServers/{auth_server_id}/credentials/keys"
KEY_PATH = KEYS_PATH + "/{key_id}"
ROTATE_PATH = "/api/v1/authorizationServers/{auth_server_id}/credentials/lifecycle/keyRotate"

Keys = list[AuthorizationServerJsonWebKey]


class AuthorizationServerKeysApi:
    """The signing keys of an authorization server (``ACTIVE``, ``NEXT``, ``EXPIRED``).

    Okta's documented usage runs as written, against keyrotor or Okta::

        import os
        import okta
        from okta.models.authorization_server_json_web_key import AuthorizationServerJsonWebKey
        from okta.models.jwk_use import JwkUse
        from okta.rest import ApiException
        from pprint import pprint

        configuration = okta.Configuration(host="https://subdomain.okta.com")
        configuration.api_key['apiToken'] = os.environ["API_KEY"]
        # configuration.api_key_prefix['apiToken'] = 'Bearer'
        configuration.access_token = os.environ["ACCESS_TOKEN"]

        with okta.ApiClient(configuration) as api_client:
            api_instance = okta.AuthorizationServerKeysApi(api_client)
            auth_server_id = 'auth_server_id_example'

            try:
                # List all credential keys
                api_response = api_instance.list_authorization_server_keys(auth_server_id)
                print("The response of AuthorizationServerKeysApi->list_authorization_server_keys:\\n")
                pprint(api_response)
            except Exception as e:
                print("Exception when calling AuthorizationServerKeysApi->list_authorization_server_keys: %s\\n" % e)

            key_id = 'key_id_example'
            try:
                # Retrieve an authorization server key
                api_response = api_instance.get_authorization_server_key(auth_server_id, key_id)
                print("The response of AuthorizationServerKeysApi->get_authorization_server_key:\\n")
                pprint(api_response)
            except Exception as e:
                print("Exception when calling AuthorizationServerKeysApi->get_authorization_server_key: %s\\n" % e)

            use = okta.JwkUse()  # {"use": "sig"}, the only value Okta accepts
            try:
                # Rotate all credential keys
                api_response = api_instance.rotate_authorization_server_keys(auth_server_id, use)
                print("The response of AuthorizationServerKeysApi->rotate_authorization_server_keys:\\n")
                pprint(api_response)
            except Exception as e:
                print("Exception when calling AuthorizationServerKeysApi->rotate_authorization_server_keys: %s\\n" % e)

    ``auth_server_id`` is a server id, or ``default`` for the built-in server; ``key_id`` is
    a key's ``kid``. The API token (``SSWS <token>``) is used when set and non-empty, else
    the access token (``Bearer <token>``), so ``ACCESS_TOKEN`` may be empty. Listing and
    reading need the scope ``okta.authorizationServers.read``, rotating
    ``okta.authorizationServers.manage``. Errors raise :class:`okta.rest.ApiException`
    subclasses: ``NotFoundException`` (404) for an unknown server or key,
    ``BadRequestException`` (400) for a ``use`` other than ``sig``.
    """  # noqa: E501

    def __init__(self, api_client: ApiClient) -> None:
        self.api_client = api_client

    def list_authorization_server_keys(self, auth_server_id: str) -> Keys:
        """The keys of the server ``auth_server_id`` (``default`` for the built-in one)."""
        return self.list_authorization_server_keys_with_http_info(auth_server_id).data

    def list_authorization_server_keys_with_http_info(
        self, auth_server_id: str
    ) -> ApiResponse[Keys]:
        """``GET …/credentials/keys``: the keys, with the HTTP status and headers."""
        return self.api_client.call_api(
            "GET", KEYS_PATH, Keys, path_params={"auth_server_id": auth_server_id}
        )

    def get_authorization_server_key(
        self, auth_server_id: str, key_id: str
    ) -> AuthorizationServerJsonWebKey:
        """The key whose ``kid`` is ``key_id``."""
        return self.get_authorization_server_key_with_http_info(auth_server_id, key_id).data

    def get_authorization_server_key_with_http_info(
        self, auth_server_id: str, key_id: str
    ) -> ApiResponse[AuthorizationServerJsonWebKey]:
        """``GET …/credentials/keys/{key_id}``: the key, with the HTTP status and headers."""
        return self.api_client.call_api(
            "GET",
            KEY_PATH,
            AuthorizationServerJsonWebKey,
            path_params={"auth_server_id": auth_server_id, "key_id": key_id},
        )

    def rotate_authorization_server_keys(
        self, auth_server_id: str, use: JwkUse | None = None
    ) -> Keys:
        """Rotate: ACTIVE → EXPIRED, NEXT → ACTIVE, a new NEXT. Returns the keys after it.

        ``use`` defaults to ``JwkUse()``, i.e. ``{"use": "sig"}``.
        """
        return self.rotate_authorization_server_keys_with_http_info(auth_server_id, use).data

    def rotate_authorization_server_keys_with_http_info(
        self, auth_server_id: str, use: JwkUse | None = None
    ) -> ApiResponse[Keys]:
        """``POST …/credentials/lifecycle/keyRotate``: the keys, with status and headers."""
        return self.api_client.call_api(
            "POST",
            ROTATE_PATH,
            Keys,
            path_params={"auth_server_id": auth_server_id},
            body=use if use is not None else JwkUse(),
        )
