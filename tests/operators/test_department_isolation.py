"""Through Airflow itself (`dag.test()` via the demo harness, in a throw-away Airflow
home): a department whose database is down, whose SQL is wrong or whose credentials are
wrong fails only its own tasks, with a message naming the department and the cause,
while another department's DAG (extract, reconcile, validate) completes."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa

from credit_sync.config import PROJECT_HOME
from credit_sync.demo.environment import DemoPaths, airflow_env
from tests.factories import penalty_row

CODES = list(penalty_row(1))
SELECT = (
    "SELECT id AS source_key, modified AS updated_at, 1 AS public_cleared, "
    + ", ".join(f"c_{c.lower()} AS {c}" for c in CODES)
    + " FROM {table}"
)
DEPARTMENTS = {  # code: (name, what is wrong)
    "okdept": ("会宁县正常局", None),
    "downdept": ("会宁县停机局", "database down"),
    "badsql": ("会宁县错误查询局", "SQL names a missing table"),
    "badcreds": ("会宁县密码错误局", "wrong credentials"),
}


def _config(tmp: Path) -> tuple[Path, Path]:
    config_dir, sql_dir = tmp / "config", tmp / "sql"
    config_dir.mkdir()
    for name in ("targets.yaml", "settings.yaml"):
        shutil.copy(PROJECT_HOME / "config" / name, config_dir / name)
    (sql_dir / "migrations").parent.mkdir()
    (sql_dir / "migrations").symlink_to(PROJECT_HOME / "sql" / "migrations")
    entries = []
    for code, (name, _) in DEPARTMENTS.items():
        path = sql_dir / "departments" / code / "penalty.sql"
        path.parent.mkdir(parents=True)
        table = "t_missing" if code == "badsql" else "cf"
        path.write_text(SELECT.format(table=table), encoding="utf-8")
        entries.append(
            f"  - code: {code}\n    name: {name}\n    credit_code: 11620422013812340X\n"
            f"    conn_id: dept_{code}\n    schedule: null\n    reconcile: daily\n"
            f"    public_cleared_default: true\n"
            f"    kinds:\n      penalty:\n        sql: departments/{code}/penalty.sql\n"
        )
    (config_dir / "departments.yaml").write_text(
        "departments:\n" + "".join(entries), encoding="utf-8"
    )
    return config_dir, sql_dir


def _source_table(url: str) -> None:
    engine = sa.create_engine(url)
    columns = ", ".join(f"c_{c.lower()} VARCHAR(200)" for c in CODES)
    names = ["id", "modified", *(f"c_{c.lower()}" for c in CODES)]
    with engine.begin() as conn:
        conn.execute(
            sa.text(f"CREATE TABLE cf (id INTEGER PRIMARY KEY, modified TIMESTAMP, {columns})")
        )
        conn.execute(
            sa.text(f"INSERT INTO cf VALUES ({', '.join(':' + n for n in names)})"),
            [
                {"id": n, "modified": "2026-11-26 09:00:00"}
                | {f"c_{c.lower()}": str(v) for c, v in penalty_row(n).items()}
                for n in (1, 2)
            ],
        )
    engine.dispose()


def test_a_broken_department_fails_alone_through_airflow(
    tmp_path: Path, pg_database: str, migrated_airflow_db: Callable[..., None]
) -> None:
    _source_table(pg_database)
    (tmp_path / "lite.db").touch()
    pg = sa.make_url(pg_database)
    connections = {
        "dept_okdept": {
            "conn_type": "postgres",
            "host": pg.host,
            "port": pg.port,
            "login": pg.username,
            "schema": pg.database,
        },
        "dept_downdept": {
            "conn_type": "postgres",
            "host": "127.0.0.1",
            "port": 1,
            "login": "postgres",
            "schema": "dept",
        },
        "dept_badsql": {"conn_type": "sqlite", "host": str(tmp_path / "lite.db")},
        "dept_badcreds": {
            "conn_type": "mysql",
            "host": "127.0.0.1",
            "port": 3306,
            "login": "credit_sync_nobody",
            "password": "not-the-password",
            "schema": "test",
        },
    }
    paths = DemoPaths(PROJECT_HOME, tmp_path / "airflow", tmp_path / "airflow" / "demo")
    paths.demo.mkdir(parents=True)
    config_dir, sql_dir = _config(tmp_path)
    env = airflow_env(paths, connections) | {
        "CREDIT_SYNC_CONFIG_DIR": str(config_dir),
        "CREDIT_SYNC_SQL_DIR": str(sql_dir),
        "CREDIT_SYNC_STAGING_URL": f"sqlite:///{tmp_path / 'staging.db'}",
    }
    migrated_airflow_db(paths, env)
    result_file = tmp_path / "result.json"
    broken = [code for code, (_, wrong) in DEPARTMENTS.items() if wrong]
    dag_ids = [f"credit_sync_dept_{code}" for code in [*broken, "okdept"]]
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "credit_sync.demo.airflow_run",
            "--logical-date",
            "2026-11-27T02:00:00+08:00",
            "--result",
            str(result_file),
            *(a for d in dag_ids for a in ("--dag-id", d)),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    log = proc.stdout + proc.stderr
    outcome = json.loads(result_file.read_text())
    assert proc.returncode == 1, log[-3000:]  # some DAG failed

    assert outcome["credit_sync_dept_okdept"]["state"] == "success", log[-3000:]
    assert set(outcome["credit_sync_dept_okdept"]["tasks"].values()) == {"success"}
    for code in broken:
        run = outcome[f"credit_sync_dept_{code}"]
        assert run["state"] == "failed"
        assert run["tasks"] == {
            "extract_penalty": "failed",
            "reconcile_penalty": "upstream_failed",
            "validate_penalty": "upstream_failed",
        }
    causes = {
        "downdept": 'OperationalError: connection to server at "127.0.0.1", port 1 failed: '
        "Connection refused",
        "badsql": "OperationalError: no such table: t_missing",
        # MySQL Connector/Python's wording (a `mysql` connection's driver)
        "badcreds": "ProgrammingError: 1698 (28000): Access denied for user 'credit_sync_nobody'",
    }
    for code, cause in causes.items():
        name = DEPARTMENTS[code][0]
        assert f"department {code} ({name}) penalty: source query failed: {cause}" in log, code
    assert "not-the-password" not in log

    # The healthy department's records went all the way: staged, valid, queued.
    with sa.create_engine(env["CREDIT_SYNC_STAGING_URL"]).connect() as conn:
        staged = dict(
            conn.execute(
                sa.text("SELECT department, count(*) FROM staged_record WHERE valid GROUP BY 1")
            ).all()
        )
        queued = conn.execute(sa.text("SELECT count(*) FROM outbox")).scalar()
    assert staged == {"okdept": 2}
    assert queued == 4  # two records, two targets
