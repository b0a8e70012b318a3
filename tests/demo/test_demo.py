"""`make demo` end to end, in a throw-away Airflow home: the DAGs run through Airflow,
records reach the stand-ins, a rerun delivers nothing, a clerk's fix resolves a failure
and a change at the source is sent as exactly one update per target."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from credit_sync.hooks.platform import PlatformClient
from credit_sync.standins.process import StandinProcess

CLI = [sys.executable, "-m", "credit_sync.cli"]


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("demo-home")


def _run(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "CREDIT_SYNC_AIRFLOW_HOME": str(home)}
    env.pop("CREDIT_SYNC_STAGING_URL", None)
    return subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=600)


def _demo(home: Path) -> str:
    result = _run(home, "demo")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def _delivered_this_run(output: str) -> int:
    return int(re.search(r"records delivered in this run: (\d+)", output).group(1))


def _status(home: Path) -> dict:
    result = _run(home, "status", "--json", "--limit", "100000")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _shown(output: str) -> dict[str, dict[str, int]]:
    return {
        m[0]: {"permit": int(m[1]), "penalty": int(m[2])}
        for m in re.findall(r"stand-in (\w+) now shows: permit (\d+), penalty (\d+)", output)
    }


def test_demo_end_to_end(home: Path) -> None:
    first = _demo(home)
    assert "credit_sync_delivery" in first and "success" in first
    status = _status(home)
    rows = {(d["department"], d["kind"]): d for d in status["departments"]}
    assert set(rows) == {
        ("scjg", "permit"),
        ("scjg", "penalty"),
        ("jtys", "permit"),
        ("jtys", "penalty"),
    }
    assert sum(d["extracted"] for d in rows.values()) == 400
    failed = sum(d["failed"] for d in rows.values())
    assert 0.03 * 400 < failed < 0.15 * 400  # the seeded defects, roughly one record in ten
    for d in rows.values():  # the demo's summary printed the same numbers
        assert re.search(
            rf"{d['department']}\s+{d['kind']}\s+{d['extracted']}\s+{d['valid']}\s+{d['failed']}\s",
            first,
        )

    # What the stand-ins hold (read endpoint) is what staging says was delivered.
    shown = _shown(first)
    for target in ("provincial", "xybaiyin"):
        for kind in ("permit", "penalty"):
            mine = [t for t in status["targets"] if t["target"] == target and t["kind"] == kind]
            assert shown[target][kind] == sum(t["delivered"] - t["withdrawn"] for t in mine)
    assert _delivered_this_run(first) == sum(
        t["delivered"] + t["withdrawn"] for t in status["targets"]
    )
    assert all(t["pending"] == 0 and t["rejected"] == 0 for t in status["targets"])
    rules = status["open_failures"]["by_rule"]
    assert {"USCC_CHECKSUM", "REQUIRED_FOR_CATEGORY", "DATE_INVALID"} <= set(rules)
    assert all(
        not re.search(r"\d{17}[\dX]", json.dumps(f, ensure_ascii=False))
        for f in status["open_failures"]["items"]
    )  # no full ID number in the failure view

    second = _demo(home)
    assert _delivered_this_run(second) == 0
    assert _status(home)["departments"] == status["departments"]

    # The clerk fixes a wrong check digit; another record changes at the source.
    fix = _run(home, "demo", "--fix-one")
    assert fix.returncode == 0, fix.stderr
    source_key = re.search(r"fixed xk_xzxk (\d+):", fix.stdout).group(1)
    changed_key = _change_one_valid_record(home / "demo" / "scjg.db", status, exclude=source_key)
    third = _demo(home)
    after = _status(home)
    fixed_id, changed_id = f"scjg/permit/{source_key}", f"scjg/permit/{changed_key}"
    assert not any(f["record_id"] == fixed_id for f in after["open_failures"]["items"])
    assert _delivered_this_run(third) >= 3  # fixed: 1-2 targets; changed: one update each

    creds = json.loads((home / "demo" / "credentials.json").read_text())
    with StandinProcess(
        "provincial", home / "demo" / "standin-provincial.db", **creds["provincial"]
    ) as provincial:
        client = PlatformClient(provincial.base_url, provincial.app_key, provincial.app_secret)
        versions = client.request("GET", f"/api/v1/records?record_id={changed_id}").json()["items"]
        assert len(versions) == 2 and versions[-1]["data"]["XK_XDR_MC"].endswith("（已更名）")
        assert (
            len(client.request("GET", f"/api/v1/records?record_id={fixed_id}").json()["items"]) == 1
        )


def _change_one_valid_record(db_path: Path, status: dict, exclude: str) -> str:
    """Rename one counterparty that was delivered cleanly, as its department would."""
    bad = {
        f["record_id"].rsplit("/", 1)[1]
        for f in status["open_failures"]["items"]
        if f["record_id"].startswith("scjg/permit/")
    }
    now = datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M:%S")
    with sqlite3.connect(db_path) as db:
        for (key,) in db.execute("SELECT id FROM xk_xzxk WHERE gkbz = 1 AND zt = '0' ORDER BY id"):
            if str(key) not in bad and str(key) != exclude:
                db.execute(
                    "UPDATE xk_xzxk SET xdr_mc = xdr_mc || '（已更名）', gxsj = ? WHERE id = ?",
                    (now, key),
                )
                return str(key)
    raise AssertionError("no clean record to change")
