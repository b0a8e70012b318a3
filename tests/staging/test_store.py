from __future__ import annotations

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
