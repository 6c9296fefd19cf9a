"""Two distributions from one tree: the server's wheel leaves ``okta`` out (it would shadow
Okta's SDK), the client's holds only ``okta`` and needs only httpx and pydantic, and both
carry the licence ``pyproject.toml`` names. ``scripts/check-packages`` builds and installs
them for real (CI)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).parents[2]


def _project(path: Path) -> dict[str, Any]:
    return tomllib.loads(path.read_text())


def test_the_server_wheel_has_no_okta() -> None:
    server = _project(ROOT / "pyproject.toml")
    assert server["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"] == ["src/keyrotor"]


def test_the_client_wheel_is_okta_alone() -> None:
    client = _project(ROOT / "clients" / "okta" / "pyproject.toml")
    assert client["project"]["name"] == "keyrotor-okta-client"
    wheel = client["tool"]["hatch"]["build"]["targets"]["wheel"]
    assert wheel["force-include"] == {"../../src/okta": "okta"}
    names = {
        dep.split(">")[0].split("=")[0].split("<")[0] for dep in client["project"]["dependencies"]
    }
    assert names == {"httpx", "pydantic"}
    assert client["tool"]["hatch"]["version"]["path"] == "../../src/keyrotor/__init__.py"


def test_both_carry_the_apache_licence() -> None:
    text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    for path in (ROOT / "pyproject.toml", ROOT / "clients" / "okta" / "pyproject.toml"):
        assert _project(path)["project"]["license"] == "Apache-2.0"
    assert (ROOT / "clients" / "okta" / "LICENSE").read_text() == text
