"""``JwkUseType``: what a key is for; Okta accepts only ``sig``."""

from okta.models._base import OktaEnum

__all__ = ["JwkUseType"]


class JwkUseType(OktaEnum):
    """Acceptable use of a JSON Web Key."""

    SIG = "sig"
