"""Chinese text in the character sets department databases really use comes through
intact: a MariaDB table in gbk (and GBK bytes kept in a latin1 column), and GB18030 text
(characters outside GBK such as 𠮷, 㐀) in a legacy PostgreSQL SQL_ASCII database, read
through the connections the DatabaseHook builds."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from credit_sync.config import Department, KindSource
from credit_sync.extraction import ExtractionError, extract
from credit_sync.hooks.database import DatabaseHook
from credit_sync.schema import Kind
from credit_sync.staging.store import open_store
from credit_sync.staging.tables import staged_record
from tests.conftest import PG_ADMIN_URL

WHEN = datetime(2026, 11, 27, 2, 0)
GBK_NAMES = {1: "会宁县堃喆商贸有限公司", 2: "會寧縣赟珺昇運輸合作社"}  # GBK, not GB2312
BEYOND_GBK = {1: "当事人吉𠮷𡈼，经营地址：会宁县㐀村", 2: "法定代表人：刘䶮"}  # GB18030 only


def _dept(tmp_path: Path, sql: str) -> Department:
    path = tmp_path / "penalty.sql"
    path.write_text(sql, encoding="utf-8")
    return Department(
        "encdept", "字符集测试局", "11620422013812340X", "dept_encdept",
        {Kind.PENALTY: KindSource(Kind.PENALTY, path)},
    )  # fmt: skip


def _source(monkeypatch: pytest.MonkeyPatch, connection: dict) -> sa.Engine:
    """An engine the way a task gets one: from the Airflow connection (env var)."""
    monkeypatch.setenv("AIRFLOW_CONN_DEPT_ENCDEPT", json.dumps(connection))
    return DatabaseHook("dept_encdept").get_source_engine()


def _staged(store: sa.Engine) -> dict[str, dict]:
    with store.connect() as conn:
        return {r.source_key: r.payload for r in conn.execute(sa.select(staged_record))}


def _hashes(store: sa.Engine) -> dict[str, tuple[str, str, str]]:
    c = staged_record.c
    with store.connect() as conn:
        rows = conn.execute(sa.select(c.source_key, c.raw_hash, c.content_hash, c.payload))
        return {r.source_key: (r.raw_hash, r.content_hash, json.dumps(r.payload)) for r in rows}


@pytest.fixture
def store(tmp_path: Path) -> sa.Engine:
    return open_store(f"sqlite:///{tmp_path / 'staging.db'}")


def test_mariadb_gbk_table_and_gbk_bytes_in_latin1_come_through_intact(
    mariadb_database: str, store: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through the driver a `mysql` connection uses (MySQL Connector/Python, its C
    extension, streamed), and through PyMySQL: the same records, hash for hash."""
    admin = sa.create_engine(mariadb_database)
    with admin.begin() as conn:
        conn.execute(
            sa.text(
                "CREATE TABLE cf_gbk (id INT PRIMARY KEY, dsr_mc VARCHAR(100), "
                "gxsj DATETIME) DEFAULT CHARSET=gbk"
            )
        )
        conn.execute(
            sa.text("CREATE TABLE cf_bz (id INT PRIMARY KEY, bz VARCHAR(200)) CHARSET=utf8mb4")
        )
        # An old system that wrote GBK bytes through a latin1 connection into latin1.
        conn.execute(
            sa.text("CREATE TABLE cf_old (id INT PRIMARY KEY, fddbr VARCHAR(100)) CHARSET=latin1")
        )
        for key, name in GBK_NAMES.items():
            conn.execute(
                sa.text("INSERT INTO cf_gbk VALUES (:id, :name, '2026-11-26 09:00:00')"),
                {"id": key, "name": name},
            )
            conn.execute(
                sa.text("INSERT INTO cf_bz VALUES (:id, :bz)"), {"id": key, "bz": BEYOND_GBK[key]}
            )
            conn.execute(
                sa.text("INSERT INTO cf_old VALUES (:id, UNHEX(:hex))"),
                {"id": key, "hex": name.encode("gbk").hex()},
            )
        stored = conn.execute(sa.text("SELECT HEX(dsr_mc) FROM cf_gbk WHERE id = 1")).scalar()
    assert bytes.fromhex(stored) == GBK_NAMES[1].encode("gbk")  # really kept as GBK bytes
    url = sa.make_url(mariadb_database)
    source = _source(
        monkeypatch,
        {"conn_type": "mysql", "host": url.host, "port": url.port, "login": url.username,
         "schema": url.database},
    )  # fmt: skip
    assert source.url.query["charset"] == "utf8mb4"
    dept = _dept(
        tmp_path,
        "SELECT g.id AS source_key, g.gxsj AS updated_at, g.dsr_mc AS CF_XDR_MC, b.bz AS BZ, "
        "CONVERT(CAST(o.fddbr AS BINARY) USING gbk) AS CF_FRDB "
        "FROM cf_gbk g JOIN cf_bz b ON b.id = g.id JOIN cf_old o ON o.id = g.id",
    )
    assert source.dialect.driver == "mysqlconnector"
    with source.connect() as conn:  # the C extension, not the pure-Python fallback
        assert type(conn.connection.dbapi_connection).__name__ == "CMySQLConnection"
        result = conn.execution_options(stream_results=True).execute(sa.text("SELECT 1"))
        assert "Buffered" not in type(result.cursor).__name__  # rows streamed, not held
        result.all()
    extract(dept, Kind.PENALTY, source, store, logical_date=WHEN, window_end=WHEN)
    staged = _staged(store)
    for key, name in GBK_NAMES.items():
        assert staged[str(key)]["CF_XDR_MC"] == name
        assert staged[str(key)]["CF_FRDB"] == name
        assert staged[str(key)]["BZ"] == BEYOND_GBK[key]

    # PyMySQL, chosen by the connection's extra, stages the very same records.
    pymysql_source = _source(
        monkeypatch,
        {"conn_type": "mysql", "host": url.host, "port": url.port, "login": url.username,
         "schema": url.database, "extra": {"sqlalchemy_scheme": "mysql+pymysql"}},
    )  # fmt: skip
    assert pymysql_source.dialect.driver == "pymysql"
    other = open_store(f"sqlite:///{tmp_path / 'pymysql.db'}")
    extract(dept, Kind.PENALTY, pymysql_source, other, logical_date=WHEN, window_end=WHEN)
    assert _hashes(other) == _hashes(store) and len(_hashes(store)) == len(GBK_NAMES)
    pymysql_source.dispose()

    # Why the client side stays utf8mb4: a gbk client cannot carry 𠮷 out of utf8mb4.
    gbk_client = sa.create_engine(mariadb_database.replace("charset=utf8mb4", "charset=gbk"))
    with gbk_client.connect() as conn:
        assert "𠮷" not in conn.execute(sa.text("SELECT bz FROM cf_bz WHERE id = 1")).scalar()
    gbk_client.dispose()
    source.dispose()
    admin.dispose()


@pytest.fixture
def sql_ascii_database() -> Iterator[str]:
    """A legacy PostgreSQL database that stores whatever bytes its clients send."""
    name = f"cs_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(
            sa.text(
                f"CREATE DATABASE {name} ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' "
                "TEMPLATE template0"
            )
        )
    yield name
    with admin.connect() as conn:
        conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    admin.dispose()


def test_gb18030_text_in_a_sql_ascii_postgresql_database(
    sql_ascii_database: str, store: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = sa.make_url(PG_ADMIN_URL).set(database=sql_ascii_database)
    writer = sa.create_engine(url)
    with writer.begin() as conn:  # as the department's GB18030 application wrote them
        conn.execute(sa.text("CREATE TABLE cf (id INT, dsr_mc TEXT, sy TEXT, gxsj TIMESTAMP)"))
        for key, name in GBK_NAMES.items():
            conn.execute(
                sa.text(
                    "INSERT INTO cf VALUES (:id, convert_from(decode(:name, 'hex'), 'SQL_ASCII'), "
                    "convert_from(decode(:sy, 'hex'), 'SQL_ASCII'), '2026-11-26 09:00')"
                ),
                {
                    "id": key,
                    "name": name.encode("gb18030").hex(),
                    "sy": BEYOND_GBK[key].encode("gb18030").hex(),
                },
            )
        stored = conn.execute(sa.text("SELECT encode(sy::bytea, 'hex') FROM cf WHERE id = 1"))
        assert "9534b235" in stored.scalar()  # 𠮷 is these 4 GB18030 bytes on disk
    writer.dispose()
    dept = _dept(
        tmp_path,
        "SELECT id AS source_key, gxsj AS updated_at, dsr_mc AS CF_XDR_MC, sy AS CF_SY FROM cf",
    )
    connection = {"conn_type": "postgres", "host": url.host, "port": url.port,
                  "login": url.username, "schema": sql_ascii_database}  # fmt: skip

    # Without telling the driver the bytes' encoding the department fails, by name.
    with pytest.raises(ExtractionError) as err:
        extract(dept, Kind.PENALTY, _source(monkeypatch, connection), store,
                logical_date=WHEN, window_end=WHEN)  # fmt: skip
    assert "department encdept (字符集测试局) penalty: source query failed" in str(err.value)
    assert "UnicodeDecodeError" in str(err.value)

    # With the connection's extra {"query": {"client_encoding": "GB18030"}} it is intact.
    source = _source(monkeypatch, connection | {"extra": {"query": {"client_encoding": "GB18030"}}})
    extract(dept, Kind.PENALTY, source, store, logical_date=WHEN, window_end=WHEN)
    staged = _staged(store)
    for key, name in GBK_NAMES.items():
        assert staged[str(key)]["CF_XDR_MC"] == name
        assert staged[str(key)]["CF_SY"] == BEYOND_GBK[key]
    source.dispose()
