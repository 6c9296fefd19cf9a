"""``AuthorizationServerCredentialsSigningConfig``: the signing key and its rotation."""

from typing import ClassVar

from okta.models._base import OktaDateTime, OktaModel, OpenEnum, json_member
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

    rotation_mode: OpenEnum[AuthorizationServerCredentialsRotationMode] | None = json_member(
        "rotationMode"
    )
    last_rotated: OktaDateTime | None = json_member("lastRotated")
    next_rotation: OktaDateTime | None = json_member("nextRotation")
    kid: str | None = None
    use: OpenEnum[AuthorizationServerCredentialsUse] | None = None
