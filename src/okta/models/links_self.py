"""``LinksSelf``: a ``_links`` member holding only ``self``."""

from pydantic import Field

from okta.models._base import OktaModel
from okta.models.href_object import HrefObject

__all__ = ["LinksSelf"]


class LinksSelf(OktaModel):
    """Links of a resource that only links to itself (a key)."""

    var_self: HrefObject | None = Field(default=None, alias="self")
