"""Alerts when a credit-sync task fails for good (its retries spent).

There is always one log line an operator can search for or route (`ALERT credit-sync`).
It names the DAG, the task, the department or target, and the cause. When the
environment variable CREDIT_SYNC_ALERT_EMAILS lists addresses, an email also goes out
through Airflow's SMTP connection (`smtp_default`).
"""

from __future__ import annotations

import logging
import os
from datetime import timedelta
from typing import Any

log = logging.getLogger(__name__)

ALERT_EMAILS_ENV = "CREDIT_SYNC_ALERT_EMAILS"


def task_defaults(*, first_retry: timedelta, longest_retry: timedelta, timeout: timedelta) -> dict:
    """A DAG's default_args: 3 retries with exponential backoff, then the alert."""
    return {
        "retries": 3,
        "retry_delay": first_retry,
        "retry_exponential_backoff": True,
        "max_retry_delay": longest_retry,
        "execution_timeout": timeout,
        "on_failure_callback": task_failed,
    }


def describe(context: dict[str, Any]) -> str:
    ti = context.get("ti") or context.get("task_instance")
    dag_id = getattr(ti, "dag_id", "?")
    task_id = getattr(ti, "task_id", "?")
    error = context.get("exception")
    # Our exceptions name the department or target and never carry credentials.
    cause = f"{type(error).__name__}: {error}" if error else "unknown cause"
    return (
        f"{dag_id}.{task_id} failed (run {context.get('run_id')}, "
        f"try {getattr(ti, 'try_number', '?')}): {cause}"
    )


def task_failed(context: dict[str, Any]) -> None:
    """`on_failure_callback` of every credit-sync task."""
    message = describe(context)
    log.error("ALERT credit-sync: %s", message)
    emails = [e.strip() for e in os.environ.get(ALERT_EMAILS_ENV, "").split(",") if e.strip()]
    if not emails:
        return
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier

    try:
        SmtpNotifier(
            to=emails,
            subject=f"[credit-sync] {message[:120]}",
            html_content=f"<pre>{message}</pre>",
        ).notify(context)
    except Exception:  # an unreachable mail server must not hide the original failure
        log.exception("ALERT credit-sync: could not send the alert email")
