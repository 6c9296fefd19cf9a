"""``JwkUse``: the body of a key rotation, ``{"use": "sig"}``."""

from okta.models._base import OktaModel, OpenEnum
from okta.models.jwk_use_type import JwkUseType

__all__ = ["JwkUse"]


class JwkUse(OktaModel):
    """The body of ``rotate_authorization_server_keys``.

    ``use`` defaults to ``sig``, the only value Okta accepts, so ``JwkUse()`` is
    ``{"use": "sig"}`` (in Okta's generated SDK it would be ``{}``, which draws a 400).
    ``JwkUse(use=None)`` sends ``{}``.
    """

    use: OpenEnum[JwkUseType] | None = JwkUseType.SIG
