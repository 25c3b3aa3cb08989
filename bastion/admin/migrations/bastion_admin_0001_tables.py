"""The admin battery's tables: bastion_admin_grants and bastion_admin_audit.

Revision ID: bastion_admin_0001
Revises:
Create Date: 2026-12-06

"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "bastion_admin_0001"
down_revision = None
branch_labels = ("bastion_admin",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bastion_admin_grants",
        sa.Column("subject", sa.String(255), primary_key=True),
        sa.Column("permission", sa.String(255), primary_key=True),
    )
    op.create_table(
        "bastion_admin_audit",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("who", sa.String(255), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("model", sa.String(100), nullable=False),
        sa.Column("object_id", sa.String(255), nullable=False),
        sa.Column("object_repr", sa.String(255), nullable=False),
        sa.Column("before", sa.JSON()),
        sa.Column("after", sa.JSON()),
    )
    op.create_index("bastion_admin_audit_at", "bastion_admin_audit", ["at"])
    op.create_index("bastion_admin_audit_object", "bastion_admin_audit", ["model", "object_id"])


def downgrade() -> None:
    op.drop_table("bastion_admin_audit")
    op.drop_table("bastion_admin_grants")
