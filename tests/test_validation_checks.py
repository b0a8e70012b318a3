"""credit_sync.validation.check_records without a staging store: the rules GX does not
hold (amounts entered in 元, lateness) and validating a chunk in several processes."""

from __future__ import annotations

import os
from collections import Counter
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd
import pytest

from credit_sync import validation
from credit_sync.config import Settings
from credit_sync.deadlines import working_days_between
from credit_sync.normalise import Normaliser
from credit_sync.schema import Kind
from credit_sync.validation import Checked, check_records
from tests.factories import penalty_row

TODAY = date(2026, 11, 27)
WHEN = datetime(2026, 11, 27, 2, 0)  # first extracted: 10:00 in Huining


def _staged(rows: list[dict[str, Any]], kind: Kind = Kind.PENALTY) -> list[dict[str, Any]]:
    """Records as extraction stages them, as far as check_records reads them."""
    normaliser = Normaliser(kind)
    out = []
    for i, row in enumerate(rows):
        normalised = normaliser.normalise(row)
        out.append(
            {
                "record_id": f"scjg/{kind.value}/{i}",
                "payload": normalised.payload,
                "problems": [p.__dict__ for p in normalised.problems],
                "first_extracted_for": WHEN,
            }
        )
    return out


def _check(rows: list[dict[str, Any]], settings: Settings | None = None, **kw: Any) -> Checked:
    return check_records(
        _staged(rows), Kind.PENALTY, TODAY, settings or Settings(), run_name="t", **kw
    )


def _by_row(checked: Checked, rule: str) -> dict[int, validation.Failure]:
    return {int(f.record_id.rsplit("/", 1)[1]): f for f in checked.failures if f.rule == rule}


# --- the frame of the payloads -----------------------------------------------------------


@pytest.mark.parametrize("columns", [["CF_WSH", "CF_NR_FK", "CF_ZT"], ["CF_NR_FK"], []])
def test_record_frame_holds_the_payload_values_as_staged(columns: list[str]) -> None:
    rows = _staged([penalty_row(0, CF_NR_FK=0.2), penalty_row(1, CF_ZT="  ", CF_NR_FK=None)])
    frame = validation.record_frame(rows, columns)
    assert list(frame.columns) == columns and len(frame) == 2
    assert all(dtype == np.dtype(object) for dtype in frame.dtypes)
    for i, row in enumerate(rows):
        assert [frame[c].iloc[i] for c in columns] == [row["payload"][c] for c in columns]


def test_record_frame_a_field_a_payload_lacks_is_missing_there() -> None:
    rows = _staged([penalty_row(0), penalty_row(1)])
    del rows[1]["payload"]["CF_ZT"]
    frame = validation.record_frame(rows, ["CF_WSH", "CF_ZT"])
    assert frame["CF_ZT"].iloc[0] == rows[0]["payload"]["CF_ZT"]
    assert pd.isna(frame["CF_ZT"].iloc[1])
    assert frame["CF_WSH"].tolist() == [r["payload"]["CF_WSH"] for r in rows]


def test_same_field_and_rule_keep_each_expectations_message() -> None:
    # Failures are explained once per distinct value: the two conditional rules on the
    # credit code share field, rule and value (missing), not their messages.
    shop = {"CF_XDR_LB": "个体工商户", "CF_XDR_ZJLX": None, "CF_XDR_ZJHM": None}
    company = {**shop, "CF_XDR_LB": "法人及非法人组织", "CF_FRDB": "李四"}
    company |= {"CF_FR_ZJLX": "身份证", "CF_FR_ZJHM": "620422198503151233"}
    checked = _check([penalty_row(0, **company), penalty_row(1, **shop), penalty_row(2, **shop)])
    found = {
        int(f.record_id.rsplit("/", 1)[1]): f.message
        for f in checked.failures
        if f.field == "CF_XDR_SHXYM"
    }
    assert set(found) == {0, 1, 2}
    assert "法人及非法人组织" in found[0] and "个体工商户" in found[1]
    assert found[1] == found[2]


# --- amounts entered in 元 ------------------------------------------------------------------


def test_fine_equal_to_the_yuan_in_the_content_is_flagged_with_what_to_write() -> None:
    checked = _check(
        [
            penalty_row(0, CF_NR="罚款2000元", CF_NR_FK=2000),
            penalty_row(1, CF_NR="罚款2000元", CF_NR_FK=0.2),  # right
            penalty_row(2, CF_NR="处以罚款人民币2,500.00元", CF_NR_FK="2500"),
            penalty_row(
                3,
                CF_CFLB="罚款;没收违法所得",
                CF_NR="罚款2000元，没收违法所得300元",
                CF_NR_FK=0.2,
                CF_NR_WFFF=300,
            ),
            penalty_row(4, CF_NR="罚款2万元", CF_NR_FK=2),  # stated in 万元: right
            penalty_row(5, CF_NR="罚款2000元", CF_NR_FK=None),  # no amount: another rule
        ]
    )
    flagged = _by_row(checked, "AMOUNT_LOOKS_LIKE_YUAN")
    assert set(flagged) == {0, 2, 3}
    fine = flagged[0]
    assert (fine.field, fine.severity, fine.value) == ("CF_NR_FK", "warning", "2000")
    assert fine.message == "罚款金额2000万元与处罚内容“罚款2000元”不符，疑似按元填报，应为0.2万元"
    assert flagged[2].message.endswith("“罚款人民币2,500.00元”不符，疑似按元填报，应为0.25万元")
    assert flagged[3].field == "CF_NR_WFFF"
    assert "没收违法所得、没收非法财物的金额300万元" in flagged[3].message
    assert "应为0.03万元" in flagged[3].message
    assert {f.rule for f in checked.failures if f.record_id.endswith("/5")} == {
        "FINE_AMOUNT_MISSING"
    }


def test_amount_above_the_configured_threshold_is_flagged_unless_stated_in_wan() -> None:
    rows = [
        penalty_row(0, CF_NR="罚款人民币壹仟伍佰万元整", CF_NR_FK=1500),
        penalty_row(1, CF_NR="罚款1500万元", CF_NR_FK=1500),  # the content confirms 万元
        penalty_row(2, CF_NR="罚款人民币壹仟万元整", CF_NR_FK=1000),  # not above 1000
    ]
    flagged = _by_row(_check(rows), "AMOUNT_LOOKS_LIKE_YUAN")
    assert set(flagged) == {0}
    assert flagged[0].message == (
        "罚款金额1500万元超过1000万元，疑似按元填报，请核实（金额单位为万元，如2000元应填0.2）"
    )
    higher = Settings(amount_suspect_above_wan=2000)
    assert _by_row(_check(rows, higher), "AMOUNT_LOOKS_LIKE_YUAN") == {}


def test_garbage_amounts_and_contents_do_not_crash_the_amount_rule() -> None:
    staged = _staged([penalty_row(i) for i in range(4)])
    staged[0]["payload"]["CF_NR_FK"] = "2000"
    staged[1]["payload"]["CF_NR_FK"] = True
    staged[2]["payload"]["CF_NR"] = ["罚款2000元"]
    staged[2]["payload"]["CF_NR_FK"] = 2000.0
    staged[3]["payload"]["CF_NR_FK"] = 10**400  # an int no float can hold
    checked = check_records(staged, Kind.PENALTY, TODAY, Settings(), run_name="t")
    rules = {(int(f.record_id[-1]), f.rule) for f in checked.failures}
    assert {(0, "AMOUNT_FORMAT"), (1, "AMOUNT_FORMAT"), (3, "AMOUNT_FORMAT")} <= rules
    flagged = _by_row(checked, "AMOUNT_LOOKS_LIKE_YUAN")
    assert set(flagged) == {2}  # content unreadable: only the threshold speaks
    assert "超过1000万元" in flagged[2].message


# --- lateness -------------------------------------------------------------------------------


def test_lateness_counts_working_days_like_the_calendar() -> None:
    # 11-18 is 7 working days back (on time), 11-17 is 8; 09-25 spans National Day (10-01
    # to 10-07 off, Saturday 10-10 worked); 2016 is older than the looked-up calendar span.
    decided = ["2026-11-26", "2026-11-18", "2026-11-17", "2026-09-25", "2016-01-04", None]
    checked = _check([penalty_row(i, CF_JDRQ=d) for i, d in enumerate(decided)])
    late = _by_row(checked, "LATE")
    assert set(late) == {2, 3, 4}
    for row, failure in late.items():
        days = working_days_between(date.fromisoformat(decided[row]), TODAY)
        assert failure.message == (
            f"公示超期：{decided[row]}作出决定，2026-11-27才归集，已过{days}个工作日"
            "（应在7个工作日内公示）"
        )
        assert failure.value == decided[row] and failure.severity == "warning"
    assert "已过41个工作日" in late[3].message


# --- several processes ------------------------------------------------------------------------


def _mixed(n: int) -> list[dict[str, Any]]:
    defects = [
        {},
        {"CF_NR_FK": None},
        {"CF_CFJGDM": "1162042201381234XA"},
        {"CF_JDRQ": "2026-10-09"},
        {"CF_NR": "罚款2000元", "CF_NR_FK": 2000},
        {"CF_CFLB": "吊销许可证件"},
        {"CF_JDRQ": "2026年13月1日"},
    ]
    return [penalty_row(i, **defects[i % len(defects)]) for i in range(n)]


@pytest.fixture
def split_small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(validation, "PARALLEL_MIN_ROWS", 10)


def test_workers_give_the_same_failures_statistics_and_one_data_docs_page(
    split_small_chunks: None, tmp_path
) -> None:
    rows = _mixed(70)
    alone = _check(rows)
    split = _check(rows, workers=3, data_docs_dir=tmp_path)

    def key(f: validation.Failure) -> tuple[str, str, str]:
        return (f.record_id, f.field, f.rule)

    assert sorted(split.failures, key=key) == sorted(alone.failures, key=key)
    assert Counter(f.rule for f in alone.failures).keys() >= {
        "LATE",
        "DATE_INVALID",
        "USCC_CHECKSUM",
        "FINE_AMOUNT_MISSING",
        "LICENCE_DETAIL_MISSING",
        "AMOUNT_LOOKS_LIKE_YUAN",
    }
    statistics = {k: v for k, v in alone.suite.statistics.items() if k != "seconds"}
    assert {k: v for k, v in split.suite.statistics.items() if k != "seconds"} == statistics
    assert split.data_docs == str(tmp_path.resolve() / "index.html")
    assert len(list((tmp_path / "validations").rglob("*.html"))) == 1


def test_a_workers_error_is_raised_here(
    split_small_chunks: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = _mixed(20)
    real = validation._amount_failures

    def fail_in_second_slice(frame, staged, *rest):  # runs in the forked child
        if int(staged[0]["record_id"].rsplit("/", 1)[1]) >= 10:
            raise ValueError("broken amount rule")
        return real(frame, staged, *rest)

    monkeypatch.setattr(validation, "_amount_failures", fail_in_second_slice)
    with pytest.raises(ValueError, match="broken amount rule") as raised:
        _check(rows, workers=2)
    assert raised.value.__notes__[0].startswith("in validation worker ")
    assert raised.value.__notes__[0].split()[3].rstrip(":") != str(os.getpid())


def test_a_worker_that_dies_fails_the_check(
    split_small_chunks: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = validation._amount_failures

    def die_in_second_slice(frame, staged, *rest):
        if int(staged[0]["record_id"].rsplit("/", 1)[1]) >= 10:
            os._exit(3)
        return real(frame, staged, *rest)

    monkeypatch.setattr(validation, "_amount_failures", die_in_second_slice)
    with pytest.raises(RuntimeError, match="exit code 3"):
        _check(_mixed(20), workers=2)


def test_small_chunks_and_one_worker_stay_in_this_process(monkeypatch) -> None:
    seen: list[list[tuple[int, int]]] = []
    real = validation._in_processes
    monkeypatch.setattr(
        validation, "_in_processes", lambda work, bounds: seen.append(bounds) or real(work, bounds)
    )
    _check(_mixed(12), workers=2)  # below PARALLEL_MIN_ROWS
    monkeypatch.setattr(validation, "PARALLEL_MIN_ROWS", 10)
    _check(_mixed(12), workers=2)
    assert seen == [[(0, 12)], [(0, 6), (6, 12)]]
