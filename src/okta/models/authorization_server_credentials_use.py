"""``AuthorizationServerCredentialsUse``: what the signing credentials are for."""

from okta.models._base import OktaEnum

__all__ = ["AuthorizationServerCredentialsUse"]


class AuthorizationServerCredentialsUse(OktaEnum):
    """How the key is used; only ``sig``."""

    SIG = "sig"
