"""Wiring: from ``Settings`` to an opened store and a ready ``KeyService``."""

from __future__ import annotations

from keyrotor import keks
from keyrotor.clock import Clock, system_clock
from keyrotor.config import ConfigError, Settings, is_sqlite
from keyrotor.crypto import KeyFactory, Sealer
from keyrotor.service import KeyService
from keyrotor.storage import open_store
from keyrotor.storage.sql import SqlStore


def open_service(
    settings: Settings, *, clock: Clock = system_clock, migrate: bool | None = None
) -> KeyService:
    """Open the store named by ``settings.database_url``, check that its KEKs open the
    stored keys (before anything is written, the schema included), and check its schema.

    ``migrate=None`` (the default) upgrades an embedded SQLite store by itself and refuses
    a PostgreSQL database whose schema is behind (``keyrotor db upgrade`` first).
    """
    factory = KeyFactory(Sealer(settings.kek, *settings.old_keks), settings.key_size)
    store = open_store(settings.database_url)
    try:
        keks.check(store, factory.sealer, settings.kek_source)
        if isinstance(store, SqlStore):
            if migrate or (migrate is None and is_sqlite(settings.database_url)):
                store.migrate()
            elif not store.is_migrated():
                raise ConfigError(
                    "the database schema is not up to date: run "
                    "`keyrotor db upgrade --database URL` first"
                )
    except BaseException:
        store.close()
        raise
    service = KeyService(
        store, factory, settings.policy, clock=clock, jwks_max_age=settings.jwks_max_age
    )
    service.rotation_notice = settings.rotation_notice  # keyrotor.notices, in each sweep
    return service
