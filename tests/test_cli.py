"""The `credit-sync` command line: exact output contracts and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa

from credit_sync.staging.store import open_store
from credit_sync.staging.tables import validation_failure
from tests.factories import WHEN
from tests.test_codes import real_codes

CLI = [sys.executable, "-m", "credit_sync.cli"]


def run(
    *args: str, stdin: str | None = None, env: dict | None = None
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*CLI, *args], input=stdin, capture_output=True, text=True, timeout=120, env=env
    )


def test_check_code_accepts_every_published_credit_code() -> None:
    codes = real_codes()
    result = run("check-code", "--type", "uscc", stdin="\n".join(codes) + "\n")
    assert result.returncode == 0, result.stdout
    assert result.stdout.splitlines() == [f"{c}\tvalid" for c in codes]


def test_check_code_reports_reasons_in_chinese_and_exits_1() -> None:
    result = run("check-code", "--type", "uscc", "911522010783762860", "911522010783762861")
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "911522010783762860\tvalid",
        "911522010783762861\tinvalid\t统一社会信用代码校验位错误：应为 0，实为 1",
    ]


def test_check_code_for_id_numbers_accepts_lowercase_x() -> None:
    result = run("check-code", "--type", "id", "11010519491231002x", "110105194912310021")
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0] == "11010519491231002x\tvalid"
    assert lines[1] == "110105194912310021\tinvalid\t身份证号码校验位错误：应为 X，实为 1"


def test_usage_errors_exit_2() -> None:
    assert run("check-code", "--type", "vat", "x").returncode == 2
    assert run("check-code").returncode == 2
    assert run("no-such-command").returncode == 2


def test_status_json_shape_on_an_empty_store(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    report = json.loads(run("status", "--json", "--staging-url", url).stdout)
    assert set(report) == {
        "version",
        "generated_at",
        "departments",
        "targets",
        "open_failures",
        "data_docs",
    }
    assert report["open_failures"] == {"total": 0, "by_rule": {}, "items": []}


def test_a_department_sees_only_its_own_failures(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    store = open_store(url)
    with store.begin() as conn:
        conn.execute(
            validation_failure.insert(),
            [
                {
                    "record_id": f"{d}/penalty/1",
                    "department": d,
                    "kind": "penalty",
                    "business_key": f"{d}-1",
                    "field": "CF_XDR_SHXYM",
                    "rule": "USCC_CHECKSUM",
                    "severity": "error",
                    "message": "统一社会信用代码校验位错误",
                    "value": "x",
                    "first_seen_at": WHEN,
                    "last_seen_at": WHEN,
                }
                for d in ("scjg", "jtys")
            ],
        )
    result = run("failures", "--department", "jtys", "--json", "--staging-url", url)
    rows = json.loads(result.stdout)
    assert [r["department"] for r in rows] == ["jtys"]
    text = run("failures", "--department", "jtys", "--staging-url", url).stdout
    assert "jtys：未解决的问题 1 条" in text and "scjg" not in text
    assert sa.inspect(store).has_table("validation_failure")
