"""Alembic environment for the staging store; run through `credit_sync.staging.store.migrate`."""

from alembic import context

from credit_sync.staging.store import VERSION_TABLE
from credit_sync.staging.tables import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=VERSION_TABLE,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite needs table rebuilds
)
with context.begin_transaction():
    context.run_migrations()
