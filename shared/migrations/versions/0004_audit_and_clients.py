"""audit trail and SMART client assertions

Revision ID: 0004_audit_and_clients
Revises: 0001
Create Date: 2026-11-29 08:00:00

``audit_event`` holds the FHIR AuditEvents (references only); ``used_assertion``
is the embedded default's replay store for client-assertion ``jti`` values
(production uses Redis). Registered clients live in NEUROSCREEN_SMART_CLIENTS_FILE,
not in the database, so adding an EHR is a file change, not a migration.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_audit_and_clients"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_event",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("recorded", sa.DateTime(timezone=True), nullable=False),
        sa.Column("agent", sa.String(length=255), nullable=False),
        sa.Column("action", sa.String(length=1), nullable=False),
        sa.Column("outcome", sa.String(length=2), nullable=False),
        sa.Column("entity_type", sa.String(length=64), nullable=True),
        sa.Column("patient", sa.String(length=255), nullable=True),
        sa.Column("resource", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_event")),
    )
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_event_recorded"), ["recorded"], unique=False)
        batch_op.create_index("ix_audit_event_agent_recorded", ["agent", "recorded"], unique=False)
        batch_op.create_index(
            "ix_audit_event_patient_recorded", ["patient", "recorded"], unique=False
        )
    op.create_table(
        "used_assertion",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_used_assertion")),
    )
    with op.batch_alter_table("used_assertion", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_used_assertion_expires_at"), ["expires_at"], unique=False
        )


def downgrade() -> None:
    op.drop_table("used_assertion")
    op.drop_table("audit_event")
