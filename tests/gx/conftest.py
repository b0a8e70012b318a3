"""Fixtures for the GX suite tests: the two suites and builders of valid records."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest

EXPECTATIONS_DIR = Path(__file__).resolve().parents[2] / "expectations"
REFERENCE_DATE = date(2025, 1, 1)  # the run's logical date in these tests

# Real organisations' codes (domain testdata/real-uscc.txt), so valid by definition.
USCC_A = "91620100719023721L"
USCC_B = "91620105224521729E"
USCC_INDIVIDUAL = "92340602MA2PBQAH7E"  # 个体工商户 (category 2 under registration authority 9)
USCC_BAD_CHECK = "91620100719023721M"  # last character changed
ID_VALID = "11010519491231002X"
ID_VALID_2 = "620422198503151233"
ID_BAD_CHECK = "620422198503151234"
ID_BORN_2025_06_01 = "620422202506011235"  # valid check digit, born after REFERENCE_DATE

Row = dict[str, Any]
RowFactory = Callable[..., Row]


def _identity(p: str) -> Row:
    """A 法人及非法人组织 counterparty with everything its category requires."""
    return {
        f"{p}_XDR_MC": "会宁县某某商贸有限公司",
        f"{p}_XDR_LB": "法人及非法人组织",
        f"{p}_XDR_SHXYM": USCC_A,
        f"{p}_FRDB": "张三",
        f"{p}_FR_ZJLX": "身份证",
        f"{p}_FR_ZJHM": ID_VALID,
        f"{p}_XDR_ZJLX": None,
        f"{p}_XDR_ZJHM": None,
        f"{p}_ZT": "0",
    }


def valid_penalty() -> Row:
    return {
        **_identity("CF"),
        "CF_WSH": "会市监罚〔2024〕12号",
        "CF_WFXW": "销售超过保质期的食品",
        "CF_SY": "当事人于2024年3月在经营场所销售超过保质期的食品",
        "CF_YJ": "《中华人民共和国食品安全法》第一百二十四条",
        "CF_CFLB": "罚款;没收违法所得",
        "CF_NR": "罚款2000元，没收违法所得300元",
        "CF_NR_FK": 0.2,
        "CF_NR_WFFF": 0.03,
        "CF_JDRQ": "2024-05-06",
        "CF_YXQ": "2025-05-06",
        "CF_GSJZQ": "2025-05-06",
        "CF_CFJG": "会宁县市场监督管理局",
        "CF_CFJGDM": USCC_B,
        "CF_SJLY": "会宁县市场监督管理局",
        "CF_SJLYDM": USCC_B,
    }


def valid_permit() -> Row:
    return {
        **_identity("XK"),
        "XK_XKWS": "食品经营许可决定书",
        "XK_WSH": "会市监许〔2024〕88号",
        "XK_XKLB": "普通",
        "XK_XKZS": "食品经营许可证",
        "XK_XKBH": "JY16204220012345",
        "XK_NR": "准予食品经营许可",
        "XK_JDRQ": "2024-05-06",
        "XK_YXQZ": "2024-05-06",
        "XK_YXQZI": "2029-05-05",
        "XK_XKJG": "会宁县市场监督管理局",
        "XK_XKJGDM": USCC_B,
        "XK_LYDW": "会宁县市场监督管理局",
        "XK_LYDWDM": USCC_B,
    }


@pytest.fixture(scope="session")
def permit_suite():  # -> ExpectationSuite; GX imported lazily (it takes seconds)
    from credit_sync.gx.runner import load_suite

    return load_suite(EXPECTATIONS_DIR / "permit.json")


@pytest.fixture(scope="session")
def penalty_suite():
    from credit_sync.gx.runner import load_suite

    return load_suite(EXPECTATIONS_DIR / "penalty.json")


@pytest.fixture(scope="session")
def penalty_row() -> RowFactory:
    """penalty_row(CF_ZT="5") -> a valid penalty record with the given fields changed."""
    return lambda **changes: {**valid_penalty(), **changes}


@pytest.fixture(scope="session")
def permit_row() -> RowFactory:
    return lambda **changes: {**valid_permit(), **changes}
