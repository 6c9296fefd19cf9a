"""``AuthServerLinks``: the ``_links`` of an authorization server."""

from okta.models._base import OktaModel, json_member
from okta.models.href_object import HrefObject

__all__ = ["AuthServerLinks"]


class AuthServerLinks(OktaModel):
    """Links of an authorization server; ``activate`` or ``deactivate`` by status."""

    rotate_key: HrefObject | None = json_member("rotateKey")
    metadata: list[HrefObject] | None = None
    keys: HrefObject | None = None
    var_self: HrefObject | None = json_member("self")
    activate: HrefObject | None = None
    deactivate: HrefObject | None = None
    claims: HrefObject | None = None
    policies: HrefObject | None = None
    scopes: HrefObject | None = None
