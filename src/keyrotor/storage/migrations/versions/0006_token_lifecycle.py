"""API tokens' lifecycle: an optional expiry, revocation, the last use.

Existing tokens get NULL in each: they never expire, are not revoked, and were not seen used.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

from keyrotor.storage.tables import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.add_column(sa.Column("expires", UTCDateTime, nullable=True))
        batch.add_column(sa.Column("revoked", UTCDateTime, nullable=True))
        batch.add_column(sa.Column("last_used", UTCDateTime, nullable=True))


def downgrade() -> None:
    # the older schema cannot say "revoked" or "expires": such tokens would work again, or
    # for ever, so their rows go with the columns (tokens without either stay)
    tokens = sa.table("api_tokens", sa.column("revoked", UTCDateTime), sa.column("expires"))
    op.execute(tokens.delete().where(tokens.c.revoked.is_not(None) | tokens.c.expires.is_not(None)))
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("last_used")
        batch.drop_column("revoked")
        batch.drop_column("expires")
