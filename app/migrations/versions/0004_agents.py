"""agents tables: tool traces, LLM call records, chat sessions and messages, agent tasks

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

EventId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _now():
    # The database clock, per dialect, as 0001 does it.
    if op.get_bind().dialect.name == "sqlite":
        return sa.text("(strftime('%Y-%m-%d %H:%M:%f', 'now'))")
    return sa.text("now()")


def upgrade() -> None:
    op.create_table(
        "tool_traces",
        sa.Column("id", EventId, primary_key=True, autoincrement=True),
        sa.Column("job_id", sa.Uuid(), sa.ForeignKey("jobs.id", ondelete="CASCADE")),
        sa.Column("run_id", sa.Uuid(), sa.ForeignKey("movement_runs.id", ondelete="CASCADE")),
        sa.Column("agent_task_id", sa.Uuid()),
        sa.Column("movement", sa.String(200)),
        sa.Column("tool", sa.String(100), nullable=False),
        sa.Column("call_id", sa.String(200)),
        sa.Column("input", sa.JSON()),
        sa.Column("output", sa.Text(), nullable=False),
        sa.Column("latency_ms", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("error", sa.Text()),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
    )
    op.create_index("ix_tool_traces_job_id", "tool_traces", ["job_id", "id"])
    op.create_index("ix_tool_traces_agent_task", "tool_traces", ["agent_task_id"])
    op.create_table(
        "llm_calls",
        sa.Column("id", EventId, primary_key=True, autoincrement=True),
        sa.Column("job_id", sa.Uuid(), sa.ForeignKey("jobs.id", ondelete="CASCADE")),
        sa.Column("run_id", sa.Uuid(), sa.ForeignKey("movement_runs.id", ondelete="CASCADE")),
        sa.Column("agent_task_id", sa.Uuid()),
        sa.Column("tier", sa.String(64), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("tokens_in", sa.Integer(), nullable=False),
        sa.Column("tokens_out", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
    )
    op.create_index("ix_llm_calls_job_id", "llm_calls", ["job_id"])
    op.create_table(
        "chat_sessions",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column(
            "agent_id", sa.Uuid(), sa.ForeignKey("agents.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("owner_id", sa.String(128), nullable=False),
        sa.Column("expired", sa.Boolean(), nullable=False),
        sa.Column("resumed_count", sa.Integer(), nullable=False),
        sa.Column(
            "last_active_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
    )
    op.create_index("ix_chat_sessions_active", "chat_sessions", ["expired", "last_active_at"])
    op.create_table(
        "chat_messages",
        sa.Column("id", EventId, primary_key=True, autoincrement=True),
        sa.Column(
            "session_id",
            sa.Uuid(),
            sa.ForeignKey("chat_sessions.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
    )
    op.create_index("ix_chat_messages_session", "chat_messages", ["session_id", "id"])
    op.create_table(
        "agent_tasks",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column(
            "agent_id", sa.Uuid(), sa.ForeignKey("agents.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("owner_id", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("session_id", sa.Uuid(), sa.ForeignKey("chat_sessions.id", ondelete="CASCADE")),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reply", sa.Text()),
        sa.Column("error", sa.Text()),
        sa.Column("callback_url", sa.Text()),
        sa.Column("callback_status", sa.String(200)),
        sa.Column("tokens_in", sa.Integer(), nullable=False),
        sa.Column("tokens_out", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
    )
    op.create_index(
        "ix_agent_tasks_agent_created", "agent_tasks", ["agent_id", "kind", "created_at"]
    )


def downgrade() -> None:
    op.drop_table("agent_tasks")
    op.drop_table("chat_messages")
    op.drop_table("chat_sessions")
    op.drop_table("llm_calls")
    op.drop_table("tool_traces")
