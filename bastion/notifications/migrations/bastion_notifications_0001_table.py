"""The notifications battery's table: bastion_notifications.

Revision ID: bastion_notifications_0001
Revises:
Create Date: 2026-12-08

"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "bastion_notifications_0001"
down_revision = None
branch_labels = ("bastion_notifications",)
depends_on = None

UNREAD = sa.text("read_at IS NULL")


def upgrade() -> None:
    op.create_table(
        "bastion_notifications",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("notifiable", sa.String(255), nullable=False),
        sa.Column("type", sa.String(255), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("read_at", sa.Double()),
    )
    op.create_index(
        "bastion_notifications_recent", "bastion_notifications", ["notifiable", "created_at"]
    )
    op.create_index(
        "bastion_notifications_unread",
        "bastion_notifications",
        ["notifiable"],
        postgresql_where=UNREAD,
        sqlite_where=UNREAD,
    )


def downgrade() -> None:
    op.drop_table("bastion_notifications")
