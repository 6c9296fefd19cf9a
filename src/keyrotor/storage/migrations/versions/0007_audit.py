"""The audit record: one row per key, server, token or KEK event (``keyrotor.audit``).

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import BIGINT

from keyrotor.storage.tables import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column("seq", sa.Integer().with_variant(BIGINT(), "postgresql"), primary_key=True),
        sa.Column("uuid", sa.String(36), nullable=False, unique=True),
        sa.Column("published", UTCDateTime, nullable=False),
        sa.Column("event_type", sa.String(128), nullable=False),
        sa.Column("actor_id", sa.String(128), nullable=False),
        sa.Column("actor_type", sa.String(32), nullable=False),
        sa.Column("actor_name", sa.String(255), nullable=False, server_default=""),
        sa.Column("target_type", sa.String(64), nullable=False),
        sa.Column("target_id", sa.String(128), nullable=False),
        sa.Column("target_name", sa.String(255), nullable=False, server_default=""),
        sa.Column("server_id", sa.String(64)),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("transaction_id", sa.String(36), nullable=False),
        sa.Column("details", sa.Text, nullable=False, server_default="{}"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_audit_events_published", "audit_events", ["published"])
    op.create_index("ix_audit_events_server", "audit_events", ["server_id", "seq"])
    op.create_index("ix_audit_events_type", "audit_events", ["event_type", "seq"])
    op.create_index("ix_audit_events_target", "audit_events", ["target_id", "seq"])


def downgrade() -> None:
    for name in ("target", "type", "server", "published"):
        op.drop_index(f"ix_audit_events_{name}", "audit_events")
    op.drop_table("audit_events")
