"""``HrefObject``: one link of a ``_links`` member."""

from okta.models._base import OktaModel
from okta.models.href_hints import HrefHints

__all__ = ["HrefObject"]


class HrefObject(OktaModel):
    """A link: its URL, and hints about how to use it."""

    name: str | None = None
    href: str
    hints: HrefHints | None = None
    templated: bool | None = None
    type: str | None = None
