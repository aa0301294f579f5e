"""task follow-up: due time, EHR Task status and escalation on the delivery; periodic jobs

Revision ID: 0003_task_follow_up
Revises: 0002_refused_attachments
Create Date: 2026-11-29 07:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_task_follow_up"
down_revision = "0002_refused_attachments"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.add_column(sa.Column("task_due_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("task_status", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("task_status_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("escalated_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("escalation_recipient", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("escalation_reference", sa.String(length=255), nullable=True))
        batch_op.create_index(batch_op.f("ix_delivery_task_due_at"), ["task_due_at"], unique=False)

    op.create_table(
        "periodic_job",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("next_run_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_success_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cursor", sa.String(length=64), nullable=True),
        sa.Column("last_failure", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_periodic_job")),
    )


def downgrade() -> None:
    op.drop_table("periodic_job")
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_delivery_task_due_at"))
        for column in (
            "escalation_reference",
            "escalation_recipient",
            "escalated_at",
            "task_status_at",
            "task_status",
            "task_due_at",
        ):
            batch_op.drop_column(column)
