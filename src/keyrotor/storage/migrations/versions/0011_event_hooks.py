"""Event hooks and their deliveries (notice before change).

``event_hooks`` (the shared secret sealed, never plain), ``hook_deliveries`` (one row per
hook and event: attempts, next attempt, outcome) and ``rotation_notices`` (the marker
that warns of each AUTO rotation once, whatever the number of replicas).

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import BIGINT

from keyrotor.storage.tables import UTCDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def _position() -> sa.types.TypeEngine[int]:
    return sa.Integer().with_variant(BIGINT(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "event_hooks",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("description", sa.Text),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("verification", sa.String(16), nullable=False),
        sa.Column("events", sa.Text, nullable=False),
        sa.Column("uri", sa.Text, nullable=False),
        sa.Column("headers", sa.Text, nullable=False, server_default="[]"),
        sa.Column("auth_key", sa.String(255)),
        sa.Column("sealed_secret", sa.LargeBinary),
        sa.Column("created", UTCDateTime, nullable=False),
        sa.Column("last_updated", UTCDateTime, nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("event_cursor", _position(), nullable=False, server_default="0"),
    )
    op.create_table(
        "hook_deliveries",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column(
            "hook_id",
            sa.String(32),
            sa.ForeignKey("event_hooks.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("event_seq", _position(), nullable=False),
        sa.Column("event_uuid", sa.String(36), nullable=False),
        sa.Column("event_type", sa.String(128), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt", UTCDateTime, nullable=False),
        sa.Column("created", UTCDateTime, nullable=False),
        sa.Column("last_attempt", UTCDateTime),
        sa.Column("last_status", sa.Integer),
        sa.Column("last_error", sa.Text),
        sa.Column("delivered", UTCDateTime),
        sa.UniqueConstraint("hook_id", "event_uuid", name="ux_hook_deliveries_event"),
    )
    op.create_index("ix_hook_deliveries_due", "hook_deliveries", ["status", "next_attempt"])
    op.create_index("ix_hook_deliveries_hook", "hook_deliveries", ["hook_id", "created"])
    op.create_table(
        "rotation_notices",
        sa.Column(
            "server_id",
            sa.String(64),
            sa.ForeignKey("auth_servers.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("rotation_at", UTCDateTime, nullable=False),
        sa.Column("noticed", UTCDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("rotation_notices")
    op.drop_index("ix_hook_deliveries_hook", "hook_deliveries")
    op.drop_index("ix_hook_deliveries_due", "hook_deliveries")
    op.drop_table("hook_deliveries")
    op.drop_table("event_hooks")
