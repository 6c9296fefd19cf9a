"""``IssuerMode``: which base URL a server's ``issuer`` uses."""

from okta.models._base import OktaEnum

__all__ = ["IssuerMode"]


class IssuerMode(OktaEnum):
    """The issuer's base: the org URL, a custom domain, or whichever the request used."""

    CUSTOM_URL = "CUSTOM_URL"
    DYNAMIC = "DYNAMIC"
    ORG_URL = "ORG_URL"
