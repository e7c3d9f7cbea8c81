"""workflow calls: a called workflow is a child job keyed by the calling run

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        # The workflow_call run that started this job: unique, so a redelivered or
        # re-run call can never start a second child for the same run.
        batch_op.add_column(sa.Column("call_run_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("returned", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("abort_kind", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("reports_path", sa.String(length=1000), nullable=True))
        batch_op.create_unique_constraint("uq_jobs_call_run_id", ["call_run_id"])


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_constraint("uq_jobs_call_run_id", type_="unique")
        batch_op.drop_column("reports_path")
        batch_op.drop_column("abort_kind")
        batch_op.drop_column("returned")
        batch_op.drop_column("call_run_id")
