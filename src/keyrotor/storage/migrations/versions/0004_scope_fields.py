"""The rest of Okta's OAuth2Scope: ``displayName`` and ``optional``.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("oauth_scopes") as batch:
        batch.add_column(sa.Column("display_name", sa.Text, nullable=True))
        batch.add_column(
            sa.Column("is_optional", sa.Boolean, nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("oauth_scopes") as batch:
        batch.drop_column("is_optional")
        batch.drop_column("display_name")
