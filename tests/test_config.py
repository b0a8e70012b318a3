from __future__ import annotations

from pathlib import Path

import pytest

from credit_sync import config
from credit_sync.config import ConfigError, check_select, load_departments, load_targets
from credit_sync.schema import Kind


def test_shipped_configuration_loads() -> None:
    depts = load_departments()
    assert {d.code for d in depts} == {"scjg", "jtys"}
    assert all(set(d.kinds) == {Kind.PERMIT, Kind.PENALTY} for d in depts)
    assert {t.code: t.public for t in load_targets()} == {"provincial": False, "xybaiyin": True}
    assert config.load_settings().late_after_working_days == 7


def _write(tmp_path: Path, yaml_text: str, sql: str = "SELECT 1 AS source_key") -> Path:
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
    ],
)
@pytest.mark.usefixtures("sql_in_tmp")
def test_config_errors_name_file_department_and_problem(
    tmp_path: Path, yaml_text: str, sql: str | None, expected: str
) -> None:
    path = _write(tmp_path, yaml_text, sql or "SELECT 1 AS source_key")
    with pytest.raises(ConfigError) as err:
        load_departments(path)
    assert str(path) in str(err.value)
    assert expected in str(err.value)


def test_select_check_allows_comments_ctes_and_semicolons_in_literals() -> None:
    assert check_select("-- comment\n/* block */ WITH a AS (SELECT 1) SELECT * FROM a;") is None
    assert check_select("SELECT 'a;b' AS x") is None
    assert check_select("UPDATE t SET a = 1") is not None
