"""The cache battery's tables: bastion_cache and bastion_cache_tags.

Revision ID: bastion_cache_0001
Revises:
Create Date: 2026-12-07

"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "bastion_cache_0001"
down_revision = None
branch_labels = ("bastion_cache",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bastion_cache",
        sa.Column("key", sa.Text(), primary_key=True),
        sa.Column("value", sa.LargeBinary()),
        sa.Column("number", sa.BigInteger()),
        sa.Column("expires_at", sa.Double()),
    )
    op.create_index("bastion_cache_expiry", "bastion_cache", ["expires_at"])
    op.create_table(
        "bastion_cache_tags",
        sa.Column("tag", sa.Text(), primary_key=True),
        sa.Column("key", sa.Text(), primary_key=True),
    )


def downgrade() -> None:
    op.drop_table("bastion_cache_tags")
    op.drop_table("bastion_cache")
