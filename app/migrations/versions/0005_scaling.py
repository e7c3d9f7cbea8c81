"""scaling events (swarm control and scale-to-zero history)

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _now():
    # The database clock, per dialect (SQLite has no now() with sub-second precision).
    if op.get_bind().dialect.name == "sqlite":
        return sa.text("(strftime('%Y-%m-%d %H:%M:%f', 'now'))")
    return sa.text("now()")


def upgrade() -> None:
    op.create_table(
        "scaling_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("service", sa.String(length=128), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("trigger", sa.String(length=32), nullable=False),
        sa.Column("from_replicas", sa.Integer(), nullable=True),
        sa.Column("to_replicas", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("actor", sa.String(length=128), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scaling_events")),
    )
    with op.batch_alter_table("scaling_events", schema=None) as batch_op:
        batch_op.create_index("ix_scaling_events_service_id", ["service", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("scaling_events", schema=None) as batch_op:
        batch_op.drop_index("ix_scaling_events_service_id")
    op.drop_table("scaling_events")
