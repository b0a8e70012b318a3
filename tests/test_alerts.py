from __future__ import annotations

import logging
from types import SimpleNamespace

from credit_sync.alerts import task_failed
from credit_sync.extraction import ExtractionError


def test_failure_alert_names_dag_task_and_cause(caplog, monkeypatch) -> None:
    monkeypatch.delenv("CREDIT_SYNC_ALERT_EMAILS", raising=False)
    ti = SimpleNamespace(dag_id="credit_sync_dept_jtys", task_id="extract_penalty", try_number=4)
    error = ExtractionError(
        "department jtys (会宁县交通运输局) penalty: source query failed: OperationalError"
    )
    with caplog.at_level(logging.ERROR):
        task_failed({"ti": ti, "run_id": "scheduled__2026-11-27", "exception": error})
    assert "ALERT credit-sync: credit_sync_dept_jtys.extract_penalty failed" in caplog.text
    assert "department jtys (会宁县交通运输局)" in caplog.text and "try 4" in caplog.text


def test_an_unreachable_mail_server_does_not_raise(caplog, monkeypatch) -> None:
    monkeypatch.setenv("CREDIT_SYNC_ALERT_EMAILS", "ops@example.org")
    monkeypatch.setenv(
        "AIRFLOW_CONN_SMTP_DEFAULT", '{"conn_type": "smtp", "host": "127.0.0.1", "port": 9}'
    )
    ti = SimpleNamespace(dag_id="credit_sync_delivery", task_id="deliver_provincial", try_number=4)
    with caplog.at_level(logging.ERROR):
        task_failed({"ti": ti, "run_id": "r", "exception": RuntimeError("target provincial: down")})
    assert "ALERT credit-sync: credit_sync_delivery.deliver_provincial failed" in caplog.text
