"""re-screening: resource versions, alert rounds, runs and their items

Revision ID: 0006_rescreen
Revises: 0005_cds_feedback
Create Date: 2026-12-07 12:45:00

A re-screen makes a new version of each derived resource: the current one stays in
``derived_resource`` (now with ``version_id`` and the knowledge version), earlier ones
move to ``derived_resource_version``. A re-screen whose tier rose to alerting opens the
next alert round (``screening.alert_round``, mirrored by ``delivery.alert_round``).
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_rescreen"
down_revision = "0005_cds_feedback"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("derived_resource", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("version_id", sa.Integer(), server_default="1", nullable=False)
        )
        batch_op.add_column(sa.Column("knowledge_version", sa.String(length=32), nullable=True))
    with op.batch_alter_table("screening", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("alert_round", sa.Integer(), server_default="1", nullable=False)
        )
        batch_op.add_column(sa.Column("alert_reason", sa.Text(), nullable=True))
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("alert_round", sa.Integer(), server_default="1", nullable=False)
        )
    op.create_table(
        "derived_resource_version",
        sa.Column("resource_type", sa.String(length=64), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("response_id", sa.String(length=64), nullable=False),
        sa.Column("resource", sa.Text(), nullable=False),
        sa.Column("last_updated", sa.DateTime(timezone=True), nullable=False),
        sa.Column("knowledge_version", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["response_id"],
            ["questionnaire_response.id"],
            name=op.f("fk_derived_resource_version_response_id_questionnaire_response"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "resource_type", "id", "version_id", name=op.f("pk_derived_resource_version")
        ),
    )
    with op.batch_alter_table("derived_resource_version", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_derived_resource_version_response_id"), ["response_id"], unique=False
        )
    op.create_table(
        "rescreen_run",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("knowledge_version", sa.String(length=32), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("batch", sa.Integer(), nullable=False),
        sa.Column("cursor", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rescreen_run")),
    )
    op.create_table(
        "rescreen_item",
        sa.Column("run_id", sa.String(length=36), nullable=False),
        sa.Column("response_id", sa.String(length=64), nullable=False),
        sa.Column("from_tier", sa.String(length=16), nullable=True),
        sa.Column("to_tier", sa.String(length=16), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("alerted", sa.Boolean(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["rescreen_run.id"],
            name=op.f("fk_rescreen_item_run_id_rescreen_run"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("run_id", "response_id", name=op.f("pk_rescreen_item")),
    )


def downgrade() -> None:
    op.drop_table("rescreen_item")
    op.drop_table("rescreen_run")
    with op.batch_alter_table("derived_resource_version", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_derived_resource_version_response_id"))
    op.drop_table("derived_resource_version")
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.drop_column("alert_round")
    with op.batch_alter_table("screening", schema=None) as batch_op:
        batch_op.drop_column("alert_reason")
        batch_op.drop_column("alert_round")
    with op.batch_alter_table("derived_resource", schema=None) as batch_op:
        batch_op.drop_column("knowledge_version")
        batch_op.drop_column("version_id")
