"""tag lists sorted by name, no position

Revision ID: 247ad52771b0
Revises: e0fc5c5707e2
Create Date: 2026-12-06 02:48:39.900616

RealWorld's reference shows an article's tagList sorted by name, so the order the author gave
is no longer kept.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "247ad52771b0"
down_revision: str | Sequence[str] | None = "e0fc5c5707e2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("article_tags", schema=None) as batch_op:
        batch_op.drop_column("position")


def downgrade() -> None:
    """Downgrade schema: the old order is gone, so every tag gets position 0."""
    with op.batch_alter_table("article_tags", schema=None) as batch_op:
        batch_op.add_column(sa.Column("position", sa.Integer(), nullable=False, server_default="0"))
