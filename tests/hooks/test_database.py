from __future__ import annotations

from airflow.sdk import Connection

from credit_sync.hooks.database import connection_url


def test_urls_for_each_supported_connection_type() -> None:
    pg = connection_url(
        Connection(
            conn_id="a",
            conn_type="postgres",
            host="db",
            port=5432,
            login="u",
            password="p@ss",
            schema="dept",
        )
    )
    assert pg.render_as_string(hide_password=False) == "postgresql+psycopg2://u:p%40ss@db:5432/dept"
    assert "p@ss" not in str(pg)  # the default rendering hides the password
    my = connection_url(
        Connection(conn_id="b", conn_type="mysql", host="db", login="u", schema="d")
    )
    assert my.query["charset"] == "utf8mb4"
    lite = connection_url(Connection(conn_id="c", conn_type="sqlite", host="/data/dept.db"))
    assert str(lite) == "sqlite:////data/dept.db"
    ora = connection_url(
        Connection(
            conn_id="d",
            conn_type="generic",
            host="ora",
            port=1521,
            login="u",
            extra='{"sqlalchemy_scheme": "oracle+oracledb", "query": {"service_name": "ORCL"}}',
        )
    )
    assert ora.drivername == "oracle+oracledb" and ora.query["service_name"] == "ORCL"
