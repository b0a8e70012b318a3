from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from credit_sync import config
from credit_sync.config import (
    ConfigError,
    check_columns,
    check_select,
    load_departments,
    load_targets,
)
from credit_sync.schema import Kind
from credit_sync.select_sql import read_select


def test_shipped_configuration_loads() -> None:
    depts = load_departments()
    assert {d.code for d in depts} == {"scjg", "jtys"}
    assert all(set(d.kinds) == {Kind.PERMIT, Kind.PENALTY} for d in depts)
    assert {t.code: t.public for t in load_targets()} == {"provincial": False, "xybaiyin": True}
    assert config.load_settings().late_after_working_days == 7


GOOD_SQL = "SELECT id AS source_key, modified AS updated_at, party AS CF_XDR_MC FROM punish"


def _write(tmp_path: Path, yaml_text: str, sql: str = GOOD_SQL) -> Path:
    (tmp_path / "q.sql").write_text(sql, encoding="utf-8")
    path = tmp_path / "departments.yaml"
    path.write_text(yaml_text, encoding="utf-8")
    return path


BASE = """
departments:
  - code: demo
    name: 测试局
    credit_code: 11620422013812340X
    conn_id: dept_demo
    kinds:
      penalty:
        sql: q.sql
"""


@pytest.fixture
def sql_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CREDIT_SYNC_SQL_DIR", str(tmp_path))


@pytest.mark.parametrize(
    ("yaml_text", "sql", "expected"),
    [
        (
            BASE.replace("conn_id:", "colour: red\n    conn_id:"),
            None,
            "department 'demo': unknown key(s) ['colour']",
        ),
        (BASE.replace("q.sql", "missing.sql"), None, "SQL file not found"),
        (BASE, "DELETE FROM t", "q.sql must be a single SELECT statement"),
        (BASE, "SELECT 1; DROP TABLE t", "exactly one statement"),
        (
            BASE + "        mappings:\n          CF_NOPE: {a: b}\n",
            None,
            "unknown canonical field 'CF_NOPE'",
        ),
        (BASE.replace("penalty:", "licence:"), None, "unknown kind 'licence'"),
        (BASE.replace("    conn_id: dept_demo\n", ""), None, "missing key 'conn_id'"),
        (
            BASE,
            GOOD_SQL.replace("AS CF_XDR_MC", "AS CF_NOPE"),
            "q.sql alias 'CF_NOPE' is not a canonical penalty field",
        ),
        (
            BASE,
            GOOD_SQL.replace("AS CF_XDR_MC", "AS xk_wsh"),
            "q.sql alias 'xk_wsh' is a permit field, not a penalty field",
        ),
        (BASE, GOOD_SQL.replace("modified AS updated_at", "modified"), "['updated_at']"),
        (BASE + "    reconcile: fortnightly\n", None, "reconcile must be daily, weekly"),
        (BASE + "    reconcile: [monday, 3]\n", None, "reconcile must be daily, weekly"),
        (BASE + "    page_rows: 0\n", None, "page_rows must be a whole number of rows"),
        (BASE + "    chunk_size: lots\n", None, "chunk_size must be a whole number of rows"),
    ],
)
@pytest.mark.usefixtures("sql_in_tmp")
def test_config_errors_name_file_department_and_problem(
    tmp_path: Path, yaml_text: str, sql: str | None, expected: str
) -> None:
    path = _write(tmp_path, yaml_text, sql or GOOD_SQL)
    with pytest.raises(ConfigError) as err:
        load_departments(path)
    assert str(path) in str(err.value)
    assert expected in str(err.value)


@pytest.mark.usefixtures("sql_in_tmp")
def test_page_rows_and_chunk_size_default_or_as_configured(tmp_path: Path) -> None:
    (default,) = load_departments(_write(tmp_path, BASE))
    assert (default.chunk_size, default.page_rows) == (10_000, 100_000)
    tuned = BASE + "    chunk_size: 5000\n    page_rows: 250000\n"
    (dept,) = load_departments(_write(tmp_path, tuned))
    assert (dept.chunk_size, dept.page_rows) == (5000, 250_000)


def test_select_check_allows_comments_ctes_and_semicolons_in_literals() -> None:
    assert check_select("-- comment\n/* block */ WITH a AS (SELECT 1) SELECT * FROM a;") is None
    assert check_select("SELECT 'a;b' AS x") is None
    assert check_select("UPDATE t SET a = 1") is not None


@pytest.mark.parametrize(
    "sql",
    [
        # the shipped layouts: CAST(... AS VARCHAR), CASE ... END AS, literals with commas
        "SELECT CAST(c.ajbh AS VARCHAR(40)) AS source_key, c.gxsj AS updated_at, "
        "CASE WHEN c.gk = 'Y, ok' THEN 1 ELSE 0 END AS public_cleared FROM cf c",
        # lower-case aliases (PostgreSQL folds them), quoted ones, implicit aliases
        'SELECT c.id source_key, c.t AS "UPDATED_AT", c.n AS cf_xdr_mc, `c`.`x` AS `CF_WSH` '
        "FROM cf AS c",
        # CTEs, sub-queries and a union: only the top-level select lists name columns
        "WITH x AS (SELECT id AS whatever FROM t) SELECT x.id AS source_key, "
        "(SELECT max(m) AS m FROM u) AS updated_at FROM x UNION ALL SELECT 1, 2 FROM dual",
        "SELECT * FROM v_punish",
        "SELECT t.*, t.id AS source_key FROM t",
    ],
)
def test_select_columns_accepted(sql: str) -> None:
    shape = read_select(sql)
    assert not isinstance(shape, str)
    assert check_columns(shape, Kind.PENALTY) is None


def test_select_column_check_sees_unknown_alias_after_a_subquery() -> None:
    shape = read_select(
        "SELECT (SELECT 1 AS inner_alias) AS source_key, now() AS updated_at, "
        "x AS CF_CFLB_CODE FROM t"
    )
    assert not isinstance(shape, str)
    assert "'CF_CFLB_CODE' is not a canonical penalty field" in check_columns(shape, Kind.PENALTY)


@pytest.mark.usefixtures("sql_in_tmp")
def test_reconcile_schedule(tmp_path: Path) -> None:
    days = {}
    for value in ("weekly", "daily", "[monday, Thursday]", "null"):
        path = _write(tmp_path, BASE + f"    reconcile: {value}\n")
        (dept,) = load_departments(path)
        days[value] = dept.reconcile_days
        sunday = date(2026, 11, 29)
        assert dept.reconcile_due(sunday) == (value in ("weekly", "daily"))
    assert days == {
        "weekly": {6},
        "daily": set(range(7)),
        "[monday, Thursday]": {0, 3},
        "null": set(),
    }
