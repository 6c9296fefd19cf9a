"""The schema, as SQLAlchemy Core tables. Alembic migrations under ``migrations/`` create it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.dialects.postgresql import BIGINT
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on every backend."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if not isinstance(value, datetime):
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData()

servers = Table(
    "auth_servers",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("id", String(64), nullable=False, unique=True),
    Column("name", String(255), nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    Column("audiences", Text, nullable=False),
    Column("issuer_mode", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("rotation_mode", String(16), nullable=False),
    Column("kid", String(64), nullable=False),
    Column("last_rotated", UTCDateTime, nullable=False),
    Column("next_rotation", UTCDateTime),
    Column("created", UTCDateTime, nullable=False),
    Column("last_updated", UTCDateTime, nullable=False),
    Column("version", Integer, nullable=False, server_default="0"),
    # migration 0010: accessTokenEncryptedResponseAlgorithm (NULL: tokens are not encrypted)
    Column("token_encryption", String(32)),
)

signing_keys = Table(
    "signing_keys",
    metadata,
    Column("kid", String(64), primary_key=True),
    Column(
        "server_id",
        String(64),
        ForeignKey("auth_servers.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("status", String(16), nullable=False),
    Column("n", Text, nullable=False),
    Column("e", String(16), nullable=False),
    Column("sealed_private", LargeBinary, nullable=False),
    Column("generation", Integer, nullable=False),
    Column("created", UTCDateTime, nullable=False),
    Column("activated", UTCDateTime),
    Column("expired", UTCDateTime),
    Index("ix_signing_keys_server", "server_id"),
    # the invariant, enforced by the database too: one ACTIVE and at most one NEXT per server
    Index(
        "ux_signing_keys_one_active",
        "server_id",
        unique=True,
        sqlite_where=text("status = 'ACTIVE'"),
        postgresql_where=text("status = 'ACTIVE'"),
    ),
    Index(
        "ux_signing_keys_one_next",
        "server_id",
        unique=True,
        sqlite_where=text("status = 'NEXT'"),
        postgresql_where=text("status = 'NEXT'"),
    ),
)

# migration 0010: the resource servers' public encryption keys (access-token encryption)
encryption_keys = Table(
    "encryption_keys",
    metadata,
    Column("id", String(32), primary_key=True),
    Column(
        "server_id",
        String(64),
        ForeignKey("auth_servers.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("kid", String(255), nullable=False),
    Column("status", String(16), nullable=False),
    Column("n", Text, nullable=False),
    Column("e", String(16), nullable=False),
    Column("created", UTCDateTime, nullable=False),
    Column("last_updated", UTCDateTime, nullable=False),
    Column("position", Integer, nullable=False),  # per server, in the order added
    UniqueConstraint("server_id", "kid", name="ux_encryption_keys_server_kid"),
    # one ACTIVE key per server, enforced by the database too
    Index(
        "ux_encryption_keys_one_active",
        "server_id",
        unique=True,
        sqlite_where=text("status = 'ACTIVE'"),
        postgresql_where=text("status = 'ACTIVE'"),
    ),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(255), nullable=False),
    Column("digest", String(64), nullable=False, unique=True),
    Column("scopes", Text, nullable=False),
    Column("created", UTCDateTime, nullable=False),
    # migration 0006: the token's lifecycle (NULL: never expires, not revoked, never used)
    Column("expires", UTCDateTime),
    Column("revoked", UTCDateTime),
    Column("last_used", UTCDateTime),
)

oauth_clients = Table(
    "oauth_clients",
    metadata,
    Column("client_id", String(64), primary_key=True),
    Column("name", String(255), nullable=False),
    # migration 0008: its secrets moved to client_secrets
    Column("auth_method", String(32), nullable=False),
    Column("grant_types", Text, nullable=False),
    Column("created", UTCDateTime, nullable=False),
    # the members of Okta's client schema kept as sent (JSON): URIs, keys, response types
    Column("metadata", Text, nullable=False, server_default="{}"),
)

# scopes of the org authorization server granted to clients (Okta's app grants)
app_grants = Table(
    "app_grants",
    metadata,
    Column("id", String(32), primary_key=True),
    Column(
        "client_id",
        String(64),
        ForeignKey("oauth_clients.client_id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("scope_id", String(64), nullable=False),
    Column("issuer", Text, nullable=False),
    Column("created", UTCDateTime, nullable=False),
    Column("created_by", String(64), nullable=False),
    UniqueConstraint("client_id", "scope_id", name="ux_app_grants_client_scope"),
)

# a client's public keys (Okta's app credentials, jwks; keyrotor.client_jwks): the JWK as
# registered (public members only, JSON), ACTIVE or INACTIVE; kid unique per client
client_jwks = Table(
    "client_jwks",
    metadata,
    Column("id", String(32), primary_key=True),
    Column(
        "client_id",
        String(64),
        ForeignKey("oauth_clients.client_id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("kid", String(255)),  # NULL: a key registered without one (then the only key)
    Column("status", String(16), nullable=False),
    Column("jwk", Text, nullable=False),
    Column("created", UTCDateTime, nullable=False),
    Column("last_updated", UTCDateTime, nullable=False),
    Index("ix_client_jwks_client", "client_id"),
    UniqueConstraint("client_id", "kid", name="ux_client_jwks_client_kid"),
)

# a client's secrets (Okta's app credentials, secrets; keyrotor.client_secrets): the
# SHA-256 digest of each value, never the value; at most two per client, ACTIVE or INACTIVE
client_secrets = Table(
    "client_secrets",
    metadata,
    Column("id", String(32), primary_key=True),
    Column(
        "client_id",
        String(64),
        ForeignKey("oauth_clients.client_id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("digest", String(64), nullable=False),
    Column("secret_hash", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("created", UTCDateTime, nullable=False),
    Column("last_updated", UTCDateTime, nullable=False),
    Index("ix_client_secrets_client", "client_id"),
)

# JWT ids already used (client assertions, DPoP proofs), kept until the JWT expires, so a
# replay is refused on every replica
used_jtis = Table(
    "used_jtis",
    metadata,
    Column("issuer", String(128), primary_key=True),
    Column("jti", String(255), primary_key=True),
    Column("expires", UTCDateTime, nullable=False, index=True),
)

oauth_scopes = Table(
    "oauth_scopes",
    metadata,
    Column("id", String(32), primary_key=True),
    Column(
        "server_id",
        String(64),
        ForeignKey("auth_servers.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("name", String(255), nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    Column("consent", String(16), nullable=False),
    Column("is_default", Boolean, nullable=False),
    Column("metadata_publish", String(16), nullable=False),
    Column("system", Boolean, nullable=False),
    Column("created", UTCDateTime, nullable=False),
    Column("last_updated", UTCDateTime, nullable=False),
    Column("display_name", Text),  # NULL: not set
    Column("is_optional", Boolean, nullable=False, server_default=false()),
    UniqueConstraint("server_id", "name", name="ux_oauth_scopes_server_name"),
)

# pre-generated keys, sealed like any other, taken by rotations inside their transaction
key_pool = Table(
    "key_pool",
    metadata,
    Column("kid", String(64), primary_key=True),
    Column("n", Text, nullable=False),
    Column("e", String(16), nullable=False),
    Column("sealed_private", LargeBinary, nullable=False),
    Column("created", UTCDateTime, nullable=False),
)

# SQLite: what each write transaction changed, read by the other processes' watchers
# (PostgreSQL tells them with NOTIFY instead)
store_changes = Table(
    "store_changes",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("subject", String(80), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    sqlite_autoincrement=True,  # never reuse a seq, even after pruning every row
)

# -- the audit record (keyrotor.audit): one row per event, kept after its server is gone ----

audit_events = Table(
    "audit_events",
    metadata,
    # the position: the order of commits (see sql.py), the cursor of /api/v1/logs
    Column("seq", Integer().with_variant(BIGINT(), "postgresql"), primary_key=True),
    Column("uuid", String(36), nullable=False, unique=True),
    Column("published", UTCDateTime, nullable=False),
    Column("event_type", String(128), nullable=False),
    Column("actor_id", String(128), nullable=False),
    Column("actor_type", String(32), nullable=False),
    Column("actor_name", String(255), nullable=False, server_default=""),
    Column("target_type", String(64), nullable=False),
    Column("target_id", String(128), nullable=False),
    Column("target_name", String(255), nullable=False, server_default=""),
    Column("server_id", String(64)),  # no foreign key: the record outlives the server
    Column("outcome", String(16), nullable=False),
    Column("transaction_id", String(36), nullable=False),
    Column("details", Text, nullable=False, server_default="{}"),  # JSON, never a secret
    Index("ix_audit_events_published", "published"),
    Index("ix_audit_events_server", "server_id", "seq"),
    Index("ix_audit_events_type", "event_type", "seq"),
    Index("ix_audit_events_target", "target_id", "seq"),
    sqlite_autoincrement=True,
)

# -- event hooks (keyrotor.hooks, migration 0011) ------------------------------------------

_POSITION = Integer().with_variant(BIGINT(), "postgresql")  # an audit_events.seq

event_hooks = Table(
    "event_hooks",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(255), nullable=False),
    Column("description", Text),
    Column("status", String(16), nullable=False),
    Column("verification", String(16), nullable=False),
    Column("events", Text, nullable=False),  # JSON: the event types subscribed to
    Column("uri", Text, nullable=False),
    Column("headers", Text, nullable=False, server_default="[]"),  # JSON: [[key, value], …]
    Column("auth_key", String(255)),
    Column("sealed_secret", LargeBinary),  # the authScheme value, sealed under the KEK
    Column("created", UTCDateTime, nullable=False),
    Column("last_updated", UTCDateTime, nullable=False),
    Column("created_by", String(128), nullable=False),
    Column("event_cursor", _POSITION, nullable=False, server_default="0"),
)

# one row per (hook, event): at-least-once delivery, its attempts and outcome
hook_deliveries = Table(
    "hook_deliveries",
    metadata,
    Column("id", String(36), primary_key=True),  # the payload's eventId
    Column(
        "hook_id",
        String(32),
        ForeignKey("event_hooks.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("event_seq", _POSITION, nullable=False),
    Column("event_uuid", String(36), nullable=False),
    Column("event_type", String(128), nullable=False),
    Column("payload", Text, nullable=False),  # the System Log event (JSON), never a secret
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt", UTCDateTime, nullable=False),
    Column("created", UTCDateTime, nullable=False),
    Column("last_attempt", UTCDateTime),
    Column("last_status", Integer),
    Column("last_error", Text),
    Column("delivered", UTCDateTime),
    UniqueConstraint("hook_id", "event_uuid", name="ux_hook_deliveries_event"),
    Index("ix_hook_deliveries_due", "status", "next_attempt"),
    Index("ix_hook_deliveries_hook", "hook_id", "created"),
)

# the last AUTO rotation each server was warned of (keyrotor.key.rotation.upcoming): the
# marker that makes the warning once per (server, scheduled rotation) on every replica
rotation_notices = Table(
    "rotation_notices",
    metadata,
    Column(
        "server_id",
        String(64),
        ForeignKey("auth_servers.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("rotation_at", UTCDateTime, nullable=False),
    Column("noticed", UTCDateTime, nullable=False),
)
