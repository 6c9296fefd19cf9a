"""``AuthorizationServerCredentials``: the ``credentials`` member of a server."""

from okta.models._base import OktaModel
from okta.models.authorization_server_credentials_signing_config import (
    AuthorizationServerCredentialsSigningConfig,
)

__all__ = ["AuthorizationServerCredentials"]


class AuthorizationServerCredentials(OktaModel):
    """The credentials of an authorization server: its signing configuration."""

    signing: AuthorizationServerCredentialsSigningConfig | None = None
