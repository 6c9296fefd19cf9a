"""``AuthorizationServerCredentialsSigningConfig``: the signing key and its rotation."""

from typing import ClassVar

from pydantic import Field

from okta.models._base import OktaDateTime, OktaModel, OpenEnum
from okta.models.authorization_server_credentials_rotation_mode import (
    AuthorizationServerCredentialsRotationMode,
)
from okta.models.authorization_server_credentials_use import AuthorizationServerCredentialsUse

__all__ = ["AuthorizationServerCredentialsSigningConfig"]


class AuthorizationServerCredentialsSigningConfig(OktaModel):
    """The ``credentials.signing`` member: rotation mode and schedule, and the active kid.

    ``next_rotation`` is absent in ``MANUAL`` mode.
    """

    read_only_members: ClassVar[frozenset[str]] = frozenset({"kid", "lastRotated", "nextRotation"})

    rotation_mode: OpenEnum[AuthorizationServerCredentialsRotationMode] | None = Field(
        default=None, alias="rotationMode"
    )
    last_rotated: OktaDateTime | None = Field(default=None, alias="lastRotated")
    next_rotation: OktaDateTime | None = Field(default=None, alias="nextRotation")
    kid: str | None = None
    use: OpenEnum[AuthorizationServerCredentialsUse] | None = None
