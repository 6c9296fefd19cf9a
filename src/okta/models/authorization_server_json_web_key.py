"""``AuthorizationServerJsonWebKey``: one signing key of an authorization server."""

from typing import ClassVar

from okta.models._base import OktaModel, json_member
from okta.models.links_self import LinksSelf

__all__ = ["AuthorizationServerJsonWebKey"]


class AuthorizationServerJsonWebKey(OktaModel):
    """A public signing key and its status (``ACTIVE``, ``NEXT`` or ``EXPIRED``).

    Attributes are in the order Okta writes them: ``kty, status, alg, kid, use, _links, e, n``.
    """

    read_only_members: ClassVar[frozenset[str]] = frozenset({"_links"})

    kty: str | None = None
    status: str | None = None
    alg: str | None = None
    kid: str | None = None
    use: str | None = None
    links: LinksSelf | None = json_member("_links")
    e: str | None = None
    n: str | None = None
