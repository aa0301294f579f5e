"""What the EHR acknowledged of a partly written alert

Revision ID: 0007_delivery_acknowledged
Revises: 0006_rescreen
Create Date: 2026-12-07 13:00:00

``delivery.ehr_acknowledged`` keeps, per entry of the alert Bundle, the id the EHR
answered, so that an attempt after a failure sends only what is not yet acknowledged.
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_delivery_acknowledged"
down_revision = "0006_rescreen"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ehr_acknowledged", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.drop_column("ehr_acknowledged")
