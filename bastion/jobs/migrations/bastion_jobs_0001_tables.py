"""The jobs battery's tables: bastion_jobs and bastion_jobs_leaders.

Revision ID: bastion_jobs_0001
Revises:
Create Date: 2026-12-06

"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "bastion_jobs_0001"
down_revision = None
branch_labels = ("bastion_jobs",)
depends_on = None

PENDING = sa.text("state = 'pending'")
RUNNING = sa.text("state = 'running'")
HOLDING = sa.text("unique_holder IS NOT NULL")


def upgrade() -> None:
    op.create_table(
        "bastion_jobs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("queue", sa.Text(), nullable=False),
        sa.Column("args", sa.LargeBinary(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("run_at", sa.Double(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("timeout", sa.Double()),
        sa.Column("unique_key", sa.Text()),
        sa.Column("unique_until", sa.Double()),
        sa.Column("unique_holder", sa.Text()),
        sa.Column("tags", sa.Text(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("errors", sa.Text(), nullable=False),
        sa.Column("enqueued_at", sa.Double(), nullable=False),
        sa.Column("started_at", sa.Double()),
        sa.Column("finished_at", sa.Double()),
        sa.Column("worker", sa.Text()),
        sa.Column("lease_until", sa.Double()),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("trace", sa.Text()),
    )
    op.create_index(
        "bastion_jobs_claim",
        "bastion_jobs",
        ["queue", "priority", "run_at"],
        postgresql_where=PENDING,
        sqlite_where=PENDING,
    )
    op.create_index(
        "bastion_jobs_due",
        "bastion_jobs",
        ["queue", "run_at"],
        postgresql_where=PENDING,
        sqlite_where=PENDING,
    )
    op.create_index(
        "bastion_jobs_leases",
        "bastion_jobs",
        ["lease_until"],
        postgresql_where=RUNNING,
        sqlite_where=RUNNING,
    )
    op.create_index(
        "bastion_jobs_unique",
        "bastion_jobs",
        ["unique_holder"],
        unique=True,
        postgresql_where=HOLDING,
        sqlite_where=HOLDING,
    )
    op.create_table(
        "bastion_jobs_leaders",
        sa.Column("name", sa.Text(), primary_key=True),
        sa.Column("holder", sa.Text(), nullable=False),
        sa.Column("until", sa.Double(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("bastion_jobs_leaders")
    op.drop_table("bastion_jobs")
