"""Validation of staged records: row-level failures a clerk can act on, resolved when the
source is fixed; valid records queued for delivery in the same transaction."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from credit_sync.config import Department, Settings
from credit_sync.schema import Kind
from credit_sync.staging.tables import outbox, staged_record, validation_failure
from credit_sync.validation import validate_pending
from tests.factories import AUTHORITY, PROVINCIAL, PUBLIC, penalty_row, person_id, stage, uscc

RUN = datetime(2026, 11, 27, 2, 0)  # 10:00 in Huining
DEPT = Department("scjg", "会宁县市场监督管理局", "1162042201381234XB", "dept_scjg", {})


def _validate(store: sa.Engine, tmp_path=None, kind: Kind = Kind.PENALTY):
    return validate_pending(
        store,
        DEPT,
        kind,
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


def test_a_revoked_record_does_not_conflict_with_its_re_entry(store) -> None:
    # Deleted at the source (reconciliation revokes it) and entered again under a new key,
    # with the same decision number and corrected content.
    revoked = penalty_row(0, CF_ZT="1")
    stage(store, [revoked, penalty_row(0, CF_NR="罚款3000元")])
    _validate(store)
    assert not any(rule == "DUPLICATE_DECISION" for _, rule in _open(store))
    # Once both are active again they do conflict: the check itself still runs.
    stage(store, [penalty_row(0), penalty_row(0, CF_NR="罚款3000元")])
    _validate(store)
    assert {key for key, rule in _open(store) if rule == "DUPLICATE_DECISION"} == {"1", "2"}


def test_unconfirmed_rules_and_amounts_in_yuan_warn_without_blocking_delivery(store) -> None:
    stage(
        store,
        [
            penalty_row(0),
            penalty_row(1, CF_NR_FK=None),
            penalty_row(2, CF_CFLB="吊销许可证件", CF_NR="吊销食品经营许可证", CF_NR_FK=None),
            penalty_row(3, CF_NR_FK=2000),
        ],
    )
    summary = _validate(store)
    assert (summary.checked, summary.valid, summary.invalid, summary.warnings) == (4, 4, 0, 3)
    failures = _open(store)
    assert set(failures) == {
        ("2", "FINE_AMOUNT_MISSING"),
        ("3", "LICENCE_DETAIL_MISSING"),
        ("4", "AMOUNT_LOOKS_LIKE_YUAN"),
    }
    assert {f.severity for f in failures.values()} == {"warning"}
    assert failures[("2", "FINE_AMOUNT_MISSING")].field == "CF_NR_FK"
    assert failures[("3", "LICENCE_DETAIL_MISSING")].field == "CF_NR_ZKDX"
    yuan = failures[("4", "AMOUNT_LOOKS_LIKE_YUAN")]
    assert yuan.message == "罚款金额2000万元与处罚内容“罚款2000元”不符，疑似按元填报，应为0.2万元"
    with store.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(outbox)).scalar() == 8


def _permit_row(n: int, **overrides: object) -> dict:
    row = {
        "XK_XDR_MC": f"会宁县第{n}商贸有限公司",
        "XK_XDR_LB": "法人及非法人组织",
        "XK_XDR_SHXYM": uscc(n),
        "XK_FRDB": "王伟",
        "XK_FR_ZJLX": "身份证",
        "XK_FR_ZJHM": person_id(n),
        "XK_XKWS": "食品经营许可决定书",
        "XK_WSH": f"会市监许〔2026〕{n}号",
        "XK_XKLB": "普通",
        "XK_NR": "准予食品经营许可",
        "XK_JDRQ": "2026/11/25",
        "XK_YXQZ": "2026/11/25",
        "XK_YXQZI": "2099/12/31",  # 长期, as the standard writes it
        "XK_XKJG": "会宁县市场监督管理局",
        "XK_XKJGDM": AUTHORITY,
        "XK_LYDW": "会宁县市场监督管理局",
        "XK_LYDWDM": AUTHORITY,
    }
    row.update(overrides)
    return row


def test_open_ended_validity_passes_and_authority_and_source_codes_are_checked(store) -> None:
    bad_code = AUTHORITY[:-1] + "A"
    stage(
        store,
        [
            _permit_row(0),
            _permit_row(1, XK_XKJGDM=bad_code),
            _permit_row(2, XK_LYDWDM=None),
            _permit_row(3, XK_LYDWDM=bad_code),
        ],
        kind=Kind.PERMIT,
    )
    stage(
        store,
        [
            penalty_row(0, CF_CFJGDM=None),
            penalty_row(1, CF_CFJGDM=bad_code),
            penalty_row(2, CF_SJLYDM=None),
            penalty_row(3, CF_SJLYDM=bad_code),
        ],
    )
    permits = _validate(store, kind=Kind.PERMIT)
    penalties = _validate(store)
    assert (permits.valid, permits.invalid, penalties.invalid) == (1, 3, 4)
    with store.connect() as conn:
        payload = conn.execute(
            sa.select(staged_record.c.payload).where(staged_record.c.record_id == "scjg/permit/1")
        ).scalar_one()
        errors = conn.execute(
            sa.select(validation_failure.c.kind, validation_failure.c.record_id)
            .add_columns(validation_failure.c.field, validation_failure.c.rule)
            .add_columns(validation_failure.c.message)
        ).all()
    assert payload["XK_YXQZI"] == "2099-12-31"
    found = {
        (kind, rid.rsplit("/", 1)[1], field, rule): msg for kind, rid, field, rule, msg in errors
    }
    wrong = "统一社会信用代码校验位错误：应为 B，实为 A"
    assert found == {
        ("permit", "2", "XK_XKJGDM", "USCC_CHECKSUM"): f"许可机关统一社会信用代码：{wrong}",
        ("permit", "3", "XK_LYDWDM", "REQUIRED"): "缺少必填字段：数据来源单位统一社会信用代码",
        ("permit", "4", "XK_LYDWDM", "USCC_CHECKSUM"): f"数据来源单位统一社会信用代码：{wrong}",
        ("penalty", "1", "CF_CFJGDM", "REQUIRED"): "缺少必填字段：处罚机关统一社会信用代码",
        ("penalty", "2", "CF_CFJGDM", "USCC_CHECKSUM"): f"处罚机关统一社会信用代码：{wrong}",
        ("penalty", "3", "CF_SJLYDM", "REQUIRED"): "缺少必填字段：数据来源单位统一社会信用代码",
        ("penalty", "4", "CF_SJLYDM", "USCC_CHECKSUM"): f"数据来源单位统一社会信用代码：{wrong}",
    }
