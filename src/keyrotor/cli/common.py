"""What every command shares: the database option, opening a store that exists, naming a
server, printing answers (tables, the API's JSON, ``--value``), and turning any failure into
one line without secrets."""

from __future__ import annotations

import json
import os
import re
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from keyrotor.config import (
    DEFAULT_DATABASE_URL,
    Settings,
    load_keks,
    sqlite_path,
)
from keyrotor.errors import KeyrotorError, NotFound, OAuthError
from keyrotor.servers import ORG_SERVER_ID, AuthorizationServer

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

    from keyrotor.service import KeyService

DEBUG_ENV = "KEYROTOR_DEBUG"  # "1": let unexpected errors through with their traceback
PUBLIC_URL_ENV = "KEYROTOR_PUBLIC_URL"
DEFAULT_PUBLIC_URL = "http://127.0.0.1:8080"  # what `serve` listens on by default
URL_FORMS = "sqlite:///relative.db, sqlite:////absolute/path.db or postgresql://user@host:5432/db"
_DATABASE = "keyrotor.database"  # click's ctx.meta: the store this command works on
_VALUES = "keyrotor.values"  # click's ctx.meta: the members --value asked for
F = TypeVar("F", bound=Callable[..., Any])

database_option = click.option(
    "--database",
    envvar="KEYROTOR_DATABASE_URL",
    default=DEFAULT_DATABASE_URL,
    show_default=True,
    help=f"The store: {URL_FORMS} (also KEYROTOR_DATABASE_URL).",
)


def _remember_values(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> None:
    if value:
        ctx.meta[_VALUES] = value


def json_option(command: F) -> F:
    """``--json`` (the API's shape) and ``--value MEMBER`` (plain values, for shell variables)."""
    command = click.option(
        "--value",
        multiple=True,
        metavar="MEMBER",
        expose_value=False,
        callback=_remember_values,
        help="Print only this member of the JSON answer (a.b for nested ones), as plain "
        "text: repeat for several (tab-separated), one line per item of a list.",
    )(command)
    return click.option("--json", "as_json", is_flag=True, help="Print the API's JSON.")(command)


def fail(message: str) -> NoReturn:
    """Stop the command with one line, ``Error: …``, and exit code 1 (no traceback)."""
    raise click.ClickException(one_line(message))


# -- the store -------------------------------------------------------------------------


def database_url(database: str) -> URL | None:
    """The parsed database URL (``None`` for the test-only ``memory://``); anything else is
    refused with the forms keyrotor understands."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    from keyrotor.storage.sql import normalise_url

    remember(database)
    if database.startswith("memory:"):
        return None
    try:
        url = make_url(normalise_url(database))
    except (ArgumentError, ValueError):
        fail(f"database URL not understood: {scrub(database)!r} (use {URL_FORMS})")
    if url.get_backend_name() not in ("sqlite", "postgresql"):
        fail(
            f"database URL not understood: {redact(database)!r}: keyrotor keeps its store in "
            f"SQLite or PostgreSQL (use {URL_FORMS})"
        )
    return url


@dataclass(frozen=True)
class StoreState:
    """What is at a database URL, found without creating anything."""

    where: str  # the path of a SQLite file, else the URL with its password hidden
    exists: bool  # the SQLite file, or the PostgreSQL database (a missing one fails to connect)
    revision: str | None = None  # the schema's migration, None without a keyrotor schema
    servers: int = 0


def probe(database: str) -> StoreState:
    """Look at the store ``database`` names, creating nothing: a missing SQLite file is
    reported (an existing one is read read-only); a PostgreSQL server that cannot be
    reached, or a database that is missing, fails."""
    url = database_url(database)
    if url is None:
        return StoreState(database, exists=False)
    if url.get_backend_name() != "sqlite":
        return _postgres_state(database)
    path = sqlite_path(database)
    if path is None:  # SQLite in memory: made and gone with this process
        return StoreState(redact(database), exists=False)
    from keyrotor.storage.tables import servers

    where = str(path.absolute())
    if not path.exists():
        return StoreState(where, exists=False)
    if not path.is_file():
        fail(f"{where} is not a file: the SQLite store must be one")
    conn = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)
    try:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        revision = None
        if "alembic_version" in tables:
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
            revision = row[0] if row else None
        count = 0
        if revision is not None and servers.name in tables:
            query = f"SELECT count(*) FROM {servers.name} WHERE id != ?"  # noqa: S608
            count = conn.execute(query, (ORG_SERVER_ID,)).fetchone()[0]  # org is hidden
    finally:
        conn.close()
    return StoreState(where, exists=True, revision=revision, servers=int(count))


def _postgres_state(database: str) -> StoreState:
    from sqlalchemy import func, inspect, select

    from keyrotor.storage import migrate
    from keyrotor.storage.sql import make_engine
    from keyrotor.storage.tables import servers

    engine = make_engine(database)
    try:
        revision = migrate.current(engine)
        count = 0
        if revision is not None:
            with engine.connect() as conn:
                if inspect(conn).has_table(servers.name):
                    managed = servers.c.id != ORG_SERVER_ID  # the org server is not listed
                    count = conn.execute(select(func.count()).where(managed)).scalar_one()
    finally:
        engine.dispose()
    return StoreState(redact(database), exists=True, revision=revision, servers=int(count))


def require_store(database: str) -> None:
    """Refuse, creating nothing, a store that does not exist or has no keyrotor schema."""
    from keyrotor.storage import migrate

    state = require_file(database)
    if database_url(database) is None:
        return
    if state.revision is None:
        fail(f"{state.where} has no keyrotor store in it: {_create(database)}")
    if state.revision != migrate.head() and not is_sqlite_url(database):
        fail(
            f"the schema of {state.where} is not up to date: run "
            f"`keyrotor db upgrade --database {redact(database)}` first"
        )


def require_file(database: str) -> StoreState:
    """Refuse a SQLite store whose file is missing (a typo, another directory), creating
    nothing; a PostgreSQL database is only reached."""
    state = probe(database)
    if not state.exists and is_sqlite_url(database) and sqlite_path(database) is not None:
        fail(
            f"no keyrotor store at {state.where}: {_create(database)} (or point --database "
            "or KEYROTOR_DATABASE_URL at the existing store)"
        )
    return state


def _create(database: str) -> str:
    return f"`keyrotor init --database {redact(database)}` creates one"


def is_sqlite_url(database: str) -> bool:
    url = database_url(database)
    return url is not None and url.get_backend_name() == "sqlite"


def remember(database: str) -> None:
    """Note the store this command works on, so that an error about it can name it."""
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        ctx.meta[_DATABASE] = database


def settings_for(database: str, **overrides: Any) -> Settings:
    """Settings for ``database`` with its key-encryption keys (the first seals)."""
    keks = load_keks(database)
    return Settings(
        database_url=database,
        kek=keks.keks[0],
        old_keks=keks.keks[1:],
        kek_source=keks.source,
        **overrides,
    )


def service_at(database: str, **overrides: Any) -> KeyService:
    """The service over the store at ``database``, which must exist (nothing is created:
    neither the store nor a key-encryption key beside it); closed with the command."""
    from keyrotor.runtime import open_service

    require_store(database)
    service = open_service(settings_for(database, **overrides))
    ctx = click.get_current_context(silent=True)
    if ctx is not None:  # closed when the command ends, however it ends
        ctx.call_on_close(service.store.close)
    return service


# -- servers by id or name ------------------------------------------------------------


def every_server(service: KeyService) -> Iterator[AuthorizationServer]:
    """Every server the management API lists, as it lists them (the org server hidden)."""
    after = None
    while True:
        page = service.list_servers(None, 200, after)
        yield from page.servers
        if page.next_after is None:
            return
        after = page.next_after


def server_id_of(service: KeyService, ref: str) -> str:
    """The id of the server ``ref`` names: its id (``org``, the org server the API hides,
    included), or its name where only one server has it."""
    try:
        return service.get_server(ref).id
    except NotFound:
        pass
    known = list(every_server(service))
    named = [s.id for s in known if s.name == ref]
    if len(named) == 1:
        return named[0]
    if named:
        fail(
            f"{len(named)} authorization servers are named {ref!r}: name one by its id "
            f"({', '.join(named)})"
        )
    shown = ", ".join(f"{s.id} ({s.name})" for s in known[:20])
    more = f" and {len(known) - 20} more" if len(known) > 20 else ""
    fail(
        f"{NotFound(ref, 'AuthorizationServer').summary}: no server has this id or name "
        f"(servers: {shown or 'none'}{more})"
    )


# -- output ---------------------------------------------------------------------------


def public_base() -> str:
    """The base URL of the links and issuers in ``--json`` answers: ``KEYROTOR_PUBLIC_URL``
    as ``serve`` takes it, else ``serve``'s default address."""
    return (os.environ.get(PUBLIC_URL_ENV) or DEFAULT_PUBLIC_URL).rstrip("/")


def emit(as_json: bool, answer: Any, text: Callable[[], None] | str) -> None:
    """Print ``answer`` (the API's JSON shape) for ``--json``, the members ``--value`` asked
    for, or else ``text`` (a table printer, or a line)."""
    ctx = click.get_current_context(silent=True)
    members: tuple[str, ...] = ctx.meta.get(_VALUES, ()) if ctx is not None else ()
    if members:
        for item in answer if isinstance(answer, list) else [] if answer is None else [answer]:
            click.echo("\t".join(_member(item, m) for m in members))
    elif as_json:
        click.echo(json.dumps(answer, indent=2, ensure_ascii=False))
    elif isinstance(text, str):
        click.echo(text)
    else:
        text()


def _member(item: Any, path: str) -> str:
    found = item
    for name in path.split("."):
        if not isinstance(found, dict) or name not in found:
            members = ", ".join(item) if isinstance(item, dict) else "none"
            fail(f"--value {path}: the answer has no such member (members: {members})")
        found = found[name]
    if found is None:
        return ""
    return found if isinstance(found, str) else json.dumps(found, ensure_ascii=False)


def print_table(rows: list[dict[str, Any]], columns: list[str]) -> None:
    widths = {c: max([len(c)] + [len(str(r.get(c, ""))) for r in rows]) for c in columns}
    click.echo("  ".join(c.ljust(widths[c]) for c in columns).rstrip())
    for row in rows:
        click.echo("  ".join(str(row.get(c, "")).ljust(widths[c]) for c in columns).rstrip())


# -- errors as one line ---------------------------------------------------------------

_PASSWORD_IN_URL = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^/\s:@]*:)[^@\s]*@")


def scrub(text: str) -> str:
    """``text`` with the password of any URL in it hidden."""
    return _PASSWORD_IN_URL.sub(r"\g<head>***@", text)


def redact(url: str) -> str:
    """A database URL fit to print: its password hidden."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return scrub(url)


def one_line(text: str) -> str:
    return scrub(" ".join(text.split()))


def describe(exc: BaseException, database: str | None = None) -> str:
    """One line saying what went wrong and why, for any exception a command lets out."""
    return one_line(_describe(exc, database))


def current_database(ctx: click.Context) -> str | None:
    """The store the failed command was working on, if it said."""
    found = ctx.meta.get(_DATABASE)
    return found if isinstance(found, str) else None


def _describe(exc: BaseException, database: str | None) -> str:
    from sqlalchemy.exc import ArgumentError, SQLAlchemyError

    cause = _database_cause(exc)
    if cause is not None:
        return _database_problem(cause, database)
    if isinstance(exc, OAuthError):
        return exc.description
    if isinstance(exc, KeyrotorError):
        causes = "; ".join(cause.rstrip(".") for cause in exc.causes)
        return f"{exc.summary}: {causes}" if causes else exc.summary
    if isinstance(exc, ArgumentError):
        where = redact(database) if database else "the database URL"
        return f"database URL not understood: {where} ({exc}; use {URL_FORMS})"
    if isinstance(exc, SQLAlchemyError):
        return f"database error: {exc}"
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror}: {exc.filename}" if exc.filename else exc.strerror
    if isinstance(exc, ValueError) and str(exc):
        return str(exc)
    return f"unexpected {type(exc).__name__}: {exc} (set {DEBUG_ENV}=1 to see where)"


def _database_cause(exc: BaseException) -> BaseException | None:
    """The database driver's error behind ``exc`` (itself, or what it was raised from)."""
    from sqlalchemy.exc import DBAPIError

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, DBAPIError):
            return seen.orig or seen
        if type(seen).__module__.split(".")[0] in ("psycopg", "sqlite3"):
            return seen
        seen = seen.__cause__
    return None


def _database_problem(error: BaseException, database: str | None) -> str:
    """``cannot use the database URL: reason`` with libpq's or SQLite's reason, and a hint."""
    reason = " ".join(str(error).split())
    hint = ""
    if " failed: " in reason:  # libpq: connection to server at "h", port p failed: …
        reason = reason.rsplit(" failed: ", 1)[1]
    reason = reason.removeprefix("FATAL: ").strip()
    if "Connection refused" in reason:
        reason = "connection refused (is the PostgreSQL server running, at that host and port?)"
    elif re.search(r'database ".*" does not exist', reason):
        hint = ": create it (createdb), then run `keyrotor init --database URL`"
    elif "unable to open database file" in reason:
        hint = " (does its directory exist, and may this user write there?)"
    elif "readonly database" in reason:
        hint = " (this user may not write the file or its directory)"
    where = redact(database) if database else "the database"
    return f"cannot use {where}: {reason}{hint}"
