"""Resource-server encryption keys and the server's access-token encryption settings.

``encryption_keys`` holds public keys only (the resource server keeps its private key);
``auth_servers.token_encryption`` is ``accessTokenEncryptedResponseAlgorithm`` (NULL: off).

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

from keyrotor.storage.tables import UTCDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("auth_servers", sa.Column("token_encryption", sa.String(32)))
    op.create_table(
        "encryption_keys",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column(
            "server_id",
            sa.String(64),
            sa.ForeignKey("auth_servers.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("kid", sa.String(255), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("n", sa.Text, nullable=False),
        sa.Column("e", sa.String(16), nullable=False),
        sa.Column("created", UTCDateTime, nullable=False),
        sa.Column("last_updated", UTCDateTime, nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.UniqueConstraint("server_id", "kid", name="ux_encryption_keys_server_kid"),
    )
    op.create_index(
        "ux_encryption_keys_one_active",
        "encryption_keys",
        ["server_id"],
        unique=True,
        sqlite_where=sa.text("status = 'ACTIVE'"),
        postgresql_where=sa.text("status = 'ACTIVE'"),
    )


def downgrade() -> None:
    op.drop_index("ux_encryption_keys_one_active", "encryption_keys")
    op.drop_table("encryption_keys")
    # in place (ALTER TABLE … DROP COLUMN, SQLite 3.35 or newer), never copied and dropped
    # as Alembic's batch mode does on SQLite: dropping auth_servers would delete, by
    # ON DELETE CASCADE, every row that refers to it (signing keys, scopes, …)
    op.drop_column("auth_servers", "token_encryption")
