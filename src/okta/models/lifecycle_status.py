"""``LifecycleStatus``: whether a resource is active."""

from okta.models._base import OktaEnum

__all__ = ["LifecycleStatus"]


class LifecycleStatus(OktaEnum):
    """``ACTIVE`` or ``INACTIVE``."""

    ACTIVE = "ACTIVE"
    INACTIVE = "INACTIVE"
