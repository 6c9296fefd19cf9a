"""``HrefHints``: what a link allows."""

from okta.models._base import OktaModel, OpenEnum
from okta.models.http_method import HttpMethod

__all__ = ["HrefHints"]


class HrefHints(OktaModel):
    """Hints about a link: the HTTP methods it allows."""

    allow: list[OpenEnum[HttpMethod]] | None = None
