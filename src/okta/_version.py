"""The client's version: that of the ``keyrotor-okta-client`` distribution (in a checkout
where only ``keyrotor`` is installed, the same version: both are built from one tree)."""

from importlib.metadata import PackageNotFoundError, version

__all__ = ["__version__"]


def _version() -> str:
    for distribution in ("keyrotor-okta-client", "keyrotor"):
        try:
            return version(distribution)
        except PackageNotFoundError:
            continue
    return "0+unknown"  # pragma: no cover - running from a bare source tree


__version__ = _version()
