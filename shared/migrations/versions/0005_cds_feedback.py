"""CDS Hooks cards and feedback

Revision ID: 0005_cds_feedback
Revises: 0003_task_follow_up, 0004_audit_and_clients
Create Date: 2026-11-29 08:15:00

``cds_card`` maps each card uuid shown in an EHR chart to its screening;
``cds_feedback`` keeps what clinicians did with the cards (codes and ids only),
once per card, outcome and outcome timestamp. This revision also joins the two
heads of the merged branches (task follow-up, audit trail).
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_cds_feedback"
down_revision = ("0003_task_follow_up", "0004_audit_and_clients")
branch_labels = None
depends_on = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "cds_card",
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("response_id", sa.String(length=64), nullable=False),
        sa.Column("first_shown_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["response_id"],
            ["questionnaire_response.id"],
            name=op.f("fk_cds_card_response_id_questionnaire_response"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("uuid", name=op.f("pk_cds_card")),
    )
    with op.batch_alter_table("cds_card", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cds_card_response_id"), ["response_id"], unique=False)
    op.create_table(
        "cds_feedback",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("card_uuid", sa.String(length=36), nullable=False),
        sa.Column("response_id", sa.String(length=64), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("outcome_timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("override_reason", sa.String(length=64), nullable=True),
        sa.Column("accepted_suggestions", sa.Integer(), nullable=False),
        sa.Column("issuer", sa.String(length=255), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["card_uuid"],
            ["cds_card.uuid"],
            name=op.f("fk_cds_feedback_card_uuid_cds_card"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["response_id"],
            ["questionnaire_response.id"],
            name=op.f("fk_cds_feedback_response_id_questionnaire_response"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cds_feedback")),
        sa.UniqueConstraint(
            "card_uuid", "outcome", "outcome_timestamp", name=op.f("uq_cds_feedback_card_uuid")
        ),
    )
    with op.batch_alter_table("cds_feedback", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_cds_feedback_response_id"), ["response_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("cds_feedback", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cds_feedback_response_id"))
    op.drop_table("cds_feedback")
    with op.batch_alter_table("cds_card", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cds_card_response_id"))
    op.drop_table("cds_card")
