"""Settings that decide which driver and limits a deployment gets."""

from __future__ import annotations

import pytest

from app.config import Settings


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u:pw@db:5432/legato",
        "postgres://u:pw@db:5432/legato",
        "postgresql+psycopg2://u:pw@db:5432/legato",  # older deployment files
        "postgresql+psycopg://u:pw@db:5432/legato",
    ],
)
def test_postgres_urls_use_psycopg_3(url: str) -> None:
    settings = Settings(database_url=url)
    assert settings.sqlalchemy_url == "postgresql+psycopg://u:pw@db:5432/legato"
    assert not settings.embedded


def test_the_engine_loads_the_psycopg_3_driver() -> None:
    from sqlalchemy import create_engine

    engine = create_engine(Settings(database_url="postgresql://u@db/legato").sqlalchemy_url)
    assert engine.dialect.driver == "psycopg"
    assert engine.dialect.dbapi.__name__ == "psycopg"


def test_sqlite_is_left_alone(tmp_path) -> None:
    # (database_url=None: an integration session may have DATABASE_URL in the environment)
    settings = Settings(legato_data_dir=tmp_path, database_url=None)
    assert settings.sqlalchemy_url == f"sqlite:///{tmp_path.resolve()}/legato.db"
    assert settings.embedded
