"""Engines on databases outside the pipeline (department sources, exchange databases),
from Airflow connection fields: which driver a connection type uses, the URL, timeouts,
and streamed results. Plain SQLAlchemy, no Airflow import: `hooks/database.py` feeds it
the connection.

The URL is built from the connection; credentials never appear in code, config or logs.
Supported `conn_type`s map to SQLAlchemy dialects; any other database can be reached by
putting a SQLAlchemy scheme (`"sqlalchemy_scheme": "oracle+oracledb"`) in the extra.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine

SCHEMES = {
    "sqlite": "sqlite",
    "postgres": "postgresql+psycopg2",
    "postgresql": "postgresql+psycopg2",
    # MySQL Connector/Python with its C extension: about twice PyMySQL's speed at reading
    # rows. PyMySQL stays installed: `"sqlalchemy_scheme": "mysql+pymysql"` selects it.
    "mysql": "mysql+mysqlconnector",
    "mariadb": "mysql+mysqlconnector",
    "oracle": "oracle+oracledb",
    "mssql": "mssql+pymssql",
    "kingbase": "postgresql+psycopg2",  # Kingbase speaks the PostgreSQL protocol
    "dm": "dm+dmPython",
}


def connection_url(conn: Any) -> URL:
    """A SQLAlchemy URL for an Airflow connection (`conn` is an airflow.sdk Connection)."""
    extra = conn.extra_dejson or {}
    scheme = extra.get("sqlalchemy_scheme") or SCHEMES.get(conn.conn_type)
    if not scheme:
        raise ValueError(
            f"connection {conn.conn_id!r}: conn_type {conn.conn_type!r} has no SQLAlchemy "
            "dialect; set extra.sqlalchemy_scheme"
        )
    if scheme == "sqlite":
        return URL.create("sqlite", database=conn.host or conn.schema)
    query = {k: str(v) for k, v in (extra.get("query") or {}).items()}
    if scheme.startswith("mysql") and "charset" not in query:
        # The client side is always utf8mb4, whatever the tables use (gbk, gb2312, latin1):
        # the server converts each column from its own character set, and utf8mb4 holds
        # every character of all of them. A gbk client would turn 𠮷 into '?' in any
        # utf8mb4 column. (Text stored as GBK bytes in a latin1 column is the SELECT's
        # job: CONVERT(CAST(col AS BINARY) USING gbk); see docs/sources.md.)
        query["charset"] = "utf8mb4"
    return URL.create(
        scheme,
        username=conn.login or None,
        password=conn.password or None,
        host=conn.host or None,
        port=conn.port or None,
        database=conn.schema or None,
        query=query,
    )


# A department database that does not answer fails its task within seconds instead of
# holding a pool slot for the TCP timeout; a slow staging write between two chunks must
# not make MySQL drop a streamed result (it gives up on a client after net_write_timeout).
SOURCE_CONNECT_ARGS: dict[str, dict[str, Any]] = {
    "postgresql": {"connect_timeout": 30},
    "mysql": {
        "connect_timeout": 30,
        "init_command": "SET SESSION net_write_timeout = 3600",
    },
}


def database_engine(url: URL | str, *, streaming: bool = False, **kwargs: Any) -> Engine:
    """An engine on a database outside the pipeline: connection timeouts; with
    `streaming` (a department's database), results that can be streamed whatever the
    driver."""
    url = sa.make_url(url)
    if url.get_backend_name() != "sqlite":
        kwargs.setdefault("pool_pre_ping", True)
    connect_args = {
        k: v
        for k, v in SOURCE_CONNECT_ARGS.get(url.get_backend_name(), {}).items()
        if k not in url.query  # what the connection's extra says wins
    }
    if connect_args:
        kwargs["connect_args"] = connect_args | kwargs.get("connect_args", {})
    engine = sa.create_engine(url, **kwargs)
    if streaming and engine.dialect.driver == "mysqlconnector":
        _unbuffered(engine)
    return engine


def _unbuffered(engine: Engine) -> None:
    """SQLAlchemy opens MySQL Connector/Python connections buffered (every row of a result
    read into memory at once) and offers no server-side cursor for them. A department's
    SELECT can return millions of rows, so its connections are made unbuffered: results
    are then streamed (`stream_results`), and memory stays one chunk."""
    engine.dialect.supports_server_side_cursors = True

    @sa.event.listens_for(engine, "connect")
    def _stream(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.config(buffered=False)
