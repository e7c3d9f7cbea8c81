"""system steps and delays: workflow state on runs, not_before, enqueued jobs keyed by run

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("movement_runs", schema=None) as batch_op:
        # What the run added to the workflow state (structured.<step>, context.<step>,
        # effect.<step>): the claim of a later run reads it back.
        batch_op.add_column(sa.Column("state", sa.JSON(), nullable=True))
        # delay_before_ms: the run may not be claimed before this (database clock).
        batch_op.add_column(sa.Column("not_before", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        # The system step run whose enqueue_task effect submitted this job: unique, so
        # a redelivered or re-run step can never submit a second one.
        batch_op.add_column(sa.Column("effect_run_id", sa.Uuid(), nullable=True))
        batch_op.create_unique_constraint("uq_jobs_effect_run_id", ["effect_run_id"])


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_constraint("uq_jobs_effect_run_id", type_="unique")
        batch_op.drop_column("effect_run_id")
    with op.batch_alter_table("movement_runs", schema=None) as batch_op:
        batch_op.drop_column("not_before")
        batch_op.drop_column("state")
