"""Task bodies of a department's DAG: extract one kind, validate one kind."""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Any

from credit_sync import config
from credit_sync.operators.context import run_window
from credit_sync.schema import Kind

log = logging.getLogger(__name__)


def extract_kind(department: str, kind: str, **context: Any) -> dict[str, Any]:
    from credit_sync.extraction import ExtractionError, extract
    from credit_sync.hooks.database import DatabaseHook, staging_engine

    dept = config.department(department)
    settings = config.settings()
    window = run_window(context, settings.timezone)
    try:
        source = DatabaseHook(dept.conn_id).get_engine()
    except Exception as exc:  # a missing or broken connection fails this department only
        raise ExtractionError(
            f"department {dept.code} ({dept.name}): cannot open connection {dept.conn_id!r}: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
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
