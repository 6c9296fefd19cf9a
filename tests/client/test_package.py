"""The package's surface: a complete __all__, the seed's names, pydoc, and its dependencies."""

from __future__ import annotations

import ast
import importlib
import json
import pkgutil
import pydoc
import subprocess
import sys
import types
from pathlib import Path

import pytest

import okta
import okta.api
import okta.models

SEED_NAMES = [
    "Configuration",
    "ApiClient",
    "AuthorizationServerKeysApi",
    "AuthorizationServerApi",
    "JwkUse",
    "AuthorizationServerJsonWebKey",
]


def public_names(module: types.ModuleType) -> set[str]:
    """Names a module defines or imports that are neither private nor submodules."""
    return {
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and not isinstance(value, types.ModuleType)
        and name not in {"annotations"}
    }


@pytest.mark.parametrize("module", [okta, okta.models, okta.api])
def test_all_is_complete(module: types.ModuleType) -> None:
    """__all__ lists every public name of the package, and only names that exist."""
    assert set(module.__all__) - {"__version__"} == public_names(module)
    assert all(hasattr(module, name) for name in module.__all__)
    assert sorted(module.__all__, key=str.lower) == sorted(module.__all__, key=str.lower)


def test_every_model_and_api_is_exported_at_the_top() -> None:
    """okta.X works for each model and Api class, and for every name the seed uses."""
    for package in (okta.models, okta.api):
        for name in package.__all__:
            assert name in okta.__all__ and getattr(okta, name) is getattr(package, name)
    assert set(SEED_NAMES) <= set(okta.__all__)


def test_the_seed_imports_work() -> None:
    """The seed's import lines resolve to the same classes as okta.X."""
    from okta.models.authorization_server_json_web_key import AuthorizationServerJsonWebKey
    from okta.models.jwk_use import JwkUse
    from okta.models.jwk_use_type import JwkUseType
    from okta.rest import ApiException

    assert AuthorizationServerJsonWebKey is okta.AuthorizationServerJsonWebKey
    assert JwkUse is okta.JwkUse and JwkUseType.SIG.value == "sig"
    assert ApiException is okta.ApiException


def test_every_module_has_a_curated_all() -> None:
    """Every module of the package declares __all__, and its names exist."""
    for info in pkgutil.walk_packages(okta.__path__, "okta."):
        module = importlib.import_module(info.name)
        assert hasattr(module, "__all__"), info.name
        assert all(hasattr(module, name) for name in module.__all__), info.name


SERVER_SIDE = {
    "keyrotor",
    "starlette",
    "sqlalchemy",
    "uvicorn",
    "alembic",
    "psycopg",
    "joserfc",
    "cryptography",
}
CLIENT_DEPENDENCIES = {"okta", "httpx", "pydantic"}
PYDANTIC_DEPENDENCIES = {
    "pydantic_core",
    "annotated_types",
    "typing_extensions",
    "typing_inspection",
}


def modules_loaded_by(script: str) -> set[str]:
    """The top-level names of sys.modules after running ``script`` in a fresh interpreter."""
    script += "; import json, sys; print(json.dumps(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    return {name.split(".")[0] for name in json.loads(result.stdout)}


def test_importing_the_client_loads_no_server_code() -> None:
    """`import okta` in a fresh interpreter loads neither keyrotor nor a server dependency."""
    assert not modules_loaded_by("import okta") & SERVER_SIDE


def test_the_client_adds_only_stdlib_modules_to_httpx_and_pydantic() -> None:
    """Beyond what httpx and pydantic load, okta loads only itself, stdlib and pydantic's own.

    (httpx loads its optional command line, click/pygments/rich, when they are installed:
    that is httpx's doing, so it is measured away here.)
    """
    before = modules_loaded_by("import httpx, pydantic")
    added = modules_loaded_by("import httpx, pydantic, okta") - before
    added -= set(sys.stdlib_module_names) | PYDANTIC_DEPENDENCIES
    assert {name for name in added if not name.startswith("_sysconfigdata")} == {"okta"}


def test_the_sources_import_only_stdlib_httpx_and_pydantic() -> None:
    """Every import statement in src/okta names the stdlib, httpx, pydantic or okta itself."""
    allowed = set(sys.stdlib_module_names) | CLIENT_DEPENDENCIES
    for path in Path(okta.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                assert name.split(".")[0] in allowed, f"{path}: imports {name}"


def test_pydoc_shows_the_seed_example() -> None:
    """`pydoc okta.AuthorizationServerKeysApi` shows the documented usage and every method."""
    text = pydoc.render_doc(okta.AuthorizationServerKeysApi, renderer=getattr(pydoc, "plaintext"))
    for line in [
        'configuration = okta.Configuration(host="https://subdomain.okta.com")',
        "configuration.api_key['apiToken'] = os.environ[\"API_KEY\"]",
        'configuration.access_token = os.environ["ACCESS_TOKEN"]',
        "with okta.ApiClient(configuration) as api_client:",
        "api_instance.list_authorization_server_keys(auth_server_id)",
        "api_instance.get_authorization_server_key(auth_server_id, key_id)",
        "use = okta.JwkUse()",
        "api_instance.rotate_authorization_server_keys(auth_server_id, use)",
        "list_authorization_server_keys_with_http_info(",
    ]:
        assert line in text


def test_pydoc_runs_as_a_command() -> None:
    """The `pydoc` command itself renders the class (what a user types)."""
    result = subprocess.run(
        [sys.executable, "-m", "pydoc", "okta.AuthorizationServerKeysApi"],
        capture_output=True,
        text=True,
        check=True,
        env={"PAGER": "cat", "PATH": ""},
    )
    assert "okta.JwkUse()" in result.stdout


@pytest.mark.parametrize("api", [okta.AuthorizationServerKeysApi, okta.AuthorizationServerApi])
def test_every_call_has_a_with_http_info_variant(api: type) -> None:
    """Each operation also exists as …_with_http_info (iteration helpers excepted)."""
    operations = [
        name
        for name in vars(api)
        if not name.startswith(("_", "iter_")) and not name.endswith("_with_http_info")
    ]
    assert len(operations) in (3, 7)
    for name in operations:
        assert callable(getattr(api, f"{name}_with_http_info"))
