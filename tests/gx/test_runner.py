"""credit_sync.gx.runner with the real suites: every rule passes and fails where it should."""

from __future__ import annotations

import json
import math
import socket
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from credit_sync.gx.runner import (
    RowFailure,
    SuiteDefinitionError,
    SuiteExecutionError,
    SuiteResult,
    load_suite,
    validate_frame,
)

EXPECTATIONS_DIR = Path(__file__).resolve().parents[2] / "expectations"
REF = date(2025, 1, 1)
USCC_A = "91620100719023721L"
USCC_INDIVIDUAL = "92340602MA2PBQAH7E"
USCC_BAD_CHECK = "91620100719023721M"
ID_VALID_2 = "620422198503151233"
ID_BAD_CHECK = "620422198503151234"
ID_BORN_2025_06_01 = "620422202506011235"  # valid check digit, born after REF

Case = tuple[str, dict[str, Any], list[tuple[str, str]]]  # id, changes, expected failures


def _identity_cases(p: str) -> list[Case]:
    person = {
        f"{p}_XDR_LB": "自然人",
        f"{p}_XDR_SHXYM": None,
        f"{p}_FRDB": None,
        f"{p}_FR_ZJLX": None,
        f"{p}_FR_ZJHM": None,
        f"{p}_XDR_ZJLX": "身份证",
        f"{p}_XDR_ZJHM": ID_VALID_2,
    }
    individual = {
        f"{p}_XDR_LB": "个体工商户",
        f"{p}_XDR_SHXYM": USCC_INDIVIDUAL,
        f"{p}_FRDB": None,
        f"{p}_FR_ZJLX": None,
        f"{p}_FR_ZJHM": None,
    }
    rfc = "REQUIRED_FOR_CATEGORY"

    def c(code: str) -> str:
        return f"{p}_{code}"

    return [
        # passing examples
        ("baseline organisation", {}, []),
        ("natural person needs no credit code", person, []),
        ("individual business needs no representative", individual, []),
        (
            "passport number is not checked as a resident ID",
            {c("FR_ZJLX"): "护照", c("FR_ZJHM"): "E12345678"},
            [],
        ),
        ("status may be empty", {c("ZT"): None}, []),
        ("status blank counts as empty", {c("ZT"): "  "}, []),
        ("status revoked", {c("ZT"): "1"}, []),
        ("decided on the reference date", {c("JDRQ"): "2025-01-01"}, []),
        # failing examples
        ("name missing", {c("XDR_MC"): None}, [("REQUIRED", c("XDR_MC"))]),
        ("name blank", {c("XDR_MC"): " \u3000 "}, [("REQUIRED", c("XDR_MC"))]),
        ("category missing", {c("XDR_LB"): None}, [("REQUIRED", c("XDR_LB"))]),
        ("decision number empty", {c("WSH"): ""}, [("REQUIRED", c("WSH"))]),
        ("decision date missing", {c("JDRQ"): None}, [("REQUIRED", c("JDRQ"))]),
        ("organisation without credit code", {c("XDR_SHXYM"): None}, [(rfc, c("XDR_SHXYM"))]),
        ("organisation without representative", {c("FRDB"): None}, [(rfc, c("FRDB"))]),
        (
            "organisation without representative ID type",
            {c("FR_ZJLX"): None},
            [(rfc, c("FR_ZJLX"))],
        ),
        ("organisation without representative ID", {c("FR_ZJHM"): None}, [(rfc, c("FR_ZJHM"))]),
        (
            "individual business without credit code",
            {**individual, c("XDR_SHXYM"): None},
            [(rfc, c("XDR_SHXYM"))],
        ),
        ("person without ID type", {**person, c("XDR_ZJLX"): None}, [(rfc, c("XDR_ZJLX"))]),
        ("person without ID number", {**person, c("XDR_ZJHM"): None}, [(rfc, c("XDR_ZJHM"))]),
        (
            "unknown counterparty category",
            {c("XDR_LB"): "单位"},
            [("ENUM_COUNTERPARTY", c("XDR_LB"))],
        ),
        ("unknown status", {c("ZT"): "5"}, [("ENUM_STATUS", c("ZT"))]),
        (
            "counterparty credit code check digit",
            {c("XDR_SHXYM"): USCC_BAD_CHECK},
            [("USCC_CHECKSUM", c("XDR_SHXYM"))],
        ),
        (
            "placeholder credit code",
            {c("XDR_SHXYM"): "00000000000000000X"},
            [("USCC_CHECKSUM", c("XDR_SHXYM"))],
        ),
        (
            "credit code with letter O for zero",
            {c("XDR_SHXYM"): USCC_A.replace("0", "O", 1)},
            [("USCC_CHECKSUM", c("XDR_SHXYM"))],
        ),
        (
            "representative ID check digit",
            {c("FR_ZJHM"): ID_BAD_CHECK},
            [("ID_CHECKSUM", c("FR_ZJHM"))],
        ),
        (
            "representative born after the reference date",
            {c("FR_ZJHM"): ID_BORN_2025_06_01},
            [("ID_CHECKSUM", c("FR_ZJHM"))],
        ),
        (
            "person ID check digit",
            {**person, c("XDR_ZJHM"): ID_BAD_CHECK},
            [("ID_CHECKSUM", c("XDR_ZJHM"))],
        ),
        (
            "decision date not a calendar day",
            {c("JDRQ"): "2023-02-29"},
            [("DATE_FORMAT", c("JDRQ"))],
        ),
        ("decision date in the future", {c("JDRQ"): "2025-01-02"}, [("DATE_IN_FUTURE", c("JDRQ"))]),
    ]


PENALTY_CASES: list[Case] = [
    *_identity_cases("CF"),
    ("several categories", {"CF_CFLB": "罚款;没收违法所得;警告"}, []),
    ("2015 category", {"CF_CFLB": "没收违法所得、没收非法财物"}, []),
    ("categories with spaces", {"CF_CFLB": " 罚款 ; 通报批评 "}, []),
    ("no amounts for a warning", {"CF_CFLB": "警告", "CF_NR_FK": None, "CF_NR_WFFF": None}, []),
    ("fine given, 罚款 among several", {"CF_CFLB": "警告;罚款", "CF_NR_FK": 0.05}, []),
    ("zero fine is a fine given", {"CF_NR_FK": 0}, []),
    (
        "licence details given",
        {
            "CF_CFLB": "吊销许可证件",
            "CF_NR_FK": None,
            "CF_NR_ZKDX": "食品经营许可证JY16204220012345",
        },
        [],
    ),
    (
        "no category calls for nothing",
        {"CF_CFLB": None, "CF_NR_FK": None},
        [("REQUIRED", "CF_CFLB")],
    ),
    ("whole-number amounts", {"CF_NR_FK": 0, "CF_NR_WFFF": 2}, []),
    ("optional dates absent", {"CF_YXQ": None, "CF_GSJZQ": None}, []),
    *[
        (f"{f} missing", {f: None}, [("REQUIRED", f)])
        for f in ("CF_CFLB", "CF_SY", "CF_YJ", "CF_NR", "CF_CFJG", "CF_CFJGDM", "CF_SJLYDM")
    ],
    (
        "unknown category among several",
        {"CF_CFLB": "罚款;打板子"},
        [("ENUM_PENALTY_CATEGORY", "CF_CFLB")],
    ),
    ("trailing separator", {"CF_CFLB": "罚款;"}, [("ENUM_PENALTY_CATEGORY", "CF_CFLB")]),
    ("full-width separator", {"CF_CFLB": "罚款；警告"}, [("ENUM_PENALTY_CATEGORY", "CF_CFLB")]),
    ("unmapped numeric category code", {"CF_CFLB": "1"}, [("ENUM_PENALTY_CATEGORY", "CF_CFLB")]),
    ("authority code check digit", {"CF_CFJGDM": USCC_BAD_CHECK}, [("USCC_CHECKSUM", "CF_CFJGDM")]),
    ("source code check digit", {"CF_SJLYDM": USCC_BAD_CHECK}, [("USCC_CHECKSUM", "CF_SJLYDM")]),
    ("validity date with slashes", {"CF_YXQ": "2025/05/06"}, [("DATE_FORMAT", "CF_YXQ")]),
    ("publicity end compact", {"CF_GSJZQ": "20250506"}, [("DATE_FORMAT", "CF_GSJZQ")]),
    ("fine not a number", {"CF_NR_FK": "abc"}, [("AMOUNT_FORMAT", "CF_NR_FK")]),
    ("fine as numeric text", {"CF_NR_FK": "0.2"}, [("AMOUNT_FORMAT", "CF_NR_FK")]),
    ("confiscation infinite", {"CF_NR_WFFF": math.inf}, [("AMOUNT_FORMAT", "CF_NR_WFFF")]),
    ("negative fine", {"CF_NR_FK": -0.2}, [("AMOUNT_NEGATIVE", "CF_NR_FK")]),
    ("negative confiscation", {"CF_NR_WFFF": -1}, [("AMOUNT_NEGATIVE", "CF_NR_WFFF")]),
    ("fine missing", {"CF_NR_FK": None}, [("FINE_AMOUNT_MISSING", "CF_NR_FK")]),
    (
        "fine missing, 罚款 second of several",
        {"CF_CFLB": "警告 ; 罚款", "CF_NR_FK": None},
        [("FINE_AMOUNT_MISSING", "CF_NR_FK")],
    ),
    (
        "licence details missing",
        {"CF_CFLB": "暂扣许可证件", "CF_NR_FK": None},
        [("LICENCE_DETAIL_MISSING", "CF_NR_ZKDX")],
    ),
    (
        "licence details blank, 2015 category",
        {"CF_CFLB": "罚款;暂扣或者吊销许可证、暂扣或者吊销执照", "CF_NR_ZKDX": " "},
        [("LICENCE_DETAIL_MISSING", "CF_NR_ZKDX")],
    ),
    (
        "revoked licence, fine and details both missing",
        {"CF_CFLB": "吊销许可证件;罚款", "CF_NR_FK": None},
        [("FINE_AMOUNT_MISSING", "CF_NR_FK"), ("LICENCE_DETAIL_MISSING", "CF_NR_ZKDX")],
    ),
]
# Unconfirmed rules of the domain reference: reported, but they do not block delivery.
WARNING_RULES = {"FINE_AMOUNT_MISSING", "LICENCE_DETAIL_MISSING"}

PERMIT_CASES: list[Case] = [
    *_identity_cases("XK"),
    ("no end of validity (长期)", {"XK_YXQZI": "2099-12-31"}, []),
    ("valid for one day", {"XK_YXQZI": "2024-05-06"}, []),
    ("validity open-ended", {"XK_YXQZI": None}, []),
    ("other permit category", {"XK_XKLB": "其他"}, []),
    *[
        (f"{f} missing", {f: None}, [("REQUIRED", f)])
        for f in ("XK_XKWS", "XK_XKLB", "XK_NR", "XK_XKJG", "XK_XKJGDM", "XK_LYDWDM")
    ],
    ("unknown permit category", {"XK_XKLB": "许可"}, [("ENUM_PERMIT_CATEGORY", "XK_XKLB")]),
    ("authority code check digit", {"XK_XKJGDM": USCC_BAD_CHECK}, [("USCC_CHECKSUM", "XK_XKJGDM")]),
    ("source code check digit", {"XK_LYDWDM": USCC_BAD_CHECK}, [("USCC_CHECKSUM", "XK_LYDWDM")]),
    ("valid-to before valid-from", {"XK_YXQZI": "2024-05-05"}, [("DATE_ORDER", "XK_YXQZI")]),
    ("valid-from not a date", {"XK_YXQZ": "2024-13-01"}, [("DATE_FORMAT", "XK_YXQZ")]),
    ("valid-to not a date", {"XK_YXQZI": "长期"}, [("DATE_FORMAT", "XK_YXQZI")]),
]

ALL_RULES = {
    "REQUIRED",
    "REQUIRED_FOR_CATEGORY",
    "ENUM_COUNTERPARTY",
    "ENUM_STATUS",
    "USCC_CHECKSUM",
    "ID_CHECKSUM",
    "DATE_FORMAT",
    "DATE_IN_FUTURE",
}


def _by_row(result: SuiteResult) -> dict[int, list[RowFailure]]:
    rows: dict[int, list[RowFailure]] = {}
    for failure in result.failures:
        rows.setdefault(failure.row, []).append(failure)
    return rows


def _case_run(suite, make_row: Callable[..., dict], cases: list[Case]) -> SuiteResult:
    frame = pd.DataFrame([make_row(**changes) for _, changes, _ in cases])
    return validate_frame(frame, suite, run_name="cases", reference_date=REF)


@pytest.fixture(scope="module")
def penalty_run(penalty_suite, penalty_row) -> SuiteResult:
    return _case_run(penalty_suite, penalty_row, PENALTY_CASES)


@pytest.fixture(scope="module")
def permit_run(permit_suite, permit_row) -> SuiteResult:
    return _case_run(permit_suite, permit_row, PERMIT_CASES)


@pytest.mark.parametrize(
    ("row", "expected"),
    [pytest.param(i, expected, id=name) for i, (name, _, expected) in enumerate(PENALTY_CASES)],
)
def test_penalty_rule(penalty_run: SuiteResult, row: int, expected: list) -> None:
    found = _by_row(penalty_run).get(row, [])
    assert sorted((f.rule, f.field) for f in found) == sorted(expected)
    for failure in found:
        assert failure.row == row
        assert failure.severity == ("warning" if failure.rule in WARNING_RULES else "error")
        assert failure.message  # Chinese text from the suite meta


@pytest.mark.parametrize(
    ("row", "expected"),
    [pytest.param(i, expected, id=name) for i, (name, _, expected) in enumerate(PERMIT_CASES)],
)
def test_permit_rule(permit_run: SuiteResult, row: int, expected: list) -> None:
    found = _by_row(permit_run).get(row, [])
    assert sorted((f.rule, f.field) for f in found) == sorted(expected)
    assert all(f.row == row and f.severity == "error" for f in found)


@pytest.mark.parametrize("kind", ["permit", "penalty"])
def test_grouped_batches_find_the_same_failures(
    kind: str, request, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Large frames are validated one column group at a time: same answers as one batch.
    from credit_sync.gx import runner

    single = request.getfixturevalue(f"{kind}_run")
    monkeypatch.setattr(runner, "GROUP_MIN_ROWS", 0)
    suite = request.getfixturevalue(f"{kind}_suite")
    make_row = request.getfixturevalue(f"{kind}_row")
    grouped = _case_run(suite, make_row, PERMIT_CASES if kind == "permit" else PENALTY_CASES)
    assert grouped.failures == single.failures
    for key in ("evaluated_expectations", "successful_expectations", "failures_by_rule"):
        assert grouped.statistics[key] == single.statistics[key]


def test_each_row_condition_filters_a_batch_once(
    penalty_suite, penalty_row, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GX filters per metric; the runner keeps each filtered frame while a batch validates.
    from great_expectations.execution_engine import PandasExecutionEngine

    from credit_sync.gx import runner

    by_gx = PandasExecutionEngine._apply_row_condition_filter
    filtered: list[tuple[int, str]] = []

    def counted(engine, data, row_condition, domain_kwargs):
        filtered.append((id(data), repr(row_condition)))
        return by_gx(engine, data, row_condition, domain_kwargs)

    monkeypatch.setattr(PandasExecutionEngine, "_apply_row_condition_filter", counted)
    monkeypatch.setattr(runner, "GROUP_MIN_ROWS", 0)
    frame = pd.DataFrame([penalty_row(), penalty_row(CF_XDR_LB="个体工商户", CF_XDR_SHXYM=None)])
    result = validate_frame(frame, penalty_suite, run_name="t", reference_date=REF)
    assert [(f.row, f.rule, f.field) for f in result.failures] == [
        (1, "REQUIRED_FOR_CATEGORY", "CF_XDR_SHXYM")
    ]
    assert filtered and len(filtered) == len(set(filtered))
    assert PandasExecutionEngine._apply_row_condition_filter is counted  # put back


def test_a_prepared_frame_validates_the_same_and_keeps_its_amounts_as_numbers(
    penalty_suite, penalty_row
) -> None:
    from credit_sync.gx.runner import prepare_frame

    frame = pd.DataFrame(
        [
            penalty_row(CF_NR_FK=0.2),
            penalty_row(CF_NR_FK=-3),
            penalty_row(CF_CFLB="警告", CF_NR_FK=None),
        ],
        dtype=object,
    )
    prepared = prepare_frame(frame, penalty_suite)
    assert prepared.floats["CF_NR_FK"].tolist()[:2] == [0.2, -3.0]
    assert math.isnan(prepared.floats["CF_NR_FK"].iloc[2])
    alone = validate_frame(frame, penalty_suite, run_name="t", reference_date=REF)
    given = validate_frame(
        frame, penalty_suite, run_name="t", reference_date=REF, prepared=prepared
    )
    assert given.failures == alone.failures and given.failures
    garbage = frame.assign(CF_NR_FK=["0.2", 1.0, None])  # text is no amount: not converted
    assert prepare_frame(garbage, penalty_suite).floats["CF_NR_FK"] is None


def test_every_rule_has_passing_and_failing_cases() -> None:
    for cases, extra in (
        (
            PENALTY_CASES,
            {"ENUM_PENALTY_CATEGORY", "AMOUNT_FORMAT", "AMOUNT_NEGATIVE", *WARNING_RULES},
        ),
        (PERMIT_CASES, {"ENUM_PERMIT_CATEGORY", "DATE_ORDER"}),
    ):
        failing = {rule for _, _, expected in cases for rule, _ in expected}
        assert failing == ALL_RULES | extra
        assert any(not expected for _, _, expected in cases)


def test_failure_carries_meta_and_original_value(penalty_run: SuiteResult) -> None:
    rows = _by_row(penalty_run)
    name_missing = next(i for i, c in enumerate(PENALTY_CASES) if c[0] == "name missing")
    [failure] = rows[name_missing]
    assert failure == RowFailure(
        row=name_missing,
        field="CF_XDR_MC",
        rule="REQUIRED",
        severity="error",
        message="缺少必填字段：行政相对人名称",
        value=None,
    )
    bad_code = next(
        i for i, c in enumerate(PENALTY_CASES) if c[0].startswith("counterparty credit")
    )
    assert rows[bad_code][0].value == USCC_BAD_CHECK
    assert "统一社会信用代码" in rows[bad_code][0].message


# --- suites on disk -------------------------------------------------------------------


@pytest.mark.parametrize("name", ["permit", "penalty"])
def test_suite_file_is_canonical_gx_json(name: str) -> None:
    path = EXPECTATIONS_DIR / f"{name}.json"
    text = path.read_text(encoding="utf-8")
    data = json.loads(text)
    assert text == json.dumps(data, ensure_ascii=False, indent=2) + "\n"
    suite = load_suite(path)
    assert len(suite.expectations) == len(data["expectations"])
    # What GX writes back for the loaded suite is what the file holds.
    assert suite.to_json_dict()["expectations"] == data["expectations"]
    for expectation in data["expectations"]:
        assert set(expectation["meta"]) == {"rule", "severity", "message"}


def _write_suite(tmp_path: Path, expectations: list[dict]) -> Path:
    path = tmp_path / "suite.json"
    path.write_text(
        json.dumps({"name": "t", "expectations": expectations}, ensure_ascii=False), "utf-8"
    )
    return path


def _meta(rule: str = "R", severity: str = "error") -> dict:
    return {"rule": rule, "severity": severity, "message": "测试"}


def test_load_suite_refuses_unregistered_expectation_type(tmp_path: Path) -> None:
    data = json.loads((EXPECTATIONS_DIR / "penalty.json").read_text("utf-8"))
    data["expectations"].append(
        {
            "type": "expect_column_values_to_be_purple",
            "kwargs": {"column": "CF_ZT"},
            "meta": _meta(),
        }
    )
    path = tmp_path / "penalty.json"
    path.write_text(json.dumps(data, ensure_ascii=False), "utf-8")
    with pytest.raises(SuiteDefinitionError, match="expect_column_values_to_be_purple"):
        load_suite(path)


def test_load_suite_refuses_invalid_expectation_config(tmp_path: Path) -> None:
    bad = {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "A"}, "meta": _meta()}
    with pytest.raises(SuiteDefinitionError, match="value_set"):
        load_suite(_write_suite(tmp_path, [bad]))


@pytest.mark.parametrize(
    "meta",
    [{}, {"rule": "R", "severity": "error"}, {"rule": "R", "severity": "fatal", "message": "x"}],
)
def test_load_suite_requires_rule_severity_message(tmp_path: Path, meta: dict) -> None:
    exp = {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "A"}, "meta": meta}
    with pytest.raises(SuiteDefinitionError):
        load_suite(_write_suite(tmp_path, [exp]))


def test_load_suite_refuses_non_suite_json(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text("[1, 2]", "utf-8")
    with pytest.raises(SuiteDefinitionError):
        load_suite(path)
    path.write_text("{not json", "utf-8")
    with pytest.raises(SuiteDefinitionError):
        load_suite(path)


# --- runner behaviour -------------------------------------------------------------------


GARBAGE_VALUES: list[Any] = [
    None,
    "x" * 10_000,
    "💥🧨" * 5_000,
    12345,
    3.5,
    math.nan,
    -math.inf,
    True,
    b"\xff\xfe",
    ["a", "list"],
    {"a": "dict"},
    pd.Timestamp("2024-05-06"),
    pd.NA,
    " ",
    "\x00\n\t",
]


@pytest.mark.parametrize("kind", ["permit", "penalty"])
def test_garbage_rows_become_failures_not_crashes(kind: str, request) -> None:
    suite = request.getfixturevalue(f"{kind}_suite")
    valid = request.getfixturevalue(f"{kind}_row")()
    columns = list(valid)
    rows = [valid]
    rows += [dict.fromkeys(columns, value) for value in GARBAGE_VALUES]  # one kind per row
    rows.append({c: GARBAGE_VALUES[i % len(GARBAGE_VALUES)] for i, c in enumerate(columns)})
    frame = pd.DataFrame(rows, columns=columns, dtype=object)

    result = validate_frame(frame, suite, run_name="garbage", reference_date=REF)

    by_row = _by_row(result)
    assert 0 not in by_row  # the valid record is untouched by its neighbours
    assert set(by_row) == set(range(1, len(rows)))  # every garbage row fails
    assert not result.success
    for failure in result.failures:
        assert failure.rule and failure.message and failure.severity in ("error", "warning")


def test_garbage_value_is_reported_as_given(penalty_suite, penalty_row) -> None:
    frame = pd.DataFrame([penalty_row(CF_ZT=7, CF_XDR_SHXYM=12345, CF_NR_FK="abc")], dtype=object)
    result = validate_frame(frame, penalty_suite, run_name="t", reference_date=REF)
    values = {f.field: f.value for f in result.failures}
    assert values == {"CF_ZT": 7, "CF_XDR_SHXYM": 12345, "CF_NR_FK": "abc"}


def test_reference_date_is_the_parameter_not_the_clock(penalty_suite, penalty_row) -> None:
    frame = pd.DataFrame(
        [penalty_row(CF_JDRQ="2025-01-02"), penalty_row(CF_FR_ZJHM=ID_BORN_2025_06_01)]
    )
    early = validate_frame(frame, penalty_suite, run_name="t", reference_date=date(2025, 1, 1))
    assert [(f.row, f.rule) for f in early.failures] == [(0, "DATE_IN_FUTURE"), (1, "ID_CHECKSUM")]
    late = validate_frame(frame, penalty_suite, run_name="t", reference_date=date(2025, 6, 1))
    assert late.failures == [] and late.success
    assert late.statistics["reference_date"] == "2025-06-01"


def test_every_failing_row_is_reported_not_a_sample(penalty_suite, penalty_row) -> None:
    bad_rows = set(range(0, 1500, 2))  # 750 failures, well past GX's 200-value cap
    frame = pd.DataFrame(
        [penalty_row(CF_CFJGDM=USCC_BAD_CHECK if i in bad_rows else USCC_A) for i in range(1500)]
    )
    result = validate_frame(frame, penalty_suite, run_name="t", reference_date=REF)
    assert {(f.row, f.rule, f.field) for f in result.failures} == {
        (i, "USCC_CHECKSUM", "CF_CFJGDM") for i in bad_rows
    }
    assert result.statistics["failing_rows"] == 750
    assert result.statistics["failures_by_rule"] == {"USCC_CHECKSUM": 750}


def test_rows_are_positions_whatever_the_index(penalty_suite, penalty_row) -> None:
    frame = pd.DataFrame(
        [penalty_row(), penalty_row(CF_ZT="9"), penalty_row()], index=["a", "b", "c"]
    )
    result = validate_frame(frame, penalty_suite, run_name="t", reference_date=REF)
    assert [(f.row, f.rule) for f in result.failures] == [(1, "ENUM_STATUS")]
    frame.index = [10, 5, 7]
    result = validate_frame(frame, penalty_suite, run_name="t", reference_date=REF)
    assert [(f.row, f.rule) for f in result.failures] == [(1, "ENUM_STATUS")]


def test_missing_column_fails_every_row(permit_suite, permit_row) -> None:
    frame = pd.DataFrame([permit_row(), permit_row()]).drop(columns=["XK_NR", "XK_ZT"])
    result = validate_frame(frame, permit_suite, run_name="t", reference_date=REF)
    assert [(f.row, f.field, f.rule) for f in result.failures] == [
        (0, "XK_NR", "REQUIRED"),
        (1, "XK_NR", "REQUIRED"),
    ]


def test_empty_frame(penalty_suite) -> None:
    result = validate_frame(pd.DataFrame(), penalty_suite, run_name="t", reference_date=REF)
    assert result.success and result.failures == [] and result.statistics["rows"] == 0


def test_frame_is_not_modified(penalty_suite, penalty_row) -> None:
    frame = pd.DataFrame([penalty_row(CF_XDR_MC="  ", CF_ZT=3)], dtype=object)
    before = frame.copy()
    validate_frame(frame, penalty_suite, run_name="t", reference_date=REF)
    pd.testing.assert_frame_equal(frame, before)


def test_warnings_do_not_fail_the_run(tmp_path: Path) -> None:
    path = _write_suite(
        tmp_path,
        [
            {
                "type": "expect_column_values_to_not_be_null",
                "kwargs": {"column": "CF_NR_ZKDX"},
                "meta": {"rule": "ZKDX_EXPECTED", "severity": "warning", "message": "建议填写"},
            },
            {
                "type": "expect_column_values_to_be_in_set",
                "kwargs": {"column": "CF_ZT", "value_set": ["0", "1", "2", "3"]},
                "meta": {"rule": "ENUM_STATUS", "severity": "error", "message": "状态错误"},
            },
        ],
    )
    suite = load_suite(path)
    frame = pd.DataFrame({"CF_NR_ZKDX": [None, "x"], "CF_ZT": ["0", "0"]})
    result = validate_frame(frame, suite, run_name="t", reference_date=REF)
    assert [(f.row, f.rule, f.severity) for f in result.failures] == [
        (0, "ZKDX_EXPECTED", "warning")
    ]
    assert result.success
    frame.loc[1, "CF_ZT"] = "9"
    result = validate_frame(frame, suite, run_name="t", reference_date=REF)
    assert not result.success
    assert result.statistics["error_rows"] == 1


def test_a_broken_rule_raises_instead_of_passing(tmp_path: Path) -> None:
    # A rule GX cannot evaluate must not look like "no failures".
    broken = {
        "type": "expect_column_values_to_not_be_null",
        "kwargs": {
            "column": "A",
            "row_condition": {"type": "pass_through", "pass_through_filter": "no_such_column == 1"},
        },
        "meta": _meta("BROKEN"),
    }
    suite = load_suite(_write_suite(tmp_path, [broken]))
    with pytest.raises(SuiteExecutionError, match="BROKEN"):
        validate_frame(pd.DataFrame({"A": [None]}), suite, run_name="t", reference_date=REF)


def _wsh_length_rule() -> dict:
    return {
        "type": "expect_column_value_lengths_to_be_between",
        "kwargs": {"column": "WSH", "min_value": 3, "max_value": 20},
        "meta": _meta("WSH_LENGTH"),
    }


def test_other_gx_expectations_and_query_conditions_work(tmp_path: Path) -> None:
    # Rules beyond the shipped suites: built-ins that read the text, a pandas query string.
    path = _write_suite(
        tmp_path,
        [
            _wsh_length_rule(),
            {
                "type": "expect_column_values_to_match_regex",
                "kwargs": {"column": "ZT", "regex": "^[0-3]$"},
                "meta": _meta("ZT_REGEX"),
            },
            {
                "type": "expect_column_values_to_not_be_null",
                "kwargs": {
                    "column": "ZJHM",
                    "row_condition": {
                        "type": "pass_through",
                        "pass_through_filter": "LB == '自然人'",
                    },
                },
                "meta": _meta("QUERY"),
            },
        ],
    )
    frame = pd.DataFrame(
        {
            "WSH": ["会罚〔2024〕1号", "x", None, 7] * 50,
            "ZT": ["0", "9", 3, None] * 50,
            "ZJHM": [None, None, "x", None] * 50,
            "LB": ["自然人", "法人及非法人组织", "自然人", "自然人"] * 50,
        },
        dtype=object,
    )
    result = validate_frame(frame, load_suite(path), run_name="t", reference_date=REF)
    assert {(f.row % 4, f.rule) for f in result.failures} == {
        (1, "WSH_LENGTH"),
        (3, "WSH_LENGTH"),
        (1, "ZT_REGEX"),
        (0, "QUERY"),
        (3, "QUERY"),
    }


@pytest.mark.parametrize("stray", [None, 7], ids=["all text", "with None and an int"])
def test_distinct_text_blank_is_missing(tmp_path: Path, stray: object) -> None:
    # Distinct values (no categorical) take a one-pass path when every value is a str:
    # blanks must still be missing there, and the general path must agree with it.
    path = _write_suite(
        tmp_path,
        [
            _wsh_length_rule(),
            {
                "type": "expect_column_values_to_not_be_null",
                "kwargs": {"column": "WSH"},
                "meta": _meta("REQUIRED"),
            },
            {
                "type": "expect_column_values_to_not_be_null",
                "kwargs": {"column": "MC"},
                "meta": _meta("MC_REQUIRED"),
            },
        ],
    )
    n = 12_000  # more distinct values than the runner samples
    wsh: list[object] = [f"会罚〔2024〕{i}号" for i in range(n)]
    wsh[3], wsh[5], wsh[8] = "", " \u3000 ", "x"
    mc: list[object] = [f"会宁县某某{i}商店" for i in range(n)]
    mc[4], mc[9] = "\t", ""
    if stray is not None:
        wsh[n - 1], wsh[n - 2], mc[n - 1] = stray, None, None
    frame = pd.DataFrame({"WSH": wsh, "MC": mc}, dtype=object)
    result = validate_frame(frame, load_suite(path), run_name="t", reference_date=REF)
    expected = {
        (3, "REQUIRED"),
        (5, "REQUIRED"),
        (8, "WSH_LENGTH"),
        (4, "MC_REQUIRED"),
        (9, "MC_REQUIRED"),
    }
    if stray is not None:  # 7 is read as the text "7"
        expected |= {(n - 1, "WSH_LENGTH"), (n - 2, "REQUIRED"), (n - 1, "MC_REQUIRED")}
    assert {(f.row, f.rule) for f in result.failures} == expected


def test_statistics(penalty_suite, penalty_row) -> None:
    frame = pd.DataFrame([penalty_row(), penalty_row(CF_ZT="9", CF_NR_FK=-1.0)])
    result = validate_frame(frame, penalty_suite, run_name="run-7", reference_date=REF)
    stats = result.statistics
    assert stats["run_name"] == "run-7"
    assert stats["rows"] == 2 and stats["failures"] == 2 and stats["failing_rows"] == 1
    assert stats["evaluated_expectations"] == len(penalty_suite.expectations)
    assert stats["failures_by_rule"] == {"AMOUNT_NEGATIVE": 1, "ENUM_STATUS": 1}
    assert result.data_docs_index is None


# --- Data Docs ----------------------------------------------------------------------------


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"network call during validation: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_data_docs_are_built_offline(
    tmp_path: Path, penalty_suite, penalty_row, no_network: None
) -> None:
    frame = pd.DataFrame(
        [penalty_row(), penalty_row(CF_FR_ZJHM=ID_BAD_CHECK, CF_CFLB="违规" * 1000)]
    )
    docs = tmp_path / "docs"
    run_name = "scheduled__2025-01-01T00:00:00+00:00"  # an Airflow run id
    result = validate_frame(
        frame, penalty_suite, run_name=run_name, reference_date=REF, data_docs_dir=docs
    )
    assert result.data_docs_index == docs.resolve() / "index.html"
    index = result.data_docs_index.read_text(encoding="utf-8")
    assert penalty_suite.name in index
    assert run_name in index
    pages = list((docs / "validations").rglob("*.html"))
    assert len(pages) == 1
    page = pages[0].read_text(encoding="utf-8")
    assert "缺少必填字段" in page or "身份证号码校验不通过" in page  # Chinese rule descriptions
    # Personal ID numbers never reach the docs in clear.
    assert ID_BAD_CHECK not in page
    assert "620422********1234" in page
    assert "违规" * 100 in page and "违规" * 101 not in page  # long values are cut


def test_data_docs_keep_earlier_runs_and_other_suites(
    tmp_path: Path, penalty_suite, permit_suite, penalty_row, permit_row
) -> None:
    docs = tmp_path / "docs"
    validate_frame(
        pd.DataFrame([penalty_row()]),
        penalty_suite,
        run_name="run-a",
        reference_date=REF,
        data_docs_dir=docs,
    )
    result = validate_frame(
        pd.DataFrame([permit_row()]),
        permit_suite,
        run_name="run-b",
        reference_date=REF,
        data_docs_dir=docs,
    )
    index = result.data_docs_index.read_text(encoding="utf-8")
    for text in (penalty_suite.name, permit_suite.name, "run-a", "run-b"):
        assert text in index
    assert len(list((docs / "validations").rglob("*.html"))) == 2
    # The caller's suite object stays usable after being rendered.
    again = validate_frame(
        pd.DataFrame([permit_row()]), permit_suite, run_name="run-c", reference_date=REF
    )
    assert again.success


def test_gx_builds_configurations_its_own_way_again_after_validating(
    penalty_suite, penalty_row
) -> None:
    from great_expectations.expectations.expectation import Expectation

    gx_own = Expectation.__dict__["configuration"]
    frame = pd.DataFrame([penalty_row(), penalty_row(CF_JDRQ="2099-01-01")])
    result = validate_frame(frame, penalty_suite, run_name="run-8", reference_date=REF)
    assert Expectation.__dict__["configuration"] is gx_own
    # The reference date reached the expectations through the kept configurations.
    assert {f.rule for f in result.failures} >= {"DATE_IN_FUTURE"}
