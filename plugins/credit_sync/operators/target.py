"""Task bodies of the delivery DAG: due withdrawals, one target's delivery, the report."""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Any

from credit_sync import config
from credit_sync.operators.context import run_window

log = logging.getLogger(__name__)


def schedule_withdrawals(**context: Any) -> dict[str, int]:
    """Penalties whose publicity period ended by the run's date leave public targets."""
    from credit_sync.delivery.withdrawals import enqueue_expired
    from credit_sync.hooks.database import staging_engine
    from credit_sync.validation import reference_date

    settings = config.settings()
    window = run_window(context, settings.timezone)
    as_of = reference_date(window.logical_date, settings)
    return enqueue_expired(staging_engine(), config.targets(), as_of)


def deliver_target(target: str, **context: Any) -> dict[str, Any]:
    from credit_sync.delivery.channels import open_channel
    from credit_sync.delivery.sender import deliver
    from credit_sync.hooks.database import staging_engine

    tgt = config.target(target)
    return asdict(deliver(staging_engine(), tgt, open_channel(tgt)))


def report(**context: Any) -> dict[str, Any]:
    from credit_sync.hooks.database import staging_engine
    from credit_sync.reporting import render_text, status

    result = status(staging_engine())
    log.info("credit-sync status\n%s", render_text(result))
    return {"open_failures": result["open_failures"]["total"]}


def targets_ok(**context: Any) -> None:
    """Runs only when every delivery task succeeded (its trigger rule says so)."""
    log.info("every target delivered")
