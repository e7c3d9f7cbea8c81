"""three-phase movements: run phases, run kinds and routes, engine-owned job columns

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _now():
    if op.get_bind().dialect.name == "sqlite":
        return sa.text("(strftime('%Y-%m-%d %H:%M:%f', 'now'))")
    return sa.text("now()")


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("interactive", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("workspace", sa.String(length=1000), nullable=True))
        batch_op.add_column(sa.Column("subtask_index", sa.Integer(), nullable=True))

    with op.batch_alter_table("movement_runs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("kind", sa.String(length=32), nullable=False, server_default="agent")
        )
        batch_op.add_column(sa.Column("match_method", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("route", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("loop_monitor", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("cycle_count", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("natural_next", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("spec", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("workspace_commit", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("copied_from", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("visits", sa.Integer(), nullable=False, server_default="0"))

    op.create_table(
        "run_phases",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("run_id", sa.Uuid(), nullable=False),
        sa.Column("job_id", sa.Uuid(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("phase", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=500), nullable=True),
        sa.Column("session_key", sa.String(length=500), nullable=True),
        sa.Column("resets", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("prompt", sa.Text(), nullable=False),
        sa.Column("system", sa.Text(), nullable=True),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("structured", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("match_method", sa.String(length=32), nullable=True),
        sa.Column("matched_rule", sa.Integer(), nullable=True),
        sa.Column("tokens_in", sa.Integer(), nullable=False),
        sa.Column("tokens_out", sa.Integer(), nullable=False),
        sa.Column("latency_ms", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=True),
        sa.Column("tool_calls", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name=op.f("fk_run_phases_job_id_jobs"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["movement_runs.id"],
            name=op.f("fk_run_phases_run_id_movement_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_run_phases")),
        sa.UniqueConstraint("run_id", "seq", name=op.f("uq_run_phases_run_id_seq")),
    )
    with op.batch_alter_table("run_phases", schema=None) as batch_op:
        batch_op.create_index(
            "ix_run_phases_conversation", ["job_id", "attempt", "session_key", "id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("run_phases", schema=None) as batch_op:
        batch_op.drop_index("ix_run_phases_conversation")
    op.drop_table("run_phases")
    with op.batch_alter_table("movement_runs", schema=None) as batch_op:
        for column in (
            "visits",
            "copied_from",
            "workspace_commit",
            "spec",
            "natural_next",
            "cycle_count",
            "loop_monitor",
            "route",
            "match_method",
            "kind",
        ):
            batch_op.drop_column(column)
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        for column in ("subtask_index", "workspace", "interactive"):
            batch_op.drop_column(column)
