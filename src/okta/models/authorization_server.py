"""``AuthorizationServer``: a custom authorization server."""

from typing import ClassVar

from okta.models._base import OktaDateTime, OktaModel, OpenEnum, json_member
from okta.models.auth_server_links import AuthServerLinks
from okta.models.authorization_server_credentials import AuthorizationServerCredentials
from okta.models.issuer_mode import IssuerMode
from okta.models.lifecycle_status import LifecycleStatus

__all__ = ["AuthorizationServer"]


class AuthorizationServer(OktaModel):
    """An authorization server. Creating one needs ``name`` and ``audiences``.

    ``id``, ``issuer``, ``status``, ``created``, ``last_updated`` and ``links`` are set by
    the server and are not sent on create or replace.
    """

    read_only_members: ClassVar[frozenset[str]] = frozenset(
        {"id", "issuer", "status", "created", "lastUpdated", "_links"}
    )

    id: str | None = None
    name: str | None = None
    description: str | None = None
    audiences: list[str] | None = None
    issuer: str | None = None
    issuer_mode: OpenEnum[IssuerMode] | None = json_member("issuerMode")
    status: OpenEnum[LifecycleStatus] | None = None
    created: OktaDateTime | None = None
    last_updated: OktaDateTime | None = json_member("lastUpdated")
    credentials: AuthorizationServerCredentials | None = None
    links: AuthServerLinks | None = json_member("_links")
