"""Schema migrations with Alembic, run programmatically on an open engine."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Engine

from keyrotor.storage.watchdog import exempt

_SCRIPTS = Path(__file__).with_name("migrations")
# one upgrade at a time per PostgreSQL database, however many replicas start at once
_ADVISORY_LOCK = 0x6B6579726F746F72  # "keyrotor"


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(_SCRIPTS))
    return config


def head() -> str | None:
    return ScriptDirectory.from_config(_config()).get_current_head()


def current(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest revision (idempotent; safe to run from many places).

    The whole upgrade is one transaction that first takes the database's write lock: a
    transaction-scoped advisory lock in PostgreSQL (DDL is transactional there, so the
    next replica waits, then finds the schema current), ``BEGIN IMMEDIATE`` in SQLite.
    """
    config = _config()
    with engine.connect() as conn:
        conn = conn.execution_options(keyrotor_write=True)  # sql.py: BEGIN IMMEDIATE
        with conn.begin():
            if conn.dialect.name == "postgresql":
                exempt(conn)  # no deadline: a migration, or the wait for one, may be long
                conn.execute(text("SET LOCAL statement_timeout = 0"))
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_LOCK})
            config.attributes["connection"] = conn
            command.upgrade(config, "head")


def is_current(engine: Engine) -> bool:
    return current(engine) == head()
