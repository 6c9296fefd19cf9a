"""keyrotor as a test double: a real ``keyrotor serve --test-mode`` in anyone's test suite.

``keyrotor.testing.plugin`` is a pytest plugin (loaded by the ``pytest11`` entry point):
the fixtures ``keyrotor_server`` (one server for the session) and ``keyrotor`` (that
server reset to a fresh store for one test). ``KeyrotorServer`` is the object they give;
``docs/testing-your-resource-server.md`` shows them at work.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from keyrotor.testing.server import KeyrotorServer, KeyrotorTestError

__all__ = ["KeyrotorServer", "KeyrotorTestError"]


def __getattr__(name: str) -> Any:
    """Imported when first asked for: pytest loads the plugin in every session, and a
    session that uses no fixture of it should not pay for the HTTP clients."""
    if name in __all__:
        from keyrotor.testing import server

        return getattr(server, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
