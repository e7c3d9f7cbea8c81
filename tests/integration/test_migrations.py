"""Migrations upgrade a blank PostgreSQL and a blank SQLite database, and come back down."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, inspect

from app.config import Settings
from app.migrate import downgrade, upgrade
from tests.conftest import temporary_pg_database

pytestmark = pytest.mark.integration

TABLES = {"jobs", "movement_runs", "job_events", "api_tokens", "agents"}


@pytest.fixture
def blank_postgres():
    with temporary_pg_database("legato_mig") as url:
        yield url


def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _round_trip(settings: Settings) -> None:
    upgrade(settings)
    assert _tables(settings.sqlalchemy_url) >= TABLES
    downgrade(settings)
    assert not (TABLES & _tables(settings.sqlalchemy_url))
    upgrade(settings)
    assert _tables(settings.sqlalchemy_url) >= TABLES


def test_blank_postgres(blank_postgres, tmp_path):
    _round_trip(Settings(database_url=blank_postgres, legato_data_dir=tmp_path))


def test_blank_sqlite(tmp_path):
    settings = Settings(database_url=None, legato_data_dir=tmp_path / "data")
    _round_trip(settings)
    assert settings.sqlite_path.exists()


def test_models_match_the_migrations(blank_postgres, tmp_path):
    """Autogenerate finds nothing to do: no model change is missing its migration."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from app.db import db

    upgrade(Settings(database_url=blank_postgres, legato_data_dir=tmp_path))
    engine = create_engine(Settings(database_url=blank_postgres).sqlalchemy_url)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, db.metadata)
    engine.dispose()
    assert diff == []
