"""``AuthorizationServerCredentialsRotationMode``: who rotates the keys."""

from okta.models._base import OktaEnum

__all__ = ["AuthorizationServerCredentialsRotationMode"]


class AuthorizationServerCredentialsRotationMode(OktaEnum):
    """``AUTO``: the server rotates every 90 days; ``MANUAL``: only when asked."""

    AUTO = "AUTO"
    MANUAL = "MANUAL"
