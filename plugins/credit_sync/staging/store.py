"""Engine and migrations of the staging store: a SQLite file by default, PostgreSQL by URL."""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime
from functools import cache

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from credit_sync.config import runtime_dir, sql_dir

log = logging.getLogger(__name__)

VERSION_TABLE = "credit_sync_schema_version"
STAGING_URL_ENV = "CREDIT_SYNC_STAGING_URL"


def default_url() -> str:
    return os.environ.get(STAGING_URL_ENV) or f"sqlite:///{runtime_dir() / 'staging.db'}"


# JSON columns hold compact UTF-8: a staged payload's text is what delivery sends to a
# platform as it is, and \uXXXX escapes made Chinese text twice the bytes to send and parse.
_to_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def utcnow() -> datetime:
    """Audit timestamps (when the pipeline saw something), naive UTC. Never a data window."""
    return datetime.now(UTC).replace(tzinfo=None)


@cache
def engine_for(url: str) -> Engine:
    """The engine of a staging URL, one per process and URL."""
    return new_engine(url)


PAGE_SIZE = 32768  # of a new SQLite store


def new_engine(url: str) -> Engine:
    """A new engine on a staging URL (a process started by fork needs its own: the
    inherited one's pooled connections belong to the parent)."""
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": 60}, json_serializer=_to_json)

        @sa.event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            # Takes effect when the file is created (a no-op on an existing store). A
            # staged record is 1.5-2 kB: two fit in a 4 kB page, so every other insert
            # split a page and each commit logged twice the pages; 32 kB pages write a
            # record for a tenth less than 16 kB ones (docs/benchmarks.md).
            cur.execute(f"PRAGMA page_size={PAGE_SIZE}")
            cur.execute("PRAGMA journal_mode=WAL")  # readers (status CLI) never block the run
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    return sa.create_engine(url, pool_pre_ping=True, json_serializer=_to_json)


def migrate(engine: Engine) -> None:
    """Bring the schema to the head revision (a no-op when it is there already)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(sql_dir() / "migrations"))
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Two department tasks starting together must not both create the tables.
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(872341)"))
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table(VERSION_TABLE):
            return None
        return conn.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()


@cache
def _migrated(url: str) -> Engine:
    engine = engine_for(url)
    migrate(engine)
    return engine


def open_store(url: str | None = None) -> Engine:
    """An engine on a migrated staging store."""
    return _migrated(url or default_url())
