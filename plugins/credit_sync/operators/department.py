"""Task bodies of a department's DAG: extract one kind, reconcile its keys (hard
deletes, when due), validate one kind. Every failure names the department and the cause,
so a red task in the UI says which database and why."""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from credit_sync import config
from credit_sync.config import Department
from credit_sync.operators.context import run_window
from credit_sync.schema import Kind

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

log = logging.getLogger(__name__)


def _source_engine(dept: Department) -> Engine:
    from credit_sync.extraction import ExtractionError
    from credit_sync.hooks.database import DatabaseHook

    try:
        return DatabaseHook(dept.conn_id).get_source_engine()
    except Exception as exc:  # a missing or broken connection fails this department only
        raise ExtractionError(
            f"department {dept.code} ({dept.name}): cannot open connection {dept.conn_id!r}: "
            f"{type(exc).__name__}: {exc}"
        ) from exc


def extract_kind(department: str, kind: str, **context: Any) -> dict[str, Any]:
    from credit_sync.extraction import extract
    from credit_sync.hooks.database import staging_engine

    dept = config.department(department)
    settings = config.settings()
    window = run_window(context, settings.timezone)
    source = _source_engine(dept)
    try:
        result = extract(
            dept,
            Kind(kind),
            source,
            staging_engine(),
            logical_date=window.logical_date,
            window_end=window.window_end,
            window_start=window.window_start,
            full=window.full,
            settings=settings,
        )
    finally:
        source.dispose()
    out = asdict(result)
    out["watermark"] = result.watermark.isoformat() if result.watermark else None
    return out


def reconcile_kind(department: str, kind: str, **context: Any) -> dict[str, Any]:
    """Hard deletes at the source, on the days the department's `reconcile:` names (by
    the run's logical date, never the wall clock) or when the run parameter asks."""
    from credit_sync.hooks.database import staging_engine
    from credit_sync.reconciliation import reconcile

    dept = config.department(department)
    settings = config.settings()
    window = run_window(context, settings.timezone)
    if not (window.reconcile or dept.reconcile_due(window.day)):
        log.info(
            "department %s %s: key reconciliation not due on %s (%s)",
            dept.code,
            kind,
            window.day.isoformat(),
            "not configured" if not dept.reconcile_days else "not a reconcile day",
        )
        return {"due": False}
    source = _source_engine(dept)
    try:
        result = reconcile(
            dept,
            Kind(kind),
            source,
            staging_engine(),
            logical_date=window.logical_date,
            settings=settings,
        )
    finally:
        source.dispose()
    return {"due": True, **asdict(result)}


def validate_kind(department: str, kind: str, **context: Any) -> dict[str, Any]:
    from credit_sync.hooks.database import staging_engine
    from credit_sync.validation import validate_pending

    dept = config.department(department)
    settings = config.settings()
    window = run_window(context, settings.timezone)
    docs_dir = config.runtime_dir() / "data_docs" / dept.code / kind
    summary = validate_pending(
        staging_engine(),
        dept,
        Kind(kind),
        logical_date=window.logical_date,
        run_id=window.run_id,
        targets=config.targets(),
        settings=settings,
        data_docs_dir=docs_dir,
    )
    return asdict(summary)
