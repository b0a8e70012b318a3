"""What the pipeline holds, read from the staging store at any time: the numbers behind
`credit-sync status`, the demo summary, and the operators' and clerks' views."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from credit_sync.staging.store import utcnow
from credit_sync.staging.tables import outbox, staged_record, validation_failure, validation_run

STATUS_VERSION = 1


def _department_rows(conn: sa.Connection) -> list[dict[str, Any]]:
    r = staged_record.c
    query = (
        sa.select(
            r.department,
            r.kind,
            sa.func.count().label("extracted"),
            sa.func.sum(sa.case((r.valid.is_(True), 1), else_=0)).label("valid"),
            sa.func.sum(sa.case((r.valid.is_(False), 1), else_=0)).label("failed"),
            sa.func.sum(sa.case((r.validated_hash.is_(None), 1), else_=0)).label("unvalidated"),
            sa.func.sum(sa.case((r.late.is_(True), 1), else_=0)).label("late"),
        )
        .where(r.deleted_at.is_(None))
        .group_by(r.department, r.kind)
        .order_by(r.department, r.kind)
    )
    return [
        {k: int(v) if k not in ("department", "kind") else v for k, v in row.items()}
        for row in conn.execute(query).mappings()
    ]


def _target_rows(conn: sa.Connection) -> list[dict[str, Any]]:
    o = outbox.c
    rows = conn.execute(
        sa.select(
            o.target, o.department, o.kind, o.operation, o.state, sa.func.count().label("n")
        ).group_by(o.target, o.department, o.kind, o.operation, o.state)
    ).mappings()
    totals: dict[tuple, dict[str, Any]] = {}
    for row in rows:
        key = (row["target"], row["department"], row["kind"])
        entry = totals.setdefault(
            key,
            {
                "target": key[0],
                "department": key[1],
                "kind": key[2],
                "delivered": 0,
                "withdrawn": 0,
                "pending": 0,
                "rejected": 0,
                "superseded": 0,
            },
        )
        n = int(row["n"])
        if row["state"] == "accepted":
            entry["withdrawn" if row["operation"] == "withdraw" else "delivered"] += n
        elif row["state"] in ("pending", "sent", "awaiting", "failed"):
            entry["pending"] += n
        elif row["state"] == "rejected":
            entry["rejected"] += n
        else:
            entry["superseded"] += n
    return [totals[k] for k in sorted(totals)]


def open_failures(
    conn: sa.Connection, department: str | None = None, limit: int | None = None
) -> list[dict[str, Any]]:
    """Open validation failures and platform rejections, newest first. With `department`,
    only that department's: a clerk's view never shows another department's records."""
    f = validation_failure.c
    query = (
        sa.select(
            f.department,
            f.kind,
            f.record_id,
            f.business_key,
            f.field,
            f.rule,
            f.severity,
            f.message,
            f.value,
            f.first_seen_at,
            f.last_seen_at,
        )
        .where(f.resolved_at.is_(None))
        .order_by(f.department, f.kind, f.business_key, f.rule)
    )
    o = outbox.c
    rejected = (
        sa.select(
            o.department,
            o.kind,
            o.record_id,
            o.target,
            o.platform_code,
            o.platform_message,
            o.updated_at,
            staged_record.c.business_key,
        )
        .join(staged_record, staged_record.c.record_id == o.record_id)
        .where(o.state == "rejected")
        .order_by(o.department, o.record_id)
    )
    if department:
        query = query.where(f.department == department)
        rejected = rejected.where(o.department == department)
    out = [
        {
            **dict(row),
            "source": "validation",
            "first_seen_at": _iso(row["first_seen_at"]),
            "last_seen_at": _iso(row["last_seen_at"]),
        }
        for row in conn.execute(query).mappings()
    ]
    for row in conn.execute(rejected).mappings():
        out.append(
            {
                "department": row["department"],
                "kind": row["kind"],
                "record_id": row["record_id"],
                "business_key": row["business_key"],
                "field": None,
                "rule": f"PLATFORM_{row['platform_code'] or 'REJECTED'}",
                "severity": "error",
                "message": f"{row['target']}退回：{row['platform_message'] or row['platform_code']}",
                "value": None,
                "source": f"target:{row['target']}",
                "first_seen_at": _iso(row["updated_at"]),
                "last_seen_at": _iso(row["updated_at"]),
            }
        )
    return out[:limit] if limit else out


def _latest_docs(conn: sa.Connection) -> list[dict[str, Any]]:
    v = validation_run.c
    latest = (
        sa.select(v.department, v.kind, sa.func.max(v.id).label("id"))
        .where(v.data_docs.is_not(None))
        .group_by(v.department, v.kind)
        .subquery()
    )
    rows = conn.execute(
        sa.select(v.department, v.kind, v.data_docs, v.logical_date)
        .join(latest, v.id == latest.c.id)
        .order_by(v.department, v.kind)
    ).mappings()
    return [{**dict(r), "logical_date": _iso(r["logical_date"])} for r in rows]


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def status(store: Engine, failure_limit: int = 50) -> dict[str, Any]:
    with store.connect() as conn:
        failures = open_failures(conn)
        return {
            "version": STATUS_VERSION,
            "generated_at": utcnow().isoformat() + "Z",
            "departments": _department_rows(conn),
            "targets": _target_rows(conn),
            "open_failures": {
                "total": len(failures),
                "by_rule": _count_by(failures, "rule"),
                "items": failures[:failure_limit],
            },
            "data_docs": _latest_docs(conn),
        }


def _count_by(rows: Sequence[dict], key: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in rows:
        counts[row[key]] = counts.get(row[key], 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def render_text(report: dict[str, Any], names: dict[str, str] | None = None) -> str:
    """The status report as a plain-text table for terminals and task logs."""
    names = names or {}
    lines = ["Departments (records in staging)", ""]
    header = f"{'department':<12}{'kind':<9}{'extracted':>10}{'valid':>8}{'failed':>8}{'late':>6}"
    targets = sorted({t["target"] for t in report["targets"]})
    header += "".join(f"{'→ ' + t:>16}" for t in targets)
    lines.append(header)
    delivered = {
        (t["target"], t["department"], t["kind"]): t["delivered"] for t in report["targets"]
    }
    for d in report["departments"]:
        line = (
            f"{d['department']:<12}{d['kind']:<9}{d['extracted']:>10}{d['valid']:>8}"
            f"{d['failed']:>8}{d['late']:>6}"
        )
        line += "".join(f"{delivered.get((t, d['department'], d['kind']), 0):>16}" for t in targets)
        lines.append(line)
    lines += ["", "Targets (outbox)", ""]
    lines.append(f"{'target':<14}{'delivered':>10}{'withdrawn':>10}{'pending':>9}{'rejected':>9}")
    for t in targets:
        rows = [r for r in report["targets"] if r["target"] == t]
        total = {
            k: sum(r[k] for r in rows) for k in ("delivered", "withdrawn", "pending", "rejected")
        }
        lines.append(
            f"{t:<14}{total['delivered']:>10}{total['withdrawn']:>10}"
            f"{total['pending']:>9}{total['rejected']:>9}"
        )
    failures = report["open_failures"]
    lines += ["", f"Open failures: {failures['total']}"]
    for rule, n in failures["by_rule"].items():
        lines.append(f"  {rule:<28}{n:>6}")
    if report["data_docs"]:
        lines += ["", "Data Docs (latest validation run)"]
        for d in report["data_docs"]:
            lines.append(f"  {d['department']}/{d['kind']}: {d['data_docs']}")
    return "\n".join(lines)
