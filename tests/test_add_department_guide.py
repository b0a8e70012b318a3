"""The README's "Adding a department" guide, followed as written for a new PostgreSQL
department: its SQL and YAML blocks are taken from the README itself, the connection is
the documented environment variable, the DAG folder is parsed, and the new DAG's
extract and validate task bodies run against a real PostgreSQL database."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pendulum
import pytest
import sqlalchemy as sa

from credit_sync import config
from credit_sync.config import PROJECT_HOME
from credit_sync.staging.tables import outbox, staged_record

PARSE = r"""
import json, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(sys.argv[1])
print(json.dumps({"errors": {k: str(v) for k, v in bag.import_errors.items()},
                  "tasks": {d: sorted(t.task_id for t in bag.dags[d].tasks) for d in bag.dag_ids}}))
"""


def _guide() -> dict[str, str]:
    """The section's code blocks: the SQL file, the YAML entry, the connection variable."""
    readme = (PROJECT_HOME / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Adding a department", 1)[1].split("\n## ", 1)[0]
    blocks = dict(re.findall(r"```(sql|yaml)\n(.*?)```", section, re.S))
    env_var = re.search(r"`(AIRFLOW_CONN_DEPT_WSJ)=postgresql://user:pass@host:5432/db`", section)
    code = re.search(r"department `(\w+)`", section)
    assert blocks.keys() == {"sql", "yaml"} and env_var and code, "the guide changed shape"
    # As rendered: without the indentation of the list item the blocks sit in.
    sql, yaml = (
        "\n".join(x.removeprefix("   ") for x in blocks[k].splitlines()) for k in ("sql", "yaml")
    )
    return {"sql": sql, "yaml": yaml, "env": env_var.group(1), "code": code.group(1)}


@pytest.fixture
def guide_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A copy of the shipped config/ and sql/ to follow the guide in."""
    shutil.copytree(PROJECT_HOME / "config", tmp_path / "config")
    (tmp_path / "sql").mkdir()
    shutil.copytree(PROJECT_HOME / "sql" / "departments", tmp_path / "sql" / "departments")
    (tmp_path / "sql" / "migrations").symlink_to(PROJECT_HOME / "sql" / "migrations")
    env = {
        "CREDIT_SYNC_CONFIG_DIR": str(tmp_path / "config"),
        "CREDIT_SYNC_SQL_DIR": str(tmp_path / "sql"),
        "CREDIT_SYNC_AIRFLOW_HOME": str(tmp_path / "airflow"),
        "CREDIT_SYNC_STAGING_URL": f"sqlite:///{tmp_path / 'staging.db'}",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    for cached in (config.departments, config.targets, config.settings):
        cached.cache_clear()
    yield env
    for cached in (config.departments, config.targets, config.settings):
        cached.cache_clear()


def _department_database(url: str) -> None:
    """The department's own table, shaped as the guide's SELECT reads it."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "CREATE TABLE punish_case (id INTEGER PRIMARY KEY, modified_at TIMESTAMP, "
                "reviewed BOOLEAN, party_name TEXT, party_type TEXT, doc_no TEXT, "
                "decided_on DATE, punish_type TEXT, fine_yuan NUMERIC(12, 2))"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO punish_case VALUES "
                "(1, '2026-11-25 10:00', true, '会宁县某诊所', '2', '会卫罚〔2026〕1号', "
                "'2026-11-24', '02', 2000), "
                "(2, '2026-11-26 16:30', false, '会宁县某药店', '1', '会卫罚〔2026〕2号', "
                "'2026-11-25', '01', 0)"
            )
        )
    engine.dispose()


def test_adding_a_postgresql_department_as_the_readme_says(
    guide_env: dict[str, str], tmp_path: Path, pg_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from credit_sync.operators.department import extract_kind, validate_kind

    guide = _guide()
    code = guide["code"]
    _department_database(pg_database)

    # 1. the SQL file
    sql_file = tmp_path / "sql" / "departments" / code / "penalty.sql"
    sql_file.parent.mkdir(parents=True)
    sql_file.write_text(guide["sql"], encoding="utf-8")
    # 2. the config entry, appended to the departments list
    with (tmp_path / "config" / "departments.yaml").open("a", encoding="utf-8") as fh:
        fh.write("\n" + guide["yaml"])
    # 3. the connection, as the documented environment variable (URI form)
    url = sa.make_url(pg_database)
    uri = f"postgresql://{url.username}@{url.host}:{url.port}/{url.database}"
    monkeypatch.setenv(guide["env"], uri)

    # 4. the DAG appears at the next parse, with no import error
    parsed = subprocess.run(
        [sys.executable, "-c", PARSE, str(PROJECT_HOME / "dags")],
        env={**os.environ, "AIRFLOW_HOME": str(tmp_path / "airflow")},
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    dags = json.loads(parsed.stdout.strip().splitlines()[-1])
    assert dags["errors"] == {}
    assert dags["tasks"][f"credit_sync_dept_{code}"] == [
        "extract_penalty",
        "reconcile_penalty",
        "validate_penalty",
    ]
    assert "credit_sync_dept_scjg" in dags["tasks"]  # the others are still there

    # ... and its tasks do their job against the department's real database.
    when = pendulum.datetime(2026, 11, 27, 3, 0, tz="Asia/Shanghai")
    context = {
        "logical_date": when,
        "data_interval_end": when,
        "params": {},
        "run_id": "manual__guide",
    }
    extracted = extract_kind(code, "penalty", **context)
    assert (extracted["fetched"], extracted["new"]) == (2, 2)
    assert extracted["watermark"] == datetime(2026, 11, 26, 16, 30).isoformat()
    summary = validate_kind(code, "penalty", **context)
    assert summary["checked"] == 2

    with sa.create_engine(guide_env["CREDIT_SYNC_STAGING_URL"]).connect() as conn:
        staged = {
            r.source_key: r
            for r in conn.execute(
                sa.select(staged_record).where(staged_record.c.department == code)
            )
        }
        queued = conn.execute(
            sa.select(sa.func.count()).select_from(outbox).where(outbox.c.department == code)
        ).scalar()
    first = staged["1"]
    assert first.payload["CF_XDR_MC"] == "会宁县某诊所"
    assert first.payload["CF_CFLB"] == "罚款"  # the guide's mapping "02" → 罚款
    assert first.payload["CF_XDR_LB"] == "个体工商户"
    assert first.payload["CF_NR_FK"] == 0.2  # 元 → 万元 in the SELECT
    assert first.payload["CF_JDRQ"] == "2026-11-24"
    assert first.public_cleared is True and staged["2"].public_cleared is False
    assert first.validated_hash == first.content_hash  # validate looked at every record
    # The guide's example leaves out fields the standard requires (处罚机关, 依据, …): the
    # department's clerks see that, in Chinese, instead of silent publication.
    assert summary["invalid"] == 2 and queued == 0
