"""OAuth clients (RFC 7591 registration) and the custom scopes of each server.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

from keyrotor.storage.tables import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "oauth_clients",
        sa.Column("client_id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("secret_digest", sa.String(64), nullable=False),
        sa.Column("auth_method", sa.String(32), nullable=False),
        sa.Column("grant_types", sa.Text, nullable=False),
        sa.Column("org_scopes", sa.Text, nullable=False, server_default=""),
        sa.Column("created", UTCDateTime, nullable=False),
    )
    op.create_table(
        "oauth_scopes",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column(
            "server_id",
            sa.String(64),
            sa.ForeignKey("auth_servers.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("consent", sa.String(16), nullable=False),
        sa.Column("is_default", sa.Boolean, nullable=False),
        sa.Column("metadata_publish", sa.String(16), nullable=False),
        sa.Column("system", sa.Boolean, nullable=False),
        sa.Column("created", UTCDateTime, nullable=False),
        sa.Column("last_updated", UTCDateTime, nullable=False),
        sa.UniqueConstraint("server_id", "name", name="ux_oauth_scopes_server_name"),
    )


def downgrade() -> None:
    op.drop_table("oauth_scopes")
    op.drop_table("oauth_clients")
