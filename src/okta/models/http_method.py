"""``HttpMethod``: the methods a link's ``hints.allow`` names."""

from okta.models._base import OktaEnum

__all__ = ["HttpMethod"]


class HttpMethod(OktaEnum):
    """An HTTP method a link allows."""

    DELETE = "DELETE"
    GET = "GET"
    POST = "POST"
    PUT = "PUT"
