"""refused attachments: the parts of a delivered alert the EHR refused

Revision ID: 0002_refused_attachments
Revises: 0001
Create Date: 2026-11-29 07:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_refused_attachments"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "refused_attachment",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("response_id", sa.String(length=64), nullable=False),
        sa.Column("resource_type", sa.String(length=64), nullable=False),
        sa.Column("local_reference", sa.String(length=160), nullable=True),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("refused_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["response_id"],
            ["delivery.response_id"],
            name=op.f("fk_refused_attachment_response_id_delivery"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refused_attachment")),
    )
    with op.batch_alter_table("refused_attachment", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_refused_attachment_response_id"), ["response_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("refused_attachment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_refused_attachment_response_id"))
    op.drop_table("refused_attachment")
