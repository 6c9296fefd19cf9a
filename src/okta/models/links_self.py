"""``LinksSelf``: a ``_links`` member holding only ``self``."""

from okta.models._base import OktaModel, json_member
from okta.models.href_object import HrefObject

__all__ = ["LinksSelf"]


class LinksSelf(OktaModel):
    """Links of a resource that only links to itself (a key)."""

    var_self: HrefObject | None = json_member("self")
