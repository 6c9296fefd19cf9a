"""The pytest plugin: ``keyrotor_server`` and ``keyrotor`` (entry point ``pytest11``).

- ``keyrotor_server`` (session): a real ``keyrotor serve --test-mode`` on a free loopback
  port with a store in a temporary folder, stopped at the end of the session.
- ``keyrotor`` (function): the same server, reset first (the store as it was when the
  session's server was ready, the clock at real time, no faults; a few milliseconds).

The ini option ``keyrotor_serve_args`` adds ``keyrotor serve`` options, e.g.
``keyrotor_serve_args = --token-lifetime 300 --next-key-lead-days 7``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Final

import pytest

if TYPE_CHECKING:
    from keyrotor.testing.server import KeyrotorServer


_ARGS: Final = "args"  # a name, not a literal: mypy reads a bare "args" here as a type form


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        "keyrotor_serve_args",
        type=_ARGS,
        default=[],
        help="more `keyrotor serve` options for the keyrotor_server fixture",
    )


@pytest.fixture(scope="session")
def keyrotor_server(
    tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config
) -> Iterator[KeyrotorServer]:
    """A real ``keyrotor serve --test-mode`` shared by the session (see ``KeyrotorServer``)."""
    from keyrotor.testing.server import KeyrotorServer

    args = pytestconfig.getini("keyrotor_serve_args")
    server = KeyrotorServer.start(tmp_path_factory.mktemp("keyrotor"), args=args)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def keyrotor(keyrotor_server: KeyrotorServer) -> KeyrotorServer:
    """The session's server, reset to a fresh store for this test."""
    keyrotor_server.reset()
    return keyrotor_server
