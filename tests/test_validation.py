"""Validation of staged records: row-level failures a clerk can act on, resolved when the
source is fixed; valid records queued for delivery in the same transaction."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from credit_sync.config import Department, Settings
from credit_sync.schema import Kind
from credit_sync.staging.tables import outbox, staged_record, validation_failure
from credit_sync.validation import validate_pending
from tests.factories import PROVINCIAL, PUBLIC, penalty_row, person_id, stage

RUN = datetime(2026, 11, 27, 2, 0)  # 10:00 in Huining
DEPT = Department("scjg", "会宁县市场监督管理局", "1162042201381234XB", "dept_scjg", {})


def _validate(store: sa.Engine, tmp_path=None):
    return validate_pending(
        store,
        DEPT,
        Kind.PENALTY,
        logical_date=RUN,
        run_id="test",
        targets=[PROVINCIAL, PUBLIC],
        settings=Settings(),
        data_docs_dir=tmp_path,
    )


def _open(store: sa.Engine) -> dict[tuple[str, str], sa.Row]:
    with store.connect() as conn:
        rows = conn.execute(
            sa.select(validation_failure).where(validation_failure.c.resolved_at.is_(None))
        )
        return {(r.record_id.rsplit("/", 1)[1], r.rule): r for r in rows}


def test_defects_become_failures_with_rule_codes_and_chinese_messages(store, tmp_path) -> None:
    bad_id = person_id(2)[:-1] + ("0" if person_id(2)[-1] != "0" else "1")
    rows = [
        penalty_row(0),
        penalty_row(
            1,
            CF_XDR_LB="法人及非法人组织",
            CF_XDR_SHXYM="911522010783762861",
            CF_FRDB="李四",
            CF_FR_ZJLX="身份证",
            CF_FR_ZJHM=person_id(9),
        ),
        penalty_row(2, CF_XDR_ZJHM=bad_id),
        penalty_row(3, CF_JDRQ="2023-02-29"),
        penalty_row(4, CF_JDRQ="2026-10-09"),  # decided long before it was first extracted
        penalty_row(5, CF_XDR_LB="法人及非法人组织", CF_XDR_SHXYM=None, CF_FRDB=None),
    ]
    stage(store, rows)
    summary = _validate(store, tmp_path)
    assert (summary.checked, summary.valid, summary.invalid) == (6, 2, 4)
    failures = _open(store)
    uscc = failures[("2", "USCC_CHECKSUM")]
    assert uscc.field == "CF_XDR_SHXYM" and uscc.severity == "error"
    assert uscc.message == "统一社会信用代码：统一社会信用代码校验位错误：应为 0，实为 1"
    ident = failures[("3", "ID_CHECKSUM")]
    assert ident.value == "620422********" + bad_id[-4:]  # never the full number
    assert failures[("4", "DATE_INVALID")].field == "CF_JDRQ"
    assert ("4", "REQUIRED") not in failures  # the unreadable date is reported once
    late = failures[("5", "LATE")]
    assert late.severity == "warning" and "个工作日" in late.message
    assert {k for k in failures if k[0] == "6"} == {("6", "REQUIRED_FOR_CATEGORY")}
    assert summary.data_docs and (tmp_path / "index.html").exists()

    with store.connect() as conn:
        queued = {
            r.record_id.rsplit("/", 1)[1] for r in conn.execute(sa.select(outbox.c.record_id))
        }
        valid = dict(
            conn.execute(sa.select(staged_record.c.source_key, staged_record.c.valid)).all()
        )
    assert queued == {"1", "5"}  # the late record is delivered all the same
    assert valid == {"1": True, "2": False, "3": False, "4": False, "5": True, "6": False}


def test_fixing_the_source_resolves_the_failure_and_queues_the_record(store) -> None:
    stage(store, [penalty_row(0, CF_XDR_SHXYM="911522010783762861", CF_XDR_LB="个体工商户")])
    _validate(store)
    assert set(_open(store)) == {("1", "USCC_CHECKSUM")}
    assert _validate(store).checked == 0  # nothing changed: nothing re-checked

    stage(store, [penalty_row(0, CF_XDR_SHXYM="911522010783762860", CF_XDR_LB="个体工商户")])
    summary = _validate(store)
    assert (summary.checked, summary.valid) == (1, 1)
    assert _open(store) == {}
    with store.connect() as conn:
        resolved = conn.execute(sa.select(validation_failure.c.resolved_at)).scalar_one()
        assert resolved is not None
        assert conn.execute(sa.select(sa.func.count()).select_from(outbox)).scalar() == 2


def test_conflicting_duplicate_decision_numbers_fail_identical_resends_do_not(store) -> None:
    same = penalty_row(0)
    stage(store, [same, dict(same), penalty_row(0, CF_NR="罚款3000元")])
    _validate(store)
    failures = _open(store)
    assert ("1", "DUPLICATE_DECISION") in failures and ("3", "DUPLICATE_DECISION") in failures
    assert ("2", "DUPLICATE_DECISION") in failures  # it conflicts with record 3
    stage(store, [same, dict(same), penalty_row(1)])
    _validate(store)
    assert not any(rule == "DUPLICATE_DECISION" for _, rule in _open(store))
