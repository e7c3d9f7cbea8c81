"""Alembic environment: runs against whatever URL app.migrate hands it."""

from __future__ import annotations

from alembic import context
from sqlalchemy import engine_from_config, pool

import app.models  # noqa: F401 - registers the tables on the metadata
import app.scaling  # noqa: F401 - scaling events (issue 6)
import app.chat  # noqa: F401 - agent chat sessions and tasks (issue 4)
import app.traces  # noqa: F401 - tool traces and LLM call records (issue 4)
import app.endpoints  # noqa: F401 - durability tables (issue 5)
import app.notes  # noqa: F401
from app.db import db

config = context.config
target_metadata = db.metadata


def include_object(obj, name, type_, reflected, compare_to):
    # Kombu's SQLAlchemy transport keeps its own tables in the embedded database.
    return not (type_ == "table" and name.startswith("kombu_"))


def run_migrations_online() -> None:
    connectable = config.attributes.get("connection")
    if connectable is None:
        connectable = engine_from_config(
            config.get_section(config.config_ini_section, {}),
            prefix="sqlalchemy.",
            poolclass=pool.NullPool,
        )
        with connectable.connect() as connection:
            _run(connection)
    else:
        _run(connectable)


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_object=include_object,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
