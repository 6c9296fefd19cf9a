"""What every command shares: the database option, opening the store, printing tables."""

from __future__ import annotations

import json
from typing import Any, NoReturn

import click

from keyrotor.config import (
    DEFAULT_DATABASE_URL,
    Settings,
    load_kek,
)
from keyrotor.service import KeyService

database_option = click.option(
    "--database",
    envvar="KEYROTOR_DATABASE_URL",
    default=DEFAULT_DATABASE_URL,
    show_default=True,
    help="sqlite:///relative.db, sqlite:////absolute.db or postgresql://user@host/db",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


def settings_for(database: str, **overrides: Any) -> Settings:
    return Settings(database_url=database, kek=load_kek(database), **overrides)


def service_at(database: str, **overrides: Any) -> KeyService:
    from keyrotor.runtime import open_service

    service = open_service(settings_for(database, **overrides))
    service.ensure_default()
    return service


def fail(message: str) -> NoReturn:
    """Stop the command with a message and exit code 1 (no traceback)."""
    raise click.ClickException(message)


def redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def print_rows(as_json: bool, rows: list[dict[str, Any]], columns: list[str]) -> None:
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    widths = {c: max([len(c)] + [len(str(r.get(c, ""))) for r in rows]) for c in columns}
    click.echo("  ".join(c.ljust(widths[c]) for c in columns).rstrip())
    for row in rows:
        click.echo("  ".join(str(row.get(c, "")).ljust(widths[c]) for c in columns).rstrip())
