"""SQLAlchemy engines from Airflow Connections (department sources, the staging store).
The connection types, URLs and engine options are in `credit_sync.engines`."""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseHook
from sqlalchemy.engine import Engine

from credit_sync.engines import SCHEMES, connection_url, database_engine

__all__ = ["SCHEMES", "DatabaseHook", "connection_url", "database_engine", "staging_engine"]


class DatabaseHook(BaseHook):
    """An engine on the database of one Airflow connection."""

    conn_name_attr = "conn_id"
    hook_name = "credit-sync database"

    def __init__(self, conn_id: str) -> None:
        super().__init__()
        self.conn_id = conn_id

    def get_engine(self, **kwargs: Any) -> Engine:
        return database_engine(connection_url(self.get_connection(self.conn_id)), **kwargs)

    def get_source_engine(self, **kwargs: Any) -> Engine:
        """The engine of a department's database: results streamed."""
        url = connection_url(self.get_connection(self.conn_id))
        return database_engine(url, streaming=True, **kwargs)


STAGING_CONN_ID = "credit_sync_staging"


def staging_engine() -> Engine:
    """The staging store: the `credit_sync_staging` Airflow connection when defined,
    else CREDIT_SYNC_STAGING_URL, else the SQLite file of the embedded default."""
    from airflow.exceptions import AirflowNotFoundException

    from credit_sync.staging.store import default_url, open_store

    try:
        conn = BaseHook.get_connection(STAGING_CONN_ID)
    except AirflowNotFoundException:
        return open_store(default_url())
    return open_store(connection_url(conn).render_as_string(hide_password=False))
