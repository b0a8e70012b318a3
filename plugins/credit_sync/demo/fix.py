"""Play the department clerk: correct one defective record at a demo source, the way a
clerk would in their own system (new value, new update time), so the next run picks it
up and the failure resolves."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from credit_sync.codes import check_uscc, normalise_code, uscc_check_char


@dataclass(frozen=True)
class Fix:
    table: str
    source_key: str
    column: str
    old: str
    new: str


def fix_one_credit_code(db_path: Path, now: datetime | None = None) -> Fix | None:
    """Correct the first market-department permit whose credit code has a wrong check
    character. Returns what changed, or None when nothing needs fixing."""
    now = now or datetime.now(ZoneInfo("Asia/Shanghai"))
    with sqlite3.connect(db_path) as db:
        for source_key, code in db.execute(
            "SELECT id, tyshxydm FROM xk_xzxk WHERE tyshxydm IS NOT NULL ORDER BY id"
        ):
            value = normalise_code(code).value
            problem = check_uscc(value)
            if problem is None or problem.rule != "USCC_CHECKSUM":
                continue
            fixed = value[:17] + uscc_check_char(value[:17])
            db.execute(
                "UPDATE xk_xzxk SET tyshxydm = ?, gxsj = ? WHERE id = ?",
                (fixed, now.strftime("%Y-%m-%d %H:%M:%S"), source_key),
            )
            return Fix("xk_xzxk", str(source_key), "tyshxydm", code, fixed)
    return None
