"""Alembic environment: runs against whatever URL app.migrate hands it."""

from __future__ import annotations

import importlib

from alembic import context
from sqlalchemy import engine_from_config, pool

from app.db import db

# Every module that defines tables, so the metadata is complete.
TABLE_MODULES = (
    "app.models",
    "app.notes",
    "app.endpoints",
    "app.chat",
    "app.traces",
    "app.scaling",
)
for _module in TABLE_MODULES:
    importlib.import_module(_module)

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
