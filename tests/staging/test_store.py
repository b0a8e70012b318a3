from __future__ import annotations

import sqlite3

import sqlalchemy as sa

from credit_sync.staging import store as staging_store
from credit_sync.staging.tables import metadata


def test_migrations_create_the_schema_the_code_queries(store: sa.Engine) -> None:
    inspector = sa.inspect(store)
    for table in metadata.sorted_tables:
        columns = {c["name"] for c in inspector.get_columns(table.name)}
        assert columns == {c.name for c in table.columns}, table.name
    assert staging_store.current_revision(store) == "0001"


def test_migrating_twice_is_a_no_op(staging_url: str) -> None:
    engine = staging_store.engine_for(staging_url)
    staging_store.migrate(engine)
    staging_store.migrate(engine)
    assert staging_store.current_revision(engine) == "0001"


def test_a_new_sqlite_store_has_large_pages_and_an_existing_one_keeps_its_own(tmp_path) -> None:
    new = staging_store.open_store(f"sqlite:///{tmp_path / 'new.db'}")
    with new.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA page_size").scalar() == staging_store.PAGE_SIZE
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    old_path = tmp_path / "old.db"
    with sqlite3.connect(old_path) as raw:  # created with SQLite's default page size
        raw.execute("CREATE TABLE t (x)")
    raw.close()
    old = staging_store.open_store(f"sqlite:///{old_path}")
    with old.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA page_size").scalar() == 4096
        assert conn.exec_driver_sql("SELECT count(*) FROM staged_record").scalar() == 0
