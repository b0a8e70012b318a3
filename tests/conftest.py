"""Shared fixtures: real PostgreSQL and MariaDB databases (created per test session on the
local servers), a staging store on SQLite and on PostgreSQL, and stand-in platforms."""

from __future__ import annotations

import os
import secrets
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

PG_ADMIN_URL = os.environ.get(
    "CREDIT_SYNC_TEST_PG", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
)
MARIADB_ADMIN_URL = os.environ.get(
    "CREDIT_SYNC_TEST_MARIADB", "mysql+pymysql://root@127.0.0.1:3306/test"
)

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")


def _create_pg_database(name: str) -> str:
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE \"{name}\" ENCODING 'UTF8' TEMPLATE template0"))
    admin.dispose()
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def _drop_pg_database(name: str) -> None:
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def pg_database() -> Iterator[str]:
    """A fresh, empty PostgreSQL database; dropped afterwards."""
    name = f"cs_test_{uuid.uuid4().hex[:10]}"
    url = _create_pg_database(name)
    yield url
    from credit_sync.staging.store import engine_for

    engine_for.cache_clear()  # release pooled connections before dropping
    _drop_pg_database(name)


@pytest.fixture
def mariadb_database() -> Iterator[str]:
    name = f"cs_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(MARIADB_ADMIN_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4"))
    yield MARIADB_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}?charset=utf8mb4"
    with admin.begin() as conn:
        conn.execute(sa.text(f"DROP DATABASE IF EXISTS `{name}`"))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def staging_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A staging store URL on each supported backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'staging.db'}"
    return request.getfixturevalue("pg_database")


@pytest.fixture
def store(staging_url: str) -> sa.Engine:
    from credit_sync.staging.store import open_store

    return open_store(staging_url)


def _standins(directory: Path) -> Iterator:
    from credit_sync.standins.process import StandinProcess

    started: list[StandinProcess] = []

    def start(
        profile: str = "provincial", name: str | None = None, **kwargs: object
    ) -> StandinProcess:
        name = name or profile
        proc = StandinProcess(
            profile,
            directory / f"standin-{name}.db",
            f"key-{name}",
            secrets.token_urlsafe(16),
            log_path=directory / f"standin-{name}.log",
            **kwargs,
        )
        started.append(proc.start())
        return proc

    yield start
    for proc in started:
        proc.stop()


@pytest.fixture
def standin_factory(tmp_path: Path) -> Iterator:
    """Start stand-in servers (real HTTP on loopback) for one test."""
    yield from _standins(tmp_path)


@pytest.fixture(scope="session")
def shared_platforms(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    """A provincial and a public stand-in shared by the session (starting one costs ~2 s).
    Tests keep apart by using their own department codes; faults are reset per use."""
    start_gen = _standins(tmp_path_factory.mktemp("platforms"))
    start = next(start_gen)
    pair = (start("provincial"), start("public", name="xybaiyin"))
    yield pair
    next(start_gen, None)


@pytest.fixture
def migrated_airflow_db(request: pytest.FixtureRequest) -> Callable[..., None]:
    """Put a migrated Airflow metadata DB into a demo Airflow home: `airflow db migrate`
    costs ~20 s here, so it runs once per Airflow version and is copied after that."""
    import airflow

    from credit_sync.demo.environment import DemoPaths
    from credit_sync.demo.runner import ensure_airflow_db

    cache_dir = Path(request.config.cache.mkdir("credit-sync-airflow"))

    def migrate(paths: DemoPaths, env: dict[str, str]) -> None:
        template = cache_dir / f"airflow-{airflow.__version__}.db"
        if not template.exists():
            ensure_airflow_db(paths, env, paths.airflow_home / "migrate.log")
            shutil.copy(paths.airflow_home / "airflow.db", template)
        else:
            shutil.copy(template, paths.airflow_home / "airflow.db")

    return migrate


@pytest.fixture(params=["sqlite", "postgresql", "mariadb", "mariadb-pymysql"])
def source_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    """An empty department database, streamed as extraction reads it: SQLite, PostgreSQL,
    and MariaDB through the driver a `mysql` connection uses (MySQL Connector/Python) and
    through PyMySQL."""
    from credit_sync.engines import SCHEMES, database_engine

    if request.param == "sqlite":
        url = sa.make_url(f"sqlite:///{tmp_path / 'dept.db'}")
    elif request.param == "postgresql":
        url = sa.make_url(request.getfixturevalue("pg_database"))
    else:
        url = sa.make_url(request.getfixturevalue("mariadb_database"))
        if request.param == "mariadb":
            url = url.set(drivername=SCHEMES["mysql"])
    engine = database_engine(url, streaming=True)
    yield engine
    engine.dispose()
